"""LongVid question-answer pairs from the timeline of a long sample, generated and checked.

From a sample's timed captions (its timeline: narrations and ASR lines with times relative to the
sample) one chat request per kind asks an OpenAI-compatible endpoint (longvid.enrich.vlm_client)
for pairs of LongVid's kinds, as a JSON list of `{"question", "answer", "start", "end"}` where
start/end (seconds from the sample's start) is the part of the video the answer is about:

  captioning          the events of a stretch of the video, in order
  temporal_grounding  when does <event> happen? -> the time span
  event_relationship  what happens before / after <event>?
  scene_relationship  how two scenes (summaries) of the video relate
  counting            how many times does <action> happen?

Every pair is checked before it is kept (`check_pair`): a question and an answer, times that are
numbers with 0 <= start <= end <= the sample's duration, every time the answer mentions inside the
video, and per kind: a grounded span that meets an event of the timeline, an answer that speaks
of events in the timeline (not of things outside the sample), a count between 1 and the number of
events. A rejected pair is kept with its reason (`REJECT_REASONS`), never dropped silently. A
kept pair is `{"kind", "question", "answer", "start", "end", "origin"}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from longvid.conversations import TIMED_KINDS, clean_text, timeline

__all__ = ["KINDS", "REJECT_REASONS", "qa_request", "parse_pairs", "check_pair", "QAResult", "generate_qa",
           "events_of", "scenes_of"]

KINDS = ("captioning", "temporal_grounding", "event_relationship", "scene_relationship", "counting")
REJECT_REASONS = {
    "request_failed": "the endpoint gave no answer (see the detail: timeout, http_429, budget_exhausted, ...)",
    "malformed_answer": "the answer is not a JSON list of pairs",
    "missing_field": "a pair lacks its question, answer, start or end",
    "bad_time": "start or end is not a number, or start > end",
    "time_outside_video": "a time lies outside the sample",
    "not_grounded": "the grounded span meets no event of the timeline",
    "not_in_timeline": "the answer speaks of nothing in the timeline",
    "count_outside": "the count is not between 1 and the number of events",
}
SLACK = 0.5  # seconds a time may pass the sample's end (rounding)
MIN_EVENTS = 2

INSTRUCTIONS = {
    "captioning": "Ask for a description of a stretch of the video; the answer lists its events in order.",
    "temporal_grounding": "Ask when one event of the timeline happens; the answer gives its start and end "
                          "time in seconds, and start/end are that span.",
    "event_relationship": "Ask what happens just before or just after one event; the answer names that "
                          "other event of the timeline.",
    "scene_relationship": "Ask how two of the scenes listed relate (which comes first, what changes between them).",
    "counting": "Ask how many times an action of the timeline happens; the answer is that number.",
}
SYSTEM = ("You write question-answer pairs for training a video model. You see the timeline of a video: "
          "its events with their times in seconds from the start. Use only what the timeline says. "
          "Reply with a JSON list only, no prose: "
          '[{"question": "...", "answer": "...", "start": <seconds>, "end": <seconds>}]; start and end '
          "give the part of the video the answer is about.")
_WORD = re.compile(r"[a-z]+")
_TIME = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", re.IGNORECASE)
_NUMBER_WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven "
                                            "twelve thirteen fourteen fifteen sixteen seventeen eighteen "
                                            "nineteen twenty".split())}
_STOP = set("a an the and or of to in on at by with from for is are was were be it its his her their this "
            "that then c o x y he she they them up down into out over after before while".split())


def events_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The timeline's events: timed captions with text, in time order."""
    events = [c for c in doc.get("captions", []) if c.get("kind") in TIMED_KINDS and clean_text(c.get("text", ""))]
    return sorted(events, key=lambda c: (c["start"], c["end"]))


def scenes_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The sample's scenes: its summaries and scene captions with text, in time order."""
    scenes = [c for c in doc.get("captions", []) if c.get("kind") in ("summary", "scene") and clean_text(c.get("text", ""))]
    return sorted(scenes, key=lambda c: (c["start"], c["end"]))


def qa_request(doc: dict[str, Any], kind: str, pairs: int = 2) -> dict[str, Any] | None:
    """The chat request for `pairs` pairs of `kind` about the sample `doc`, or None when its
    timeline cannot carry that kind (fewer than 2 events; fewer than 2 scenes)."""
    if kind not in KINDS:
        raise ValueError(f"unknown QA kind {kind!r}; known: {', '.join(KINDS)}")
    events = events_of(doc)
    if len(events) < MIN_EVENTS:
        return None
    text = f"The video lasts {float(doc['duration']):.1f} seconds.\nTimeline:\n{timeline(events)}"
    if kind == "scene_relationship":
        scenes = scenes_of(doc)
        if len(scenes) < 2:
            return None
        text += "\nScenes:\n" + timeline(scenes)
    ask = f"{INSTRUCTIONS[kind]}\nWrite {pairs} such pairs."
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{text}\n\n{ask}"}]}


class QAParseError(ValueError):
    pass


def parse_pairs(reply: str) -> list[Any]:
    """The list of pairs in a reply (a JSON list, or {"pairs": [...]}, fences allowed)."""
    text = reply.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError:
        start, end = text.find("["), text.rfind("]")
        try:
            data = json.loads(text[start : end + 1]) if 0 <= start < end else None
        except ValueError:
            data = None
    if isinstance(data, dict):
        data = data.get("pairs") or data.get("qa")
    if not isinstance(data, list):
        raise QAParseError(f"not a JSON list of pairs: {reply[:80]!r}")
    return data


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(clean_text(text).lower()) if w not in _STOP and len(w) > 2}


def _speaks_of_timeline(answer: str, events: list[dict[str, Any]]) -> bool:
    said = _words(answer)
    known = set().union(*(_words(e["text"]) for e in events)) if events else set()
    return bool(said) and len(said & known) >= max(1, len(said) // 2)


def _count(answer: str) -> int | None:
    m = re.search(r"\b(\d+)\b", answer)
    if m:
        return int(m.group(1))
    for word in _WORD.findall(answer.lower()):
        if word in _NUMBER_WORDS:
            return _NUMBER_WORDS[word]
    return None


def check_pair(pair: Any, kind: str, doc: dict[str, Any]) -> tuple[dict[str, Any] | None, str, str]:
    """(the kept pair, "", "") or (None, reason, detail)."""
    if not isinstance(pair, dict) or not all(k in pair for k in ("question", "answer", "start", "end")):
        return None, "missing_field", f"{str(pair)[:80]}"
    q, a = clean_text(str(pair["question"])), clean_text(str(pair["answer"]))
    if not q or not a:
        return None, "missing_field", "empty question or answer"
    try:
        start, end = float(pair["start"]), float(pair["end"])
    except (TypeError, ValueError):
        return None, "bad_time", f"start={pair['start']!r} end={pair['end']!r}"
    if not start <= end:
        return None, "bad_time", f"start {start} > end {end}"
    duration = float(doc["duration"])
    if start < 0 or end > duration + SLACK:
        return None, "time_outside_video", f"{start:.1f}-{end:.1f} s outside the {duration:.1f} s sample"
    for m in _TIME.finditer(a):
        if float(m.group(1)) > duration + SLACK:
            return None, "time_outside_video", f"the answer mentions {m.group(0)!r} in a {duration:.1f} s sample"
    events = events_of(doc)
    if kind == "temporal_grounding":
        if not any(e["start"] <= end + 1.0 and e["end"] >= start - 1.0 for e in events):
            return None, "not_grounded", f"{start:.1f}-{end:.1f} s meets no event"
    elif kind == "counting":
        n = _count(a)
        if n is None or not 1 <= n <= len(events):
            return None, "count_outside", f"count {n} with {len(events)} events"
    elif not _speaks_of_timeline(a, events + scenes_of(doc)):
        return None, "not_in_timeline", f"answer {a[:60]!r}"
    return {"kind": kind, "question": q, "answer": a, "start": round(start, 3), "end": round(end, 3)}, "", ""


@dataclass
class QAResult:
    """Kept pairs per sample key, and every rejected pair or failed request with its reason."""

    kept: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)  # (key, kind) the timeline cannot carry


def generate_qa(client: Any, docs: list[dict[str, Any]], kinds: tuple[str, ...] = KINDS, pairs: int = 2) -> QAResult:
    """Ask `client` (a ChatClient) for every (sample, kind), check the answers."""
    from longvid.enrich.vlm_client import ChatFailure

    result = QAResult()
    jobs, requests = [], []
    for doc in docs:
        for kind in kinds:
            request = qa_request(doc, kind, pairs)
            if request is None:
                result.skipped.append({"key": doc["key"], "kind": kind})
                continue
            jobs.append((doc, kind))
            requests.append(request)
    origin = f"vlm:{client.config.model}"
    for (doc, kind), reply in zip(jobs, client.ask_many(requests)):
        key = doc["key"]
        result.kept.setdefault(key, [])
        if isinstance(reply, ChatFailure):
            result.rejected.append({"key": key, "kind": kind, "reason": "request_failed",
                                    "detail": f"{reply.reason}: {reply.detail}"})
            continue
        try:
            found = parse_pairs(reply.text)
        except QAParseError as e:
            result.rejected.append({"key": key, "kind": kind, "reason": "malformed_answer", "detail": str(e)})
            continue
        for pair in found:
            kept, reason, detail = check_pair(pair, kind, doc)
            if kept is None:
                result.rejected.append({"key": key, "kind": kind, "reason": reason, "detail": detail})
            else:
                result.kept[key].append({**kept, "origin": origin})
    return result
