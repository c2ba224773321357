"""Shard planning: split samples, already in their final order, into shards by bytes and count."""

from __future__ import annotations

import re
from collections.abc import Sequence

# A shard name (and prefix): no dots, so `<name>.tar`, `<name>.parquet` and `<name>.stats.json`
# always split back into the same name; no slashes, so it stays inside the shard folder.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


class ShardPlanner:
    """Greedy packing, one sample at a time: `add` returns the finished group when the next sample
    does not fit, `close` the last one. The same samples in the same order give the same groups,
    however they arrive (what lets a build write shards while it still processes videos)."""

    def __init__(self, max_bytes: int, max_count: int):
        if max_bytes <= 0 or max_count <= 0:
            raise ValueError(f"max_bytes and max_count must be positive, got {max_bytes} and {max_count}")
        self.max_bytes, self.max_count = max_bytes, max_count
        self._current: list = []
        self._bytes = 0

    def add(self, item: object, nbytes: int) -> list | None:
        if nbytes < 0:
            raise ValueError(f"sample {item!r} has negative size {nbytes}")
        full = None
        if self._current and (self._bytes + nbytes > self.max_bytes or len(self._current) >= self.max_count):
            full, self._current, self._bytes = self._current, [], 0
        self._current.append(item)
        self._bytes += nbytes
        return full

    def close(self) -> list | None:
        full, self._current, self._bytes = self._current or None, [], 0
        return full


def plan_shards(samples: Sequence[tuple[str, int]], max_bytes: int, max_count: int) -> list[list[str]]:
    """Greedily group `(key, member bytes)` pairs into shards, keeping the given order.

    A new shard starts when adding the next sample would exceed `max_bytes` or `max_count`;
    a sample larger than `max_bytes` alone gets a shard of its own. The tar headers and
    padding (512 to 1023 bytes per member) are not counted: leave headroom in `max_bytes`.

    >>> plan_shards([("a", 5), ("b", 5), ("c", 20), ("d", 1)], max_bytes=10, max_count=10)
    [['a', 'b'], ['c'], ['d']]
    """
    planner = ShardPlanner(max_bytes, max_count)
    shards = [group for key, nbytes in samples if (group := planner.add(key, nbytes)) is not None]
    last = planner.close()
    return shards + ([last] if last else [])


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
