"""WebVid-10M / 2.5M: `results_*.csv` and other CSVs with a WebVid header (TempoFunk partitions).

One row is one stock clip: a Video plus its title as an `alt_text` Span over the whole clip.
The 10M and 2M files order their columns differently, so cells are always read by name.
`duration` is scraped, not measured (it can be wrong by an hour): it is kept as the manifest
says, and the raw text is kept beside it.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Iterator

from longvid.records import ErrorRow, Record, Span, Video, video_uid
from longvid.sources.base import MissingManifest, Reject, Where, csv_rows, open_text, parse_each
from longvid.timecodes import iso8601_duration

NAME = "webvid"
PATTERN = "results_*.csv"
COLUMNS = ("videoid", "contentUrl", "duration", "page_dir", "name")  # 2M; 10M adds page_idx
KNOWN = (*COLUMNS, "page_idx")
_PAGE_IDX = re.compile(r"\d{1,18}", re.ASCII)


def files(manifest_dir: Path) -> list[Path]:
    """`results_*.csv` and any other CSV with a WebVid header, in `manifest_dir` or one folder
    below (the TempoFunk copy keeps its parts in `partitions/`)."""
    directory = Path(manifest_dir)
    for pattern in ("*.csv", "*/*.csv"):
        found = [p for p in sorted(directory.glob(pattern)) if p.name.startswith("results_") or _is_webvid(p)]
        if found:
            return found
    raise MissingManifest(f"{NAME}: expected files matching {PATTERN!r} (or CSVs with a WebVid header) "
                          f"in {directory}, none found")


def _is_webvid(path: Path) -> bool:
    """True when the first non-blank row holds every WebVid column."""
    try:
        with open_text(path) as f:
            header = next((row for row in csv.reader(f) if any(c.strip() for c in row)), [])
    except (OSError, csv.Error):
        return False
    return set(COLUMNS).issubset(header)


class _Seen:
    """Where each video id was first read, with a hash of its (name, page_dir), so that a repeat
    is told apart as an exact copy or as a second title.

    Memory: one id and one packed int per video (about 10.7M in the 10M train file, ~1.4 GB);
    the few ids that repeat with other content also keep the set of hashes seen.
    """

    def __init__(self) -> None:
        self.first: dict[str, int] = {}  # id -> hash << 60 | file number << 40 | line
        self.variants: dict[str, set[int]] = {}
        self.files: list[str] = []

    def check(self, videoid: str, content: int, where: Where) -> tuple[str, int, bool] | None:
        """None for a new id, else (file, line) of its first row and whether this row repeats
        a (name, page_dir) already read for it."""
        content &= 0xFFFFFFFF
        if where.file not in self.files[-1:]:
            self.files.append(where.file)
        packed = self.first.get(videoid)
        if packed is None:
            self.first[videoid] = content << 60 | (len(self.files) - 1) << 40 | (where.line or 0)
            return None
        file, line = self.files[packed >> 40 & 0xFFFFF], packed & (1 << 40) - 1
        variants = self.variants.setdefault(videoid, {packed >> 60})
        copy = content in variants
        variants.add(content)
        return file, line, copy


def read(manifest_dir: Path) -> Iterator[Record]:
    """Videos, title spans and error rows from every WebVid file, streaming."""
    seen = _Seen()
    for path in files(manifest_dir):
        if not _is_webvid(path):
            yield Where(NAME, path.name, 1).error("bad_csv", f"header lacks some of {', '.join(COLUMNS)}")
            continue
        yield from parse_each(csv_rows(path, NAME), lambda row, where: _parse_row(row, where, seen))


def _parse_row(row: dict[str, str], where: Where, seen: _Seen) -> list[Record]:
    videoid, name, page_dir = row["videoid"].strip(), row["name"].strip(), row["page_dir"].strip()
    if not videoid:
        raise Reject("missing_field", "videoid is empty")
    uid = video_uid(NAME, videoid)
    first = seen.check(videoid, hash((name, page_dir)), where)
    if first is not None and first[2]:
        return [where.error("duplicate_row", f"videoid {videoid} repeats line {first[1]} of {first[0]}",
                            video_uid=uid)]
    duration, errors = _duration(row["duration"], where, uid)
    if not name:
        errors.append(where.error("missing_field", "name (the caption) is empty", dropped=False, video_uid=uid))
    extra = {"page_dir": page_dir}
    if first is not None:  # the same id again with another title or page_dir: one more span
        extra["duplicate_of_line"] = first[1]
        if first[0] != where.file:
            extra["duplicate_of_file"] = first[0]
        out: list[Record] = []
    else:
        out = [_video(row, videoid, name, page_dir, duration, where.file)]
    if name:
        out.append(Span(NAME, videoid, 0.0, duration, name, "alt_text", where.file, extra if first else {}))
    return [*out, *errors]


def _video(row: dict[str, str], videoid: str, name: str, page_dir: str, duration: float | None,
           origin: str) -> Video:
    page_idx = row.get("page_idx", "").strip()
    return Video(
        source=NAME, native_id=videoid, url=row["contentUrl"].strip() or None, title=name or None,
        duration=duration, media_path=f"{page_dir}/{videoid}.mp4" if page_dir else None, origin=origin,
        extra={
            "page_idx": int(page_idx) if _PAGE_IDX.fullmatch(page_idx) else page_idx or None,
            "page_dir": page_dir, "duration_raw": row["duration"],
            **{k: v for k, v in row.items() if k not in KNOWN},
        },
    )


def _duration(text: str, where: Where, uid: str) -> tuple[float | None, list[ErrorRow]]:
    """Seconds from `PT00H00M17S`; when unreadable, None and an error row (the video stays)."""
    if not text.strip():
        return None, [where.error("missing_field", "duration is empty", dropped=False, video_uid=uid)]
    try:
        seconds = iso8601_duration(text)
        if not math.isfinite(seconds):
            raise ValueError(f"duration {text!r} is out of range")
        return seconds, []
    except ValueError as e:
        return None, [where.error("bad_time", str(e), dropped=False, video_uid=uid)]
