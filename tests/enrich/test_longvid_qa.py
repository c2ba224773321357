"""LongVid QA and VLM captions through the chat client against a loopback OpenAI-protocol server:
answers checked before they are kept, failures and answers outside the sample rejected with reasons."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from longvid.enrich.frames import FrameSpec, sample_frames
from longvid.enrich.longvid_qa import INSTRUCTIONS, KINDS, check_pair, generate_qa, parse_pairs, qa_request
from longvid.enrich.vlm_caption import caption_request, caption_text
from longvid.enrich.vlm_client import ChatClient, ChatConfig, ChatReply
from tests.support.chat_server import chat_server

LINE = re.compile(r"^(\d+(?:\.\d+)?)(?: - (\d+(?:\.\d+)?))? seconds, (.*)$")


def doc(key: str, *, events: int = 4, summaries: bool = True, duration: float = 60.0) -> dict[str, Any]:
    texts = ["#C C opens the fridge", "#C C takes out a bottle of milk", "#C C pours the milk into a glass",
             "#C C drinks the milk", "#C C washes the glass"]
    captions = [{"start": 5.0 + 9 * i, "end": 5.0 + 9 * i, "text": texts[i], "kind": "narration", "origin": "t"}
                for i in range(events)]
    if summaries:
        captions += [{"start": 0.0, "end": 30.0, "text": "C makes a drink of milk", "kind": "summary", "origin": "t"},
                     {"start": 30.0, "end": 60.0, "text": "C drinks and washes the glass", "kind": "summary", "origin": "t"}]
    return {"key": key, "kind": "long", "duration": duration, "captions": captions}


def timeline_of(text: str) -> tuple[float, list[tuple[float, float, str]]]:
    duration = float(re.search(r"lasts ([\d.]+) seconds", text).group(1))
    part = text.split("Timeline:\n", 1)[1].split("\n\n", 1)[0].split("\nScenes:", 1)[0]
    events = []
    for line in part.splitlines():
        m = LINE.match(line)
        events.append((float(m.group(1)), float(m.group(2) or m.group(1)), m.group(3)))
    return duration, events


def model(body: dict[str, Any]) -> str:
    """A stand-in for the VLM: reads the timeline and writes pairs of the kind asked for; a sample whose
    key text says BAD gets answers outside the sample, PROSE gets no JSON at all."""
    text = body["messages"][-1]["content"]
    kind = next(k for k, v in INSTRUCTIONS.items() if v in text)
    duration, events = timeline_of(text)
    (s0, _, t0), (s1, e1, t1) = events[0], events[1]
    if "washes" in text and "pours" not in text:  # the BAD sample's timeline (see test)
        bad = {"temporal_grounding": {"question": f"When does {t0} happen?", "answer": "at 200 seconds",
                                      "start": duration + 100, "end": duration + 110},
               "event_relationship": {"question": f"What happens after {t0}?", "answer": "A spaceship lands on Mars.",
                                      "start": s0, "end": e1},
               "counting": {"question": "How many times does he open the fridge?", "answer": "99", "start": 0, "end": 5},
               "captioning": {"question": "Describe the video.", "answer": "Cars race through a desert city.",
                              "start": 0, "end": duration},
               "scene_relationship": {"question": "How do the scenes relate?", "answer": "A storm over the ocean.",
                                      "start": 0, "end": duration}}
        return json.dumps([bad[kind]])
    if "milk into" in text and "drinks the milk" not in text:  # the PROSE sample
        return "Sure! Here are some great questions about this video."
    pairs = {
        "captioning": {"question": f"Describe the video from {s0:.0f} to {e1:.0f} seconds.",
                       "answer": f"{t0}, then {t1}.", "start": s0, "end": e1},
        "temporal_grounding": {"question": f"When does the person {t1}?", "answer": f"From {s1:.1f} to {e1 + 1:.1f} seconds.",
                               "start": s1, "end": e1 + 1},
        "event_relationship": {"question": f"What happens right after {t0}?", "answer": t1, "start": s1, "end": e1},
        "scene_relationship": {"question": "What does the second scene show compared with the first?",
                               "answer": "First a drink of milk is made, then the glass is washed.", "start": 0, "end": duration},
        "counting": {"question": "How many actions does the person do?", "answer": str(len(events)), "start": 0, "end": duration},
    }
    return "```json\n" + json.dumps([pairs[kind]]) + "\n```"


def client(url: str, cache: Path, **kw: Any) -> ChatClient:
    return ChatClient(ChatConfig(url, "test-vlm", cache_dir=cache, backoff=0.001, timeout=5.0, **kw))


def test_pairs_of_every_kind_kept_with_timestamps(tmp_path: Path) -> None:
    with chat_server(model) as srv:
        srv.script = ["429", "500", "empty", "malformed"]  # protocol failures: retried, then answered
        result = generate_qa(client(srv.base_url, tmp_path, concurrency=2), [doc("s1")])
        assert result.rejected == [] and result.skipped == []
        kept = result.kept["s1"]
        assert sorted(p["kind"] for p in kept) == sorted(KINDS)
        for p in kept:
            assert 0 <= p["start"] <= p["end"] <= 60 and p["origin"] == "vlm:test-vlm"
            assert p["question"] and p["answer"] and "#C" not in p["answer"]
        grounding = next(p for p in kept if p["kind"] == "temporal_grounding")
        assert (grounding["start"], grounding["end"]) == (14.0, 15.0)
        # a rerun asks nothing: every answer is in the cache
        sent = sum(srv.received.values())
        again = generate_qa(client(srv.base_url, tmp_path), [doc("s1")])
        assert again.kept == result.kept and sum(srv.received.values()) == sent


def test_answers_outside_the_sample_and_prose_are_rejected_with_reasons(tmp_path: Path) -> None:
    bad = doc("bad", events=5)
    bad["captions"] = [c for c in bad["captions"] if "pours" not in c["text"]]  # the model's BAD marker
    prose = doc("prose", events=3)
    with chat_server(model) as srv:
        result = generate_qa(client(srv.base_url, tmp_path, concurrency=3), [bad, prose, doc("good")])
    reasons = {(r["key"], r["kind"]): r["reason"] for r in result.rejected}
    assert reasons[("bad", "temporal_grounding")] == "time_outside_video"
    assert reasons[("bad", "event_relationship")] == "not_in_timeline"
    assert reasons[("bad", "counting")] == "count_outside"
    assert reasons[("bad", "captioning")] == "not_in_timeline"
    assert reasons[("bad", "scene_relationship")] == "not_in_timeline"
    assert {reasons[("prose", k)] for k in KINDS} == {"malformed_answer"}
    assert result.kept["bad"] == [] and result.kept["prose"] == [] and len(result.kept["good"]) == len(KINDS)


def test_failed_requests_are_rejected_not_lost(tmp_path: Path) -> None:
    with chat_server(model) as srv:
        srv.script = ["500"] * 10
        result = generate_qa(client(srv.base_url, tmp_path, retries=1, concurrency=1), [doc("s")], kinds=("counting",))
    assert result.rejected == [{"key": "s", "kind": "counting", "reason": "request_failed",
                                "detail": "http_5xx: HTTP 500 Internal Server Error"}]


def test_timelines_too_thin_are_skipped() -> None:
    assert qa_request(doc("one", events=1), "counting") is None
    assert qa_request(doc("noscenes", summaries=False), "scene_relationship") is None
    assert qa_request(doc("ok"), "counting") is not None
    with pytest.raises(ValueError):
        qa_request(doc("ok"), "poetry")


@pytest.mark.parametrize("pair, kind, reason", [
    ({"question": "q", "answer": "a"}, "counting", "missing_field"),
    ({"question": " ", "answer": "3", "start": 0, "end": 1}, "counting", "missing_field"),
    ({"question": "q", "answer": "3", "start": "soon", "end": 1}, "counting", "bad_time"),
    ({"question": "q", "answer": "3", "start": 9, "end": 2}, "counting", "bad_time"),
    ({"question": "q", "answer": "3", "start": -1, "end": 2}, "counting", "time_outside_video"),
    ({"question": "q", "answer": "opens the fridge at 75 seconds", "start": 0, "end": 6}, "event_relationship", "time_outside_video"),
    ({"question": "q", "answer": "from 40 to 45 seconds", "start": 40, "end": 45}, "temporal_grounding", "not_grounded"),
    ({"question": "q", "answer": "none", "start": 0, "end": 6}, "counting", "count_outside"),
    ({"question": "q", "answer": "seven", "start": 0, "end": 6}, "counting", "count_outside"),
])
def test_check_pair_reasons(pair: dict[str, Any], kind: str, reason: str) -> None:
    kept, got, _ = check_pair(pair, kind, doc("s"))
    assert kept is None and got == reason


def test_check_pair_keeps_good_pairs() -> None:
    kept, reason, _ = check_pair({"question": "How many?", "answer": "three", "start": 0, "end": 60}, "counting", doc("s"))
    assert reason == "" and kept["answer"] == "three"
    kept, _, _ = check_pair({"question": "When?", "answer": "at 23 s", "start": 22.5, "end": 23.5}, "temporal_grounding", doc("s"))
    assert kept is not None


def test_parse_pairs_forms() -> None:
    assert parse_pairs('[{"a": 1}]') == [{"a": 1}]
    assert parse_pairs('{"pairs": [{"a": 1}]}') == [{"a": 1}]
    assert parse_pairs('Here you go: [{"a": 1}] hope it helps') == [{"a": 1}]
    with pytest.raises(ValueError):
        parse_pairs("no json here")


def test_vlm_caption_sends_frames_as_jpeg_and_keeps_the_text(videos: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    seen: list[tuple[int, int]] = []

    def vlm(body: dict[str, Any]) -> str:
        parts = body["messages"][0]["content"]
        for part in parts[:-1]:
            data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            seen.append(Image.open(io.BytesIO(data)).size)
        assert parts[-1]["type"] == "text"
        return f"  A test pattern\n shown in {len(parts) - 1} frames.  "

    frames = sample_frames(videos["moving"], FrameSpec(count=6, max_side=0))
    with chat_server(vlm) as srv:
        reply = client(srv.base_url, tmp_path).ask(caption_request(frames, max_images=4))
    assert isinstance(reply, ChatReply) and caption_text(reply.text) == "A test pattern shown in 4 frames."
    assert seen == [(160, 120)] * 4
    assert caption_text(" \n ") is None
