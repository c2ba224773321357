"""Training items: one conversation each, with the cached sample it is about (or none: text only).

From the corpus itself (`corpus_items`): a short clip gives one caption conversation per distinct
caption (the prompt follows the caption's kind); a long sample gives the timeline of its timed
captions (start - end seconds, text), plus one conversation per summary. A cached sample without
usable text is reported as `no_text`, not silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from longvid_trainer.cache_index import CacheIndex, CachedSample

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


@dataclass(frozen=True)
class Item:
    """One conversation ((from, value) turns) and the key of its cached sample (None: text only)."""

    turns: tuple[tuple[str, str], ...]
    key: str | None
    origin: str

    def conversation(self) -> list[dict[str, str]]:
        return [{"from": who, "value": value} for who, value in self.turns]

    def modality_length(self) -> int:
        """VideoChat-Flash's grouping length: the conversation's word count, negative without video."""
        words = sum(len(value.split()) for _, value in self.turns)
        return words if self.key is not None else -words


def clean_text(text: str) -> str:
    """Whitespace collapsed; Ego4D's `#C`, `#O`, `#summary`, `#unsure` tags removed."""
    return " ".join(_EGO4D_TAG.sub("", text or "").split())


def _question(prompt: str) -> str:
    return f"<image>\n{prompt}"


def timeline(captions: Iterable[dict[str, Any]]) -> str:
    """`start - end seconds, text` lines in time order (`t seconds, text` for an instant)."""
    lines = []
    for c in sorted(captions, key=lambda c: (c["start"], c["end"], c["text"])):
        when = f"{c['start']:.1f} seconds" if c["end"] <= c["start"] else f"{c['start']:.1f} - {c['end']:.1f} seconds"
        lines.append(f"{when}, {clean_text(c['text'])}")
    return "\n".join(lines)


def sample_items(sample: CachedSample) -> list[Item]:
    """The conversations one cached sample gives."""
    captions = [c for c in sample.captions if clean_text(c.get("text", ""))]
    items: list[Item] = []
    timed = [c for c in captions if c.get("kind") in TIMED_KINDS]
    if sample.kind == "long" or len(timed) > 1:
        if timed:
            items.append(Item((("human", _question(TIMELINE)), ("gpt", timeline(timed))), sample.key, f"corpus:{sample.kind}:timeline"))
        captions = [c for c in captions if c.get("kind") not in TIMED_KINDS]
    seen: set[str] = set()
    for c in captions:
        text = clean_text(c["text"])
        if text in seen:
            continue
        seen.add(text)
        prompt = PROMPTS.get(c.get("kind", ""), BRIEF)
        items.append(Item((("human", _question(prompt)), ("gpt", text)), sample.key, f"corpus:{sample.kind}:{c.get('kind')}"))
    return items


def corpus_items(index: CacheIndex) -> tuple[list[Item], list[dict[str, Any]]]:
    """Items from every cached sample's captions, and the samples that gave none (reason no_text)."""
    items, skipped = [], []
    for key in sorted(index.by_key):
        made = sample_items(index.by_key[key])
        if made:
            items += made
        else:
            skipped.append({"key": key, "reason": "no_text", "origin": "corpus"})
    return items, skipped
