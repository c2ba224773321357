"""Per-domain politeness: concurrency slots and request spacing shared through files (threads and
processes), backoff with jitter, and Retry-After pausing a whole domain."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from longvid.media.errors import MediaError
from longvid.media.fetch import fetch
from longvid.media.locations import LocationPolicy
from longvid.media.politeness import DomainLimits, Politeness, backoff_delay, domain_of
from tests.support import make_media
from tests.support.fault_server import fault_server


@pytest.mark.parametrize(("url", "domain"), [
    ("https://www.youtube.com/watch?v=x", "youtube.com"), ("https://youtu.be/x", "youtube.com"),
    ("https://M.YouTube.com/watch?v=x", "youtube.com"), ("http://www.pexels.com/v.mp4", "pexels.com"),
    ("http://127.0.0.1:8000/a", "127.0.0.1"), ("not a url", "-"),
])
def test_domain_of(url, domain):
    assert domain_of(url) == domain


def test_backoff_grows_with_jitter_and_honours_retry_after():
    delays = [backoff_delay(n, 1.0, "http://h/a") for n in range(1, 6)]
    for n, d in enumerate(delays, start=1):
        assert 0.5 * 2 ** (n - 1) <= d <= 2 ** (n - 1)
    assert delays == [backoff_delay(n, 1.0, "http://h/a") for n in range(1, 6)]  # the same on every run
    assert delays != [backoff_delay(n, 1.0, "http://h/b") for n in range(1, 6)]  # different per URL
    assert backoff_delay(10, 1.0, "k", cap=5) <= 5
    assert backoff_delay(1, 0.01, "k", retry_after=3.0) == 3.0


def test_limits_are_checked():
    with pytest.raises(ValueError, match="unknown domain limit"):
        Politeness(None, {"default": {"speed": 3}})
    with pytest.raises(ValueError):
        DomainLimits.from_params({"concurrency": 0})


def test_concurrency_is_capped_per_domain_across_threads(tmp_path):
    gate = Politeness(tmp_path, {"default": {"concurrency": 2}, "other.org": {"concurrency": 1}})
    inside, peak, lock = [0], [0], threading.Lock()

    def work(url):
        with gate.request(url):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.15)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(f"http://example.com/{i}",)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert peak[0] == 2


def _hold(folder: str, out: str) -> None:
    gate = Politeness(Path(folder), {"default": {"concurrency": 1}})
    with gate.request("http://example.com/x"):
        start = time.time()
        time.sleep(0.2)
        Path(out).write_text(f"{start} {time.time()}")


def test_concurrency_is_shared_between_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(str(tmp_path / "gates"), str(tmp_path / f"{i}.txt"))) for i in range(3)]
    [p.start() for p in procs]
    [p.join(60) for p in procs]
    spans = sorted(tuple(map(float, (tmp_path / f"{i}.txt").read_text().split())) for i in range(3))
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.01  # one at a time


def test_requests_are_spaced_by_the_rate(tmp_path):
    gate = Politeness(tmp_path, {"default": {"rate": 20}})
    started = time.monotonic()
    for _ in range(6):
        with gate.request("http://example.com/a"):
            pass
    assert time.monotonic() - started >= 5 / 20 - 0.02
    free = Politeness(tmp_path, {"default": {"rate": 20}})  # another domain is not slowed
    started = time.monotonic()
    with free.request("http://example.org/a"):
        pass
    assert time.monotonic() - started < 0.1


def test_cool_down_pauses_the_domain_and_a_long_one_fails_fast(tmp_path):
    gate = Politeness(tmp_path, {"default": {"max_wait": 5}})
    gate.cool_down("http://example.com/a", 0.4)
    started = time.monotonic()
    with gate.request("http://example.com/other"):
        pass
    assert time.monotonic() - started >= 0.35
    gate.cool_down("http://example.com/a", 3600)
    with pytest.raises(MediaError) as info:
        with gate.request("http://www.example.com/b"):
            pass
    assert info.value.cause == "rate_limited" and "Retry-After" in info.value.detail
    with gate.request("http://example.net/c"):  # other domains go on
        pass


def test_retry_after_pauses_every_fetch_of_the_domain(tmp_path):
    files = make_media(tmp_path / "served")
    gate = Politeness(tmp_path / "gates")
    with fault_server(tmp_path / "served") as server:
        policy = LocationPolicy(allow_private_hosts=True)
        done: dict[str, float] = {}
        started = time.monotonic()

        def first():
            fetch(server.url("wait429/1/1/av.mp4"), tmp_path / "a.mp4", policy=policy, gate=gate, backoff=0.01)
            done["a"] = time.monotonic() - started

        thread = threading.Thread(target=first)
        thread.start()
        while server.hits("wait429/1/1/av.mp4") == 0:
            time.sleep(0.01)
        time.sleep(0.05)
        fetch(server.url("noaudio.mp4"), tmp_path / "b.mp4", policy=policy, gate=gate)  # another file, same host
        done["b"] = time.monotonic() - started
        thread.join()
    assert done["a"] >= 1.0 and done["b"] >= 0.95  # the second fetch waited for the first one's Retry-After
    assert (tmp_path / "a.mp4").read_bytes() == files["av.mp4"].read_bytes()
    with fault_server(tmp_path / "served") as server:  # a Retry-After longer than max_wait fails at once
        started = time.monotonic()
        with pytest.raises(MediaError) as info:
            fetch(server.url("wait429/5/120/av.mp4"), tmp_path / "c.mp4", policy=policy, gate=gate, retries=3)
        assert info.value.cause == "rate_limited" and time.monotonic() - started < 2
        assert server.hits("wait429/5/120/av.mp4") == 1
