"""What the reader tests share: writing manifest files byte for byte, and sorting records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.records import ErrorRow, Span, Video


def write(path: Path, lines: list[str], *, crlf: bool = False, bom: bool = False, raw: bytes = b"") -> Path:
    """Write `lines` with LF or CRLF endings, an optional UTF-8 BOM and raw trailing bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + (end.join(lines) + end).encode() + raw)
    return path


def split(records: list[Any]) -> tuple[list[Video], list[Span], list[ErrorRow]]:
    """(videos, spans, errors), checking nothing else came out."""
    assert all(isinstance(r, (Video, Span, ErrorRow)) for r in records)
    return ([r for r in records if isinstance(r, Video)], [r for r in records if isinstance(r, Span)],
            [r for r in records if isinstance(r, ErrorRow)])


def is_float(text: str) -> bool:
    """True when float() accepts `text` (what a time parser may take)."""
    try:
        float(text)
        return True
    except ValueError:
        return False
