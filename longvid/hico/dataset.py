"""Reading cached features for training: a PyTorch IterableDataset over feature shards.

It never opens the video shards: each item is one sample's HiCo tokens, sizes, frame indices,
captions and time prompt. Shards are split across ranks (torch.distributed, else RANK /
WORLD_SIZE) and then across DataLoader workers; an optional shuffle buffer mixes samples.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.utils.data import IterableDataset, get_worker_info


def feature_shards(corpus: Path, tag: str | None = None) -> list[Path]:
    """The finished feature shards of one cache (`tag`; the only one if None)."""
    from longvid.shards.writer import shard_done

    root = Path(corpus) / "features"
    tags = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if tag is None:
        if len(tags) != 1:
            raise ValueError(f"{root} holds {len(tags)} feature caches ({', '.join(tags) or 'none'}): name one with tag=")
        tag = tags[0]
    folder = root / tag
    return sorted(p for p in folder.glob("*.tar") if shard_done(folder, p.name.removesuffix(".tar")))


def _rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


class FeatureDataset(IterableDataset):
    """Yields {"key", "tokens" [T/4, 64, C] bf16, "sizes", "frame_indices", "captions",
    "time_prompt", "duration", "meta"} per sample of the feature shards."""

    def __init__(self, shards: list[Path], *, shuffle_buffer: int = 0, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None):
        if not shards:
            raise ValueError("no feature shards given")
        self.shards, self.shuffle_buffer, self.seed = list(shards), shuffle_buffer, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def my_shards(self) -> list[Path]:
        """This rank's and this worker's share of the shards (disjoint, covering all)."""
        rank, world = (self.rank, self.world_size) if self.rank is not None else _rank_world()
        world = world or 1
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        return self.shards[rank * workers + worker::world * workers]

    def samples(self) -> Iterator[dict[str, Any]]:
        from longvid.hico.cache import load_features
        from longvid.shards.reader import iter_shard

        for shard in self.my_shards():
            for member in iter_shard(shard):
                meta = json.loads(member["json"])
                tensors = load_features(member["hico.safetensors"])
                yield {"key": member["__key__"], "tokens": tensors["tokens"], "sizes": tensors["sizes"],
                       "frame_indices": tensors["frame_indices"], "captions": meta["captions"],
                       "time_prompt": meta["time_prompt"], "duration": meta["duration"], "meta": meta}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.shuffle_buffer <= 1:
            yield from self.samples()
            return
        rng = random.Random(hash((self.seed, self.epoch, self.rank, get_worker_info() and get_worker_info().id)))
        buffer: list[dict[str, Any]] = []
        for sample in self.samples():
            buffer.append(sample)
            if len(buffer) >= self.shuffle_buffer:
                yield buffer.pop(rng.randrange(len(buffer)))
        rng.shuffle(buffer)
        yield from buffer
