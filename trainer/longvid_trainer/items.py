"""Training items: one conversation each, with the cached sample it is about (or none: text only).

From the corpus itself (`corpus_items`): a short clip gives one caption conversation per distinct
caption (the prompt follows the caption's kind); a long sample gives the timeline of its timed
captions (start - end seconds, text), plus one conversation per summary; each checked LongVid QA
pair of a sample is one more (the prompts and the timeline are longvid.conversations', shared with
`longvid export llava`). A cached sample without usable text is reported as `no_text`, not
silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longvid.conversations import (BRIEF, PROMPTS, SUMMARY, TIMED_KINDS, TIMELINE,
                                   caption_conversations, clean_text, qa_conversations, timeline)
from longvid_trainer.cache_index import CacheIndex, CachedSample

# the prompts and the timeline live in longvid.conversations (shared with `longvid export llava`)
__all__ = ["Item", "sample_items", "corpus_items", "BRIEF", "PROMPTS", "SUMMARY", "TIMED_KINDS", "TIMELINE",
           "clean_text", "timeline"]


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


def sample_items(sample: CachedSample) -> list[Item]:
    """The conversations one cached sample gives (longvid.conversations: the captions, then the
    sample's checked LongVid QA pairs)."""
    made = caption_conversations(sample.kind, sample.captions) + qa_conversations(sample.qa)
    return [Item(turns, sample.key, origin) for turns, origin in made]


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
