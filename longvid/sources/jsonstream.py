"""Streaming large JSON manifests (Ego4D's narration.json, HowTo100M's caption.json) with ijson.

Memory stays flat however large the file is; a syntax error ends the stream with one Reject
(everything read before it is kept).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import ijson

from longvid.sources.base import Reject, Where


def open_json(path: Path) -> BinaryIO:
    """Open for ijson, past a UTF-8 BOM if there is one."""
    f = open(path, "rb")
    if f.read(3) != b"\xef\xbb\xbf":
        f.seek(0)
    return f


def not_object(f: BinaryIO) -> bool:
    """True when the file plainly holds something other than a JSON object (kvitems would yield nothing)."""
    start, head = f.tell(), f.read(4096).lstrip()
    f.seek(start)
    return head[:1] not in (b"{", b"")


def json_message(e: Exception) -> str:
    """ijson's error text, shortened to one line."""
    msg = e.args[0] if e.args else str(e)
    msg = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return (msg.strip().splitlines() or [type(e).__name__])[0]


def entries(path: Path, source: str) -> Iterator[tuple[Where, Any]]:
    """(where, (key, value)) per top-level entry of a JSON object, streamed; a file that is not an
    object, or a syntax error, ends with one Reject (entries before it are kept)."""
    name, count, last = path.name, 0, None
    try:
        with open_json(path) as f:
            if not_object(f):
                yield Where(source, name, locator=f"{name}#"), Reject("bad_type", "top level is not a JSON object")
                return
            for key, value in ijson.kvitems(f, "", use_float=True):
                yield Where(source, name, locator=f"{name}#{key}", raw=value), (key, value)
                count, last = count + 1, key
    except (ijson.JSONError, ValueError) as e:
        after = f" after {last}" if last is not None else ""
        yield Where(source, name, locator=f"{name}#[{count}]"), Reject(
            "bad_json", f"JSON syntax error in entry {count}{after}: {json_message(e)}")


def listed_entries(path: Path, source: str, listed: set[str], listed_in: str, skipped: Callable[[Any], str],
                   *, consume: bool = False) -> Iterator[tuple[Where, Any]]:
    """Top-level entries whose key `listed` holds. A key seen before is one duplicate_row Reject,
    a key not listed one unlisted_video Reject naming what was skipped. With `consume`, listed
    keys are moved out of `listed` as they are read (no second set of every key in memory)."""
    done: set[str] = set()
    for where, entry in entries(path, source):
        if isinstance(entry, Reject):
            yield where, entry
            continue
        key, value = entry
        if key in done:
            yield where, Reject("duplicate_row", f"{key} appears again in {path.name}; skipped")
        elif key not in listed:
            yield where, Reject("unlisted_video", f"{key} is not in {listed_in}; skipped {skipped(value)}")
        else:
            if consume:
                listed.discard(key)
            yield where, entry
        done.add(key)
