"""Every time encoding the five manifests use, parsed in one place.

Each parser raises `ValueError` with a short message on bad input; sources turn that into an
error row. Results are seconds as finite floats.
"""

from __future__ import annotations

import math
import re
from typing import Any

_HMS = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)\s*$")
_ISO = re.compile(
    r"^\s*P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?\s*$",
    re.IGNORECASE,
)


def seconds(value: Any, what: str = "time") -> float:
    """A finite float from a JSON number or numeric string (bools and NaN refused)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{what} is {value!r}, not a number")
    if isinstance(value, str) and not value.strip():
        raise ValueError(f"{what} is empty")
    try:
        out = float(value)  # takes surrounding blanks, not other characters str.strip() would drop
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} {value!r} is not finite")
    return out


def hms(text: Any) -> float:
    """`HH:MM:SS.mmm` (HD-VILA, MiraData v1), `H:MM:SS` (MiraData v0) or `MM:SS` to seconds."""
    if not isinstance(text, str):
        raise ValueError(f"timestamp {text!r} is not a string")
    m = _HMS.match(text)
    if not m:
        raise ValueError(f"timestamp {text!r} is not H:MM:SS[.mmm]")
    h, mnt, sec = m.groups()
    minutes, secs = int(mnt), float(sec.replace(",", "."))
    if minutes >= 60 or secs >= 60:
        raise ValueError(f"timestamp {text!r} has minutes or seconds >= 60")
    return _finite(int(h or 0) * 3600.0 + minutes * 60 + secs, text)


def _finite(value: float, text: Any) -> float:
    if not math.isfinite(value):
        raise ValueError(f"time {str(text)[:40]!r} is out of range")
    return value


def iso8601_duration(text: Any) -> float:
    """ISO-8601 durations as WebVid writes them (`PT00H00M17S`), tolerant of odd forms."""
    if not isinstance(text, str):
        raise ValueError(f"duration {text!r} is not a string")
    m = _ISO.match(text)
    if not m or not any(m.group(g) for g in "dhms"):
        raise ValueError(f"duration {text!r} is not ISO-8601 (PTxxHxxMxxS)")
    parts = {g: float(m.group(g) or 0) for g in "dhms"}
    return _finite(parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"], text)


def interval(start: float, end: float, what: str = "span", clamp_eps: float = 1e-3) -> tuple[float, float]:
    """Check a [start, end] interval. Tiny negative starts (Ego4D's -4e-07) clamp to 0;
    end < start is refused; end == start (an instant) is allowed."""
    if start < 0:
        if start < -clamp_eps:
            raise ValueError(f"{what} starts before 0 ({start})")
        start = 0.0
    if end < start:
        raise ValueError(f"{what} ends before it starts ({start} > {end})")
    return start, end
