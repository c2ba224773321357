"""Ego4D: videos from `ego4d.json`, narrations and summaries from `narration.json`.

ego4d.json is read in two streaming passes (clips grouped by video_uid, then videos);
narration.json is streamed one video at a time. Only the set of video uids stays in memory.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import ijson

from longvid.records import ErrorRow, Record, Span, Video
from longvid.sources.jsonstream import json_message, listed_entries, open_json
from longvid.sources.base import MissingManifest, Reject, Where, number, parse_each, require
from longvid.timecodes import interval, seconds

NAME = "ego4d"
FPS = 30.0  # canonical Ego4D frame rate (timestamp_frame = round(timestamp_sec * 30))
SPLITS = ("split_em", "split_av", "split_fho", "split_goalstep")
_OPEN, _CLOSE = ("start_map", "start_array"), ("end_map", "end_array")


def _locate(manifest_dir: Path, name: str, subdirs: tuple[str, ...]) -> Path:
    """The first of manifest_dir/<sub>/<name> that exists, else MissingManifest."""
    for sub in subdirs:
        if (manifest_dir / sub / name).is_file():
            return manifest_dir / sub / name
    try:
        return require(manifest_dir / name, NAME)
    except MissingManifest as e:
        raise MissingManifest(f"{e} (also looked in {', '.join(s + '/' for s in subdirs if s)} of {manifest_dir})") from None


def files(manifest_dir: Path) -> list[Path]:
    """ego4d.json and narration.json, where the official CLI (or a flat copy) leaves them."""
    manifest_dir = Path(manifest_dir)
    return [
        _locate(manifest_dir, "ego4d.json", ("", "v2")),
        _locate(manifest_dir, "narration.json", ("", "v2", "annotations", "v2/annotations")),
    ]


def _build(events: Iterator[tuple[str, str, Any]], event: str, value: Any, keep: bool = True) -> Any:
    """Assemble (or, unless `keep`, just skip) the JSON value whose first parse event is (event, value)."""
    builder = ijson.ObjectBuilder() if keep else None
    depth = 1 if event in _OPEN else 0
    while True:
        if builder is not None:
            builder.event(event, value)
        if not depth:
            return builder.value if builder is not None else None
        try:
            _, event, value = next(events)
        except StopIteration:
            raise ValueError("premature end of JSON") from None
        depth += (event in _OPEN) - (event in _CLOSE)


def _array_items(path: Path, key: str, required: bool) -> Iterator[tuple[Where, Any]]:
    """(where, item) per item of the top-level array `key`, streamed. Other arrays' items are
    skipped but counted, so a syntax error is located (`videos[2]`); problems end with a Reject."""
    name, counts, section, found = path.name, defaultdict(int), "", False
    try:
        with open_json(path) as f:
            events = ijson.parse(f, use_float=True)
            for prefix, event, value in events:
                section = prefix.split(".", 1)[0]
                if prefix == "" and event not in ("start_map", "map_key", "end_map"):
                    raise Reject("bad_type", "top level is not a JSON object")
                if prefix == f"{section}.item" and event not in _CLOSE:
                    counts[section] += 1
                    item = _build(events, event, value, keep=section == key)
                    if section == key:
                        yield Where(NAME, name, locator=f"{name}#{key}[{counts[key] - 1}]", raw=item), item
                elif prefix == key and event not in _CLOSE:
                    found = True
                    if event != "start_array":
                        raise Reject("bad_type", f"{key} is not an array")
    except Reject as r:
        yield Where(NAME, name, locator=f"{name}#{section}"), r
        return
    except (ijson.JSONError, ValueError) as e:
        at = f"{section}[{counts[section] - 1}]" if counts.get(section) else section
        yield Where(NAME, name, locator=f"{name}#{at}"), Reject(
            "bad_json", f"JSON syntax error reached in {at or 'the top level'}: {json_message(e)}")
        return
    if required and not found:
        yield Where(NAME, name, locator=f"{name}#{key}"), Reject("missing_field", f"no {key}[] array")


def _group_clips(path: Path, clips: dict[str, list[Any]]) -> Iterator[ErrorRow]:
    """Pass 1: clips[] grouped by video_uid. File-level problems are left to pass 2 to report."""
    for where, clip in _array_items(path, "clips", required=False):
        if isinstance(clip, Reject):
            if where.locator.endswith("#clips"):
                yield where.error(clip.cause, clip.detail)
        elif not isinstance(clip, dict):
            yield where.error("bad_type", f"clip is {type(clip).__name__}, not an object")
        elif not isinstance(clip.get("video_uid"), str) or not clip["video_uid"]:
            yield where.error("missing_field", "clip has no video_uid")
        else:
            clips[clip["video_uid"]].append(clip)


class _Videos:
    """Parses videos[] items, remembering uids (for duplicates and for narration.json)."""

    def __init__(self, clips: dict[str, list[Any]]):
        self.clips = clips
        self.uids: set[str] = set()

    def parse(self, item: Any, where: Where) -> list[Record]:
        if not isinstance(item, dict):
            raise Reject("bad_type", f"video is {type(item).__name__}, not an object")
        uid = item.get("video_uid")
        if uid is None or uid == "":
            raise Reject("missing_field", "video has no video_uid")
        if not isinstance(uid, str):
            raise Reject("bad_type", f"video_uid {uid!r} is not a string")
        if uid in self.uids:
            raise Reject("duplicate_row", f"video_uid {uid} already listed earlier in videos[]")
        self.uids.add(uid)
        errors: list[ErrorRow] = []
        meta = item.get("video_metadata")
        meta = meta if isinstance(meta, dict) else {}
        duration = number(item.get("duration_sec"), "duration_sec", where, errors)
        split = next((item[k] for k in SPLITS if isinstance(item.get(k), str) and item[k]), None)
        extra = {k: v for k, v in item.items() if k != "video_uid" and (k != "duration_sec" or duration is None)}
        extra["clips"] = self.clips.pop(uid, [])
        video = Video(
            source=NAME, native_id=uid, media_path=f"full_scale/{uid}.mp4", duration=duration,
            fps=number(meta.get("fps"), "video_metadata.fps", where, errors),
            width=number(meta.get("display_resolution_width"), "display_resolution_width", where, errors, whole=True),
            height=number(meta.get("display_resolution_height"), "display_resolution_height", where, errors, whole=True),
            split=split, origin="ego4d.json", extra=extra,
        )
        for error in errors:
            error.video_uid = video.video_uid
        return [video, *errors]


def _narration_time(item: dict[str, Any]) -> tuple[float, str]:
    """timestamp_sec, else _unmapped_timestamp_sec, else timestamp_frame / 30."""
    for key, scale in (("timestamp_sec", 1.0), ("_unmapped_timestamp_sec", 1.0), ("timestamp_frame", FPS)):
        try:
            return seconds(item.get(key), key) / scale, key
        except ValueError:
            continue
    raise Reject("bad_time", "no usable timestamp_sec, _unmapped_timestamp_sec or timestamp_frame")


def _text(item: dict[str, Any], key: str) -> str:
    text = item.get(key)
    if text is None or (isinstance(text, str) and not text.strip()):
        raise Reject("missing_field", f"{key} is missing or empty")
    if not isinstance(text, str):
        raise Reject("bad_type", f"{key} {text!r} is not a string")
    return text


def _parse_note(unit: tuple[str, str, str, Any, dict[str, Any]], where: Where) -> list[Record]:
    """One narration (an instant) or summary (an interval) -> one Span."""
    kind, uid, origin, item, context = unit
    if not isinstance(item, dict):
        raise Reject("bad_type", f"{kind} is {type(item).__name__}, not an object")
    extra = dict(context)
    if kind == "narration":
        text = _text(item, "narration_text")
        start, used = _narration_time(item)
        end = start
        skip = {"narration_text", used}
        if used != "timestamp_sec":
            extra["time_from"], skip = used, {"narration_text"}
    else:
        text = _text(item, "summary_text")
        try:
            start, end = seconds(item.get("start_sec"), "start_sec"), seconds(item.get("end_sec"), "end_sec")
        except ValueError as e:
            raise Reject("bad_time", str(e)) from None
        skip = {"summary_text", "start_sec", "end_sec"}
    try:
        start, end = interval(start, 0.0 if -1e-3 <= end < 0 else end, kind)
    except ValueError as e:
        raise Reject("bad_interval", str(e)) from None
    extra.update((k, v) for k, v in item.items() if k not in skip)
    return [Span(source=NAME, native_id=uid, start=start, end=end, text=text, kind=kind, origin=origin, extra=extra)]


def _count(value: Any, key: str) -> int:
    """How many `key` items (narrations, summaries) one narration.json entry holds, however malformed."""
    passes = value.values() if isinstance(value, dict) else []
    return sum(len(p[key]) for p in passes if isinstance(p, dict) and isinstance(p.get(key), list))


def _entry_units(uid: str, value: Any, name: str) -> Iterator[tuple[Where, Any]]:
    """(where, unit) for every narration and summary of one video's entry."""
    here = Where(NAME, name, locator=f"{name}#{uid}", raw=value)
    if not isinstance(value, dict):
        yield here, Reject("bad_type", f"entry is {type(value).__name__}, not an object")
        return
    passes = [k for k in value if k.startswith("narration_pass")]
    context = {k: v for k, v in value.items() if k not in passes}
    for origin in passes:
        pass_value, at = value[origin], f"{name}#{uid}/{origin}"
        if pass_value is None:  # an absent pass, spelled null
            continue
        if not isinstance(pass_value, dict):
            yield Where(NAME, name, locator=at, raw=pass_value), Reject("bad_type", f"{origin} is not an object")
            continue
        pass_context = {**context, **{k: v for k, v in pass_value.items() if k not in ("narrations", "summaries")}}
        for key, kind in (("narrations", "narration"), ("summaries", "summary")):
            items = pass_value.get(key) or []
            if not isinstance(items, list):
                yield Where(NAME, name, locator=f"{at}/{key}", raw=items), Reject("bad_type", f"{key} is not a list")
                continue
            for i, item in enumerate(items):
                yield Where(NAME, name, locator=f"{at}/{key}[{i}]", raw=item), (kind, uid, origin, item, pass_context)


def _narration_units(path: Path, uids: set[str]) -> Iterator[tuple[Where, Any]]:
    """Each listed video's narrations and summaries; unlisted and repeated entries -> one Reject each."""
    def skipped(value: Any) -> str:
        return f"{_count(value, 'narrations')} narrations and {_count(value, 'summaries')} summaries"

    for where, entry in listed_entries(path, NAME, uids, "ego4d.json", skipped):
        if isinstance(entry, Reject):
            yield where, entry
        else:
            yield from _entry_units(*entry, path.name)


def read(manifest_dir: Path) -> Iterator[Record]:
    """Videos (with their clips), then narration and summary spans, then error rows as found."""
    ego4d_json, narration_json = files(Path(manifest_dir))
    clips: dict[str, list[Any]] = defaultdict(list)
    yield from _group_clips(ego4d_json, clips)
    videos = _Videos(clips)
    yield from parse_each(_array_items(ego4d_json, "videos", required=True), videos.parse)
    for uid, orphans in clips.items():
        yield Where(NAME, ego4d_json.name, locator=f"{ego4d_json.name}#clips/{uid}", raw=orphans).error(
            "unlisted_video", f"{len(orphans)} clips name video_uid {uid}, which videos[] does not have")
    clips.clear()
    yield from parse_each(_narration_units(narration_json, videos.uids), _parse_note)
