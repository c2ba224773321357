"""The records every source yields: Video (a media file), Span (timed text on it) and ErrorRow.

These mirror the catalog tables `videos`, `spans` and `errors` (schemas/*.arrow.json). A source
keeps everything its manifest says: fields without a column of their own go in `extra`, a dict
stored as a JSON string.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Union

from longvid.errors import error_class


def video_uid(source: str, native_id: str) -> str:
    """The catalog-wide id of a video: `<source>/<native id>`."""
    return f"{source}/{native_id}"


@dataclass(slots=True)
class Video:
    """One source video (a media file), as the manifest describes it."""

    source: str
    native_id: str
    url: str | None = None  # remote location: http(s) URL or YouTube watch URL
    media_path: str | None = None  # where the dataset's downloader leaves it, relative to <media-root>/<source>/
    youtube_id: str | None = None
    duration: float | None = None  # seconds, as the manifest states it (may be wrong: probe is the truth)
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    split: str | None = None
    title: str | None = None
    origin: str = ""  # manifest file name
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def video_uid(self) -> str:
        return video_uid(self.source, self.native_id)


@dataclass(slots=True)
class Span:
    """Timed text (or a bare time range) on a video. start == end is an instant (a narration).

    `end` is None when the span runs to the end of the video (e.g. a WebVid title whose
    manifest duration could not be read); the build resolves it after probing.
    """

    source: str
    native_id: str  # the video's native id
    start: float
    end: float | None
    text: str
    kind: str  # narration, asr, alt_text, summary, clip, short_caption, dense_caption, ...
    origin: str  # manifest file, pass or column the span came from
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def video_uid(self) -> str:
        return video_uid(self.source, self.native_id)


@dataclass(slots=True)
class ErrorRow:
    """A row that could not be used as it stands: where it was, why, and what it said.

    `dropped` says whether the row yielded nothing (True) or was kept with the bad field
    left empty (False). `cause` is a short snake_case code from longvid.errors.
    """

    source: str
    stage: str
    cause: str
    detail: str
    file: str = ""
    line: int | None = None
    locator: str = ""  # where inside a non-line file: a JSON path, a video id, a URL
    raw: str = ""
    video_uid: str | None = None
    dropped: bool = True


Record = Union[Video, Span, ErrorRow]

RAW_LIMIT = 2000


def clip_raw(value: Any) -> str:
    """A bounded text form of a raw input row for the errors table."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


# one encoder, built once: json.dumps with options builds a new JSONEncoder on every call
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False)


def to_json(value: dict[str, Any]) -> str:
    """Stable JSON for the `extra` columns (sorted keys, NaN as null, Unicode kept)."""
    try:  # the common case, fast: nothing non-finite and nothing exotic
        return _ENCODER.encode(value)
    except (ValueError, TypeError):
        return json.dumps(_finite(value), sort_keys=True, ensure_ascii=False, default=_json_default)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def to_row(record: Record) -> dict[str, Any]:
    """The catalog row of a record (column names as in schemas/). A plain field copy, not
    dataclasses.asdict: that deep-copies every value and cost 30x more on 20M-span ingests."""
    row = {name: getattr(record, name) for name in _field_names(type(record))}
    if isinstance(record, (Video, Span)):
        row["video_uid"] = record.video_uid
        row["extra"] = to_json(record.extra) if record.extra else "{}"
    return row


def columns(records: list[Record], names: list[str]) -> dict[str, list[Any]]:
    """The catalog columns `names` of same-typed records, built column by column (no per-row
    dict: ingest writes tens of millions of spans)."""
    out: dict[str, list[Any]] = {}
    derived = bool(records) and isinstance(records[0], (Video, Span))  # video_uid and extra are computed
    for name in names:
        if name == "class":  # an error row's class follows from its cause
            out[name] = [error_class(r.cause) for r in records]  # type: ignore[union-attr]
        elif not derived:
            out[name] = [getattr(r, name) for r in records]
        elif name == "video_uid":
            out[name] = [f"{r.source}/{r.native_id}" for r in records]  # type: ignore[union-attr]
        elif name == "extra":
            out[name] = [to_json(r.extra) if r.extra else "{}" for r in records]  # type: ignore[union-attr]
        else:
            out[name] = [getattr(r, name) for r in records]
    return out
