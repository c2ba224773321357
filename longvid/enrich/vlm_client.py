"""A client for any OpenAI-compatible chat endpoint (vLLM, SGLang, ... serving a vision-language model).

`ChatClient(ChatConfig(...)).ask_many(requests)` sends `POST {base_url}/chat/completions` for each
request (a dict of `messages` and optional sampling parameters; `model` is the config's), with:

- **batching and a concurrency limit**: requests go out `concurrency` at a time from a thread
  pool, so the server's continuous batching sees a full batch; identical requests are sent once;
  answers come back in request order.
- **retries with backoff**: a timeout, a dropped connection, HTTP 429 / 5xx / 408, a reply that is
  not the protocol's JSON, and an empty answer are retried `retries` times, waiting
  `backoff · 2^attempt` seconds (with jitter, at most `max_backoff`; a `Retry-After` header wins).
  Other 4xx statuses are final.
- **a request budget**: at most `budget` HTTP requests (retries included) in this client's life,
  or, with `budget_file`, counted in that file (under a file lock) by every client that shares
  it: all the workers of a build, and later runs too (the budget caps what the corpus has
  spent); past it a request is not sent and fails with `budget_exhausted`.
- **a request cache on disk**: every answer is stored under `cache_dir/<hash[:2]>/<hash>.json`
  (written then renamed, longvid.atomic) where the hash is over the model, the messages and the
  sampling parameters, before the caller gets it. A request whose answer is cached is never sent
  again, so a killed run resumes where it stopped without paying twice. Failures are not cached.

`ask_many` returns, per request, a `ChatReply` (text, whether it came from the cache, attempts)
or a `ChatFailure` (a reason code and detail): one bad request never stops the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longvid.atomic import atomic_write_text

__all__ = ["ChatConfig", "ChatReply", "ChatFailure", "ChatClient", "request_hash", "REASONS"]

REASONS = {
    "timeout": "no answer within the timeout",
    "connection": "the connection failed or was dropped",
    "http_429": "the server said too many requests (rate limited)",
    "http_5xx": "the server failed (5xx)",
    "http_4xx": "the server refused the request (4xx other than 408/429): not retried",
    "malformed": "the reply is not an OpenAI chat completion (bad JSON, no choices or message)",
    "empty": "the answer is empty",
    "budget_exhausted": "the request budget was spent before this request could be sent",
}
RETRIED = {"timeout", "connection", "http_429", "http_5xx", "malformed", "empty"}
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "response_format")


@dataclass(frozen=True)
class ChatConfig:
    base_url: str  # e.g. http://127.0.0.1:8000/v1
    model: str
    cache_dir: Path
    api_key_env: str = "LONGVID_VLM_API_KEY"  # the environment variable holding the key, if any
    timeout: float = 120.0
    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 60.0
    concurrency: int = 8
    budget: int | None = None
    budget_file: Path | None = None  # requests sent, shared by every client using this file
    temperature: float = 0.0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"chat endpoint must be an http(s) URL, got {self.base_url!r}")
        if self.concurrency < 1 or self.retries < 0 or (self.budget is not None and self.budget < 0):
            raise ValueError("concurrency must be >= 1, retries and budget >= 0")


@dataclass(frozen=True)
class ChatReply:
    text: str
    cached: bool
    attempts: int
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChatFailure:
    reason: str
    detail: str
    attempts: int


class _Failed(Exception):
    def __init__(self, reason: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.retry_after = reason, detail, retry_after


def request_body(config: ChatConfig, request: dict[str, Any]) -> dict[str, Any]:
    """The JSON body sent for `request` (messages + sampling parameters, the config's model)."""
    if not isinstance(request.get("messages"), list) or not request["messages"]:
        raise ValueError("a chat request needs a non-empty `messages` list")
    body: dict[str, Any] = {"model": config.model, "messages": request["messages"],
                            "temperature": config.temperature, "max_tokens": config.max_tokens}
    body.update({k: request[k] for k in SAMPLING_KEYS if k in request})
    return body


def request_hash(body: dict[str, Any]) -> str:
    """sha256 of the body's canonical JSON: the cache key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def parse_completion(raw: bytes) -> tuple[str, dict[str, Any]]:
    """(answer text, usage) of a chat completion body; raises _Failed (malformed / empty)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
        message = doc["choices"][0]["message"]
        content = message.get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        raise _Failed("malformed", f"not a chat completion ({type(e).__name__}): {raw[:120]!r}") from None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise _Failed("malformed", f"message content is {type(content).__name__}")
    if not content.strip():
        raise _Failed("empty", "the answer is empty")
    return content, doc.get("usage") or {}


def _take_from_file(path: Path, budget: int | None) -> bool:
    """Count one request in `path` (an integer, under an exclusive lock) unless `budget` is spent."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        spent = int(text) if text.isdigit() else 0
        if budget is not None and spent >= budget:
            return False
        f.seek(0)
        f.truncate()
        f.write(str(spent + 1))
        f.flush()
        os.fsync(f.fileno())
    return True


def spent(path: Path) -> int:
    """Requests counted in a budget file so far."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


class ChatClient:
    """See the module docstring. Thread-safe; `sent` counts HTTP requests made."""

    def __init__(self, config: ChatConfig, *, seed: int | None = None) -> None:
        self.config = config
        self.sent = 0
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        Path(config.cache_dir).mkdir(parents=True, exist_ok=True)

    # -------------------------------------------------------------- cache

    def _cache_path(self, digest: str) -> Path:
        return Path(self.config.cache_dir) / digest[:2] / f"{digest}.json"

    def cached(self, request: dict[str, Any]) -> ChatReply | None:
        """The stored answer to `request`, if there is one."""
        path = self._cache_path(request_hash(request_body(self.config, request)))
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            return ChatReply(entry["text"], True, 0, entry.get("usage") or {})
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def _store(self, digest: str, body: dict[str, Any], text: str, usage: dict[str, Any]) -> None:
        path = self._cache_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"text": text, "usage": usage, "model": body["model"], "time": time.time()}
        atomic_write_text(path, json.dumps(entry, ensure_ascii=False))

    # -------------------------------------------------------------- sending

    def _take_budget(self) -> bool:
        with self._lock:
            if self.config.budget_file is not None:
                if not _take_from_file(Path(self.config.budget_file), self.config.budget):
                    return False
            elif self.config.budget is not None and self.sent >= self.config.budget:
                return False
            self.sent += 1
            return True

    def _post(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.config.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.config.base_url.rstrip("/") + "/chat/completions", data=data,
                                     headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.config.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            after = e.headers.get("Retry-After") if e.headers else None
            wait = float(after) if after and after.strip().replace(".", "", 1).isdigit() else None
            reason = "http_429" if e.code == 429 else "http_5xx" if e.code >= 500 or e.code == 408 else "http_4xx"
            raise _Failed(reason, f"HTTP {e.code} {e.reason}", wait) from None
        except (TimeoutError, socket.timeout):
            raise _Failed("timeout", f"no answer within {self.config.timeout} s") from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (TimeoutError, socket.timeout)):
                raise _Failed("timeout", f"no answer within {self.config.timeout} s") from None
            raise _Failed("connection", f"{e.reason}") from None
        except (ConnectionError, OSError) as e:  # reset, remote closed, http.client errors
            raise _Failed("connection", f"{type(e).__name__}: {e}") from None
        return parse_completion(raw)

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        c = self.config
        with self._lock:
            jitter = self._random.uniform(0.5, 1.0)
        delay = retry_after if retry_after is not None else c.backoff * (2 ** attempt) * jitter
        time.sleep(min(max(0.0, delay), c.max_backoff))

    def ask(self, request: dict[str, Any]) -> ChatReply | ChatFailure:
        """One request: the cached answer, or sent (with retries) and cached."""
        body = request_body(self.config, request)
        digest = request_hash(body)
        hit = self.cached(request)
        if hit is not None:
            return hit
        failure = _Failed("budget_exhausted", "no request was sent")
        for attempt in range(self.config.retries + 1):
            if not self._take_budget():
                detail = f"the budget of {self.config.budget} requests is spent"
                return ChatFailure("budget_exhausted", detail if attempt == 0 else f"{failure.detail}; then {detail}",
                                   attempt)
            try:
                text, usage = self._post(body)
            except _Failed as e:
                failure = e
                if e.reason not in RETRIED or attempt == self.config.retries:
                    return ChatFailure(e.reason, e.detail, attempt + 1)
                self._wait(attempt, e.retry_after)
                continue
            self._store(digest, body, text, usage)
            return ChatReply(text, False, attempt + 1, usage)
        return ChatFailure(failure.reason, failure.detail, self.config.retries + 1)  # pragma: no cover

    def ask_many(self, requests: list[dict[str, Any]]) -> list[ChatReply | ChatFailure]:
        """Every request, `concurrency` at a time; results in request order."""
        if not requests:
            return []
        digests = [request_hash(request_body(self.config, r)) for r in requests]
        first = {d: r for d, r in zip(reversed(digests), reversed(requests))}  # identical requests: one send
        order = list(dict.fromkeys(digests))
        with ThreadPoolExecutor(max_workers=min(self.config.concurrency, len(order))) as pool:
            answers = dict(zip(order, pool.map(self.ask, [first[d] for d in order])))
        return [answers[d] for d in digests]
