"""What every source module shares: rejecting a row with a reason, and reading the files.

A source module (see sources/__init__.py) turns manifest rows into Video and Span records.
Its per-row parser raises `Reject(cause, detail)` for a bad row; `parse_each` turns that, or any
unexpected exception, into an ErrorRow and goes on, so one bad row never stops a file.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from longvid.errors import check
from longvid.records import ErrorRow, Record, clip_raw
from longvid.timecodes import seconds

T = TypeVar("T")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # MiraData captions are very long


class Reject(Exception):
    """Raised by a row parser: this row cannot be used, for this reason."""

    def __init__(self, cause: str, detail: str, *, dropped: bool = True):
        super().__init__(detail)
        self.cause = check(cause)
        self.detail = detail
        self.dropped = dropped


class MissingManifest(FileNotFoundError):
    """A source's required file is not where it should be (one clear line for the CLI)."""


@dataclass(slots=True)
class Where:
    """Where a row came from, for error rows."""

    source: str
    file: str
    line: int | None = None
    locator: str = ""
    raw: Any = ""

    def error(self, cause: str, detail: str, *, dropped: bool = True, video_uid: str | None = None) -> ErrorRow:
        return ErrorRow(
            source=self.source, stage="ingest", cause=check(cause), detail=detail, file=self.file,
            line=self.line, locator=self.locator, raw=clip_raw(self.raw), video_uid=video_uid, dropped=dropped,
        )


def parse_each(items: Iterable[tuple[Where, T]], parse: Callable[[T, Where], Iterable[Record]]) -> Iterator[Record]:
    """Run `parse` on every item; a Reject or any exception becomes one ErrorRow, never a crash."""
    for where, item in items:
        if isinstance(item, Reject):  # the file reader already refused this row
            yield where.error(item.cause, item.detail, dropped=item.dropped)
            continue
        try:
            records = list(parse(item, where))
        except Reject as r:
            yield where.error(r.cause, r.detail, dropped=r.dropped)
            continue
        except Exception as e:  # noqa: BLE001 - a parser bug must not stop the build
            yield where.error("parse_error", f"{type(e).__name__}: {e}")
            continue
        yield from records


def require(path: Path, source: str) -> Path:
    """Return `path` if it exists, else raise MissingManifest naming what was expected where."""
    if not path.is_file():
        raise MissingManifest(f"{source}: expected manifest file {path.name!r} at {path}, not found")
    return path


def find_files(directory: Path, pattern: str, source: str) -> list[Path]:
    """Files matching `pattern` in `directory` or one folder below (archives unpack into a folder)."""
    found = sorted(directory.glob(pattern)) or sorted(directory.glob(f"*/{pattern}"))
    if not found:
        raise MissingManifest(f"{source}: expected files matching {pattern!r} in {directory}, none found")
    return found


def _repair_text(text: str) -> tuple[str, bool]:
    """Undo surrogateescape: bytes that were not UTF-8 are decoded as cp1252 (MiraData v0's guard)."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        return raw.decode("cp1252", errors="replace"), True


def open_text(path: Path) -> io.TextIOWrapper:
    """Open a manifest for text: BOM dropped, CRLF kept for the csv module, bad bytes escaped."""
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def csv_rows(path: Path, source: str, *, delimiter: str = ",", header: bool = True) -> Iterator[tuple[Where, Any]]:
    """(where, row) for every data row: a dict when `header`, else a list. Lines are 1-based
    file lines of the row's first line. Blank and all-empty rows are skipped. A row whose field
    count differs from the header's, or that holds non-UTF-8 bytes, is yielded as a Reject."""
    name = path.name
    with open_text(path) as f:
        reader = csv.reader(f, delimiter=delimiter)
        fields: list[str] | None = None
        start = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                where = Where(source, name, start, raw="")
                start = reader.line_num + 1
                yield where, Reject("bad_csv", f"CSV error: {e}")
                continue
            where = Where(source, name, start, raw=(delimiter.join(row)))
            start = reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            repaired = [_repair_text(cell) for cell in row]
            row = [cell for cell, _ in repaired]
            if header and fields is None:
                fields = unique_names(row)
                continue
            if any(bad for _, bad in repaired):
                yield where, Reject("not_utf8", "row is not valid UTF-8 (bytes shown as cp1252)")
                continue
            if fields is None:
                yield where, row
            elif len(row) != len(fields):
                yield where, Reject("bad_csv", f"row has {len(row)} fields, header has {len(fields)}")
            else:
                yield where, dict(zip(fields, row))


def unique_names(header: list[str]) -> list[str]:
    """Header names made unique: an empty name becomes `_<position>` (MiraData v0 ends with two
    empty names) and a repeated one `<name>_<position>`, so no cell is lost to a dict key clash."""
    seen: set[str] = set()
    names = []
    for i, name in enumerate(header):
        key = name if name and name not in seen else f"{name}_{i}"
        seen.add(key)
        names.append(key)
    return names


def jsonl_rows(path: Path, source: str) -> Iterator[tuple[Where, Any]]:
    """(where, object) for every non-blank line of a JSON Lines file; a line that is not JSON
    is tried as a Python literal (README examples use single quotes), else yielded as a Reject."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            text, bad = _repair_text(line.decode("utf-8", "surrogateescape").lstrip("\ufeff"))
            if not text.strip():
                continue
            where = Where(source, path.name, number, raw=text.rstrip("\r\n"))
            if bad:
                yield where, Reject("not_utf8", "line is not valid UTF-8")
                continue
            yield where, _loads_lenient(text)


def _loads_lenient(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        try:
            return ast.literal_eval(text.strip())
        except Exception:  # noqa: BLE001 - literal_eval raises TypeError, RecursionError, ... on junk
            return Reject("bad_json", f"not JSON: {e.msg} at column {e.colno}")
    except RecursionError:
        return Reject("bad_json", "not JSON: nested too deeply")


def literal(text: str, what: str) -> Any:
    """A Python-literal cell (`"['00:06:21.300', '00:07:42.133']"`) via ast.literal_eval, never eval."""
    try:
        return ast.literal_eval(text.strip())
    except Exception:  # noqa: BLE001 - literal_eval raises TypeError, RecursionError, ... on junk
        raise Reject("bad_time", f"{what} {text!r} is not a Python literal list") from None


def number(value: Any, what: str, where: Where, errors: list[ErrorRow], *, whole: bool = False,
           locator: str | None = None) -> Any:
    """An optional number field: None or an empty cell -> None; a float (an int when `whole`);
    a bad value -> None and a kept-row error (bad_number) appended to `errors`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        out = seconds(value, what)
        if out < 0 or (whole and not out.is_integer()):
            raise ValueError(f"{what} {value!r} is not a {'whole ' if whole else ''}number >= 0")
        return int(out) if whole else out
    except ValueError as e:
        at = where if locator is None else Where(where.source, where.file, where.line, locator, where.raw)
        errors.append(at.error("bad_number", str(e), dropped=False))
        return None
