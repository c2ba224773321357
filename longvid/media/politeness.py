"""Politeness towards the hosts a build downloads from: per-domain concurrency and request rate,
exponential backoff with jitter, and a domain-wide cool-down when a server sends `Retry-After`.

The state lives in small files under one folder (a build uses `CORPUS/.domains/`) guarded
by `flock`, so every process of the build on this host (Ray workers, threads) shares the same
limits, and a killed process gives its slot back (the kernel drops its locks):

- `<domain>.slot<i>`: one lock file per allowed concurrent transfer; a transfer holds one.
- `<domain>.state`: `{"next": t, "until": t}`, the earliest time of the domain's next request
  (spacing requests by 1/rate) and the end of its cool-down; read and written under
  `<domain>.lock`.

A cool-down longer than `max_wait` is not waited out: the request fails at once with cause
`rate_limited` (class blocked), so a domain that asks for an hour's rest costs the build no hour;
`longvid retry --class blocked` fetches those videos later.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from longvid.media.errors import MediaError

__all__ = ["DomainLimits", "Politeness", "backoff_delay", "domain_of"]

YOUTUBE_HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be",
                           "www.youtu.be", "youtube-nocookie.com", "www.youtube-nocookie.com"})
_POLL = 0.05  # seconds between tries for a free slot


@dataclass(frozen=True)
class DomainLimits:
    """Limits for one domain: transfers at once, requests per second (0: no limit), and the
    longest cool-down (Retry-After) waited for before failing with `rate_limited`."""

    concurrency: int = 4
    rate: float = 0.0
    max_wait: float = 30.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "DomainLimits":
        unknown = set(params) - {"concurrency", "rate", "max_wait"}
        if unknown:
            raise ValueError(f"unknown domain limit(s) {sorted(unknown)}; known: concurrency, rate, max_wait")
        limits = cls(int(params.get("concurrency", cls.concurrency)), float(params.get("rate", cls.rate)),
                     float(params.get("max_wait", cls.max_wait)))
        if limits.concurrency < 1 or limits.rate < 0 or limits.max_wait < 0:
            raise ValueError(f"domain limits must be concurrency >= 1, rate >= 0, max_wait >= 0: {params}")
        return limits


def domain_of(url: str) -> str:
    """The domain a URL's requests count against: its host, lower case, without `www.`; every
    YouTube host is `youtube.com`."""
    try:
        host = (urllib.parse.urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        host = ""
    if host in YOUTUBE_HOSTS:
        return "youtube.com"
    return host.removeprefix("www.") or "-"


def backoff_delay(attempt: int, base: float, key: str, *, cap: float = 60.0, retry_after: float | None = None) -> float:
    """Seconds to wait before try `attempt + 1`: base * 2^(attempt-1), capped, times a jitter
    factor in [0.5, 1] drawn from `key` and the attempt (the same on every run, different per
    URL, so workers that failed together do not retry together); never less than `retry_after`."""
    seed = hashlib.sha256(f"{key}#{attempt}".encode()).digest()
    jitter = 0.5 + 0.5 * int.from_bytes(seed[:4], "big") / 0xFFFFFFFF
    return max(min(cap, base * 2 ** max(attempt - 1, 0)) * jitter, retry_after or 0.0)


class Politeness:
    """Per-domain gates shared through files under `folder` (None: no limits, nothing written).

    `table` maps a domain (or `default`) to its limits, as in the recipe's `fetch.domains`."""

    def __init__(self, folder: Path | None, table: Mapping[str, Mapping[str, Any]] | None = None):
        self.folder = None if folder is None else Path(folder)
        table = dict(table or {})
        self.default = DomainLimits.from_params(table.pop("default", {}) or {})
        self.table = {str(d).lower(): DomainLimits.from_params(v or {}) for d, v in table.items()}

    def limits(self, domain: str) -> DomainLimits:
        return self.table.get(domain, self.default)

    @contextlib.contextmanager
    def request(self, url: str) -> Iterator[None]:
        """Hold one of the domain's transfer slots, starting at the domain's next allowed time
        (after its cool-down). Raises MediaError rate_limited for a cool-down over max_wait."""
        if self.folder is None:
            yield
            return
        domain = domain_of(url)
        with self._slot(domain):
            self._wait_turn(domain)
            yield

    def cool_down(self, url: str, seconds: float) -> None:
        """The server asked the domain to wait `seconds` (Retry-After): nobody sends it a request before then."""
        if self.folder is None or seconds <= 0:
            return
        domain = domain_of(url)
        with self._state(domain) as state:
            state["until"] = max(state.get("until", 0.0), time.time() + seconds)

    def cooling(self, url: str) -> float:
        """Seconds left of the domain's cool-down (0 when none)."""
        if self.folder is None:
            return 0.0
        with self._state(domain_of(url)) as state:
            return max(0.0, state.get("until", 0.0) - time.time())

    # ---- files -----------------------------------------------------------------------------

    def _name(self, domain: str) -> str:
        safe = re.sub(r"[^a-z0-9.-]", "_", domain)[:80].strip(".") or "_"
        return safe if safe == domain else f"{safe}-{hashlib.sha1(domain.encode()).hexdigest()[:8]}"

    @contextlib.contextmanager
    def _slot(self, domain: str) -> Iterator[None]:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        slots = [self.folder / f"{self._name(domain)}.slot{i}" for i in range(self.limits(domain).concurrency)]
        while True:
            for path in slots:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                try:
                    yield
                finally:
                    os.close(fd)  # closing drops the lock
                return
            time.sleep(_POLL)

    @contextlib.contextmanager
    def _state(self, domain: str) -> Iterator[dict[str, float]]:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        name = self._name(domain)
        path = self.folder / f"{name}.state"
        fd = os.open(self.folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state = json.loads(path.read_text())
                state = state if isinstance(state, dict) else {}
            except (OSError, ValueError):
                state = {}
            before = dict(state)
            yield state
            if state != before:
                tmp = path.with_name(f".{path.name}.{os.getpid()}")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, path)
        finally:
            os.close(fd)

    def _wait_turn(self, domain: str) -> None:
        """Sleep until the domain's cool-down has passed and its next request time has come,
        taking that time (the next one is 1/rate later)."""
        limits = self.limits(domain)
        with self._state(domain) as state:
            now = time.time()
            cooling = state.get("until", 0.0) - now
            if cooling > limits.max_wait:
                raise MediaError("rate_limited", f"{domain} asked for a pause of {cooling:.0f} s (Retry-After), "
                                                 f"longer than the {limits.max_wait:.0f} s waited for")
            at = max(now, state.get("until", 0.0), state.get("next", 0.0))
            if limits.rate > 0:
                state["next"] = at + 1.0 / limits.rate
        delay = at - time.time()
        if delay > 0:
            time.sleep(delay)
