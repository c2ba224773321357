"""HD-VILA-100M: `hdvila_part<N>.jsonl`, one YouTube video per line with its list of clips.

A line is `{video_id, url, clip: [{clip_id: "<id>.<n>.mp4", span: ["HH:MM:SS.mmm", ...]}]}`
(README examples use Python-literal dicts; base.jsonl_rows accepts both). Each video becomes a
Video and each clip a `clip` Span. A bad clip is one error row; the video and its other clips
stay. The public files hold no text, so the spans carry only times and clip ids.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

from longvid.records import ErrorRow, Record, Span, Video, video_uid
from longvid.sources.base import Reject, Where, find_files, jsonl_rows, parse_each
from longvid.timecodes import hms, interval

NAME = "hdvila"
PATTERN = "hdvila_part*.jsonl"
KNOWN_KEYS = ("video_id", "url", "clip")

_PART = re.compile(r"part(\d+)")
_DIGITS = re.compile(r"\d{1,9}", re.ASCII)  # a clip number, not any digit run
_BITMAP_LIMIT = 4096  # clip numbers below this are remembered as bits, others as strings


def files(manifest_dir: Path) -> list[Path]:
    """The part files, ordered by part number (part2 before part10)."""
    return sorted(find_files(Path(manifest_dir), PATTERN, NAME), key=_part_key)


def _part_key(path: Path) -> tuple[float, str]:
    m = _PART.search(path.name)
    return (int(m.group(1)) if m else float("inf"), str(path))


class _Seen:
    """Video ids already emitted and, per video, the clip ids already used. Canonical clip ids
    (`<video_id>.<n>.mp4`) are bits of one int per video; any other id goes in a set.

    Memory: one id and one small int per video (about 3.3M videos in the full set).
    """

    def __init__(self) -> None:
        self.clips: dict[str, int] = {}
        self.odd: dict[str, set[str]] = {}

    def new_video(self, video_id: str) -> bool:
        """True the first time `video_id` is seen."""
        if video_id in self.clips:
            return False
        self.clips[video_id] = 0
        return True

    def new_clip(self, video_id: str, clip_id: str, index: int | None) -> bool:
        """Remember `clip_id` for `video_id`; False when it was already there."""
        if index is not None and index < _BITMAP_LIMIT and clip_id == f"{video_id}.{index}.mp4":
            bits, bit = self.clips.get(video_id, 0), 1 << index
            self.clips[video_id] = bits | bit
            return not bits & bit
        odd = self.odd.setdefault(video_id, set())
        if clip_id in odd:
            return False
        odd.add(clip_id)
        return True


def read(manifest_dir: Path) -> Iterator[Record]:
    """Videos, clip spans and error rows from every part file, streaming line by line.

    A video id on a later line adds its clips to the video already emitted.
    """
    seen = _Seen()
    for path in files(manifest_dir):
        yield from parse_each(jsonl_rows(path, NAME), lambda obj, where: _parse_line(obj, where, seen))


def _parse_line(obj: Any, where: Where, seen: _Seen) -> list[Record]:
    if not isinstance(obj, dict):
        raise Reject("bad_type", f"line is a {type(obj).__name__}, not an object")
    video_id = _video_id(obj)
    clips = obj.get("clip")
    out: list[Record] = []
    if seen.new_video(video_id):
        out.append(_video(obj, video_id, where.file))
    uid = video_uid(NAME, video_id)
    if not isinstance(clips, list):
        cause = "missing_field" if clips is None else "bad_type"
        out.append(where.error(cause, f"'clip' is {type(clips).__name__}, not a list", dropped=False, video_uid=uid))
        return out
    for i, clip in enumerate(clips):
        out.extend(_clip(clip, i, video_id, where, seen))
    return out


def _video_id(obj: dict[str, Any]) -> str:
    """`video_id` verbatim (ids may start with '-'); else the `v=` parameter of `url`."""
    vid = obj.get("video_id")
    if vid is not None and not isinstance(vid, str):
        raise Reject("bad_type", f"video_id {vid!r} is not a string")
    if vid and vid.strip():
        return vid
    url = obj.get("url")
    if isinstance(url, str):
        found = parse_qs(urlparse(url).query).get("v")
        if found and found[0].strip():
            return found[0]
    raise Reject("missing_field", "no video_id and no v= parameter in url")


def _video(obj: dict[str, Any], video_id: str, origin: str) -> Video:
    url = obj.get("url")
    return Video(
        source=NAME, native_id=video_id, url=url if isinstance(url, str) and url else None,
        media_path=f"download_videos/{video_id}.mp4", youtube_id=video_id, origin=origin,
        extra={k: v for k, v in obj.items() if k not in KNOWN_KEYS},
    )


def _clip(clip: Any, i: int, video_id: str, where: Where, seen: _Seen) -> list[Record]:
    """One clip: a Span, or an error row (plus the Span when only its id is wrong)."""
    clip_id = clip.get("clip_id") if isinstance(clip, dict) else None
    named = isinstance(clip_id, str) and bool(clip_id)

    def error(cause: str, detail: str, dropped: bool = True) -> ErrorRow:  # built only when needed
        at = replace(where, locator=clip_id if named else f"clip[{i}]")
        return at.error(cause, detail, dropped=dropped, video_uid=video_uid(NAME, video_id))

    if not isinstance(clip, dict):
        return [error("bad_type", f"clip {i} is a {type(clip).__name__}, not an object")]
    try:
        start, end = _span_times(clip.get("span"))
    except Reject as r:
        return [error(r.cause, r.detail)]
    extra = {k: v for k, v in clip.items() if k not in ("clip_id", "span")}
    out: list[Record] = []
    if named:
        index = _clip_index(clip_id)
        if not seen.new_clip(video_id, clip_id, index):
            return [error("duplicate_row", f"clip {clip_id} of {video_id} already seen")]
        extra.update(clip_id=clip_id, clip_index=index, clip_path=f"video_clips/{video_id}/{clip_id}")
    else:
        cause = "missing_field" if clip_id in (None, "") else "bad_type"
        out.append(error(cause, f"clip {i} has no usable clip_id ({clip_id!r})", dropped=False))
        extra.update(clip_id=None, clip_index=None, clip_path=None)
    out.append(Span(NAME, video_id, start, end, text="", kind="clip", origin=where.file, extra=extra))
    return out


def _span_times(span: Any) -> tuple[float, float]:
    if span is None:
        raise Reject("missing_field", "clip has no span")
    if not isinstance(span, (list, tuple)) or len(span) != 2:
        raise Reject("bad_time", f"span {span!r} is not a [start, end] pair")
    try:
        start, end = hms(span[0]), hms(span[1])
    except (ValueError, OverflowError) as e:  # OverflowError: an hour count too large for a float
        raise Reject("bad_time", str(e)) from None
    try:
        return interval(start, end, "clip")
    except ValueError as e:
        raise Reject("bad_interval", str(e)) from None


def _clip_index(clip_id: str) -> int | None:
    """`<video_id>.<n>.mp4` -> n (video ids may hold dots or dashes, so split from the right)."""
    parts = clip_id.rsplit(".", 2)
    return int(parts[1]) if len(parts) == 3 and _DIGITS.fullmatch(parts[1]) else None

