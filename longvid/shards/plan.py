"""Shard planning: split samples, already in their final order, into shards by bytes and count."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A shard name (and prefix): no dots, so `<name>.tar`, `<name>.parquet` and `<name>.stats.json`
# always split back into the same name; no slashes, so it stays inside the shard folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def plan_shards(samples: Sequence[tuple[str, int]], max_bytes: int, max_count: int) -> list[list[str]]:
    """Greedily group `(key, member bytes)` pairs into shards, keeping the given order.

    A new shard starts when adding the next sample would exceed `max_bytes` or `max_count`;
    a sample larger than `max_bytes` alone gets a shard of its own. The tar headers and
    padding (512 to 1023 bytes per member) are not counted: leave headroom in `max_bytes`.

    >>> plan_shards([("a", 5), ("b", 5), ("c", 20), ("d", 1)], max_bytes=10, max_count=10)
    [['a', 'b'], ['c'], ['d']]
    """
    if max_bytes <= 0 or max_count <= 0:
        raise ValueError(f"max_bytes and max_count must be positive, got {max_bytes} and {max_count}")
    shards: list[list[str]] = []
    current: list[str] = []
    current_bytes = 0
    for key, nbytes in samples:
        if nbytes < 0:
            raise ValueError(f"sample {key!r} has negative size {nbytes}")
        if current and (current_bytes + nbytes > max_bytes or len(current) >= max_count):
            shards.append(current)
            current, current_bytes = [], 0
        current.append(key)
        current_bytes += nbytes
    if current:
        shards.append(current)
    return shards


def shard_name(prefix: str, index: int) -> str:
    """The deterministic name of shard `index`: `<prefix>-000042` (no extension).

    >>> shard_name("longvid", 42)
    'longvid-000042'
    """
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    if not NAME_PATTERN.fullmatch(prefix):
        raise ValueError(f"shard prefix must match {NAME_PATTERN.pattern}, got {prefix!r}")
    return f"{prefix}-{index:06d}"
