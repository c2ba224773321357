"""Length-grouped order, as VideoChat-Flash's LengthGroupedSampler makes it (`group_by_modality_length`).

Their `llava_trainer.py`: video and text-only samples are grouped apart (lengths > 0 and < 0); each
group is randomly permuted and cut into mega-batches of `batch × world` samples, where `world` is
GPUs × gradient-accumulation steps (the micro-batches of one optimizer step); each mega-batch is
sorted by length, longest first, and dealt into `world` chunks of similar total length; the
mega-batches of both modalities are shuffled together, and the last (partial) ones are merged.

Two deliberate changes, both for reproducible resume: every random draw uses one explicit
generator seeded by (seed, epoch) (theirs uses torch's global generator in places), and the
permutation runs within windows of `window` feature shards (shards permuted per epoch), so that
a step's features come from a few shards held in memory rather than from anywhere in the cache.
With `window` covering every shard the order is exactly theirs.
"""

from __future__ import annotations

from typing import Sequence

import torch


def split_to_even_chunks(indices: list[int], lengths: Sequence[int], num_chunks: int) -> list[list[int]]:
    """Deal indices (longest first) into `num_chunks` chunks of equal count and similar total length."""
    if len(indices) % num_chunks != 0:
        return [indices[i::num_chunks] for i in range(num_chunks)]
    per_chunk = len(indices) // num_chunks
    chunks: list[list[int]] = [[] for _ in range(num_chunks)]
    totals = [0.0] * num_chunks
    for index in indices:
        shortest = totals.index(min(totals))
        chunks[shortest].append(index)
        totals[shortest] += lengths[index]
        if len(chunks[shortest]) == per_chunk:
            totals[shortest] = float("inf")
    return chunks


def length_grouped(lengths: Sequence[int], batch: int, world: int, generator: torch.Generator) -> list[int]:
    """get_length_grouped_indices: permute, mega-batches of batch·world, sort each, deal into chunks."""
    indices = torch.randperm(len(lengths), generator=generator).tolist()
    size = world * batch
    megabatches = [sorted(indices[i:i + size], key=lambda j: lengths[j], reverse=True) for i in range(0, len(lengths), size)]
    return [i for mb in megabatches for chunk in split_to_even_chunks(mb, lengths, world) for i in chunk]


def modality_length_grouped(lengths: Sequence[int], batch: int, world: int, generator: torch.Generator) -> list[int]:
    """get_modality_length_grouped_indices: video (length > 0) and text-only (< 0) grouped apart."""
    if any(length == 0 for length in lengths):
        raise ValueError("a conversation has no words (length 0)")
    if all(length > 0 for length in lengths) or all(length < 0 for length in lengths):
        return length_grouped([abs(x) for x in lengths], batch, world, generator)
    mm = [(i, x) for i, x in enumerate(lengths) if x > 0]
    lang = [(i, -x) for i, x in enumerate(lengths) if x < 0]
    mm_order = [mm[i][0] for i in length_grouped([x for _, x in mm], batch, world, generator)]
    lang_order = [lang[i][0] for i in length_grouped([x for _, x in lang], batch, world, generator)]
    size = world * batch
    mm_mbs = [mm_order[i:i + size] for i in range(0, len(mm_order), size)]
    lang_mbs = [lang_order[i:i + size] for i in range(0, len(lang_order), size)]
    additional = mm_mbs[-1] + lang_mbs[-1]
    megabatches = mm_mbs[:-1] + lang_mbs[:-1]
    megabatches = [megabatches[i] for i in torch.randperm(len(megabatches), generator=generator).tolist()]
    if additional:
        megabatches.append(sorted(additional))
    return [i for mb in megabatches for i in mb]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def epoch_order(lengths: Sequence[int], shards: Sequence[str | None], *, batch: int, world: int, window: int,
                seed: int, epoch: int) -> list[int]:
    """The item order of one epoch: shards permuted, cut into windows; text-only items dealt over the
    windows; the original grouping within each window. `window` <= 0 means one window of all shards."""
    generator = epoch_generator(seed, epoch)
    names = sorted({s for s in shards if s is not None})
    names = [names[i] for i in torch.randperm(len(names), generator=generator).tolist()]
    window = len(names) if window <= 0 else window
    windows = [set(names[i:i + window]) for i in range(0, len(names), window)] or [set()]
    members: list[list[int]] = [[] for _ in windows]
    where = {name: w for w, names_in in enumerate(windows) for name in names_in}
    text_only = [i for i, s in enumerate(shards) if s is None]
    for rank, i in enumerate(torch.randperm(len(text_only), generator=generator).tolist()):
        members[rank % len(windows)].append(text_only[i])
    for i, s in enumerate(shards):
        if s is not None:
            members[where[s]].append(i)
    order: list[int] = []
    for group in members:
        group.sort()
        if group:
            order += [group[j] for j in modality_length_grouped([lengths[i] for i in group], batch, world, generator)]
    return order
