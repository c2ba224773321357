"""Span-only downloads: which range a video's samples need, when it pays, and moving a video's
work between the downloaded range's timeline and the source's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from longvid.keys import sample_key
from longvid.media.span_download import Section
from longvid.pipeline.sections import chooser, into_section, needed_range, to_source


def span(start, end, kind="clip", text="t"):
    return {"start": start, "end": end, "kind": kind, "text": text, "origin": "m.csv"}


def test_needed_range_per_mode():
    spans = [span(100.0, 104.0), span(130.0, 131.5), span(0.0, 600.0, kind="caption")]
    assert needed_range(spans, "spans", {"span_kind": "clip"}) == Section(100.0, 131.5, (100.0, 130.0))
    assert needed_range([span(5.0, None)], "spans", {}) is None  # open to the end: the whole video
    narrations = [span(50.0, None, kind="narration"), span(60.0, 62.0, kind="narration")]
    assert needed_range(narrations, "around", {"kinds": ["narration"], "window": 8}) == Section(46.0, 65.0, (46.0, 57.0))
    for mode in ("long", "fixed", "whole"):
        assert needed_range(spans, mode, {}) is None


def test_a_section_only_when_it_pays_and_fits():
    spans = [span(100.0, 104.0), span(130.0, 131.5)]
    choose = chooser(spans, "spans", {}, None, fraction=0.5, margin=0.5)
    assert choose(3600.0) == Section(99.5, 132.0, (100.0, 130.0))
    assert choose(None) is None  # duration unknown: the whole video
    assert choose(131.0) is None  # a span past the end: downloaded whole, so the segment stage reports it
    assert chooser(spans, "spans", {}, None, fraction=0.2, margin=0.5)(140.0) is None  # 23% of it, over 20%
    assert chooser(spans, "spans", {}, 3600.0, fraction=0.5, margin=0)(None) == Section(100.0, 131.5, (100.0, 130.0))


def test_spans_shift_into_the_section_and_samples_come_back(tmp_path: Path):
    shifted = into_section([span(100.0, 104.0), span(50.0, None, kind="narration")], 99.5)
    assert [(s["start"], s["end"]) for s in shifted] == [(0.5, 4.5), (-49.5, None)]
    old_key = sample_key("miradata", "pexels-1", 0.5, 4.5)
    (tmp_path / f"{old_key}.mp4").write_bytes(b"x")
    doc = {"key": old_key, "start": 0.5, "end": 4.5, "requested_start": 0.5, "requested_end": 4.5,
           "video": {"source_duration": 33.0}}
    work = SimpleNamespace(
        fetch={"section": [99.5, 132.0], "source_duration": 3600.0}, staging=tmp_path,
        video={"source": "miradata", "native_id": "pexels-1"},
        samples=[{"key": old_key, "json": doc}],
        errors=[{"locator": "miradata/pexels-1@0.5"}, {"locator": f"{old_key} 0.500-4.500"}])
    to_source(work)
    key = sample_key("miradata", "pexels-1", 100.0, 104.0)
    assert work.samples[0]["key"] == key == doc["key"] and (tmp_path / f"{key}.mp4").read_bytes() == b"x"
    assert (doc["start"], doc["end"], doc["requested_start"], doc["requested_end"]) == (100.0, 104.0, 100.0, 104.0)
    assert doc["video"]["source_duration"] == 3600.0
    assert [e["locator"] for e in work.errors] == ["miradata/pexels-1@100.000", f"{old_key} 100.000-104.000"]
    whole = SimpleNamespace(fetch={"section": None}, samples=[{"key": "k", "json": {"start": 1.0}}], errors=[])
    to_source(whole)
    assert whole.samples[0]["json"]["start"] == 1.0
