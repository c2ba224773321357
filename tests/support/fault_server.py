"""A loopback HTTP server for tests: serves files from a folder, plus routes that misbehave on purpose.

    with fault_server(root) as srv:
        fetch(srv.url("flaky500/2/a.mp4"), dest, backoff=0.01)
        assert srv.hits("flaky500/2/a.mp4") == 3

Routes (the fault prefix, then a file path under `root`):
    /<path>               200 with the file (Content-Length set), 206 for a byte range; 404 if missing
    /404/<path>           always 404
    /500/<path>           always 500
    /flaky500/N/<path>    500 for the first N requests of that exact path, then the file
    /429/<path>           always 429 with Retry-After: 0
    /flaky429/N/<path>    429 (Retry-After: 0) for the first N requests, then the file
    /wait429/N/S/<path>   429 with Retry-After: S (seconds) for the first N requests, then the file
    /drop/N/<path>        close the connection without any response for the first N requests
    /stall/<path>         headers and the first 1 KiB, then silence (until shutdown, at most
                          `stall_s`), then close
    /truncate/<path>      announce the full Content-Length, send half, close
    /empty/<path>         200 with zero bytes
    /nolength/<path>      200 with the file and no Content-Length (the body ends when the connection closes)
    /redirect/<url>       302 to <url> (the rest of the path, unquoted)

Binds 127.0.0.1 only, on a free port. Requests are counted per path (without the query), and
the headers of the last request to each path are kept (`headers(path)`). A file ending in .html
is served as text/html.
"""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Iterator

from longvid.sample.server import byte_range

__all__ = ["FaultServer", "fault_server"]


class FaultServer:
    """A running server: `url(path)` builds a request URL, `hits(path)` counts requests to it."""

    def __init__(self, httpd: http.server.ThreadingHTTPServer, stop: threading.Event):
        self._httpd = httpd
        self._stop = stop
        host, port = httpd.server_address[:2]
        self.base_url = f"http://{host}:{port}"
        self.counts: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def url(self, path: str, *, quote: bool = True) -> str:
        """URL of `path` (relative to the server root); `quote=False` keeps raw spaces etc."""
        path = path.lstrip("/")
        return f"{self.base_url}/{urllib.parse.quote(path) if quote else path}"

    def hits(self, path: str) -> int:
        """How many requests arrived for `path` (unquoted, relative, without the query)."""
        with self._lock:
            return self.counts["/" + path.lstrip("/")]

    def headers(self, path: str) -> dict[str, str]:
        """The headers of the last request for `path` (names lower-cased)."""
        with self._lock:
            return dict(self.last_headers.get("/" + path.lstrip("/"), {}))

    def _count(self, path: str, headers: dict[str, str] | None = None) -> int:
        with self._lock:
            self.counts[path] += 1
            if headers is not None:
                self.last_headers[path] = headers
            return self.counts[path]


def _handler(root: Path, server: FaultServer, stop: threading.Event, stall_s: float):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: closing ends the body

        def log_message(self, format, *args):  # quiet
            pass

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            n = server._count(path, {k.lower(): v for k, v in self.headers.items()})
            if path.startswith("/redirect/"):
                return self._status(302, {"Location": path.removeprefix("/redirect/")})
            parts = path.lstrip("/").split("/")
            fault = parts[0] if parts[0] in FAULTS else ""
            wait = "0"
            if fault in ("flaky500", "flaky429", "drop"):
                limit, rest = int(parts[1]), parts[2:]
            elif fault == "wait429":
                limit, wait, rest = int(parts[1]), parts[2], parts[3:]
            else:
                limit, rest = 0, parts[1:] if fault else parts
            if fault == "404":
                return self._status(404)
            if fault == "500" or (fault == "flaky500" and n <= limit):
                return self._status(500)
            if fault == "429" or (fault in ("flaky429", "wait429") and n <= limit):
                return self._status(429, {"Retry-After": wait})
            if fault == "drop" and n <= limit:
                self.close_connection = True
                return  # no status line at all: the client sees the connection close
            file = root.joinpath(*rest)
            if not rest or not file.is_file() or root.resolve() not in file.resolve().parents:
                return self._status(404)
            data = b"" if fault == "empty" else file.read_bytes()
            wanted = byte_range(self.headers.get("Range") or "", len(data)) if not fault else None
            if wanted is not None:  # a single byte range (FFmpeg seeks with them)
                data = data[wanted[0]:wanted[1] + 1]
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {wanted[0]}-{wanted[1]}/{file.stat().st_size}")
            else:
                self.send_response(200)
            self.send_header("Content-Type", "text/html" if file.suffix == ".html" else "application/octet-stream")
            if fault != "nolength":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not body:
                return
            if fault == "stall":
                self.wfile.write(data[:1024])
                self.wfile.flush()
                stop.wait(stall_s)
            elif fault == "truncate":
                self.wfile.write(data[: len(data) // 2])
            else:
                self.wfile.write(data)
            self.close_connection = True

        def _status(self, code: int, headers: dict[str, str] | None = None) -> None:
            body = f"{code}\n".encode()
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError):
                pass  # the client gave up (e.g. after its own timeout): expected in fault tests

    return Handler


FAULTS = {"404", "500", "flaky500", "429", "flaky429", "wait429", "drop", "stall", "truncate", "empty", "nolength"}


@contextlib.contextmanager
def fault_server(root: Path, *, stall_s: float = 10.0) -> Iterator[FaultServer]:
    """Serve `root` on 127.0.0.1:<free port> in a background thread; stop cleanly on exit."""
    stop = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    server = FaultServer(httpd, stop)
    httpd.RequestHandlerClass = _handler(Path(root), server, stop, stall_s)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()  # wakes stalled handlers at once
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
