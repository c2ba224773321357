"""WebVid reader: the 10M and 2M column orders, TempoFunk partitions, quirks, and fuzzing."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from longvid.records import ErrorRow, Span, Video
from longvid.sources import webvid
from longvid.sources.base import MissingManifest
from tests.sources.helpers import split, write

HEADER_10M = "videoid,name,page_idx,page_dir,duration,contentUrl"
HEADER_2M = "videoid,contentUrl,duration,page_dir,name"
URL = "https://ak.picdn.net/shutterstock/videos/{}/preview/stock-footage-{}.mp4"
# REAL 10M row (public loader docstring)
REAL_10M = ("1053841541,Travel blogger shoot a story on top of mountains.,27732,027701_027750,PT00H00M17S,"
            "https://ak.picdn.net/shutterstock/videos/1053841541/preview/stock-footage-travel-blogger-shoot-a-story-"
            "on-top-of-mountains-young-man-holds-camera-in-forest.mp4")
# REAL-but-garbled row from m-bain/webvid issue #16: five cells under a six-column header
GARBLED = ("25677788, Sailboats on the  Horizon, 90507090, 501 _090550 PT01H02M37S, "
           "https://ak.picdn.net/shutterstock/videos/25677788/preview/stock-footage-sailboat s-on-the-horizon.mp4")
# REAL id/caption pair (NExT-GPT docs); the caption holds commas, so it is quoted
MERIDA = ("Merida, mexico - may 23, 2017: tourists are walking on a roadside near catholic church in the street of "
          "mexico at sunny summer day.")


def test_10m_layout_with_quirks(tmp_path: Path) -> None:
    lines = [
        HEADER_10M,
        REAL_10M,  # 2
        GARBLED,  # 3: wrong number of fields
        f'31353427,"{MERIDA}",1,000001_000050,PT00H00M25S,{URL.format(31353427, "merida")}',  # 4
        f"0001234,Leading zeros kept.,9,000001_000050,PT1M2.5S,{URL.format('0001234', 'zeros')}",  # 5: fractional
        f"77,Failed download.,2,,PT00H00M10S,{URL.format(77, 'x')}",  # 6: empty page_dir (367 real rows)
        REAL_10M,  # 7: exact repeat
        REAL_10M.replace("Travel blogger", "Travel vlogger").replace("27732,027701_027750", "27733,027701_027750"),  # 8
        f'88,"He said ""hi"", then left",3,000001_000050,PT01H02M37S,{URL.format(88, "hi")}',  # 9: wrong-but-kept
        f"89,Bad duration.,3,000001_000050,17 seconds,{URL.format(89, 'bad')}",  # 10: bad_time, kept
        f"90,,3,000001_000050,PT00H00M05S,{URL.format(90, 'noname')}",  # 11: empty name: video, no span
        f",No id.,3,000001_000050,PT00H00M05S,{URL.format('', 'noid')}",  # 12: no videoid
        "",  # 13: blank
        f"91,Empty duration.,3,000001_000050,,{URL.format(91, 'noduration')}",  # 14
    ]
    write(tmp_path / "results_10M_val.csv", lines, bom=True, crlf=True,
          raw=f"92,Caf\xe9 au lait,3,000001_000050,PT00H00M05S,{URL.format(92, 'cafe')}\r\n".encode("latin-1"))  # 15
    videos, spans, errors = split(list(webvid.read(tmp_path)))

    assert sorted((e.line, e.cause, e.dropped) for e in errors) == [
        (3, "bad_csv", True), (7, "duplicate_row", True), (10, "bad_time", False), (11, "missing_field", False),
        (12, "missing_field", True), (14, "missing_field", False), (15, "not_utf8", True)]
    assert next(e for e in errors if e.line == 7).video_uid == "webvid/1053841541"
    assert [v.native_id for v in videos] == ["1053841541", "31353427", "0001234", "77", "88", "89", "90", "91"]
    first = videos[0]
    assert (first.url, first.title, first.duration, first.media_path, first.origin) == (
        REAL_10M.split(",")[-1], "Travel blogger shoot a story on top of mountains.", 17.0,
        "027701_027750/1053841541.mp4", "results_10M_val.csv")
    assert first.extra == {"page_idx": 27732, "page_dir": "027701_027750", "duration_raw": "PT00H00M17S"}
    v = {video.native_id: video for video in videos}
    assert v["31353427"].title == MERIDA and v["0001234"].duration == 62.5
    assert v["0001234"].media_path == "000001_000050/0001234.mp4"
    assert v["77"].media_path is None and v["77"].extra["page_dir"] == ""
    assert v["88"].duration == 3757.0 and v["88"].title == 'He said "hi", then left'
    assert v["89"].duration is None and v["89"].extra["duration_raw"] == "17 seconds"
    assert v["90"].title is None

    assert [(s.native_id, s.start, s.end, s.kind) for s in spans] == [
        ("1053841541", 0.0, 17.0, "alt_text"), ("31353427", 0.0, 25.0, "alt_text"), ("0001234", 0.0, 62.5, "alt_text"),
        ("77", 0.0, 10.0, "alt_text"), ("1053841541", 0.0, 17.0, "alt_text"), ("88", 0.0, 3757.0, "alt_text"),
        ("89", 0.0, None, "alt_text"), ("91", 0.0, None, "alt_text")]
    second = spans[4]
    assert second.text.startswith("Travel vlogger") and second.extra == {"page_dir": "027701_027750", "duplicate_of_line": 2}
    assert spans[0].extra == {} and all(s.origin == "results_10M_val.csv" for s in spans)


def test_2m_order_partitions_and_cross_file_duplicates(tmp_path: Path) -> None:
    write(tmp_path / "data" / "results_10M_train.csv", [HEADER_10M, REAL_10M])
    write(tmp_path / "data" / "partitions" / "0000.csv", [])  # ignored: one level only
    write(tmp_path / "data" / "notes.csv", ["a,b", "1,2"])  # not a WebVid header: not read
    write(tmp_path / "data" / "results_2M_val.csv", [
        HEADER_2M,
        f"{REAL_10M.split(',')[0]},{REAL_10M.split(',')[-1]},PT00H00M17S,027701_027750,"
        "Travel blogger shoot a story on top of mountains.",  # same as the 10M row
        f"1053841541,{URL.format(1053841541, 'x')},PT00H00M17S,999951_1000000,Travel blogger shoot a story on top of mountains.",
    ])
    assert [p.name for p in webvid.files(tmp_path / "data")] == ["results_10M_train.csv", "results_2M_val.csv"]
    videos, spans, errors = split(list(webvid.read(tmp_path / "data")))
    assert len(videos) == 1 and len(spans) == 2
    assert [(e.file, e.line, e.cause) for e in errors] == [("results_2M_val.csv", 2, "duplicate_row")]
    assert spans[1].extra == {"page_dir": "999951_1000000", "duplicate_of_line": 2,
                              "duplicate_of_file": "results_10M_train.csv"}
    assert "results_10M_train.csv" in errors[0].detail


def test_tempofunk_partitions_one_folder_below(tmp_path: Path) -> None:
    write(tmp_path / "partitions" / "0001.csv", [HEADER_2M, f"5,{URL.format(5, 'a')},PT00H00M09S,000001_000050,A."])
    write(tmp_path / "partitions" / "0000.csv", [HEADER_2M, f"4,{URL.format(4, 'b')},PT00H00M08S,,B."])
    write(tmp_path / "partitions" / "readme.csv", ["not,webvid"])
    assert [p.name for p in webvid.files(tmp_path)] == ["0000.csv", "0001.csv"]
    videos = [r for r in webvid.read(tmp_path) if isinstance(r, Video)]
    assert [(v.native_id, v.media_path, v.extra["page_idx"]) for v in videos] == [
        ("4", None, None), ("5", "000001_000050/5.mp4", None)]


def test_absurd_numbers(tmp_path: Path) -> None:
    write(tmp_path / "results_10M_val.csv", [HEADER_10M, f"1,A.,{'9' * 5000},d,PT{'9' * 400}S,u"])
    videos, spans, errors = split(list(webvid.read(tmp_path)))
    assert [(e.cause, e.dropped) for e in errors] == [("bad_time", False)]
    assert videos[0].duration is None and videos[0].extra["page_idx"] == "9" * 5000
    assert [(s.start, s.end) for s in spans] == [(0.0, None)]


def test_bad_header_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MissingManifest) as e:
        webvid.files(tmp_path)
    assert "results_*.csv" in str(e.value) and str(tmp_path) in str(e.value)
    write(tmp_path / "results_broken.csv", ["videoid,title", "1,x"])
    assert [(r.cause, r.line, r.file) for r in webvid.read(tmp_path)] == [("bad_csv", 1, "results_broken.csv")]


# ---- property-based ---------------------------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
cells = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=20)


def run_read(lines: list[str], raw: bytes = b"", name: str = "results_10M_val.csv") -> list[Any]:
    with tempfile.TemporaryDirectory() as d:
        write(Path(d) / name, lines, raw=raw)
        records = list(webvid.read(Path(d)))
    split(records)
    return records


def csv_line(cells_: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells_)
    return out.getvalue()


@FUZZ
@given(values=st.lists(cells, min_size=6, max_size=6), header=st.sampled_from([HEADER_10M, HEADER_2M]))
def test_fuzz_cells(values: list[str], header: str) -> None:
    """Random text in every cell: a video, or exactly one dropped error row for the line."""
    n = header.count(",") + 1
    row = values[:n]
    records = run_read([header, REAL_10M if header == HEADER_10M else "1,u,PT1S,d,n", csv_line(row)])
    line3 = [r for r in records if getattr(r, "line", None) == 3]
    videoid = row[0].strip()
    if not any(c.strip() for c in row):
        assert line3 == []  # an all-empty row is skipped
    elif not videoid:
        assert [(r.cause, r.dropped) for r in line3] == [("missing_field", True)]
    else:
        new = [r for r in records if isinstance(r, (Video, Span)) and r.native_id == videoid]
        assert new or line3  # a repeat of line 2 with no name adds only its error rows
        assert all(not r.dropped for r in line3 if r.cause != "duplicate_row")


@FUZZ
@given(drop=st.integers(0, 5), extra=st.lists(cells, max_size=3), at=st.integers(2, 4))
def test_fuzz_field_counts(drop: int, extra: list[str], at: int) -> None:
    """A row with a cell dropped or cells added is one bad_csv error row at its line."""
    rows = [HEADER_10M, REAL_10M, REAL_10M.replace("1053841541", "1"), REAL_10M.replace("1053841541", "2")]
    cells_ = next(csv.reader([rows[at - 1]]))
    rows[at - 1] = csv_line(cells_[:drop] + cells_[drop + 1:] if not extra else cells_ + extra)
    records = run_read(rows)
    assert [(r.line, r.cause) for r in records if isinstance(r, ErrorRow)] == [(at, "bad_csv")]
    assert sum(isinstance(r, Video) for r in records) == 2


@FUZZ
@given(data=st.data())
def test_fuzz_bytes_and_truncation(data: st.DataObject) -> None:
    """Random bytes spliced in and the file cut anywhere: only records come out."""
    raw = ("\r\n".join([HEADER_10M, REAL_10M, GARBLED, f'31353427,"{MERIDA}",1,000001_000050,PT00H00M25S,u']) + "\r\n")
    raw_bytes = raw.encode()
    cut = data.draw(st.integers(0, len(raw_bytes)))
    at = data.draw(st.integers(0, max(cut - 1, 0)))
    spliced = raw_bytes[:at] + data.draw(st.binary(max_size=6)) + raw_bytes[at:cut]
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "results_10M_val.csv").write_bytes(spliced)
        split(list(webvid.read(Path(d))))
