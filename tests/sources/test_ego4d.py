"""Ego4D reader: real ego4d.json / narration.json layouts, their quirks, and fuzzing."""

from __future__ import annotations

import copy
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longvid.records import ErrorRow, Span
from longvid.sources import ego4d
from longvid.sources.base import MissingManifest
from tests.sources.helpers import FUZZ, is_float, json_values, split

UID_A = "8ea8bd4d-8778-4a0e-81aa-3f34044ce7ca"  # REAL (v1 manifest, notebook)
UID_B = "7d0e0392-28b8-4cb8-955d-f5f1dfb16158"  # REAL
UID_N = "77cc4654-4eec-44c6-af05-dbdf71f9a401"  # REAL (first video of v2 narration.json)
UID_BAD_DURATION = "0b3c1f2e-9d4a-4c7e-8f11-2a6b5c9d0e13"  # SYN
UID_UNLISTED = "ffffffff-0000-4000-8000-000000000000"  # SYN


def video(uid: str, duration: Any, width: Any, height: Any, **keys: Any) -> dict[str, Any]:
    """A videos[] item with the real v2 keys (values from the official notebook where REAL)."""
    item = {
        "video_uid": uid, "duration_sec": duration, "scenarios": ["Car mechanic"],
        "video_source": "cmu", "device": "GoPro Hero Black 8", "origin_video_id": "P8_0030",
        "s3_path": f"s3://ego4d-consortium-sharing/public/v2/full_scale/{uid}", "manifold_path": "",
        "split_em": None, "split_av": None, "split_fho": None, "fb_participant_id": None,
        "physical_setting_name": None, "is_stereo": False, "has_imu": False, "has_gaze": False,
        "video_metadata": {
            "fps": 30.0, "num_frames": 77067, "video_codec": "vp9", "display_resolution_width": width,
            "display_resolution_height": height, "sample_resolution_width": None, "audio_start_sec": None,
            "video_duration_pts": 39458304, "video_base_numerator": 1, "video_base_denominator": 15360,
        },
        "video_components": [{"video_component_uid": "c1", "video_uid": uid, "component_idx": 0, "redacted": False}],
        "redacted_intervals": [], "has_redacted_regions": False, "gaps": None, "concurrent_sets": [],
    }
    item.update(keys)
    return item


def narration(t: Any, text: Any, frame: Any, uid: str = "920182f7-5385-488b-99f9-caf8f0d9fe6b", **keys: Any) -> dict:
    item = {"timestamp_sec": t, "timestamp_frame": frame, "_unmapped_timestamp_sec": t,
            "narration_text": text, "annotation_uid": uid}
    item.update(keys)
    return item


REAL_PASS_1 = [  # REAL: v2 narration.json, video 77cc4654, pass 1, first entries
    narration(0.0, "#C C interacts with a woman X", 0),
    narration(4.53806, "#C C walks into the kitchen", 136, "a1"),
    narration(12.92098, "#C C opens a shelf", 388, "a2"),
    narration(15.10264, "#C C brings out a basket from the shelf", 453, "a3"),
    narration(19.55043, "#C C closes the shelf", 587, "a4"),
]


def ego4d_manifest() -> dict[str, Any]:
    return {
        "date": "220204", "version": "v2", "description": "ego4d metadata",
        "videos": [
            video(UID_A, 903.3, 1440.0, 1080.0, scenarios=["Crafting/knitting/sewing/drawing/painting"],
                  split_fho="test", origin_video_id="unict_012_0053", video_source="unict",
                  device="GoPro Hero Silver 7", fb_participant_id=36),
            video(UID_B, 2568.9, 1920, 1440, split_em="train", split_fho="multi"),
            video(UID_N, 1200.5, None, None, split_goalstep="val", is_grouped=False),  # v2.1 keys
            video(UID_BAD_DURATION, "n/a", 1920, 1080),
            video("", 10.0, 1920, 1080),
            video(UID_B, 2568.9, 1920, 1440),
        ],
        "concurrent_video_sets": [], "physical_settings": [],
        "clips": [
            {"clip_uid": "c-a1", "video_uid": UID_A, "video_start_sec": 0.0, "video_end_sec": 480.0},
            {"clip_uid": "c-a2", "video_uid": UID_A, "video_start_sec": 480.0, "video_end_sec": 903.3},
            {"clip_uid": "c-n1", "video_uid": UID_N, "video_start_sec": 0.0210286, "video_end_sec": 480.0},
            {"clip_uid": "c-x", "video_uid": UID_UNLISTED, "video_start_sec": 0.0, "video_end_sec": 1.0},
        ],
    }


def narration_manifest() -> dict[str, Any]:
    real = copy.deepcopy(REAL_PASS_1)  # the fuzz tests mutate what this returns
    pass_1 = real + [
        copy.deepcopy(real[0]),  # 5: duplicate in one pass: kept
        narration(None, "#C C picks a cup", 630, "a6", _unmapped_timestamp_sec=21.0),  # 6: fallback
        narration(None, "#C C drops the cup", 660, "a7", _unmapped_timestamp_sec=None),  # 7: frame / 30
        narration(None, "#C C looks around", None, "a8", _unmapped_timestamp_sec=None),  # 8: bad_time
        narration(23.0, "", 690, "a9"),  # 9: empty text
        narration(-4e-07, "#C C stands", 0, "a10"),  # 10: clamps to 0
        narration(-5.0, "#C C sits", 0, "a11"),  # 11: bad_interval
    ]
    return {
        UID_N: {
            "narration_pass_1": {
                "narrations": pass_1,
                "summaries": [{"start_sec": 0.0, "end_sec": 19.55043, "summary_text": "#Summary C cooks.",
                               "annotation_uid": "s1"}],
            },
            "narration_pass_2": {
                "narrations": [narration(0.5, "#C C talks to woman X", 15, "b1"),
                               narration(4.0, "#C C enters the kitchen", 120, "b2")],
                "summaries": [{"start_sec": 30.0, "end_sec": 10.0, "summary_text": "#Summary bad", "annotation_uid": "s2"}],
            },
            "status": "complete",
        },
        UID_A: {"narration_pass_2": {"narrations": [narration(1.0, "#C C knits", 30, "c1"),
                                                    narration(2.0, "#C C knits", 60, "c2")], "summaries": []},
                "status": "complete"},
        UID_UNLISTED: {"narration_pass_1": {"narrations": real[:3], "summaries": []}},
        UID_B: {"status": "redacted"},
    }


def write_json(path: Path, value: Any, *, bom: bool = False, crlf: bool = False) -> Path:
    text = json.dumps(value, indent=1)
    text = text.replace("\n", "\r\n") if crlf else text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_manifests(root: Path, ego: Any, narr: Any, **style: Any) -> Path:
    write_json(root / "v2" / "ego4d.json", ego, **style)
    write_json(root / "v2" / "annotations" / "narration.json", narr, **style)
    return root


def test_reads_real_layout_with_quirks(tmp_path: Path) -> None:
    root = write_manifests(tmp_path, ego4d_manifest(), narration_manifest(), bom=True, crlf=True)
    videos, spans, errors = split(list(ego4d.read(root)))

    assert [v.native_id for v in videos] == [UID_A, UID_B, UID_N, UID_BAD_DURATION]
    a, b, n, bad = videos
    assert (a.duration, a.fps, a.width, a.height, a.split) == (903.3, 30.0, 1440, 1080, "test")
    assert isinstance(a.width, int) and a.media_path == f"full_scale/{UID_A}.mp4" and a.url is None
    assert a.origin == "ego4d.json" and a.extra["origin_video_id"] == "unict_012_0053"
    assert [c["clip_uid"] for c in a.extra["clips"]] == ["c-a1", "c-a2"]
    assert a.extra["video_metadata"]["video_duration_pts"] == 39458304 and "video_uid" not in a.extra
    assert (b.split, b.extra["clips"], b.extra["split_fho"]) == ("train", [], "multi")
    assert (n.split, n.width, n.extra["is_grouped"]) == ("val", None, False)
    assert bad.duration is None and bad.extra["duration_sec"] == "n/a"

    by_cause = Counter(e.cause for e in errors)
    assert by_cause == {"bad_number": 1, "missing_field": 2, "duplicate_row": 1, "unlisted_video": 2,
                        "bad_time": 1, "bad_interval": 2}
    where = {(e.cause, e.locator): e for e in errors}
    assert not where[("bad_number", "ego4d.json#videos[3]")].dropped
    assert ("missing_field", "ego4d.json#videos[4]") in where
    assert ("duplicate_row", "ego4d.json#videos[5]") in where
    assert UID_UNLISTED in where[("unlisted_video", f"ego4d.json#clips/{UID_UNLISTED}")].detail
    p1 = f"narration.json#{UID_N}/narration_pass_1/narrations"
    assert ("bad_time", f"{p1}[8]") in where and ("missing_field", f"{p1}[9]") in where
    assert ("bad_interval", f"{p1}[11]") in where
    assert ("bad_interval", f"narration.json#{UID_N}/narration_pass_2/summaries[0]") in where
    unlisted = where[("unlisted_video", f"narration.json#{UID_UNLISTED}")]
    assert unlisted.dropped and "3 narrations" in unlisted.detail and unlisted.file == "narration.json"
    assert all(e.line is None and e.source == "ego4d" for e in errors)

    kinds = Counter((s.native_id, s.origin, s.kind) for s in spans)
    assert kinds == {(UID_N, "narration_pass_1", "narration"): 9, (UID_N, "narration_pass_1", "summary"): 1,
                     (UID_N, "narration_pass_2", "narration"): 2, (UID_A, "narration_pass_2", "narration"): 2}
    first = spans[0]
    assert (first.start, first.end, first.text) == (0.0, 0.0, "#C C interacts with a woman X")
    assert first.extra == {"timestamp_frame": 0, "_unmapped_timestamp_sec": 0.0, "status": "complete",
                           "annotation_uid": "920182f7-5385-488b-99f9-caf8f0d9fe6b"}
    n1 = [s for s in spans if s.origin == "narration_pass_1" and s.kind == "narration"]
    assert n1[5].text == n1[0].text and n1[5].start == 0.0  # duplicate kept
    assert (n1[6].start, n1[6].extra["time_from"]) == (21.0, "_unmapped_timestamp_sec")
    assert (n1[7].start, n1[7].extra["time_from"]) == (22.0, "timestamp_frame")
    assert (n1[8].start, n1[8].end, n1[8].text) == (0.0, 0.0, "#C C stands")
    summary = next(s for s in spans if s.kind == "summary")
    assert (summary.start, summary.end, summary.text) == (0.0, 19.55043, "#Summary C cooks.")


def test_flat_layout_and_missing_manifest_messages(tmp_path: Path) -> None:
    with pytest.raises(MissingManifest) as e:
        ego4d.files(tmp_path)
    assert "ego4d.json" in str(e.value) and str(tmp_path) in str(e.value)
    write_json(tmp_path / "ego4d.json", {"videos": []})
    with pytest.raises(MissingManifest) as e:
        ego4d.files(tmp_path)
    assert "narration.json" in str(e.value) and str(tmp_path) in str(e.value) and "annotations/" in str(e.value)
    write_json(tmp_path / "annotations" / "narration.json", {})
    assert ego4d.files(tmp_path) == [tmp_path / "ego4d.json", tmp_path / "annotations" / "narration.json"]
    assert list(ego4d.read(tmp_path)) == []


def test_truncated_narration_json_keeps_what_came_before(tmp_path: Path) -> None:
    root = write_manifests(tmp_path, ego4d_manifest(), {})
    text = json.dumps({UID_N: {"narration_pass_1": {"narrations": REAL_PASS_1}},
                       UID_A: {"narration_pass_1": {"narrations": REAL_PASS_1}}})
    cut = text.index(UID_A) + 60
    (root / "v2" / "annotations" / "narration.json").write_text(text[:cut])
    videos, spans, errors = split(list(ego4d.read(root)))
    assert len(videos) == 4 and len(spans) == 5 and {s.native_id for s in spans} == {UID_N}
    bad_json = [e for e in errors if e.cause == "bad_json"]
    assert len(bad_json) == 1 and bad_json[0].locator == "narration.json#[1]" and UID_N in bad_json[0].detail


def test_truncated_ego4d_json_keeps_earlier_videos(tmp_path: Path) -> None:
    root = write_manifests(tmp_path, ego4d_manifest(), {})
    path = root / "v2" / "ego4d.json"
    text = path.read_text()
    path.write_text(text[: text.index(UID_N) + 10])
    videos, spans, errors = split(list(ego4d.read(root)))
    assert [v.native_id for v in videos] == [UID_A, UID_B] and spans == []
    assert [(e.cause, e.locator) for e in errors] == [("bad_json", "ego4d.json#videos[2]")]


def test_truncated_in_clips_keeps_all_videos(tmp_path: Path) -> None:
    root = write_manifests(tmp_path, ego4d_manifest(), {})
    path = root / "v2" / "ego4d.json"
    text = path.read_text()
    path.write_text(text[: text.index('"c-n1"')])
    videos, _, errors = split(list(ego4d.read(root)))
    assert len(videos) == 4 and [c["clip_uid"] for c in videos[0].extra["clips"]] == ["c-a1", "c-a2"]
    assert [(e.cause, e.locator) for e in errors if e.cause == "bad_json"] == [("bad_json", "ego4d.json#clips[2]")]


@pytest.mark.parametrize("ego, cause, locator", [
    ([1, 2], "bad_type", "ego4d.json#"),
    ({"videos": {"a": 1}}, "bad_type", "ego4d.json#videos"),
    ({"version": "v2"}, "missing_field", "ego4d.json#videos"),
    ({"videos": [7, None]}, "bad_type", "ego4d.json#videos[0]"),
])
def test_malformed_ego4d_json_top_level(tmp_path: Path, ego: Any, cause: str, locator: str) -> None:
    records = list(ego4d.read(write_manifests(tmp_path, ego, {})))
    assert (cause, locator) in {(r.cause, r.locator) for r in records if isinstance(r, ErrorRow)}
    assert not [r for r in records if not isinstance(r, ErrorRow)]


# ---- property-based ---------------------------------------------------------------------------



def run_read(ego: Any, narr: Any) -> list[Any]:
    with tempfile.TemporaryDirectory() as d:
        records = list(ego4d.read(write_manifests(Path(d), ego, narr)))
    split(records)
    return records


@FUZZ
@given(index=st.integers(0, 10), key=st.sampled_from(sorted(REAL_PASS_1[0]) + ["extra_key"]), value=json_values)
def test_fuzz_narration_fields(index: int, key: str, value: Any) -> None:
    """Any JSON value in any narration field: one span or one error row per narration, never a crash."""
    narr = narration_manifest()
    items = narr[UID_N]["narration_pass_1"]["narrations"]
    items[index % len(items)][key] = value
    records = run_read(ego4d_manifest(), narr)
    prefix = f"narration.json#{UID_N}/narration_pass_1/narrations["
    spans = [r for r in records if isinstance(r, Span) and r.origin == "narration_pass_1" and r.kind == "narration"
             and r.native_id == UID_N]
    errors = [r for r in records if isinstance(r, ErrorRow) and r.locator.startswith(prefix)]
    assert len(spans) + len(errors) == len(items)


not_a_time = st.one_of(st.none(), st.booleans(), st.text().filter(lambda s: not is_float(s)),
                       st.lists(st.integers(-9, 9), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(-9, 9), max_size=2))


@FUZZ
@given(index=st.integers(0, 4), bad=st.tuples(not_a_time, not_a_time, not_a_time))
def test_fuzz_unusable_times_are_error_rows(index: int, bad: tuple[Any, Any, Any]) -> None:
    narr = narration_manifest()
    item = narr[UID_N]["narration_pass_1"]["narrations"][index]
    item["timestamp_sec"], item["_unmapped_timestamp_sec"], item["timestamp_frame"] = bad
    records = run_read(ego4d_manifest(), narr)
    locator = f"narration.json#{UID_N}/narration_pass_1/narrations[{index}]"
    assert [r.cause for r in records if isinstance(r, ErrorRow) and r.locator == locator] == ["bad_time"]


@FUZZ
@given(index=st.integers(0, 5), key=st.sampled_from(["video_uid", "duration_sec", "video_metadata", "split_em",
                                                      "clips", "scenarios"]), value=json_values)
def test_fuzz_video_fields(index: int, key: str, value: Any) -> None:
    ego = ego4d_manifest()
    ego["videos"][index][key] = value
    records = run_read(ego, narration_manifest())
    if key == "video_uid" and not (isinstance(value, str) and value):
        assert any(isinstance(r, ErrorRow) and r.locator == f"ego4d.json#videos[{index}]" for r in records)


@FUZZ
@given(value=json_values, where=st.sampled_from(["entry", "pass", "narrations", "clips", "top"]))
def test_fuzz_structure(value: Any, where: str) -> None:
    ego, narr = ego4d_manifest(), narration_manifest()
    if where == "entry":
        narr[UID_A] = value
    elif where == "pass":
        narr[UID_A]["narration_pass_2"] = value
    elif where == "narrations":
        narr[UID_A]["narration_pass_2"]["narrations"] = value
    elif where == "clips":
        ego["clips"] = value
    else:
        narr = value
    run_read(ego, narr)


@FUZZ
@given(data=st.data())
def test_fuzz_truncated_and_corrupted_bytes(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = write_manifests(Path(d), ego4d_manifest(), narration_manifest())
        for path in (root / "v2" / "ego4d.json", root / "v2" / "annotations" / "narration.json"):
            raw = bytearray(path.read_bytes())
            cut = data.draw(st.integers(0, len(raw)))
            junk = data.draw(st.binary(max_size=4))
            at = data.draw(st.integers(0, max(cut - 1, 0)))
            path.write_bytes(bytes(raw[:at]) + junk + bytes(raw[at:cut]))
        split(list(ego4d.read(root)))
