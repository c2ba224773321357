"""HiCo merge: schedule, shapes, sizes, the anchor layout, and agreement with a slow reference."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.hico import merge_clip_tokens, merge_schedule  # noqa: E402


def reference_merge(x: np.ndarray, target: int, groups: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent re-derivation of §2.3 with Python loops (one clip at a time, float64)."""
    n_clips, p0, c = x.shape
    all_tokens, all_sizes, all_src = [], [], []
    for clip in x.astype(np.float64):
        tokens = [row.copy() for row in clip]
        sizes = [1.0] * p0
        members = [[i] for i in range(p0)]  # original patches inside each current token
        while len(tokens) != target:
            p = len(tokens)
            r = p - target if p - target <= p // 2 else p // 2
            metric = []
            for t in tokens:
                m = t.reshape(groups, c // groups).mean(axis=0)
                metric.append(m / max(float(np.sqrt((m * m).sum())), 1e-12))
            a_pos, b_pos = list(range(0, p, 2)), list(range(1, p, 2))
            best, best_b = [], []
            for i in a_pos:
                scores = [float(np.dot(metric[i], metric[j])) for j in b_pos]
                k = int(np.argmax(scores))
                best.append(scores[k])
                best_b.append(k)
            order = sorted(range(len(a_pos)), key=lambda k: -best[k])  # stable
            merged, kept = order[:r], order[r:]
            sums = [tokens[j] * sizes[j] for j in b_pos]
            b_sizes = [sizes[j] for j in b_pos]
            b_members = [list(members[j]) for j in b_pos]
            for k in merged:
                i, d = a_pos[k], best_b[k]
                sums[d] = sums[d] + tokens[i] * sizes[i]
                b_sizes[d] += sizes[i]
                b_members[d] += members[i]
            tokens = [tokens[a_pos[k]] for k in kept] + [s / z for s, z in zip(sums, b_sizes)]
            sizes = [sizes[a_pos[k]] for k in kept] + b_sizes
            members = [members[a_pos[k]] for k in kept] + b_members
        src = np.empty(p0, dtype=np.int64)
        for out_idx, group in enumerate(members):
            src[group] = out_idx
        all_tokens.append(np.stack(tokens))
        all_sizes.append(np.array(sizes))
        all_src.append(src)
    return np.stack(all_tokens), np.stack(all_sizes), np.stack(all_src)


def test_schedules() -> None:
    assert merge_schedule(784, 64) == [392, 196, 98, 34]
    assert merge_schedule(3136, 64) == [1568, 784, 392, 196, 98, 34]
    assert merge_schedule(1024, 64) == [512, 256, 128, 64]
    assert merge_schedule(196, 64) == [98, 34]
    assert merge_schedule(64, 64) == []
    assert merge_schedule(3, 1) == [1, 1]
    with pytest.raises(ValueError):
        merge_schedule(63, 64)


@pytest.mark.parametrize(("p", "anchor", "unmerged"), [(784, 16, 7), (3136, 64, 31)])
def test_shapes_sizes_and_anchor_layout(p: int, anchor: int, unmerged: int) -> None:
    torch.manual_seed(0)
    n, c = 3, 128
    x = torch.randn(n, p, c)
    tokens, sizes, src = merge_clip_tokens(x, 64, 16, track_sources=True)
    assert tokens.shape == (n, 64, c) and tokens.dtype == torch.float32
    assert sizes.shape == (n, 64) and sizes.dtype == torch.int64
    assert (sizes.sum(dim=1) == p).all() and (sizes >= 1).all()
    assert src.shape == (n, p)
    # sizes are exactly the number of patches each output token absorbed
    for i in range(n):
        assert torch.equal(torch.bincount(src[i], minlength=64), sizes[i])
    # the last 49 tokens are anchored at positions ≡ anchor-1 (mod anchor), in raster order ...
    anchors = torch.arange(anchor - 1, p, anchor)
    assert len(anchors) == 49
    assert torch.equal(src[:, anchors], torch.arange(15, 64).expand(n, 49))
    # ... and the 15 kept tokens are original positions ≡ unmerged (mod anchor), each its own slot
    for i in range(n):
        own = [int(q) for q in range(unmerged, p, anchor) if src[i, q] < 15]
        assert len(own) == 15 and sorted(int(src[i, q]) for q in own) == list(range(15))


def test_tokens_are_size_weighted_means_of_their_patches() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 784, 64, dtype=torch.float64)
    tokens, sizes, src = merge_clip_tokens(x, 64, 16, dtype=torch.float64, track_sources=True)
    for i in range(2):
        sums = torch.zeros(64, 64, dtype=torch.float64).index_add_(0, src[i], x[i])
        torch.testing.assert_close(tokens[i], sums / sizes[i, :, None].double())


def test_matches_slow_reference_at_784() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 784, 64)) + 0.3 * rng.standard_normal((1, 1, 64))
    ref_tokens, ref_sizes, ref_src = reference_merge(x, 64, 16)
    tokens, sizes, src = merge_clip_tokens(torch.from_numpy(x), 64, 16, dtype=torch.float64, track_sources=True)
    np.testing.assert_array_equal(src.numpy(), ref_src)
    np.testing.assert_array_equal(sizes.numpy(), ref_sizes.astype(np.int64))
    np.testing.assert_allclose(tokens.numpy(), ref_tokens, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    p=st.integers(2, 160),
    target_frac=st.floats(0.0, 1.0),
    groups=st.sampled_from([1, 2, 4]),
    width=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_slow_reference_hypothesis(n: int, p: int, target_frac: float, groups: int, width: int,
                                           seed: int) -> None:
    target = max(1, min(p, round(target_frac * p)))
    c = groups * width
    x = np.random.default_rng(seed).standard_normal((n, p, c))
    ref_tokens, ref_sizes, ref_src = reference_merge(x, target, groups)
    tokens, sizes, src = merge_clip_tokens(torch.from_numpy(x), target, groups, dtype=torch.float64,
                                           track_sources=True)
    assert tokens.shape == (n, target, c)
    assert (sizes.sum(dim=1) == p).all()
    np.testing.assert_array_equal(src.numpy(), ref_src)
    np.testing.assert_array_equal(sizes.numpy(), ref_sizes.astype(np.int64))
    np.testing.assert_allclose(tokens.numpy(), ref_tokens, rtol=1e-9, atol=1e-12)


@settings(max_examples=15, deadline=None)
@given(p=st.integers(65, 400), kind=st.sampled_from(["zeros", "constant", "duplicates"]))
def test_degenerate_inputs_stay_finite(p: int, kind: str) -> None:
    if kind == "zeros":
        x = torch.zeros(2, p, 32)
    elif kind == "constant":
        x = torch.ones(2, p, 32)
    else:
        x = torch.randn(2, 3, 32).repeat(1, p // 3 + 1, 1)[:, :p]
    tokens, sizes, src = merge_clip_tokens(x, 64, 16, track_sources=True)
    assert torch.isfinite(tokens).all()
    assert (sizes.sum(dim=1) == p).all()
    for i in range(2):
        assert torch.equal(torch.bincount(src[i], minlength=64), sizes[i])


def test_dtype_identity_and_errors() -> None:
    x = torch.randn(2, 196, 64, dtype=torch.bfloat16)
    tokens, sizes = merge_clip_tokens(x, 64, 16, dtype=None)
    assert tokens.dtype == torch.bfloat16 and (sizes.sum(1) == 196).all()
    tokens, sizes = merge_clip_tokens(x, 64, 16)
    assert tokens.dtype == torch.float32
    same, ones = merge_clip_tokens(torch.randn(1, 64, 32), 64, 16)
    assert same.shape == (1, 64, 32) and (ones == 1).all()
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(1, 32, 32), 64, 16)
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(1, 784, 30), 64, 16)
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(784, 32), 64, 16)
