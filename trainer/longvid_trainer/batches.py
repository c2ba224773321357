"""From items to micro-batches: the step plan (which items each optimizer step takes) and collation.

`DataPlan.step(s)` is a pure function of (items, seed, global batch, per-device batch, shard
window, s): epoch s // steps_per_epoch, its order from `sampler.epoch_order`, the s-th slice of
`global_batch` items cut into micro-batches. Micro-batch j of a step goes to rank j % world, so
one process with accumulation A and A processes without accumulation see the same micro-batches.
The data position saved with a checkpoint is just the step, plus (epoch, offset, shard, seed)
for the reader; resuming recomputes the same order without replaying anything.

`collate` encodes each item (template, time prompt of its cached sample), splices its 16·T
visual tokens, truncates at the maximum length (counted), and pads the micro-batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from longvid_trainer.cache_index import CacheIndex
from longvid_trainer.conversation import IGNORE_INDEX, IMAGE_INDEX, encode, splice
from longvid_trainer.features import FeatureStore
from longvid_trainer.items import Item
from longvid_trainer.model import Batch


def items_fingerprint(items: list[Item]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(repr((item.turns, item.key)).encode())
    return digest.hexdigest()[:16]


class DataPlan:
    """Which items every optimizer step takes."""

    def __init__(self, items: list[Item], index: CacheIndex, *, global_batch: int, batch_size: int, window: int, seed: int):
        self.items, self.global_batch, self.batch_size, self.window, self.seed = items, global_batch, batch_size, window, seed
        self.micro_batches = global_batch // batch_size
        self.lengths = [item.modality_length() for item in items]
        self.shards = [index.by_key[item.key].shard.name if item.key else None for item in items]
        self.steps_per_epoch = len(items) // global_batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(items)} training item(s) do not fill one global batch of {global_batch}")
        self._order = lru_cache(maxsize=2)(self._epoch_order)

    def _epoch_order(self, epoch: int) -> tuple[int, ...]:
        from longvid_trainer.sampler import epoch_order

        return tuple(epoch_order(self.lengths, self.shards, batch=self.batch_size, world=self.micro_batches,
                                 window=self.window, seed=self.seed, epoch=epoch))

    def step(self, step: int) -> list[list[int]]:
        """The micro-batches (lists of item indices) of optimizer step `step` (0-based)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        chosen = self._order(epoch)[within * self.global_batch:(within + 1) * self.global_batch]
        return [list(chosen[j * self.batch_size:(j + 1) * self.batch_size]) for j in range(self.micro_batches)]

    def position(self, step: int) -> dict[str, Any]:
        """Where the data stands before step `step`: epoch, item offset in the epoch, shard, seed."""
        epoch, within = divmod(step, self.steps_per_epoch)
        first = self._order(epoch)[within * self.global_batch]
        return {"step": step, "epoch": epoch, "offset": within * self.global_batch, "shard": self.shards[first],
                "seed": self.seed}


@dataclass
class BatchStats:
    samples: int = 0
    truncated: int = 0
    sequence_tokens: int = 0
    visual_tokens: int = 0


def collate(items: list[Item], store: FeatureStore, tokenizer: Any, *, template: str, max_length: int,
            feature_dim: int) -> tuple[Batch, BatchStats]:
    """One padded micro-batch (float32 visual tokens, only the rows that survive truncation)."""
    stats = BatchStats(samples=len(items))
    rows, visual = [], []
    for item in items:
        sample = store.get(item.key) if item.key else None
        encoded = encode(item.conversation(), tokenizer, template, sample["time_prompt"] if sample else None)
        tokens = sample["tokens"].reshape(-1, sample["tokens"].shape[-1]) if sample else None
        spliced, truncated = splice(encoded, tokens.shape[0] if tokens is not None else 0, max_length)
        used = spliced.input_ids.count(IMAGE_INDEX)
        if tokens is not None and used:
            visual.append(tokens[:used].float())
        stats.truncated += int(truncated)
        stats.visual_tokens += used
        rows.append(spliced)
    longest = max(len(r.input_ids) for r in rows)
    ids = torch.zeros(len(rows), longest, dtype=torch.long)
    labels = torch.full((len(rows), longest), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r.input_ids)
        ids[i, :n] = torch.tensor(r.input_ids)
        labels[i, :n] = torch.tensor(r.labels)
        mask[i, :n] = 1
        stats.sequence_tokens += n
    tokens = torch.cat(visual) if visual else torch.zeros(0, feature_dim)
    return Batch(ids, labels, mask, tokens), stats
