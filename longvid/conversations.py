"""Conversations made from a sample's own text: the one place the prompts and the timeline are written.

Shared by `longvid export llava` (longvid.export.llava) and the trainer's corpus items
(longvid_trainer.items), so an exported file and `longvid train` see the same conversations:

- a long sample (or a clip with more than one timed caption) gives the timeline of its timed
  captions (`start - end seconds, text` lines in time order) as the answer to TIMELINE;
- every other distinct caption gives one conversation whose question follows the caption's kind
  (PROMPTS; BRIEF for the rest, generated captions included);
- each checked question-answer pair of LongVid QA (longvid.enrich.longvid_qa) is one conversation.

A question is `<image>\\n` + the prompt: one video placeholder at the front of the first human turn.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = ["BRIEF", "TIMELINE", "SUMMARY", "PROMPTS", "TIMED_KINDS", "IMAGE", "clean_text", "timeline",
           "question", "caption_conversations", "qa_conversations"]

IMAGE = "<image>"
BRIEF = "Describe the video briefly."
TIMELINE = "Describe the events of the video in order, with their start and end times in seconds."
SUMMARY = "Summarize the video."
PROMPTS = {  # caption kind -> question
    "dense_caption": "Describe the video in detail.",
    "camera_caption": "Describe the camera movement in the video.",
    "style_caption": "Describe the visual style of the video.",
    "background_caption": "Describe the background of the video.",
    "main_object_caption": "Describe the main object in the video.",
    "summary": SUMMARY,
}
TIMED_KINDS = {"narration", "asr"}
_EGO4D_TAG = re.compile(r"#(summary|unsure|[a-z])\b\s*", re.IGNORECASE)

Turns = tuple[tuple[str, str], ...]  # ((from, value), ...)


def clean_text(text: str) -> str:
    """Whitespace collapsed; Ego4D's `#C`, `#O`, `#summary`, `#unsure` tags removed."""
    return " ".join(_EGO4D_TAG.sub("", text or "").split())


def timeline(captions: Iterable[dict[str, Any]]) -> str:
    """`start - end seconds, text` lines in time order (`t seconds, text` for an instant)."""
    lines = []
    for c in sorted(captions, key=lambda c: (c["start"], c["end"], c["text"])):
        when = f"{c['start']:.1f} seconds" if c["end"] <= c["start"] else f"{c['start']:.1f} - {c['end']:.1f} seconds"
        lines.append(f"{when}, {clean_text(c['text'])}")
    return "\n".join(lines)


def question(prompt: str) -> str:
    return f"{IMAGE}\n{prompt}"


def caption_conversations(kind: str, captions: Iterable[dict[str, Any]]) -> list[tuple[Turns, str]]:
    """(turns, origin) for each conversation one sample's captions give (`kind`: clip or long)."""
    usable = [c for c in captions if clean_text(c.get("text", ""))]
    out: list[tuple[Turns, str]] = []
    timed = [c for c in usable if c.get("kind") in TIMED_KINDS]
    if kind == "long" or len(timed) > 1:
        if timed:
            out.append(((("human", question(TIMELINE)), ("gpt", timeline(timed))), f"corpus:{kind}:timeline"))
        usable = [c for c in usable if c.get("kind") not in TIMED_KINDS]
    seen: set[str] = set()
    for c in usable:
        text = clean_text(c["text"])
        if text in seen:
            continue
        seen.add(text)
        prompt = PROMPTS.get(c.get("kind", ""), BRIEF)
        out.append(((("human", question(prompt)), ("gpt", text)), f"corpus:{kind}:{c.get('kind')}"))
    return out


def qa_conversations(qa: Iterable[dict[str, Any]]) -> list[tuple[Turns, str]]:
    """(turns, origin) for each kept LongVid QA pair (kind, question, answer, start, end, origin)."""
    return [((("human", question(clean_text(p["question"]))), ("gpt", clean_text(p["answer"]))),
             f"qa:{p['kind']}") for p in qa]
