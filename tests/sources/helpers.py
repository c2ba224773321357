"""What the reader tests share: writing manifest files byte for byte, and sorting records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from longvid.records import ErrorRow, Span, Video

# any JSON value, nested a little: what the property tests put where a field belongs
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
