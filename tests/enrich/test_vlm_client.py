"""The chat client against a loopback OpenAI-protocol server, failures included; a killed run resumes
without asking again what was answered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from longvid.enrich.vlm_client import ChatClient, ChatConfig, ChatFailure, ChatReply, request_body, request_hash
from tests.support.chat_server import chat_server

REPO = Path(__file__).resolve().parents[2]


def echo(body: dict[str, Any]) -> str:
    return "answer to " + body["messages"][-1]["content"]


def ask(n: int) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(n)]


def config(url: str, cache: Path, **kw: Any) -> ChatConfig:
    return ChatConfig(url, "test-vlm", cache_dir=cache, **{"backoff": 0.001, "timeout": 5.0, **kw})


def test_answers_in_order_then_from_the_cache(tmp_path: Path) -> None:
    with chat_server(echo) as srv:
        client = ChatClient(config(srv.base_url, tmp_path, concurrency=3))
        replies = client.ask_many(ask(7))
        assert [r.text for r in replies] == [f"answer to question {i}" for i in range(7)]
        assert all(isinstance(r, ChatReply) and not r.cached and r.attempts == 1 for r in replies)
        assert client.sent == 7 and sum(srv.received.values()) == 7
        again = ChatClient(config(srv.base_url, tmp_path)).ask_many(ask(7))
        assert [r.text for r in again] == [r.text for r in replies] and all(r.cached for r in again)
        assert sum(srv.received.values()) == 7  # nothing sent twice
        # another model or other sampling is another request
        other = ChatClient(config(srv.base_url, tmp_path, temperature=0.7)).ask_many(ask(1))
        assert not other[0].cached and sum(srv.received.values()) == 8


def test_identical_requests_are_sent_once(tmp_path: Path) -> None:
    with chat_server(echo) as srv:
        replies = ChatClient(config(srv.base_url, tmp_path, concurrency=4)).ask_many(ask(2) * 3)
        assert len(replies) == 6 and sum(srv.received.values()) == 2


def test_every_failure_is_retried_with_backoff(tmp_path: Path) -> None:
    with chat_server(echo, stall_s=2.0) as srv:
        srv.script = ["429", "500", "drop", "malformed", "nochoices", "empty", "timeout"]
        client = ChatClient(config(srv.base_url, tmp_path, retries=7, timeout=0.3, concurrency=1), seed=0)
        reply = client.ask(ask(1)[0])
        assert isinstance(reply, ChatReply) and reply.text == "answer to question 0" and reply.attempts == 8
        assert client.sent == 8 and srv.script == []
        assert client.cached(ask(1)[0]) is not None


@pytest.mark.parametrize("faults, reason, attempts", [
    (["500", "500"], "http_5xx", 2),
    (["429", "429"], "http_429", 2),
    (["malformed", "empty"], "empty", 2),
    (["400"], "http_4xx", 1),  # a refusal is not retried
])
def test_final_failures_are_reported_not_cached(tmp_path: Path, faults: list[str], reason: str, attempts: int) -> None:
    with chat_server(echo) as srv:
        srv.by_text["question 1"] = list(faults)
        client = ChatClient(config(srv.base_url, tmp_path, retries=1, concurrency=2))
        replies = client.ask_many(ask(3))
        assert isinstance(replies[0], ChatReply) and isinstance(replies[2], ChatReply)
        failure = replies[1]
        assert isinstance(failure, ChatFailure) and (failure.reason, failure.attempts) == (reason, attempts)
        assert client.cached(ask(3)[1]) is None  # a failure is asked again by a later run


def test_timeout_is_a_reason(tmp_path: Path) -> None:
    with chat_server(echo, stall_s=2.0) as srv:
        srv.script = ["timeout"]
        started = time.monotonic()
        reply = ChatClient(config(srv.base_url, tmp_path, retries=0, timeout=0.3)).ask(ask(1)[0])
        assert isinstance(reply, ChatFailure) and reply.reason == "timeout"
        assert time.monotonic() - started < 1.5


def test_budget_caps_requests_sent_retries_included(tmp_path: Path) -> None:
    with chat_server(echo) as srv:
        srv.script = ["500"]
        client = ChatClient(config(srv.base_url, tmp_path, budget=4, retries=2, concurrency=1))
        replies = client.ask_many(ask(5))
        assert [type(r).__name__ for r in replies] == ["ChatReply"] * 3 + ["ChatFailure"] * 2
        assert {r.reason for r in replies[3:]} == {"budget_exhausted"}
        assert client.sent == 4 and sum(srv.received.values()) == 4
        # answered requests stay answered: a new run with a new budget asks only the rest
        rerun = ChatClient(config(srv.base_url, tmp_path, budget=2))
        assert all(isinstance(r, ChatReply) for r in rerun.ask_many(ask(5))) and rerun.sent == 2


def test_bad_config_and_request(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ChatConfig("ftp://x", "m", cache_dir=tmp_path)
    with pytest.raises(ValueError):
        ChatConfig("http://x", "m", cache_dir=tmp_path, concurrency=0)
    with pytest.raises(ValueError):
        request_body(config("http://x", tmp_path), {"messages": []})


CHILD = """
import json, sys
from pathlib import Path
from longvid.enrich.vlm_client import ChatClient, ChatConfig
url, cache, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
client = ChatClient(ChatConfig(url, "test-vlm", cache_dir=cache, concurrency=3, backoff=0.001))
requests = [{"messages": [{"role": "user", "content": f"question {i}"}]} for i in range(n)]
replies = client.ask_many(requests)
print(json.dumps({"sent": client.sent, "cached": sum(r.cached for r in replies)}))
"""


def cached_files(cache: Path) -> int:
    return sum(1 for p in cache.glob("*/*.json"))


def test_killed_run_resumes_without_asking_answered_requests_again(tmp_path: Path) -> None:
    cache, n = tmp_path / "cache", 12
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with chat_server(echo) as srv:
        srv.hold_after = 5  # five answers, then requests hang: the run is killed with some in flight
        child = subprocess.Popen([sys.executable, "-c", CHILD, srv.base_url, str(cache), str(n)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while (cached_files(cache) < 5 or sum(srv.received.values()) < 8) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert cached_files(cache) == 5, "the first five answers were not cached in time"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        first = dict(srv.answered)
        in_flight = {d for d in srv.received if d not in first}
        assert len(first) == 5 and 1 <= len(in_flight) <= 3  # at most `concurrency` unanswered
        before = dict(srv.received)
        srv.release(drop_held=True)  # the killed client's requests get no answer
        done = subprocess.run([sys.executable, "-c", CHILD, srv.base_url, str(cache), str(n)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert summary == {"sent": n - 5, "cached": 5}
        second = {d: srv.received[d] - before.get(d, 0) for d in srv.received}
        assert not [d for d in first if second.get(d, 0)], "an answered request was sent again"
        assert all(count == 1 for count in srv.answered.values()) and len(srv.answered) == n
        digests = {request_hash(request_body(config(srv.base_url, cache), r)) for r in ask(n)}
        assert set(srv.answered) == digests and cached_files(cache) == n


def test_a_budget_file_is_shared_by_clients_and_runs(tmp_path: Path) -> None:
    from longvid.enrich.vlm_client import spent

    budget = tmp_path / "spent"
    with chat_server(echo) as srv:
        a = ChatClient(config(srv.base_url, tmp_path / "c", budget=3, budget_file=budget))
        b = ChatClient(config(srv.base_url, tmp_path / "c", budget=3, budget_file=budget, concurrency=1))
        assert isinstance(a.ask(ask(2)[0]), ChatReply) and isinstance(b.ask(ask(2)[1]), ChatReply)
        replies = b.ask_many(ask(5))  # two cached, one more allowed, two refused
        assert [r.cached for r in replies[:2]] == [True, True] and isinstance(replies[2], ChatReply)
        assert {r.reason for r in replies[3:]} == {"budget_exhausted"} and spent(budget) == 3
        assert sum(srv.received.values()) == 3
