"""Unit tests of the segmenting modes (longvid/pipeline/segmenting.py) and caption alignment
(longvid/pipeline/align.py): plain functions over numbers and span dicts, no media."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.pipeline.captions import captions_for
from longvid.pipeline.recipe import load_recipe
from longvid.pipeline.segmenting import OVERSHOOT, MODES, Rejected, SampleSpec, segment
from longvid.errors import CAUSES
from tests.pipeline.conftest import SOURCES


def span(start, end, kind="clip", text="t", origin="m.csv"):
    return {"start": start, "end": end, "kind": kind, "text": text, "origin": origin}


def ranges(specs):
    return [(s.start, s.end) for s in specs]


# ---- spans -------------------------------------------------------------------------------------

def test_spans_one_sample_per_span_of_the_kind():
    specs, rejects = segment(30.0, [span(1, 4), span(5, 9, kind="asr"), span(10, 20)], "spans", {"span_kind": "clip"})
    assert specs == [SampleSpec(1, 4, "clip", "spans"), SampleSpec(10, 20, "clip", "spans")]
    assert rejects == []


def test_spans_trim_a_small_overshoot_and_clamp_a_negative_start():
    specs, rejects = segment(10.0, [span(8, 10 + OVERSHOOT), span(-0.2, 3)], "spans", {})
    assert ranges(specs) == [(8, 10.0), (0.0, 3)]
    assert rejects == []


def test_spans_outside_the_video_are_rejected_with_their_cause():
    after = span(12, 14)
    beyond = span(5, 10 + OVERSHOOT + 0.5)  # starts inside but overshoots past the allowance
    at_end = span(10.0, 11.0)  # starts exactly where the video ends
    specs, rejects = segment(10.0, [after, beyond, at_end, span(1, 2)], "spans", {})
    assert ranges(specs) == [(1, 2)]
    assert [r.span for r in rejects] == [after, beyond, at_end]
    assert {r.cause for r in rejects} == {"span_outside_video"} and "span_outside_video" in CAUSES
    assert all("10.000" in r.detail for r in rejects)


def test_spans_open_end_runs_to_the_end_and_short_spans_are_dropped():
    specs, rejects = segment(10.0, [span(6, None), span(2, 2.3), span(9.8, 10.5)], "spans", {"min_seconds": 0.5})
    assert ranges(specs) == [(6, 10.0)]
    assert rejects == []  # too short is not an error: nothing to cut


# ---- around ------------------------------------------------------------------------------------

def test_around_centres_a_window_on_each_span_and_clamps_it_to_the_video():
    spans = [span(10, None, kind="narration"), span(1, 3, kind="asr"), span(28, 29, kind="asr"),
             span(5, 6, kind="summary")]
    specs, rejects = segment(30.0, spans, "around", {"kinds": ["narration", "asr"], "window": 8.0})
    assert ranges(specs) == [(0.0, 8.0), (6.0, 14.0), (22.0, 30.0)]  # sorted by start
    assert all(s.kind == "clip" and s.mode == "around" for s in specs)
    assert rejects == []


def test_around_deduplicates_windows_and_rejects_spans_outside():
    spans = [span(0.5, None, kind="asr"), span(1.0, None, kind="asr"), span(31, 32, kind="asr")]
    specs, rejects = segment(30.0, spans, "around", {"kinds": ("asr",), "window": 8.0})
    assert ranges(specs) == [(0.0, 8.0)]
    assert [r.cause for r in rejects] == ["span_outside_video"]


def test_around_a_video_shorter_than_the_window_gives_the_whole_video():
    specs, _ = segment(5.0, [span(2, 3, kind="asr")], "around", {"kinds": ["asr"], "window": 8.0})
    assert ranges(specs) == [(0.0, 5.0)]


# ---- fixed, long, whole ------------------------------------------------------------------------

def test_fixed_windows_keep_a_last_short_one_only_if_long_enough():
    assert ranges(segment(25.0, [], "fixed", {"window": 10.0, "min_seconds": 2.0})[0]) == [(0, 10), (10, 20), (20, 25.0)]
    assert ranges(segment(21.0, [], "fixed", {"window": 10.0, "min_seconds": 2.0})[0]) == [(0, 10), (10, 20)]
    assert ranges(segment(20.0, [], "fixed", {"window": 10.0})[0]) == [(0, 10), (10, 20.0)]


def test_long_cuts_equal_parts_of_at_most_max_minutes():
    specs, rejects = segment(1000.0, [], "long", {"max_minutes": 5})  # 16.7 min -> 4 parts of 250 s
    assert ranges(specs) == [(0.0, 250.0), (250.0, 500.0), (500.0, 750.0), (750.0, 1000.0)]
    assert all(s.kind == "long" and s.mode == "long" for s in specs) and rejects == []
    assert ranges(segment(300.0, [], "long", {"max_minutes": 5})[0]) == [(0.0, 300.0)]  # exactly one part
    assert ranges(segment(42.5, [], "long", {})[0]) == [(0.0, 42.5)]
    assert segment(0.5, [], "long", {"min_seconds": 1.0})[0] == []


def test_whole_is_the_whole_video():
    assert segment(12.25, [span(1, 2)], "whole", {}) == ([SampleSpec(0.0, 12.25, "clip", "whole")], [])


def test_unknown_mode_or_parameter_is_refused():
    with pytest.raises(KeyError, match="unknown segmenting mode"):
        segment(10.0, [], "scenes", {})
    with pytest.raises(TypeError):
        segment(10.0, [], "whole", {"window": 3})


def test_every_source_of_the_default_recipe_has_a_working_mode():
    recipe = load_recipe()
    spans = [span(1, 3, kind=k) for k in ("clip", "asr", "narration", "summary", "alt_text")]
    for source in SOURCES:
        mode, params, kinds = recipe.segment_mode(source)
        assert mode in MODES
        specs, rejects = segment(20.0, spans, mode, params)
        assert specs and rejects == [], source
        assert kinds is None or isinstance(kinds, list)


@settings(max_examples=200, deadline=None)
@given(duration=st.floats(0.1, 4000), mode=st.sampled_from(sorted(MODES)),
       spans=st.lists(st.tuples(st.floats(-5, 5000), st.one_of(st.none(), st.floats(0, 300)),
                                st.sampled_from(["clip", "asr", "narration"])), max_size=12))
def test_every_spec_lies_inside_the_video(duration, mode, spans):
    rows = [span(s, None if d is None else s + d, kind=k) for s, d, k in spans]
    specs, rejects = segment(duration, rows, mode, {})
    for s in specs:
        assert 0.0 <= s.start < s.end <= duration + 1e-9
    assert all(isinstance(r, Rejected) and r.cause == "span_outside_video" for r in rejects)
    assert len(specs) + len(rejects) <= max(len(rows), 1) or mode in ("fixed", "long")


# ---- align -------------------------------------------------------------------------------------

def test_captions_inside_the_range_are_clipped_and_made_relative():
    spans = [span(0, 12, kind="asr", text="before and into"), span(15, 18, kind="asr", text="inside"),
             span(19, 25, kind="asr", text="into and after"), span(30, 31, kind="asr", text="after")]
    got = captions_for(10.0, 20.0, spans)
    assert got == [
        {"start": 0.0, "end": 2.0, "text": "before and into", "kind": "asr", "origin": "m.csv"},
        {"start": 5.0, "end": 8.0, "text": "inside", "kind": "asr", "origin": "m.csv"},
        {"start": 9.0, "end": 10.0, "text": "into and after", "kind": "asr", "origin": "m.csv"},
    ]


def test_touching_ranges_do_not_overlap():
    spans = [span(5, 10, text="ends at start"), span(20, 25, text="starts at end")]
    assert captions_for(10.0, 20.0, spans) == []


def test_instants_count_when_inside_the_half_open_range():
    spans = [span(t, t, kind="narration", text=f"n{t}") for t in (9.999, 10.0, 15.5, 20.0)]
    got = captions_for(10.0, 20.0, spans)
    assert [(c["start"], c["end"], c["text"]) for c in got] == [(0.0, 0.0, "n10.0"), (5.5, 5.5, "n15.5")]


def test_open_ended_spans_run_to_the_video_end_else_the_sample_end():
    spans = [span(2, None, kind="summary", text="open")]
    assert captions_for(0.0, 10.0, spans, video_end=6.0)[0]["end"] == 6.0
    assert captions_for(0.0, 10.0, spans)[0]["end"] == 10.0
    assert captions_for(7.0, 10.0, spans, video_end=6.0) == []


def test_kinds_filter_and_empty_text_is_skipped():
    spans = [span(1, 2, kind="asr", text="a"), span(1, 2, kind="summary", text="s"), span(1, 2, kind="asr", text=""),
             span(1, 2, kind="clip", text=None)]
    assert [c["text"] for c in captions_for(0, 5, spans, kinds=["asr"])] == ["a"]
    assert [c["text"] for c in captions_for(0, 5, spans)] == ["a", "s"]
    assert captions_for(0, 5, spans, kinds=[]) == []


def test_order_is_start_end_kind_text_and_times_are_rounded():
    spans = [span(3, 4, kind="b", text="y"), span(3, 4, kind="a", text="z"), span(3, 4, kind="a", text="x"),
             span(1.23456, 3.98765, kind="c", text="w"), span(3, 3.5, kind="z", text="v")]
    got = captions_for(0.0, 10.0, spans)
    assert [c["text"] for c in got] == ["w", "v", "x", "z", "y"]
    assert (got[0]["start"], got[0]["end"]) == (1.235, 3.988)


@settings(max_examples=200, deadline=None)
@given(start=st.floats(0, 100), length=st.floats(0.01, 100),
       spans=st.lists(st.tuples(st.floats(0, 250), st.one_of(st.none(), st.floats(0, 50))), max_size=12))
def test_aligned_captions_lie_inside_the_sample(start, length, spans):
    end = start + length
    rows = [span(s, None if d is None else s + d, kind="asr", text=f"c{i}") for i, (s, d) in enumerate(spans)]
    got = captions_for(start, end, rows, video_end=260.0)
    for c in got:
        assert 0.0 <= c["start"] <= c["end"] <= round(end - start, 3) + 1e-9
    assert got == sorted(got, key=lambda c: (c["start"], c["end"], c["kind"], c["text"]))


def test_spans_equal_to_the_millisecond_make_one_sample(tmp_path):
    """HD-VILA/MiraData spans repeated with float noise must not give two samples with one key."""
    from longvid.pipeline.build import BuildConfig, build
    from longvid.media.ffmpeg import run_ffmpeg

    media = tmp_path / "media" / "hdvila" / "download_videos"
    media.mkdir(parents=True)
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=6", "-c:v", "libx264", "-g", "25",
                "-pix_fmt", "yuv420p", str(media / "abcdefghijk.mp4")])
    manifests = tmp_path / "manifests" / "hdvila"
    manifests.mkdir(parents=True)
    (manifests / "hdvila_part0.jsonl").write_text(
        '{"video_id": "abcdefghijk", "url": "https://www.youtube.com/watch?v=abcdefghijk", "clip": ['
        '{"clip_id": "abcdefghijk.1.mp4", "span": ["00:00:01.000", "00:00:03.000"]}, '
        '{"clip_id": "abcdefghijk.2.mp4", "span": ["00:00:01.0004", "00:00:03.0001"]}]}\n')
    summary = build(BuildConfig(sources=["hdvila"], manifests=tmp_path / "manifests", corpus=tmp_path / "corpus",
                                media_root=tmp_path / "media", runner="local", workers=1))
    assert summary["samples"] == 1 and not summary["failures"]
