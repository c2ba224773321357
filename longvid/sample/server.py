"""A small loopback HTTP file server for the sample's URL-only videos.

GET and HEAD with Content-Length, single byte ranges (206, or 416 when unsatisfiable), and
percent-decoded paths (a URL written with a raw space is fetched as `%20` and served from the
file whose name has the space). `serve()` runs it in a daemon thread for tests; `main()`
serves in the foreground for `make demo` and manual runs.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".html": "text/html; charset=utf-8"}


class FileHandler(BaseHTTPRequestHandler):
    """Serves files under `root`; nothing outside it."""

    protocol_version = "HTTP/1.1"

    def __init__(self, *args, root: Path, **kwargs):
        self.root = root
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet by default
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _file(self) -> Path | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def _serve(self, body: bool) -> None:
        path = self._file()
        if path is None:
            self._status(HTTPStatus.NOT_FOUND)
            return
        size = path.stat().st_size
        start, end, status = 0, size - 1, HTTPStatus.OK
        header = self.headers.get("Range")
        if header:
            wanted = byte_range(header, size)
            if wanted is None:
                self._status(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, {"Content-Range": f"bytes */{size}"})
                return
            (start, end), status = wanted, HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", _TYPES.get(path.suffix.lower(), "application/octet-stream"))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                f.seek(start)
                _copy(f, self.wfile, end - start + 1)

    def _status(self, status: HTTPStatus, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; None when
    unsatisfiable or not understood."""
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    return (start, end) if start < size and start <= end else None


def _copy(src, dst, length: int, chunk: int = 1 << 16) -> None:
    while length > 0:
        data = src.read(min(chunk, length))
        if not data:
            return
        dst.write(data)
        length -= len(data)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threading server for `root` bound to (host, port); port 0 picks a free one."""
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((host, port), partial(FileHandler, root=Path(root).resolve()))
    server.daemon_threads = True
    return server


@contextlib.contextmanager
def serve(root: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `root` in a daemon thread; yields the base URL (`http://127.0.0.1:PORT`)."""
    server = make_server(root, host, port)
    thread = threading.Thread(target=server.serve_forever, name="longvid-sample-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_forever(root: Path, host: str = "127.0.0.1", port: int = 8642) -> None:
    """Serve `root` in the foreground until interrupted."""
    server = make_server(root, host, port)
    print(f"serving {root} at http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """`python -m longvid.sample.server SAMPLE_DIR/http [--port 8642]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="folder to serve (a sample's http/ folder)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8642)
    args = parser.parse_args(argv)
    serve_forever(args.root, args.host, args.port)


if __name__ == "__main__":
    main()
