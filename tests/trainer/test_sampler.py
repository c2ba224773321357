"""Length-grouped order as VideoChat-Flash's LengthGroupedSampler makes it, with an explicit seed."""

from __future__ import annotations

import random

from longvid_trainer.sampler import epoch_order, epoch_generator, modality_length_grouped, split_to_even_chunks


def test_even_chunks_balance_length() -> None:
    lengths = [100, 90, 50, 40, 10, 5]
    chunks = split_to_even_chunks([0, 1, 2, 3, 4, 5], lengths, 2)
    assert sorted(len(c) for c in chunks) == [3, 3]
    totals = sorted(sum(lengths[i] for i in c) for c in chunks)
    assert totals[1] - totals[0] <= 100


def test_megabatches_sorted_and_modalities_apart() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(5, 400) for _ in range(48)] + [-rng.randint(5, 50) for _ in range(16)]
    batch, world = 2, 4  # world = processes × accumulation: micro-batches per optimizer step
    order = modality_length_grouped(lengths, batch, world, epoch_generator(0, 0))
    assert sorted(order) == list(range(len(lengths)))
    size = batch * world
    # 48 video and 16 text items: 6 and 2 mega-batches; the last of each are merged at the end
    full = [order[i:i + size] for i in range(0, len(order) - 2 * size, size)]
    assert len(full) == 6 and sorted(order[-2 * size:]) == order[-2 * size:]
    for mb in full:
        signs = {lengths[i] > 0 for i in mb}
        assert len(signs) == 1  # one modality per optimizer step
        chunks = [mb[j * batch:(j + 1) * batch] for j in range(world)]
        # sorted longest first, then dealt: the longest sample opens the first micro-batch, and each
        # micro-batch's own samples come in decreasing length
        assert abs(lengths[mb[0]]) == max(abs(lengths[i]) for i in mb)
        assert all(len(c) == batch and abs(lengths[c[0]]) >= abs(lengths[c[1]]) for c in chunks)


def test_order_is_a_function_of_seed_and_epoch() -> None:
    lengths = [random.Random(i).randint(1, 99) for i in range(40)]
    shards = [f"s{i % 5}" for i in range(40)]
    a = epoch_order(lengths, shards, batch=2, world=2, window=2, seed=7, epoch=0)
    assert a == epoch_order(lengths, shards, batch=2, world=2, window=2, seed=7, epoch=0)
    assert a != epoch_order(lengths, shards, batch=2, world=2, window=2, seed=7, epoch=1)
    assert sorted(a) == list(range(40))
    # windows of 2 shards: the first 16 items (2 shards × 8) come from two shards only
    assert len({shards[i] for i in a[:16]}) == 2
    # one window of every shard: the plain (unwindowed) order
    whole = epoch_order(lengths, shards, batch=2, world=2, window=0, seed=7, epoch=0)
    assert sorted(whole) == list(range(40)) and len({shards[i] for i in whole[:16]}) > 2
