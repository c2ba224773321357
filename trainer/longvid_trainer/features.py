"""Cached features by key, read through `longvid.hico.dataset.FeatureDataset`, a few shards at a time.

The store reads a whole feature shard when one of its samples is first asked for and keeps the
last `capacity` shards (least recently used goes first). The order of `sampler.epoch_order`
touches one window of shards at a time, so `capacity` = the window keeps every read to once per
window per epoch. Nothing here opens a video.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any


class FeatureStore:
    """key -> the FeatureDataset item (tokens [T/4, 64, C] bf16, time_prompt, duration, ...)."""

    def __init__(self, shard_of: dict[str, Path], capacity: int = 8):
        self.shard_of, self.capacity = shard_of, max(1, capacity)
        self._shards: OrderedDict[Path, dict[str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self.shard_reads = 0

    def _read_shard(self, shard: Path) -> dict[str, dict[str, Any]]:
        from longvid.hico.dataset import FeatureDataset

        # rank 0 of 1, explicitly: every rank reads the shards its own items need
        return {s["key"]: s for s in FeatureDataset([shard], rank=0, world_size=1)}

    def get(self, key: str) -> dict[str, Any]:
        shard = self.shard_of.get(key)
        if shard is None:
            raise KeyError(f"no cached features for sample {key}")
        with self._lock:
            if shard in self._shards:
                self._shards.move_to_end(shard)
                return self._shards[shard][key]
        samples = self._read_shard(shard)
        if key not in samples:
            raise KeyError(f"{shard} does not hold sample {key}")
        with self._lock:
            self.shard_reads += 1
            self._shards[shard] = samples
            while len(self._shards) > self.capacity:
                self._shards.popitem(last=False)
        return samples[key]
