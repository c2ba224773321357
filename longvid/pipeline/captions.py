"""Align the source's own text to a sample: the captions inside its time range, made relative.

A caption overlaps the sample if it shares any time with [start, end), or, for an instant
(a narration), if it lies inside it. Times are clipped to the sample and shifted so that 0 is
the sample's real start. Order: by start, then end, kind, text (deterministic).
"""

from __future__ import annotations

from typing import Any, Iterable


def captions_for(start: float, end: float, spans: Iterable[dict[str, Any]], *, kinds: Iterable[str] | None = None,
                 video_end: float | None = None) -> list[dict[str, Any]]:
    """Captions of `kinds` (all with text if None) inside [start, end), relative to `start`."""
    wanted = None if kinds is None else set(kinds)
    out = []
    for span in spans:
        if not span.get("text") or (wanted is not None and span["kind"] not in wanted):
            continue
        s = span["start"]
        e = span["end"] if span["end"] is not None else (video_end if video_end is not None else end)
        inside = start <= s < end if s == e else (s < end and e > start)
        if not inside:
            continue
        out.append({
            "start": round(max(s, start) - start, 3),
            "end": round(min(e, end) - start, 3),
            "text": span["text"],
            "kind": span["kind"],
            "origin": span["origin"],
        })
    out.sort(key=lambda c: (c["start"], c["end"], c["kind"], c["text"]))
    return out
