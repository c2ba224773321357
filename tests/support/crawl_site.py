"""A loopback site that fails 20% of requests, for the crawl test and bench/crawl_faults.py.

`make_site(root, direct=, pages=, spans=)` writes FFmpeg-made videos (files/), pages embedding
them (pages/: `<video src>`, og:video, or JSON-LD with the duration, which lets yt-dlp download
only the wanted span), and two manifests in their real formats naming them: a WebVid
`results_2M_val.csv` (direct files and pages; whole videos) and a MiraData v1 csv (pages of 12 s
videos with two clip spans each: span-only downloads). `FaultySite(root)` serves them with byte
ranges; while `faults` is on, every `every`-th request (5th: 20%) gets the next fault of KINDS in
turn, so every kind comes up once there are enough requests. `log` records every request as
(sequence, path, kind or "ok").
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from longvid.media.ffmpeg import run_ffmpeg
from longvid.sample.server import byte_range

KINDS = ("404", "429", "500", "stall", "drop", "truncate", "garbage", "nopage")
# what a video that failed after each fault may be classed as (a page-less page read as the media is bad media)
EXPECTED_CLASSES = {"404": {"removed"}, "429": {"blocked"}, "500": {"transient"}, "stall": {"transient"},
                    "drop": {"transient"}, "truncate": {"transient"}, "garbage": {"bad_media"},
                    "nopage": {"removed", "bad_media"}}
NO_VIDEO_PAGE = b"<!DOCTYPE html><html><head><title>Gone</title></head><body><p>Nothing here.</p></body></html>"
LONG = 12.0
SPANS = ((2.0, 4.0), (5.0, 7.5))


def _bases(folder: Path) -> dict[str, Path]:
    """Three small videos made once: 4 s with audio, 3 s without, 12 s with audio (1-s GOP)."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = {"a4.mp4": (4.0, True, 12), "n3.mp4": (3.0, False, 15), "l12.mp4": (LONG, True, 25)}
    out = {}
    for name, (seconds, audio, gop) in specs.items():
        path = out[name] = folder / name
        if path.exists():
            continue
        args = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}"]
        if audio:
            args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac", "-shortest"]
        run_ffmpeg([*args, "-c:v", "libx264", "-g", str(gop), "-pix_fmt", "yuv420p", str(path)], timeout=120)
    return out


def make_site(root: Path, base_url: str, *, direct: int, pages: int, spans: int) -> dict[str, list[str]]:
    """Files, pages and manifests (root/manifests/{webvid,miradata}/) for `base_url`; returns the
    video_uids by kind ("direct", "page", "span")."""
    bases = _bases(root / "bases")
    files, page_dir = root / "files", root / "pages"
    files.mkdir(parents=True, exist_ok=True)
    page_dir.mkdir(parents=True, exist_ok=True)

    def place(name: str, base: str) -> str:
        path = files / f"{name}.mp4"
        if not path.exists():
            os.link(bases[base], path)
        return f"{base_url}/files/{name}.mp4"

    webvid, uids = [], {"direct": [], "page": [], "span": []}
    for i in range(direct):
        vid = f"{1000 + i}"
        webvid.append((vid, place(f"w{vid}", "a4.mp4" if i % 2 else "n3.mp4")))
        uids["direct"].append(f"webvid/{vid}")
    for i in range(pages):
        vid = f"{2000 + i}"
        media = place(f"p{vid}", "a4.mp4")
        embed = (f'<video controls src="/files/p{vid}.mp4"></video>' if i % 2 == 0 else
                 f'<meta property="og:video" content="{media}"><meta property="og:video:type" content="video/mp4">')
        (page_dir / f"p{vid}.html").write_text(
            f"<!DOCTYPE html><html><head><title>Clip {vid}</title>{embed if i % 2 else ''}</head>"
            f"<body><h1>Clip {vid}</h1>{'' if i % 2 else embed}</body></html>")
        webvid.append((vid, f"{base_url}/pages/p{vid}.html"))
        uids["page"].append(f"webvid/{vid}")
    manifests = root / "manifests"
    (manifests / "webvid").mkdir(parents=True, exist_ok=True)
    with open(manifests / "webvid" / "results_2M_val.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["videoid", "contentUrl", "duration", "page_dir", "name"])
        for vid, url in webvid:
            writer.writerow([vid, url, "PT00H00M04S", "", f"Stock footage {vid}"])
    rows = []
    for i in range(spans):
        vid = f"{3000 + i}"
        media = place(f"m{vid}", "l12.mp4")
        ld = {"@context": "https://schema.org", "@type": "VideoObject", "name": f"Long {vid}", "duration": "PT12S",
              "contentUrl": media, "uploadDate": "2024-01-01", "thumbnailUrl": f"{base_url}/files/none.jpg"}
        (page_dir / f"m{vid}.html").write_text(
            f'<!DOCTYPE html><html><head><title>Long {vid}</title><script type="application/ld+json">{json.dumps(ld)}'
            f"</script></head><body>long video {vid}</body></html>")
        for j, (start, end) in enumerate(SPANS):
            stamp = [f"00:00:{int(t):02d}.{int(round(t % 1 * 1000)):03d}" for t in (start, end)]
            rows.append([f"{4000000 + i}.{j}", "pexels", f"{base_url}/pages/m{vid}.html", vid, 160, 120, 25.0,
                         end - start, str(stamp), int((end - start) * 25), str([int(start * 25), int(end * 25)]),
                         f"video_clips/000004000/{4000000 + i:012d}.{j}.mp4", f"clip {j} of {vid}", "", "", "", "", ""])
        uids["span"].append(f"miradata/pexels-{vid}")
    (manifests / "miradata").mkdir(parents=True, exist_ok=True)
    with open(manifests / "miradata" / "miradata_v1_9k.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["clip_id", "source", "video_url", "video_id", "width", "height", "fps", "seconds",
                         "timestamp", "frame_number", "framestamp", "file_path", "short_caption", "dense_caption",
                         "background_caption", "main_object_caption", "style_caption", "camera_caption"])
        writer.writerows(rows)
    return uids


class FaultySite:
    """The site on 127.0.0.1:<port> in a daemon thread; `faults` switches the injection."""

    def __init__(self, root: Path, *, every: int = 5, retry_after: int = 1, stall_s: float = 5.0, port: int = 0):
        self.root, self.every, self.retry_after, self.stall_s = Path(root), every, retry_after, stall_s
        self.faults = True
        self.log: list[tuple[int, str, str]] = []
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._faulted = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FaultySite":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def next_kind(self, path: str) -> str:
        """What this request gets: "ok", or the next fault in turn on every `every`-th request."""
        with self._lock:
            n = len(self.log) + 1
            kind = "ok"
            if self.faults and n % self.every == 0:
                kind = KINDS[self._faulted % len(KINDS)]
                self._faulted += 1
            self.log.append((n, path, kind))
            return kind

    def faults_for(self, name: str) -> list[str]:
        """The faults served on paths of the video named `name` (e.g. "w1003", "m3001"), in order."""
        with self._lock:
            return [k for _, p, k in self.log if k != "ok" and f"/{name}." in p]


def _handler(site: FaultySite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: closing ends the body

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            kind = site.next_kind(path)
            file = (site.root / path.lstrip("/")).resolve()
            if kind == "drop":
                self.close_connection = True
                return
            if kind in ("404", "500", "429") or not file.is_file() or site.root.resolve() not in file.parents:
                code = int(kind) if kind in ("404", "500", "429") else 404
                return self._reply(code, b"%d\n" % code, "text/plain",
                                   {"Retry-After": str(site.retry_after)} if code == 429 else {}, body)
            data = file.read_bytes()
            ctype = "text/html" if file.suffix == ".html" else "video/mp4"
            if kind == "garbage":
                data, ctype = random.Random(path).randbytes(max(len(data), 4096)), "application/octet-stream"
            elif kind == "nopage":
                data, ctype = NO_VIDEO_PAGE, "text/html"
            start, end, status = 0, len(data) - 1, 200
            wanted = self.headers.get("Range")
            if wanted and kind == "ok":
                got = byte_range(wanted, len(data))
                if got is not None:
                    (start, end), status = got, 206
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if not body:
                return
            part = data[start:end + 1]
            try:
                if kind == "stall":
                    self.wfile.write(part[:1024])
                    self.wfile.flush()
                    site._stop.wait(site.stall_s)
                elif kind == "truncate":
                    self.wfile.write(part[: len(part) // 2])
                else:
                    self.wfile.write(part)
            except (ConnectionError, TimeoutError):
                pass
            self.close_connection = True

        def _reply(self, code: int, data: bytes, ctype: str, headers: dict[str, str], body: bool) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError):
                pass

    return Handler


def copy_manifests(src: Path, dst: Path) -> Path:
    """A copy of a site's manifests (for an undisturbed build of the same rows)."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    return dst
