"""HD-VILA-100M reader: the real JSONL layout (and the README's Python-literal form), quirks, fuzzing."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvid.records import ErrorRow, Span, Video
from longvid.sources import hdvila
from longvid.sources.base import MissingManifest
from tests.sources.helpers import split, write

# REAL: the README example, in the Python-dict style the README prints (clips 2-15 elided there)
README_LINE = ("{   'video_id':'QMi8x8o55Ns',    'url': 'https://www.youtube.com/watch?v=QMi8x8o55Ns',    "
               "'clip': [ {'clip_id': 'QMi8x8o55Ns.1.mp4', 'span': ['00:00:17.759', '00:00:23.279']},"
               "              {'clip_id': 'QMi8x8o55Ns.16.mp4', 'span': ['00:04:52.140', '00:05:03.350']} ] }")


def line(video_id: str | None, clips: list[Any], url: str | None = None, **extra: Any) -> str:
    """A JSON line in the real layout (ids as in the REAL MiraData rows that reuse HD-VILA ids)."""
    obj: dict[str, Any] = {} if video_id is None else {"video_id": video_id}
    obj.update(url=url or f"https://www.youtube.com/watch?v={video_id}", clip=clips, **extra)
    return json.dumps(obj)


def clip(video_id: str, n: int | str, start: Any, end: Any) -> dict[str, Any]:
    return {"clip_id": f"{video_id}.{n}.mp4", "span": [start, end]}


def test_readme_example(tmp_path: Path) -> None:
    write(tmp_path / "hdvila_part0.jsonl", [README_LINE])
    videos, spans, errors = split(list(hdvila.read(tmp_path)))
    assert errors == [] and len(videos) == 1
    v = videos[0]
    assert (v.native_id, v.url, v.youtube_id, v.media_path, v.origin, v.extra) == (
        "QMi8x8o55Ns", "https://www.youtube.com/watch?v=QMi8x8o55Ns", "QMi8x8o55Ns", "download_videos/QMi8x8o55Ns.mp4",
        "hdvila_part0.jsonl", {})
    assert [(s.start, s.end, s.text, s.kind, s.origin) for s in spans] == [
        (17.759, 23.279, "", "clip", "hdvila_part0.jsonl"), (292.14, 303.35, "", "clip", "hdvila_part0.jsonl")]
    assert spans[1].extra == {"clip_id": "QMi8x8o55Ns.16.mp4", "clip_index": 16,
                              "clip_path": "video_clips/QMi8x8o55Ns/QMi8x8o55Ns.16.mp4"}


def test_quirks(tmp_path: Path) -> None:
    q, d, z = "QMi8x8o55Ns", "--106WvnIhc", "-zhRLh80O7s"
    lines = [
        line(q, [clip(q, 1, "00:00:17.759", "00:00:23.279"), clip(q, 2, "00:00:23.279", "00:00:30.000"),  # 1: touch
                 clip(q, 3, "00:00:29.000", "00:00:35.000"), clip(q, 4, "00:00:35.000", "00:00:35.000"),  # overlap, 0 s
                 clip(q, 5, "01:02:03.456", "01:02:09.000")], category="travel"),  # past 1 h; an unknown key
        line(d, [clip(d, 1, "00:61:00.000", "00:62:00.000"), clip(d, 2, "00:00:09.000", "00:00:08.000"),  # 2
                 {"clip_id": f"{d}.3.mp4"}, clip(d, 4, "00:00:01.000", "00:00:02.000"), "not a clip",
                 {"span": ["00:00:03.000", "00:00:04.000"]}, clip(d, "x", "00:00:05.000", "00:00:06.000")]),
        line(None, [clip(z, 1, "00:00:01.000", "00:00:02.000")], f"https://www.youtube.com/watch?v={z}&t=5"),  # 3: id from the url's v=
        line(q, [clip(q, 1, "00:00:17.759", "00:00:23.279"), clip(q, 6, "00:00:40.000", "00:00:41.000"),  # 4
                 clip(q, 6, "00:00:40.000", "00:00:41.000")]),  # the id again: only clip 6 is new, once
        "",  # 5: blank
        '{"video_id": "abc", "url": "https://www.youtube.com/watch?v=abc", "clip": [{"clip_id"',  # 6: truncated
        "[1, 2]",  # 7: not an object
        json.dumps({"url": "https://example.com/no-id", "clip": []}),  # 8: no id anywhere
        json.dumps({"video_id": "nolist", "clip": "QMi8x8o55Ns.1.mp4"}),  # 9: clip is not a list
        json.dumps({"video_id": 12345, "clip": []}),  # 10: id of the wrong type
    ]
    write(tmp_path / "hdvila100m" / "hdvila_part3.jsonl", lines, bom=True, crlf=True,
          raw=b'{"video_id": "caf\xe9", "clip": []}\r\n')  # 11: not UTF-8
    videos, spans, errors = split(list(hdvila.read(tmp_path)))

    assert [v.native_id for v in videos] == [q, d, z, "nolist"]
    assert videos[0].extra == {"category": "travel"} and videos[2].url == f"https://www.youtube.com/watch?v={z}&t=5"
    assert videos[1].media_path == f"download_videos/{d}.mp4"
    assert sorted((e.line, e.cause, e.locator, e.dropped) for e in errors) == [
        (2, "bad_interval", f"{d}.2.mp4", True), (2, "bad_time", f"{d}.1.mp4", True),
        (2, "bad_type", "clip[4]", True), (2, "missing_field", f"{d}.3.mp4", True),
        (2, "missing_field", "clip[5]", False),
        (4, "duplicate_row", f"{q}.1.mp4", True), (4, "duplicate_row", f"{q}.6.mp4", True),
        (6, "bad_json", "", True), (7, "bad_type", "", True), (8, "missing_field", "", True),
        (9, "bad_type", "", False), (10, "bad_type", "", True), (11, "not_utf8", "", True),
    ]
    assert all(e.file == "hdvila_part3.jsonl" for e in errors)
    assert next(e for e in errors if e.line == 4).video_uid == f"hdvila/{q}"
    assert Counter(s.native_id for s in spans) == {q: 6, d: 3, z: 1}
    qs = [(s.start, s.end, s.extra["clip_index"]) for s in spans if s.native_id == q]
    assert qs == [(17.759, 23.279, 1), (23.279, 30.0, 2), (29.0, 35.0, 3), (35.0, 35.0, 4), (3723.456, 3729.0, 5),
                  (40.0, 41.0, 6)]
    ds = [s.extra for s in spans if s.native_id == d]
    assert [(x["clip_id"], x["clip_index"]) for x in ds] == [(f"{d}.4.mp4", 4), (None, None), (f"{d}.x.mp4", None)]
    assert ds[0]["clip_path"] == f"video_clips/{d}/{d}.4.mp4"


def test_files_ordered_by_part_number(tmp_path: Path) -> None:
    for n in (10, 2, 0, 1):
        write(tmp_path / "hdvila" / f"hdvila_part{n}.jsonl", [line(f"vid{n}", [])])
    assert [p.name for p in hdvila.files(tmp_path)] == [f"hdvila_part{n}.jsonl" for n in (0, 1, 2, 10)]
    assert [v.native_id for v in hdvila.read(tmp_path)] == ["vid0", "vid1", "vid2", "vid10"]


def test_video_on_two_parts(tmp_path: Path) -> None:
    write(tmp_path / "hdvila_part2.jsonl", [line("a", [clip("a", 1, "00:00:01.000", "00:00:02.000")])])
    write(tmp_path / "hdvila_part10.jsonl", [line("a", [clip("a", 1, "00:00:01.000", "00:00:02.000"),
                                                        clip("a", 2, "00:00:02.000", "00:00:03.000")])])
    videos, spans, errors = split(list(hdvila.read(tmp_path)))
    assert len(videos) == 1 and videos[0].origin == "hdvila_part2.jsonl"
    assert [(s.extra["clip_index"], s.origin) for s in spans] == [(1, "hdvila_part2.jsonl"), (2, "hdvila_part10.jsonl")]
    assert [(e.file, e.line, e.cause) for e in errors] == [("hdvila_part10.jsonl", 1, "duplicate_row")]


def test_absurd_numbers(tmp_path: Path) -> None:
    """Digit runs too long for a float or an index: one clip's error, not the whole line's."""
    write(tmp_path / "hdvila_part0.jsonl", [line("a", [
        clip("a", 1, "9" * 400 + ":00:00.000", "00:00:01.000"), clip("a", "9" * 30, "00:00:01.000", "00:00:02.000")])])
    videos, spans, errors = split(list(hdvila.read(tmp_path)))
    assert len(videos) == 1 and [(e.cause, e.locator) for e in errors] == [("bad_time", "a.1.mp4")]
    assert [s.extra["clip_index"] for s in spans] == [None]


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(MissingManifest) as e:
        hdvila.files(tmp_path)
    assert "hdvila_part*.jsonl" in str(e.value) and str(tmp_path) in str(e.value)


@pytest.mark.parametrize("bad", ["{[]: 1}", "[" * 100_000])
def test_lines_that_break_the_lenient_json_reader(tmp_path: Path, bad: str) -> None:
    write(tmp_path / "hdvila_part0.jsonl", [bad, line("after", [])])
    records = list(hdvila.read(tmp_path))
    assert [type(r).__name__ for r in records] == ["ErrorRow", "Video"]


# ---- property-based ---------------------------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
GOOD = [line("QMi8x8o55Ns", [clip("QMi8x8o55Ns", i, f"00:00:{i:02d}.000", f"00:00:{i + 1:02d}.500") for i in range(1, 4)]),
        line("-zhRLh80O7s", [clip("-zhRLh80O7s", 1, "01:00:00.000", "01:00:10.000")]),
        line("--106WvnIhc", [])]


def run_read(lines: list[str], raw: bytes = b"") -> list[Any]:
    with tempfile.TemporaryDirectory() as d:
        write(Path(d) / "hdvila_part0.jsonl", lines, raw=raw)
        records = list(hdvila.read(Path(d)))
    split(records)
    return records


@FUZZ
@given(which=st.integers(0, 1), key=st.sampled_from(["video_id", "url", "clip", "clip_id", "span", "start", "end"]),
       value=json_values)
def test_fuzz_json_values(which: int, key: str, value: Any) -> None:
    """Any JSON value in any field: the other lines are untouched, every clip is a span or an error."""
    obj = json.loads(GOOD[which])
    if key in ("video_id", "url", "clip"):
        obj[key] = value
    elif key in ("clip_id", "span"):
        obj["clip"][0][key] = value
    else:
        obj["clip"][0]["span"][key == "end"] = value
    records = run_read([json.dumps(obj), *GOOD[2:]])
    assert any(isinstance(r, Video) and r.native_id == "--106WvnIhc" for r in records)
    mine = [r for r in records
            if getattr(r, "line", None) == 1 or (isinstance(r, (Span, Video)) and r.native_id != "--106WvnIhc")]
    assert mine, "line 1 left no trace"
    if key in ("clip_id", "span", "start", "end"):
        per_clip = Counter(r.extra["clip_id"] for r in mine if isinstance(r, Span))
        clip_errors = [r for r in mine if isinstance(r, ErrorRow) and r.dropped]
        assert sum(per_clip.values()) + len(clip_errors) == len(obj["clip"])


@FUZZ
@given(cut=st.integers(1, 200), junk=st.binary(max_size=8), where=st.integers(0, 2))
def test_fuzz_truncated_lines(cut: int, junk: bytes, where: int) -> None:
    """A line cut short is one bad_json error at its line; random bytes never crash the reader."""
    lines = list(GOOD)
    lines[where] = lines[where][: min(cut, len(lines[where]) - 1)]
    records = run_read(lines, raw=junk)
    assert [(r.line, r.cause) for r in records if isinstance(r, ErrorRow) and r.line == where + 1] == [
        (where + 1, "bad_json")]


@FUZZ
@given(text=st.text(max_size=40))
def test_fuzz_random_lines(text: str) -> None:
    """Any text as a line: never a crash; the good line after it is still read."""
    records = run_read([text.replace("\n", " ").replace("\r", " "), GOOD[2]])
    assert any(isinstance(r, Video) and r.native_id == "--106WvnIhc" for r in records)
