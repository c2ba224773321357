"""Download one video with yt-dlp, through its Python API (never a shell): YouTube ids, and any
URL that answers with a web page (yt-dlp's generic extractor finds a video embedded in it:
`<video src>`, og:video, JSON-LD VideoObject, players, ...).

- **What is fetched**: the best format up to `max_height` in `container` (separate video and
  audio merged by FFmpeg), under a file name of ours (never the title or id); the first video of
  a page or playlist only.
- **Span-only**: `choose_section(duration)` may name one range of the video (a Section); then only
  that range is downloaded (FFmpeg reads the formats yt-dlp chose from the range's start and cuts
  exactly, H.264/AAC as an exact cut, keyframes where samples will start), and the result says
  which range it holds. From a server that cannot seek, the whole video is downloaded and the
  range cut from it here, encoded the same way.
- **Location rules**: the URL's host is checked first; then every connection yt-dlp or its FFmpeg
  makes goes through a GuardProxy that checks it (redirects, DNS answers), unless a proxy is
  given (`--http-proxy`, or the environment's http(s)_proxy as for direct downloads): then, as for
  direct downloads, the proxy connects and only the names seen here are checked.
- **Bounded**: `max_bytes` caps the file (yt-dlp's max_filesize for announced sizes, a progress
  hook for the rest); the file streams to disk in yt-dlp's `.part` files.
- **Failures** become MediaError causes of longvid.errors (removed, blocked, transient, ...), from
  yt-dlp's exception chain and message; transient ones and 429s are retried here with backoff
  (yt-dlp's own retries are off), a `Retry-After` pausing the domain (longvid.media.politeness).
- **Cookies**: a private copy of `cookies` per call (yt-dlp writes its cookie jar back on exit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from longvid.media.errors import MediaError
from longvid.media.fetch import MAX_VIDEO_BYTES, FetchResult, is_youtube
from longvid.media import span_download
from longvid.media.span_download import Section
from longvid.media.guard_proxy import GuardProxy
from longvid.media.locations import LocationPolicy
from longvid.media.politeness import Politeness, backoff_delay, domain_of
from longvid.media.ytdlp_errors import RETRIED, TooLarge as _TooLarge, classify

__all__ = ["Section", "YtdlpOptions", "download", "youtube_url"]

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
SectionChooser = Callable[[float | None], Section | None]


@dataclass(frozen=True)
class YtdlpOptions:
    """How yt-dlp fetches: format limits, the user's cookies file and proxy, timeouts and retries."""

    max_height: int = 720
    container: str = "mp4"
    cookies: Path | None = None
    proxy: str | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = MAX_VIDEO_BYTES

    @property
    def format(self) -> str:
        """yt-dlp's format selector: video+audio in the container up to max_height, then anything up to it, then the best."""
        h, c = self.max_height, self.container
        audio = "m4a" if c == "mp4" else c
        return (f"bv*[height<={h}][ext={c}]+ba[ext={audio}]/b[height<={h}][ext={c}]/"
                f"bv*[height<={h}]+ba/b[height<={h}]/b")


def youtube_url(url: str) -> str:
    """The canonical watch URL of a YouTube link, its id checked (11 of [A-Za-z0-9_-]; it may begin
    with '-', harmless through the API); bad_url otherwise."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    query = urllib.parse.parse_qs(parts.query).get("v", [])
    path = [p for p in parts.path.split("/") if p]
    if host.endswith("youtu.be") and path:
        vid = path[0]
    elif query:
        vid = query[0]
    elif len(path) >= 2 and path[0] in ("shorts", "embed", "live", "v"):
        vid = path[1]
    else:
        vid = ""
    if not YOUTUBE_ID.fullmatch(vid):
        raise MediaError("bad_url", f"no valid YouTube video id in {url!r}")
    return f"https://www.youtube.com/watch?v={vid}"


def download(url: str, folder: Path, stem: str, *, options: YtdlpOptions = YtdlpOptions(),
             policy: LocationPolicy = LocationPolicy(), gate: Politeness = Politeness(None),
             choose_section: SectionChooser | None = None) -> FetchResult:
    """Download the video at `url` (a YouTube link or a page) to `folder/<stem>.<ext>`; raises MediaError."""
    if is_youtube(url):
        url = youtube_url(url)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError("bad_url", f"not an http(s) URL: {url!r}")
    policy.resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    attempts = 0
    while True:
        attempts += 1
        try:
            with gate.request(url):
                result = _once(url, Path(folder), stem, options, policy, choose_section)
            return dataclasses.replace(result, attempts=attempts)
        except _Failed as failed:
            error, wait = failed.error, failed.retry_after
            error.attempts = attempts
            if wait:
                gate.cool_down(url, wait)
                if wait > gate.limits(domain_of(url)).max_wait:
                    error.detail += f" (Retry-After {wait:.0f} s is too long to wait)"
                    raise error from None
            if error.cause not in RETRIED or attempts > options.retries:
                raise error from None
            time.sleep(backoff_delay(attempts, options.backoff, url, retry_after=wait))


class _Failed(Exception):
    def __init__(self, error: MediaError, retry_after: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _Log:
    """yt-dlp's logger: keeps its last messages (the classification reads them)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def _keep(self, message: str) -> None:
        self.lines = [*self.lines[-49:], str(message)]

    debug = info = warning = error = _keep


def _once(url: str, folder: Path, stem: str, options: YtdlpOptions, policy: LocationPolicy,
          choose_section: SectionChooser | None) -> FetchResult:
    """One try: extract (formats chosen, duration known), then the whole video through yt-dlp or
    the chosen range through FFmpeg (longvid.media.span_download)."""
    import yt_dlp
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    from longvid.media.ffmpeg import ffmpeg_exe

    def cap(progress: dict[str, Any]) -> None:
        done = progress.get("downloaded_bytes") or 0
        if done > options.max_bytes:
            raise _TooLarge(f"over --max-video-bytes {options.max_bytes} bytes after {done}: {url}")

    log = _Log()
    folder.mkdir(parents=True, exist_ok=True)
    proxy = options.proxy or environment_proxy(url)
    with contextlib.ExitStack() as stack:
        guard = None if proxy else stack.enter_context(GuardProxy(policy, timeout=options.timeout))
        cookies = stack.enter_context(_private_copy(options.cookies))
        # what yt-dlp's own CLI does with --ffmpeg-location (its merger checks this)
        token = FFmpegPostProcessor._ffmpeg_location.set(ffmpeg_exe())
        stack.callback(FFmpegPostProcessor._ffmpeg_location.reset, token)
        params = {
            "format": options.format, "merge_output_format": options.container,
            "outtmpl": {"default": f"{stem}.%(ext)s"}, "paths": {"home": str(folder), "temp": str(folder)},
            "noplaylist": True, "playlist_items": "1", "overwrites": True, "continuedl": True,
            "updatetime": False, "cachedir": False, "quiet": True, "no_warnings": False, "noprogress": True,
            "logger": log, "socket_timeout": options.timeout, "retries": 0, "fragment_retries": 0,
            "extractor_retries": 0, "skip_unavailable_fragments": False, "max_filesize": options.max_bytes,
            "progress_hooks": [cap], "proxy": proxy or guard.url, "cookiefile": cookies,
            "ffmpeg_location": ffmpeg_exe(),
        }
        refusals = guard.refusals if guard else []
        section = duration = None
        try:
            with yt_dlp.YoutubeDL(params) as ydl:
                info = _first(ydl.extract_info(url, download=False))
                duration = float(info["duration"]) if info.get("duration") else None
                section = choose_section(duration) if choose_section else None
                path, target = None, folder / f"{stem}.{options.container}"
                if section is not None and span_download.can_cut(info, proxy or guard.url):
                    try:
                        path = span_download.download_range(info, ydl, section, target, proxy=proxy or guard.url,
                                                            timeout=options.timeout, max_bytes=options.max_bytes)
                    except MediaError as e:
                        if e.cause != "not_video":
                            raise
                        log.warning(f"the range could not be read ({e.detail}); downloading the whole video")
                if path is None:  # the whole video (also when a server cannot seek) ...
                    path = _downloaded(ydl.process_ie_result(info, download=True), folder, stem)
                    if path is not None and section is not None:  # ... and the range cut from it here
                        whole, path = path, span_download.cut_local(path, section, target, max_bytes=options.max_bytes)
                        if whole != path:
                            whole.unlink(missing_ok=True)
        except Exception as e:  # noqa: BLE001 - every failure of yt-dlp or FFmpeg is classified
            raise _Failed(*classify(e, log.lines, refusals)) from None
    if path is None:
        said = " ".join(log.lines[-3:])
        if "max-filesize" in said:
            raise _Failed(MediaError("too_large", f"over --max-video-bytes {options.max_bytes} bytes: {url}"))
        raise _Failed(MediaError("download_failed", f"yt-dlp wrote no file ({said[-300:] or 'no message'}): {url}"))
    size = path.stat().st_size
    if size == 0:
        raise _Failed(MediaError("empty_file", f"zero bytes: {url}"))
    return FetchResult(path=path, bytes=size, sha256=None, attempts=1, source_kind="ytdlp",
                       section=(section.start, section.end) if section else None, source_duration=duration)


def _first(info: dict[str, Any] | None) -> dict[str, Any]:
    """The first video of a playlist (a page with several), or the video itself."""
    while info and info.get("_type") in ("playlist", "multi_video"):
        entries = [e for e in info.get("entries") or [] if e]
        info = entries[0] if entries else None
    if not info:
        raise MediaError("no_video_in_page", "the page lists no video")
    return info


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (http_proxy, https_proxy, no_proxy), as urllib and
    so the direct downloads use it; None when there is none or the host bypasses it."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxies[parts.scheme]


@contextlib.contextmanager
def _private_copy(cookies: Path | None) -> Iterator[str | None]:
    if cookies is None:
        yield None
        return
    if not Path(cookies).is_file():
        raise FileNotFoundError(f"cookies file {cookies} not found")
    with tempfile.TemporaryDirectory(prefix="longvid-cookies-") as tmp:
        copy = Path(tmp) / "cookies.txt"
        shutil.copyfile(cookies, copy)
        yield str(copy)


def _downloaded(info: dict[str, Any] | None, folder: Path, stem: str) -> Path | None:
    """The file yt-dlp wrote for the (first) video, if any."""
    while info and info.get("_type") in ("playlist", "multi_video"):
        entries = [e for e in info.get("entries") or [] if e]
        info = entries[0] if entries else None
    for download in (info or {}).get("requested_downloads") or []:
        path = Path(download.get("filepath") or "")
        if path.is_file() and path.parent.resolve() == folder.resolve() and path.name.startswith(stem):
            return path
    return None
