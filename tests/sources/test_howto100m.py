"""HowTo100M reader: the real CSV / header-less TSV / columnar caption.json, their quirks, and fuzzing."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from longvid.records import ErrorRow, Span
from longvid.sources import howto100m
from longvid.sources.base import MissingManifest
from tests.sources.helpers import FUZZ, is_float, json_values, split

CSV_ROWS = [  # lines 2-6 REAL (repo README / notebook head()); the rest SYN in the same layout
    "video_id,category_1,category_2,rank,task_id",
    "nVbIUDjzWY4,Cars & Other Vehicles,Motorcycles,27,52907",
    "CTPAZ2euJ2Q,Cars & Other Vehicles,Motorcycles,35,109057",
    "rwmt7Cbuvfs,Cars & Other Vehicles,Motorcycles,99,52907",
    "_97kyZVWVG0,Hobbies and Crafts,Crafts,34,119814",
    "gkjnR3-ZVts,Food and Entertaining,Drinks,6,25938",
    "-zhRLh80O7s,Cars & Other Vehicles,Bicycles,3,58362",  # 7: one video, several rows
    "-zhRLh80O7s,Hobbies and Crafts,Crafts,12,58362",  # 8: same task, other category
    "-zhRLh80O7s,Hobbies and Crafts,Crafts,12,58362",  # 9: exact duplicate -> duplicate_row
    "AEytW9ScgCw,,,5,0",  # 10: empty categories
    "HnTLh99gcxY,Food and Entertaining,,top,3",  # 11: bad rank -> bad_number, kept
    ",Food and Entertaining,Drinks,1,2",  # 12: no video_id
    "",  # 13: blank line, skipped
    "-zhRLh80O7s,Cars & Other Vehicles,Cars,40,58362",  # 14: third task of the repeated video
    "ZZZ,too,many,fields,1,2",  # 15: bad_csv
]

TASK_LINES = [  # REAL (task_ids.csv: tab-separated, no header)
    "0\tMake a Mexican Bean Toast", "1\tMake a Cinnamon Toast Sandwich", "2\tMake Avocado on Toast",
    "3\tMake Baked Peach French Toast", "4\tMake Buttered Toast", "5\tMake Banana and Coconut Toast",
    "52907\tPaint a Motorcycle", "58362\tRepair an Exhaust Pipe with a Tin Can",
    "x12\tNot a task",  # 9: bad_number
    "7",  # 10: bad_csv
    "4\tMake Buttered Toast",  # 11: duplicate_row
]


def captions() -> dict[str, Any]:
    return {
        "nVbIUDjzWY4": {"start": [13.64, 15.86, 20.6, 23.96, 26.36],  # REAL starts
                        "end": [15.86, 20.6, 23.96, 26.36, 30.0],
                        "text": ["so today we are going", "to paint the tank", "[Music]", "of the bike", "okay"]},
        "rwmt7Cbuvfs": {"start": [1.8, 6.32, 7.32, "abc", 13.28],  # REAL starts, one broken
                        "end": [6.32, 6.32, 7.0, 12.0, 13.28],  # [1] overlaps, [2] ends early, [4] zero-length
                        "text": ["first", "overlapping", "bad interval", "bad time", ""]},
        "HnTLh99gcxY": {"start": [0.03, 2.37, 4.29, 6.69, 8.42, 8.67],  # REAL starts; ragged
                        "end": [2.37, 4.29, 6.69, 8.42, 8.67, 9.0],
                        "text": ["a", "b", "c", "d", "e"]},
        "AEytW9ScgCw": {"start": [6.019999980926514, 9.449999809265137, 3.0],  # REAL float32 noise
                        "end": [9.449999809265137, 12.539999961853027, 5.0],
                        "text": ["hi", "there", "non-monotonic end"]},
        "zzzzzzzzzzz": {"start": [1.0, 2.0], "end": [2.0, 3.0], "text": ["not", "listed"]},
        "CTPAZ2euJ2Q": [],
        "gkjnR3-ZVts": {"start": [1.0]},
        "-zhRLh80O7s": {"start": [0.0], "end": [1.0], "text": ["dash id"], "lang": "en"},
    }


def write(root: Path, csv_lines: list[str] = CSV_ROWS, task_lines: list[str] = TASK_LINES, caps: Any = None,
          *, bom: bool = False, crlf: bool = False, caption_name: str = "caption.json") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    prefix = b"\xef\xbb\xbf" if bom else b""
    (root / "HowTo100M_v1.csv").write_bytes(prefix + (end.join(csv_lines) + end).encode())
    (root / "task_ids.csv").write_bytes(prefix + (end.join(task_lines) + end).encode())
    text = json.dumps(captions() if caps is None else caps, indent=1)
    (root / caption_name).write_bytes(prefix + text.replace("\n", end).encode())
    return root


def test_reads_real_layout_with_quirks(tmp_path: Path) -> None:
    videos, spans, errors = split(list(howto100m.read(write(tmp_path, bom=True, crlf=True))))

    ids = [v.native_id for v in videos]
    assert ids == ["nVbIUDjzWY4", "CTPAZ2euJ2Q", "rwmt7Cbuvfs", "_97kyZVWVG0", "gkjnR3-ZVts", "AEytW9ScgCw",
                   "HnTLh99gcxY", "-zhRLh80O7s"]  # repeated ids come last
    v = {video.native_id: video for video in videos}
    first = v["nVbIUDjzWY4"]
    assert (first.url, first.media_path, first.youtube_id, first.origin) == (
        "https://www.youtube.com/watch?v=nVbIUDjzWY4", "nVbIUDjzWY4.mp4", "nVbIUDjzWY4", "HowTo100M_v1.csv")
    assert first.extra == {"tasks": [{"task_id": 52907, "task_name": "Paint a Motorcycle", "rank": 27,
                                      "category_1": "Cars & Other Vehicles", "category_2": "Motorcycles"}]}
    assert v["CTPAZ2euJ2Q"].extra["tasks"][0]["task_name"] is None  # task 109057 not in task_ids.csv
    dash = v["-zhRLh80O7s"]
    assert dash.url == "https://www.youtube.com/watch?v=-zhRLh80O7s"
    assert [(t["category_2"], t["rank"]) for t in dash.extra["tasks"]] == [("Bicycles", 3), ("Crafts", 12), ("Cars", 40)]
    assert {t["task_name"] for t in dash.extra["tasks"]} == {"Repair an Exhaust Pipe with a Tin Can"}
    assert v["AEytW9ScgCw"].extra["tasks"][0] == {"task_id": 0, "task_name": "Make a Mexican Bean Toast",
                                                   "category_1": None, "category_2": None, "rank": 5}
    assert v["HnTLh99gcxY"].extra["tasks"][0]["rank"] == "top"

    lines = sorted((e.file, e.line, e.cause, e.dropped) for e in errors if e.line is not None)
    assert lines == [("HowTo100M_v1.csv", 9, "duplicate_row", True), ("HowTo100M_v1.csv", 11, "bad_number", False),
                     ("HowTo100M_v1.csv", 12, "missing_field", True), ("HowTo100M_v1.csv", 15, "bad_csv", True),
                     ("task_ids.csv", 9, "bad_number", True), ("task_ids.csv", 10, "bad_csv", True),
                     ("task_ids.csv", 11, "duplicate_row", True)]
    located = sorted((e.locator, e.cause, e.dropped) for e in errors if e.line is None)
    assert located == [
        ("caption.json#CTPAZ2euJ2Q", "bad_type", True),
        ("caption.json#HnTLh99gcxY", "ragged_arrays", False),
        ("caption.json#gkjnR3-ZVts", "missing_field", True),
        ("caption.json#rwmt7Cbuvfs[2]", "bad_interval", True),
        ("caption.json#rwmt7Cbuvfs[3]", "bad_time", True),
        ("caption.json#zzzzzzzzzzz", "unlisted_video", True),
    ]
    assert "2 segments" in next(e.detail for e in errors if e.cause == "unlisted_video")

    assert Counter(s.native_id for s in spans) == {"nVbIUDjzWY4": 5, "rwmt7Cbuvfs": 3, "HnTLh99gcxY": 5,
                                                   "AEytW9ScgCw": 3, "-zhRLh80O7s": 1}
    assert all(s.kind == "asr" and s.origin == "caption.json" for s in spans)
    rw = [s for s in spans if s.native_id == "rwmt7Cbuvfs"]
    assert [(s.start, s.end, s.text, s.extra["index"]) for s in rw] == [
        (1.8, 6.32, "first", 0), (6.32, 6.32, "overlapping", 1), (13.28, 13.28, "", 4)]
    noisy = [s for s in spans if s.native_id == "AEytW9ScgCw"]
    assert noisy[0].start == 6.019999980926514 and noisy[1].end == 12.539999961853027
    assert next(s for s in spans if s.native_id == "-zhRLh80O7s").extra == {"lang": "en", "index": 0}


def test_fork_header_in_task_ids_is_skipped(tmp_path: Path) -> None:
    root = write(tmp_path, CSV_ROWS[:2], ["id\ttask_name", "52907\tPaint a Motorcycle"], {})
    records = list(howto100m.read(root))
    assert [type(r).__name__ for r in records] == ["Video"]
    assert records[0].extra["tasks"][0]["task_name"] == "Paint a Motorcycle"


def test_zip_folder_and_raw_caption_fallback(tmp_path: Path) -> None:
    root = write(tmp_path / "HowTo100M", CSV_ROWS[:2], TASK_LINES[:1],
                 {"nVbIUDjzWY4": {"start": [1.0], "end": [2.0], "text": ["raw text"]}}, caption_name="raw_caption.json")
    assert howto100m.files(tmp_path) == [root / "HowTo100M_v1.csv", root / "task_ids.csv", root / "raw_caption.json"]
    _, spans, errors = split(list(howto100m.read(tmp_path)))
    assert [(s.text, s.origin) for s in spans] == [("raw text", "raw_caption.json")] and errors == []


def test_missing_manifest_messages(tmp_path: Path) -> None:
    with pytest.raises(MissingManifest) as e:
        howto100m.files(tmp_path)
    assert "HowTo100M_v1.csv" in str(e.value) and str(tmp_path) in str(e.value)
    (tmp_path / "HowTo100M_v1.csv").write_text(CSV_ROWS[0] + "\n")
    with pytest.raises(MissingManifest, match="task_ids.csv"):
        howto100m.files(tmp_path)
    (tmp_path / "task_ids.csv").write_text("")
    with pytest.raises(MissingManifest) as e:
        howto100m.files(tmp_path)
    assert "caption.json" in str(e.value) and "raw_caption.json" in str(e.value) and str(tmp_path) in str(e.value)


def test_truncated_caption_json_keeps_what_came_before(tmp_path: Path) -> None:
    root = write(tmp_path)
    text = (root / "caption.json").read_text()
    (root / "caption.json").write_text(text[: text.index("HnTLh99gcxY") + 40])
    _, spans, errors = split(list(howto100m.read(root)))
    assert Counter(s.native_id for s in spans) == {"nVbIUDjzWY4": 5, "rwmt7Cbuvfs": 3}
    bad = [e for e in errors if e.cause == "bad_json"]
    assert len(bad) == 1 and bad[0].locator == "caption.json#[2]" and "rwmt7Cbuvfs" in bad[0].detail


def test_repeated_caption_key_and_non_object_top_level(tmp_path: Path) -> None:
    root = write(tmp_path, CSV_ROWS[:2], TASK_LINES[:8], {})
    seg = '{"start": [1.0], "end": [2.0], "text": ["x"]}'
    (root / "caption.json").write_text('{"nVbIUDjzWY4": %s, "nVbIUDjzWY4": %s}' % (seg, seg))
    _, spans, errors = split(list(howto100m.read(root)))
    assert len(spans) == 1 and [e.cause for e in errors] == ["duplicate_row"]
    (root / "caption.json").write_text("[1, 2]")
    records = list(howto100m.read(root))
    assert [(r.cause, r.locator) for r in records if isinstance(r, ErrorRow)] == [("bad_type", "caption.json#")]


# ---- property-based ---------------------------------------------------------------------------

cells = st.text(st.characters(blacklist_categories=["Cs"]), max_size=15)


def run_read(**kw: Any) -> list[Any]:
    with tempfile.TemporaryDirectory() as d:
        records = list(howto100m.read(write(Path(d), **kw)))
    split(records)
    return records


@FUZZ
@given(video=st.sampled_from(["nVbIUDjzWY4", "AEytW9ScgCw"]), key=st.sampled_from(["start", "end", "text"]),
       index=st.integers(0, 2), value=json_values)
def test_fuzz_caption_segments(video: str, key: str, index: int, value: Any) -> None:
    """Any JSON value in any caption cell: one span or one error row per segment, never a crash."""
    caps = captions()
    caps[video][key][index] = value
    records = run_read(caps=caps)
    spans = [r for r in records if isinstance(r, Span) and r.native_id == video]
    errors = [r for r in records if isinstance(r, ErrorRow) and r.locator.startswith(f"caption.json#{video}[")]
    assert len(spans) + len(errors) == len(caps[video]["start"])
    bad_time = not isinstance(value, (int, float)) or isinstance(value, bool)
    if key != "text" and bad_time and not (isinstance(value, str) and is_float(value)):
        assert [e.cause for e in errors if e.locator.endswith(f"[{index}]")] == ["bad_time"]


@FUZZ
@given(value=json_values, video=st.sampled_from(sorted(captions())))
def test_fuzz_caption_values(value: Any, video: str) -> None:
    caps = captions()
    caps[video] = value
    run_read(caps=caps)


@FUZZ
@given(row=st.integers(1, len(CSV_ROWS) - 1), column=st.integers(0, 4), cell=cells)
def test_fuzz_csv_cells(row: int, column: int, cell: str) -> None:
    assume("\r" not in cell and "\n" not in cell)  # a raw line break moves the row (the bytes fuzz covers it)
    lines = list(CSV_ROWS)
    parts = lines[row].split(",") if lines[row] else [""] * 5
    parts[column % len(parts)] = cell
    lines[row] = ",".join(parts)
    records = run_read(csv_lines=lines)
    if column == 0 and not cell.strip() and len(parts) == 5 and any(p.strip() for p in parts):
        assert any(isinstance(r, ErrorRow) and r.line == row + 1 for r in records)


@FUZZ
@given(line=st.integers(0, len(TASK_LINES) - 1), text=cells)
def test_fuzz_task_lines(line: int, text: str) -> None:
    lines = list(TASK_LINES)
    lines[line] = text
    run_read(task_lines=lines)


@FUZZ
@given(data=st.data())
def test_fuzz_random_bytes_and_truncation(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = write(Path(d))
        for name in ("HowTo100M_v1.csv", "task_ids.csv", "caption.json"):
            raw = (root / name).read_bytes()
            cut = data.draw(st.integers(0, len(raw)))
            at = data.draw(st.integers(0, max(cut - 1, 0)))
            (root / name).write_bytes(raw[:at] + data.draw(st.binary(max_size=4)) + raw[at:cut])
        split(list(howto100m.read(root)))
