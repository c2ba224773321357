"""MiraData: `miradata_v1*.csv` (one row per clip) and the legacy `miradata_v0*.csv`.

The version is told by the header, not the file name. Each row gives a `clip` Span and one
Span per caption (or per 120-s window of a windowed caption); its source video is emitted once,
at its first good row. Cells stay strings: `clip_id` is a float written to CSV (`1431495.1` is
clip 10), so the clip index comes from `file_path` (v1) or `index` (v0), never from `clip_id`.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from longvid.records import ErrorRow, Record, Span, Video, video_uid
from longvid.sources.base import Reject, Where, csv_rows, find_files, literal, number, open_text, parse_each
from longvid.timecodes import hms, interval, seconds

NAME = "miradata"
PATTERN = "miradata_v[01]*.csv"
CAPTIONS = ("short_caption", "dense_caption", "background_caption", "main_object_caption",
            "style_caption", "camera_caption")
V1 = ("clip_id", "source", "video_url", "video_id", "width", "height", "fps", "seconds", "timestamp",
      "frame_number", "framestamp", "file_path", *CAPTIONS)
V0 = ("index", "video_id", "start_frame", "end_frame", *CAPTIONS, "fps", "start_timestep", "end_timestep")

_V1_PATH = re.compile(r"(?:^|/)(\d+)\.(\d{1,9})\.mp4$")
_V0_INDEX = re.compile(r"^(\d{12})_(.+)-(\d{6})$")
_DIGITS = re.compile(r"\d{1,18}", re.ASCII)


def files(manifest_dir: Path) -> list[Path]:
    """Every v1 and v0 meta file (`miradata_v1_9k.csv`, `miradata_v0.csv`, ...)."""
    return find_files(Path(manifest_dir), PATTERN, NAME)


@dataclass(slots=True)
class _Seen:
    """Videos emitted and clips read (the 9k file is a subset of the 42k one). Memory: one
    entry per clip and per video, under a million for all v1 files together."""

    videos: set[str] = field(default_factory=set)
    clips: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Clip:
    """What one row says about its clip, whichever version it came from."""

    native_id: str
    clip_key: str  # what makes a clip a duplicate (v1 file_path, v0 index)
    start: float
    end: float
    extra: dict[str, Any]
    errors: list[ErrorRow]


def read(manifest_dir: Path) -> Iterator[Record]:
    """Videos, clip and caption spans, and error rows from every MiraData file, streaming."""
    seen = _Seen()
    for path in files(manifest_dir):
        names = set(_header(path))
        parse = _parse_v1 if names.issuperset(V1) else _parse_v0 if names.issuperset(V0) else None
        if parse is None:
            yield Where(NAME, path.name, 1).error("bad_csv", "header is neither MiraData v1 nor v0")
            continue
        yield from parse_each(csv_rows(path, NAME), lambda row, where: parse(row, where, seen))


def _header(path: Path) -> list[str]:
    """The first non-blank row, as csv_rows will take it."""
    with open_text(path) as f:
        try:
            return next((row for row in csv.reader(f) if any(c.strip() for c in row)), [])
        except csv.Error:
            return []


# --- v1 ---------------------------------------------------------------------------------------

def _parse_v1(row: dict[str, str], where: Where, seen: _Seen) -> list[Record]:
    source = row["source"]
    platform, _, category = source.partition(",")
    platform = platform.strip().lower()
    video_id = row["video_id"]
    if not platform or not video_id.strip():
        raise Reject("missing_field", "source or video_id is empty")
    native_id = video_id if platform == "youtube" else f"{platform}-{video_id}"
    errors: list[ErrorRow] = []
    fps = number(row["fps"], "fps", where, errors, locator="fps")
    start, end = _v1_time(row, fps)
    download_id = _download_id(row["clip_id"], where, errors)
    path_match = _V1_PATH.search(row["file_path"])
    clip = _Clip(native_id, row["file_path"] or f"{native_id}@{row['clip_id']}", start, end, errors=errors, extra={
        "clip_id": row["clip_id"], "clip_index": int(path_match.group(2)) if path_match else None,
        "file_path": row["file_path"], "seconds": row["seconds"], "frame_number": row["frame_number"],
        "framestamp": row["framestamp"], "download_id": download_id, **_unknown(row, V1),
    })
    video = Video(
        source=NAME, native_id=native_id, url=row["video_url"] or None, media_path=_media_path(download_id),
        youtube_id=video_id if platform == "youtube" else None, fps=fps,
        width=number(row["width"], "width", where, errors, whole=True, locator="width"),
        height=number(row["height"], "height", where, errors, whole=True, locator="height"),
        origin=where.file,
        extra={"platform": platform, "category": category.strip() or None, "download_id": download_id},
    )
    return _emit(row, where, seen, clip, video)


def _v1_time(row: dict[str, str], fps: float | None) -> tuple[float, float]:
    """`timestamp` (`"['00:06:21.300', '00:07:42.133']"`), else `framestamp` / fps."""
    return _clip_time(
        lambda: _pair(row["timestamp"], hms),
        lambda: tuple(t / _rate(fps) for t in _pair(row["framestamp"], seconds)),
        detail=f"timestamp {row['timestamp']!r} and framestamp {row['framestamp']!r} are both unreadable")


def _pair(text: str, convert: Callable[[Any], float]) -> tuple[float, float]:
    value = literal(text, "time pair")
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{text!r} is not a pair")
    return convert(value[0]), convert(value[1])


def _download_id(clip_id: str, where: Where, errors: list[ErrorRow]) -> int | None:
    """The raw-video number, as the official script's `int(clip_id)` takes it."""
    head = clip_id.split(".")[0].strip()
    if _DIGITS.fullmatch(head):
        return int(head)
    errors.append(replace(where, locator="clip_id").error(
        "bad_number", f"clip_id {clip_id!r} does not start with a download number", dropped=False))
    return None


# --- v0 ---------------------------------------------------------------------------------------

def _parse_v0(row: dict[str, str], where: Where, seen: _Seen) -> list[Record]:
    index = row["index"]
    m = _V0_INDEX.match(index)
    video_id = row["video_id"] or (m.group(2) if m else "")
    if not video_id.strip():
        raise Reject("missing_field", "video_id is empty and index has no id")
    errors: list[ErrorRow] = []
    if not m:
        errors.append(replace(where, locator="index").error(
            "bad_number", f"index {index!r} is not <12 digits>_<id>-<6 digits>", dropped=False))
    download_id = int(m.group(1)) if m else None
    fps = number(row["fps"], "fps", where, errors, locator="fps")
    start, end = _v0_time(row, fps)
    clip = _Clip(video_id, f"v0:{index or f'{video_id}@{start}-{end}'}", start, end, errors=errors, extra={
        "clip_id": index, "clip_index": int(m.group(3)) if m else None, "download_id": download_id,
        **{k: row[k] for k in ("start_frame", "end_frame", "start_timestep", "end_timestep")}, **_unknown(row, V0),
    })
    video = Video(
        source=NAME, native_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}",
        media_path=_media_path(download_id), youtube_id=video_id, fps=fps, origin=where.file,
        extra={"platform": "youtube", "category": None, "download_id": download_id},
    )
    return _emit(row, where, seen, clip, video)


def _v0_time(row: dict[str, str], fps: float | None) -> tuple[float, float]:
    """start_frame/fps and end_frame/fps; without fps, `start_timestep` (`1:30:42`)."""
    return _clip_time(
        lambda: (seconds(row["start_frame"]) / _rate(fps), seconds(row["end_frame"]) / _rate(fps)),
        lambda: (hms(row["start_timestep"]), hms(row["end_timestep"])),
        detail="neither frames with fps nor timesteps can be read")


# --- shared -----------------------------------------------------------------------------------

def _emit(row: dict[str, str], where: Where, seen: _Seen, clip: _Clip, video: Video) -> list[Record]:
    """The row's records once nothing can reject it any more: the video (first time only),
    the clip span, the caption spans and the row's error rows."""
    uid = video_uid(NAME, clip.native_id)
    if clip.clip_key in seen.clips:
        return [where.error("duplicate_row", f"clip {clip.extra['clip_id']} ({clip.clip_key}) already read",
                            video_uid=uid)]
    seen.clips.add(clip.clip_key)
    out: list[Record] = []
    if clip.native_id not in seen.videos:
        seen.videos.add(clip.native_id)
        out.append(video)
    out.append(Span(NAME, clip.native_id, clip.start, clip.end, "", "clip", where.file, clip.extra))
    for column in CAPTIONS:
        out.extend(_caption(row[column], column, clip, replace(where, locator=column)))
    return [*out, *(replace(e, video_uid=uid) for e in clip.errors)]


def _caption(text: str, column: str, clip: _Clip, where: Where) -> list[Record]:
    """Spans of one caption cell: one plain span, or one per window of a windowed caption."""
    body = text.strip()
    uid = video_uid(NAME, clip.native_id)
    base = {"clip_id": clip.extra["clip_id"]}
    if not body:
        return []
    if not body.startswith("[|||"):
        return [Span(NAME, clip.native_id, clip.start, clip.end, body, column, where.file, base)]
    try:
        windows = parse_windows(body)
    except ValueError as e:
        return [where.error("bad_caption", str(e), dropped=False, video_uid=uid)]
    out: list[Record] = []
    for ws, we, words in windows:
        if not words:
            continue
        start, end = clip.start + ws, min(clip.start + we, clip.end)
        if ws < 0 or we < ws or start >= clip.end:
            detail = f"window [{ws}, {we}] lies outside the clip (0-{clip.end - clip.start:.3f} s)"
            out.append(where.error("bad_interval", detail, dropped=False, video_uid=uid))
            continue
        out.append(Span(NAME, clip.native_id, start, end, words, column, where.file, {"window": [ws, we], **base}))
    return out


def parse_windows(body: str) -> list[tuple[float, float, str]]:
    """`[|||0||| 120||| text |||,|||240||| 360||| text |||,]` -> [(0, 120, 'text'), ...] in file
    order (windows are not sorted). Raises ValueError when the encoding is broken."""
    if not (body.startswith("[") and body.endswith("]")):
        raise ValueError("windowed caption is not enclosed in [ ]")
    *chunks, tail = body[1:-1].split("|||,")
    if tail.strip() or not chunks:
        raise ValueError("windowed caption does not end with '|||,]'")
    windows = []
    for n, chunk in enumerate(chunks):
        parts = chunk.split("|||", 3)
        if len(parts) != 4 or parts[0].strip():
            raise ValueError(f"window {n} is not |||start||| end||| text |||")
        windows.append((seconds(parts[1], f"window {n} start"), seconds(parts[2], f"window {n} end"),
                        parts[3].strip()))
    return windows


def _clip_time(*tries: Callable[[], tuple[float, ...]], detail: str) -> tuple[float, float]:
    """The first encoding that reads as two finite times; a readable but reversed interval is
    refused rather than passed over."""
    for attempt in tries:
        try:
            start, end = attempt()
        except (Reject, ValueError, TypeError, OverflowError):  # literal_eval: TypeError on "{[]: 1}"
            continue
        if not (math.isfinite(start) and math.isfinite(end)):
            continue
        try:
            return interval(start, end, "clip")
        except ValueError as e:
            raise Reject("bad_interval", str(e)) from None
    raise Reject("bad_time", detail)


def _rate(fps: float | None) -> float:
    if not fps or fps <= 0:
        raise ValueError("no usable fps")
    return fps


def _media_path(download_id: int | None) -> str | None:
    """The raw file as the v1 download_data.py leaves it."""
    return None if download_id is None else f"{download_id // 1000:09d}/{download_id:012d}.mp4"


def _unknown(row: dict[str, str], known: tuple[str, ...]) -> dict[str, str]:
    """Non-empty cells of columns the format does not name (v0 ends with two unnamed ones)."""
    return {k: v for k, v in row.items() if k not in known and v.strip()}
