"""A loopback HTTP proxy that applies the location rules to connections another client makes.

yt-dlp (and the FFmpeg it runs for span-only downloads) opens its own connections: to the page,
to APIs, to the media, after every redirect. Pointed at this proxy (yt-dlp's `proxy` option, which
it also hands to FFmpeg), every one of them is resolved here, checked by the LocationPolicy and
made to the checked address, so neither a redirect nor a DNS answer that changes can reach a
private host the policy refuses. `CONNECT host:port` (HTTPS) is checked and tunnelled untouched;
a plain `GET http://...` is checked and forwarded with `Connection: close`. A refusal answers
403 and is kept in `refusals`, so the caller can report `refused_location` rather than yt-dlp's
generic failure.

    with GuardProxy(policy) as proxy:
        ... yt-dlp with {"proxy": proxy.url} ...
        proxy.refusals  # details of refused connections
"""

from __future__ import annotations

import select
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from longvid.media.errors import MediaError
from longvid.media.locations import LocationPolicy

__all__ = ["GuardProxy"]

IDLE_TIMEOUT = 120.0  # seconds without a byte either way before a tunnel is closed
_HOP_HEADERS = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", "te", "trailer", "upgrade"}


class GuardProxy:
    """The proxy, serving on 127.0.0.1:<free port> in a daemon thread while the `with` lasts."""

    def __init__(self, policy: LocationPolicy, *, timeout: float = 30.0):
        self.policy = policy
        self.timeout = timeout
        self.refusals: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "GuardProxy":
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def refuse(self, detail: str) -> None:
        with self._lock:
            self.refusals.append(detail)

    def connect(self, host: str, port: int) -> socket.socket:
        """A connection to `host:port` through the policy's checks (MediaError if refused or failed)."""
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in self.policy.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                sock.close()
                last = e
        raise MediaError("connection_failed", f"cannot connect to {host}:{port} ({last!r})")


def _handler(proxy: GuardProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            pass

        def do_CONNECT(self) -> None:
            host, _, port = self.path.rpartition(":")
            upstream = self._open(host.strip("[]"), int(port) if port.isdigit() else 443)
            if upstream is None:
                return
            with upstream:
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                _pipe(self.connection, upstream)
            self.close_connection = True

        def _forward(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            if parts.scheme != "http" or not parts.hostname:
                self.send_error(400, "a proxy request needs an absolute http:// URL")
                return
            upstream = self._open(parts.hostname, parts.port or 80)
            if upstream is None:
                return
            with upstream:
                target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
                lines = [f"{self.command} {target} HTTP/1.1"]
                lines += [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS]
                lines.append("Connection: close")
                upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                length = int(self.headers.get("Content-Length") or 0)
                while length > 0:  # a request body (yt-dlp POSTs to APIs)
                    block = self.rfile.read(min(length, 1 << 16))
                    if not block:
                        break
                    upstream.sendall(block)
                    length -= len(block)
                _pipe(self.connection, upstream, one_way=True)
            self.close_connection = True

        do_GET = do_HEAD = do_POST = do_PUT = do_OPTIONS = _forward

        def _open(self, host: str, port: int) -> socket.socket | None:
            try:
                return proxy.connect(host, port)
            except MediaError as e:
                if e.cause == "refused_location":
                    proxy.refuse(e.detail)
                    self.send_error(403, "refused by longvid's location rules", e.detail)
                else:
                    self.send_error(502, "cannot connect", e.detail)
                return None

    return Handler


def _pipe(client: socket.socket, upstream: socket.socket, *, one_way: bool = False) -> None:
    """Copy bytes both ways (upstream -> client only, with `one_way`) until a side closes or
    nothing moves for IDLE_TIMEOUT."""
    sockets = [upstream] if one_way else [client, upstream]
    while True:
        readable, _, _ = select.select(sockets, [], [], IDLE_TIMEOUT)
        if not readable:
            return
        for sock in readable:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            try:
                (upstream if sock is client else client).sendall(data)
            except OSError:
                return
