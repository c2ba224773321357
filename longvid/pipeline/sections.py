"""Span-only downloads: which range of a long video its samples need, and moving a video's work
between that range's timeline and the source's.

When a source's samples are a few spans of a long video (segment modes `spans` and `around`), the
fetch stage may download only the range [a, b] that covers them (longvid.media.ytdlp). The file
then starts at source time `a`, so the stages after fetch work in its timeline: `into_section`
shifts the video's spans by -a before segmenting, and `to_source` (at the end of align) puts the
samples back on the source's timeline: keys, times in each sample's .json, the staged file names,
and error locators. Captions are relative to each sample's start, so they need no change. Keys
and times are those a whole download would give (requested times are the manifest's own).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from longvid.keys import sample_key
from longvid.media.span_download import Section

SECTION_MODES = ("spans", "around")


def needed_range(spans: list[dict[str, Any]], mode: str, params: dict[str, Any]) -> Section | None:
    """The source range the mode's samples need, with their start times, or None (the whole
    video: another mode, no spans, or a span open to the end)."""
    if mode == "spans":
        kind = params.get("span_kind", "clip")
        mine = [s for s in spans if s["kind"] == kind]
        if not mine or any(s["end"] is None for s in mine):
            return None
        starts = tuple(sorted({max(0.0, s["start"]) for s in mine}))
        return Section(min(s["start"] for s in mine), max(s["end"] for s in mine), starts)
    if mode == "around":
        kinds = tuple(params.get("kinds", ("narration", "asr")))
        half = float(params.get("window", 8.0)) / 2
        centres = [s["start"] if s["end"] is None else (s["start"] + s["end"]) / 2 for s in spans if s["kind"] in kinds]
        if not centres:
            return None
        return Section(min(centres) - half, max(centres) + half, tuple(sorted({max(0.0, c - half) for c in centres})))
    return None


def chooser(spans: list[dict[str, Any]], mode: str, params: dict[str, Any], manifest_duration: float | None, *,
            fraction: float, margin: float) -> Callable[[float | None], Section | None]:
    """A `choose_section(duration)` for longvid.media.ytdlp: the needed range (with `margin`) when
    the video's duration is known (yt-dlp's, else the manifest's), the range lies inside it and
    is at most `fraction` of it; else None (download it whole)."""
    wanted = needed_range(spans, mode, params)

    def choose(duration: float | None) -> Section | None:
        duration = duration or manifest_duration
        if wanted is None or not duration or duration <= 0:
            return None
        start, end = max(0.0, wanted.start - margin), min(duration, wanted.end + margin)
        if wanted.end > duration or end <= start or (end - start) > fraction * duration:
            return None
        return Section(round(start, 3), round(end, 3), wanted.cuts)

    return choose


def into_section(spans: list[dict[str, Any]], offset: float) -> list[dict[str, Any]]:
    """The spans on the timeline of a file that starts at source time `offset`."""
    return [{**s, "start": s["start"] - offset, "end": None if s["end"] is None else s["end"] - offset} for s in spans]


def to_source(work: Any) -> None:
    """Put a span-only video's samples and errors back on the source's timeline (no-op for a
    whole download). `work` is a longvid.pipeline.stages.VideoWork after align."""
    section = (work.fetch or {}).get("section")
    if not section:
        return
    offset = float(section[0])
    source_duration = work.fetch.get("source_duration")
    v = work.video
    for sample in work.samples:
        doc = sample["json"]
        for name in ("start", "end", "requested_start", "requested_end"):
            doc[name] = round(doc[name] + offset, 6)
        if source_duration:
            doc["video"]["source_duration"] = round(float(source_duration), 6)
        key = sample_key(v["source"], v["native_id"], doc["requested_start"], doc["requested_end"])
        if key != sample["key"]:
            (work.staging / f"{sample['key']}.mp4").rename(work.staging / f"{key}.mp4")
            sample["key"] = doc["key"] = key
    for error in work.errors:
        error["locator"] = _shift_times(error["locator"], offset)


def _shift_times(locator: str, offset: float) -> str:
    """`<uid>@<start>` and `<key> <start>-<end>` locators with their times moved by `offset`."""
    shift = lambda m: f"{float(m.group(0)) + offset:.3f}"  # noqa: E731
    if "@" in locator:
        head, _, tail = locator.rpartition("@")
        return f"{head}@{re.sub(r'-?[0-9.]+', shift, tail, count=1)}"
    return re.sub(r"(?<= )-?[0-9.]+|(?<=[0-9]-)[0-9.]+$", shift, locator)
