"""A loopback server speaking the OpenAI chat-completions protocol, with its failures on demand.

    with chat_server(answer) as srv:          # answer(body) -> the assistant's text
        client = ChatClient(ChatConfig(srv.base_url, "m", cache_dir=...))

`POST /v1/chat/completions` answers `{"choices": [{"message": {"role": "assistant", "content":
answer(body)}}], "usage": ...}`. Failures, taken in arrival order from `srv.script` (a list the
test fills; an empty list means every request is answered), or for the first request whose text
contains a marker (`srv.by_text[marker] = [...]`, consumed one per matching request):

    "429"        429 Too Many Requests with Retry-After: 0
    "500"        500 Internal Server Error
    "400"        400 Bad Request (final: not retried)
    "timeout"    nothing for `stall_s` seconds (past the client's timeout), then the answer
    "drop"       the connection closed without a response
    "malformed"  200 with a body that is not JSON
    "nochoices"  200 with JSON lacking `choices`
    "empty"      200 with an empty answer

`hold_after = N` makes every request after the first N to arrive wait (unanswered) until
`release()` or shutdown: a test kills a client with requests in flight. Requests are counted per
request hash (the client's cache key): `received`, and `answered` (a 200 with a usable answer
was written). Binds 127.0.0.1 only, on a free port; stops its threads on exit.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections import Counter
from typing import Any, Callable, Iterator

from longvid.enrich.vlm_client import request_hash

__all__ = ["ChatServer", "chat_server"]


class ChatServer:
    def __init__(self, answer: Callable[[dict[str, Any]], str], stall_s: float):
        self.answer, self.stall_s = answer, stall_s
        self.script: list[str] = []
        self.by_text: dict[str, list[str]] = {}
        self.received: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.hold_after: int | None = None
        self.admitted = 0
        self.drop_held = False
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.stopping = threading.Event()
        self.base_url = ""

    def release(self, *, drop_held: bool = False) -> None:
        """Let requests through again; those held so far are answered, or (`drop_held`) closed
        unanswered, as a server does for a client that went away."""
        self.hold_after = None
        self.drop_held = drop_held
        self.released.set()

    def _fault(self, body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"], ensure_ascii=False)
        with self.lock:
            for marker, faults in self.by_text.items():
                if marker in text and faults:
                    return faults.pop(0)
            return self.script.pop(0) if self.script else "ok"

    def _must_hold(self) -> bool:
        """Whether this request waits: it arrived after the first `hold_after` were let through."""
        with self.lock:
            self.admitted += 1
            return self.hold_after is not None and self.admitted > self.hold_after


def _handler(server: ChatServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, b'{"error": "not found"}')
            body = json.loads(raw)
            digest = request_hash(body)
            with server.lock:
                server.received[digest] += 1
            if server._must_hold():
                while not server.released.wait(0.05):
                    if server.stopping.is_set():
                        break
                if server.stopping.is_set() or server.drop_held:
                    self.close_connection = True
                    return
            fault = server._fault(body)
            if fault == "429":
                return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0"})
            if fault == "500":
                return self._send(500, b'{"error": "boom"}')
            if fault == "400":
                return self._send(400, b'{"error": "bad request"}')
            if fault == "drop":
                self.close_connection = True
                return
            if fault == "timeout":
                server.stopping.wait(server.stall_s)
            if fault == "malformed":
                return self._send(200, b"<html>not json")
            if fault == "nochoices":
                return self._send(200, b'{"id": "x", "object": "chat.completion"}')
            content = "" if fault == "empty" else server.answer(body)
            doc = {"id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": len(raw) // 4, "completion_tokens": len(content) // 4}}
            self._send(200, json.dumps(doc).encode())
            if fault not in ("empty", "timeout"):  # a usable answer the client waited for
                with server.lock:
                    server.answered[digest] += 1

        def _send(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (ConnectionError, TimeoutError):
                pass  # the client gave up (its timeout, or it was killed)

        def handle(self) -> None:
            try:
                super().handle()
            except (ConnectionError, TimeoutError):
                pass

    return Handler


@contextlib.contextmanager
def chat_server(answer: Callable[[dict[str, Any]], str], *, stall_s: float = 5.0) -> Iterator[ChatServer]:
    server = ChatServer(answer, stall_s)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    server.base_url = f"http://{host}:{port}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
