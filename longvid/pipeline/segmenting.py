"""Segmenting modes: how a video and its spans become sample time ranges.

A mode is a function (duration, spans, **params) -> (specs, rejects). `spans` are the video's
catalog spans as dicts (start, end, text, kind, origin). Modes are named in the recipe:

  spans   one sample per manifest span of `span_kind` (HD-VILA and MiraData clips, Ego4D
          summaries, caption windows)
  around  a `window`-second sample centred on each span of `kinds` (narrations, ASR lines)
  fixed   consecutive `window`-second samples (the last one shorter, if at least `min_seconds`)
  long    the video cut into equal parts of at most `max_minutes`, each with the timeline of
          every timed caption inside it (the LongVid kind)
  whole   the whole video as one sample (WebVid clips)
  scenes  one sample per scene found by the `scenes` stage (FFmpeg's scene score; spans of kind
          `scene`), for sources without spans of their own; the whole video when it found none
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

# A span may overshoot the probed video by this much and be trimmed (rounding, container edits);
# beyond it the span is reported as outside the video.
OVERSHOOT = 1.0


@dataclass(frozen=True)
class SampleSpec:
    """A sample to cut: [start, end) in the source video, and what made it."""

    start: float
    end: float
    kind: str  # "clip" or "long"
    mode: str


@dataclass(frozen=True)
class Rejected:
    """A span that could not become a sample, and why (a cause code of longvid.errors)."""

    span: dict[str, Any]
    cause: str
    detail: str


Result = tuple[list[SampleSpec], list[Rejected]]


def _fit(start: float, end: float, duration: float) -> tuple[float, float] | None:
    """Trim a range to the video, or None when it lies (mostly) outside it."""
    if start >= duration or end > duration + OVERSHOOT:
        return None
    return max(0.0, start), min(end, duration)


def spans_mode(duration: float, spans: list[dict[str, Any]], *, span_kind: str = "clip",
               min_seconds: float = 0.5) -> Result:
    specs, rejects = [], []
    for span in spans:
        if span["kind"] != span_kind:
            continue
        end = duration if span["end"] is None else span["end"]
        fitted = _fit(span["start"], end, duration)
        if fitted is None:
            rejects.append(Rejected(span, "span_outside_video",
                                    f"span {span['start']:.3f}-{end:.3f} s outside the {duration:.3f} s video"))
        elif fitted[1] - fitted[0] >= min_seconds:
            specs.append(SampleSpec(fitted[0], fitted[1], "clip", "spans"))
    return specs, rejects


def around_mode(duration: float, spans: list[dict[str, Any]], *, kinds: tuple[str, ...] = ("narration", "asr"),
                window: float = 8.0) -> Result:
    specs, rejects = [], []
    for span in spans:
        if span["kind"] not in kinds:
            continue
        centre = span["start"] if span["end"] is None else (span["start"] + span["end"]) / 2
        if not 0 <= centre < duration:
            rejects.append(Rejected(span, "span_outside_video", f"span at {centre:.3f} s outside the {duration:.3f} s video"))
            continue
        start = min(max(0.0, centre - window / 2), max(0.0, duration - window))
        specs.append(SampleSpec(start, min(duration, start + window), "clip", "around"))
    return sorted(set(specs), key=lambda s: (s.start, s.end)), rejects


def fixed_mode(duration: float, spans: list[dict[str, Any]], *, window: float = 10.0, min_seconds: float = 2.0) -> Result:
    starts = [i * window for i in range(math.ceil(duration / window))]
    specs = [SampleSpec(s, min(duration, s + window), "clip", "fixed") for s in starts]
    return [s for s in specs if s.end - s.start >= min_seconds], []


def long_mode(duration: float, spans: list[dict[str, Any]], *, max_minutes: float = 5.0, min_seconds: float = 1.0) -> Result:
    parts = max(1, math.ceil(duration / (max_minutes * 60)))
    step = duration / parts
    specs = [SampleSpec(i * step, duration if i == parts - 1 else (i + 1) * step, "long", "long") for i in range(parts)]
    return [s for s in specs if s.end - s.start >= min_seconds], []


def whole_mode(duration: float, spans: list[dict[str, Any]]) -> Result:
    return [SampleSpec(0.0, duration, "clip", "whole")], []


def scenes_mode(duration: float, spans: list[dict[str, Any]], *, min_seconds: float = 0.5) -> Result:
    if not any(span["kind"] == "scene" for span in spans):
        return whole_mode(duration, spans)
    specs, rejects = spans_mode(duration, spans, span_kind="scene", min_seconds=min_seconds)
    return [SampleSpec(s.start, s.end, "clip", "scenes") for s in specs], rejects


MODES: dict[str, Callable[..., Result]] = {
    "spans": spans_mode,
    "around": around_mode,
    "fixed": fixed_mode,
    "long": long_mode,
    "whole": whole_mode,
    "scenes": scenes_mode,
}


def segment(duration: float, spans: list[dict[str, Any]], mode: str, params: dict[str, Any]) -> Result:
    """Sample specs for one video with the named mode (params from the recipe)."""
    if mode not in MODES:
        raise KeyError(f"unknown segmenting mode {mode!r}; known: {', '.join(MODES)}")
    if "kinds" in params:
        params = {**params, "kinds": tuple(params["kinds"])}
    return MODES[mode](duration, spans, **params)
