"""Sample keys: the one place a key is derived from (source, native id, start, end).

WebDataset splits a member name at the first dot of its base name, so a key holds only
`[A-Za-z0-9_-]`, never starts with `-` or `.`, and stays short. A readable prefix (source,
cleaned id, start and end in milliseconds) is followed by a hash of the exact inputs, so keys
never collide across sources or across ids that clean to the same text (`a.b` vs `a_b`, case).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata

_UNSAFE = re.compile(r"[^A-Za-z0-9-]+")
_ID_CHARS = 40
HASH_CHARS = 12


def _millis(t: float | None) -> str:
    if t is None:
        return "x"
    if not math.isfinite(t):
        raise ValueError(f"sample time must be finite, got {t!r}")
    return str(max(0, round(t * 1000)))


def _readable(native_id: str) -> str:
    ascii_id = unicodedata.normalize("NFKD", native_id).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_id).strip("_-")
    return cleaned[:_ID_CHARS] or "id"


def sample_key(source: str, native_id: str, start: float | None = None, end: float | None = None) -> str:
    """Deterministic WebDataset-safe key for one sample; times are rounded to milliseconds.

    >>> sample_key("hdvila", "QMi8x8o55Ns.1", 17.759, 23.279)[:34]
    'hdvila_QMi8x8o55Ns_1_17759_23279_'
    """
    if not re.fullmatch(r"[a-z][a-z0-9]*", source):
        raise ValueError(f"source name must be lowercase alphanumeric, got {source!r}")
    s, e = _millis(start), _millis(end)
    digest = hashlib.sha1(f"{source}\x00{native_id}\x00{s}\x00{e}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"{source}_{_readable(native_id)}_{s}_{e}_{digest[:HASH_CHARS]}"


KEY_PATTERN = re.compile(r"[a-z][a-z0-9]*_[A-Za-z0-9_-]+")


def is_safe_key(key: str) -> bool:
    """True when `key` can be a WebDataset key and a file name on any common file system."""
    return bool(KEY_PATTERN.fullmatch(key)) and len(key) <= 120
