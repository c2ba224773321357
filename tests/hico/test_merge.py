"""HiCo merge: schedule, shapes, sizes, the anchor layout, and agreement with slow references
(float64, and bf16/fp16 with the original's rounding points and tie order)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.hico import merge_clip_tokens, merge_schedule  # noqa: E402
from longvid.hico.merge import best_matches, match  # noqa: E402


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
    tokens, sizes = merge_clip_tokens(x, 64, 16)  # the input's dtype, as the original
    assert tokens.dtype == torch.bfloat16 and (sizes.sum(1) == 196).all()
    tokens, sizes = merge_clip_tokens(x, 64, 16, dtype=torch.float32)
    assert tokens.dtype == torch.float32
    with pytest.raises(ValueError):
        merge_clip_tokens(x, 64, 16, dtype=torch.int32)
    same, ones = merge_clip_tokens(torch.randn(1, 64, 32), 64, 16)
    assert same.shape == (1, 64, 32) and (ones == 1).all()
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(1, 32, 32), 64, 16)
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(1, 784, 30), 64, 16)
    with pytest.raises(ValueError):
        merge_clip_tokens(torch.randn(784, 32), 64, 16)


# ---------------------------------------------------------------- low precision (bf16, fp16)


def round_bf16(a: np.ndarray | float) -> np.ndarray:
    """Values rounded to bfloat16 (through float32, nearest-even), held as float32."""
    bits = np.atleast_1d(np.asarray(a, dtype=np.float32)).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return bits.astype(np.uint32).view(np.float32)


def round_fp16(a: np.ndarray | float) -> np.ndarray:
    return np.atleast_1d(np.asarray(a, dtype=np.float32)).astype(np.float16).astype(np.float32)


def reference_merge_lowp(x: np.ndarray, target: int, groups: int, rnd, descending_ties: bool = False
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The original's merge in a low-precision dtype, re-derived one clip and one token at a time.

    `rnd` rounds to the dtype. Sums (group mean, norm, dot products, merged sums) are exact in
    float64 and rounded once (through float32); element-wise steps are float32 ops rounded
    once. Ties: the first maximal B per A token, A sorted by best score with equal scores in
    position order (a stable descending sort); `descending_ties=True` breaks them the other way
    (only to show that the order matters). Returns (src_map [N, P], tokens [N, target, C])."""
    n_clips, p0, c = x.shape
    all_src, all_tokens = [], []
    for clip in x:
        tokens = [rnd(row) for row in clip.astype(np.float32)]
        sizes = [np.float32(1.0)] * p0
        members = [[i] for i in range(p0)]
        while len(tokens) != target:
            p = len(tokens)
            r = p - target if p - target <= p // 2 else p // 2
            metric = []
            for t in tokens:
                m = rnd(t.astype(np.float64).reshape(groups, c // groups).mean(axis=0))
                norm = rnd(np.sqrt((m.astype(np.float64) ** 2).sum()))
                metric.append(rnd(m / max(norm[0], np.float32(1e-12))))
            a_pos, b_pos = list(range(0, p, 2)), list(range(1, p, 2))
            best, best_b = [], []
            for i in a_pos:
                scores = rnd(np.array([np.dot(metric[i].astype(np.float64), metric[j].astype(np.float64))
                                       for j in b_pos]))
                k = 0
                for j in range(1, len(b_pos)):  # the first maximal score wins
                    if scores[j] > scores[k]:
                        k = j
                best.append(float(scores[k]))
                best_b.append(k)
            tie = (lambda k: -k) if descending_ties else (lambda k: k)
            order = sorted(range(len(a_pos)), key=lambda k: (-best[k], tie(k)))
            merged, kept = order[:r], order[r:]
            weighted = [rnd(t * s) for t, s in zip(tokens, sizes)]  # x·size, rounded
            sums = [[weighted[j].astype(np.float64)] for j in b_pos]
            b_sizes = [[float(sizes[j])] for j in b_pos]
            b_members = [list(members[j]) for j in b_pos]
            for k in merged:
                i, d = a_pos[k], best_b[k]
                sums[d].append(weighted[i].astype(np.float64))
                b_sizes[d].append(float(sizes[i]))
                b_members[d] += members[i]
            new_weighted = [weighted[a_pos[k]] for k in kept] + [rnd(np.sum(parts, axis=0)) for parts in sums]
            sizes = [sizes[a_pos[k]] for k in kept] + [rnd(sum(parts))[0] for parts in b_sizes]
            tokens = [rnd(w / s) for w, s in zip(new_weighted, sizes)]
            members = [members[a_pos[k]] for k in kept] + b_members
        src = np.empty(p0, dtype=np.int64)
        for out_idx, group in enumerate(members):
            src[group] = out_idx
        all_src.append(src)
        all_tokens.append(np.stack(tokens))
    return np.stack(all_src), np.stack(all_tokens)


def correlated_features(seed: int, n: int, p: int, c: int) -> np.ndarray:
    """Encoder-like tokens: a shared direction, a per-frame drift and small per-patch detail."""
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((1, 1, c))
    frame = np.repeat(rng.standard_normal((n, 4, 1, c)), p // 4, axis=2).reshape(n, p, c)
    return (3.0 * common + 0.5 * frame + 0.3 * rng.standard_normal((n, p, c))).astype(np.float32)


@pytest.mark.parametrize(("dtype", "rnd"), [(torch.bfloat16, round_bf16), (torch.float16, round_fp16)])
def test_low_precision_merge_matches_slow_reference_with_the_originals_tie_order(dtype, rnd) -> None:
    """UMT-L's shape (784 patches, 1024 channels, 16 heads -> a 64-d metric) in bf16 / fp16."""
    x = rnd(correlated_features(7, 2, 784, 1024)).reshape(2, 784, 1024)
    tokens, sizes, src = merge_clip_tokens(torch.from_numpy(x).to(dtype), 64, 16, track_sources=True)
    ref_src, ref_tokens = reference_merge_lowp(x, 64, 16, rnd)
    assert tokens.dtype == dtype
    np.testing.assert_array_equal(src.numpy(), ref_src)
    np.testing.assert_array_equal(tokens.float().numpy(), ref_tokens)
    for i in range(2):
        assert torch.equal(torch.bincount(src[i], minlength=64), sizes[i])
    if dtype == torch.bfloat16:
        # the tie order decides: broken the other way, a quarter of the output tokens change ...
        other_src, other_tokens = reference_merge_lowp(x[:1], 64, 16, rnd, descending_ties=True)
        assert (other_src[0] != ref_src[0]).any()
        assert (np.abs(other_tokens[0] - ref_tokens[0]).max(axis=-1) > 0).mean() > 0.1
        # ... and a float32 merge of the same values picks other pairs for most patches
        src32 = merge_clip_tokens(torch.from_numpy(x), 64, 16, track_sources=True)[2]
        assert (src32.numpy() != ref_src).mean() > 0.5


def test_bf16_best_scores_tie_on_correlated_features() -> None:
    """What makes the tie order matter: most A tokens share their best score with another, and
    the merge order is the stable descending sort of those scores."""
    x = torch.from_numpy(correlated_features(3, 1, 784, 1024)).to(torch.bfloat16)
    best = best_matches(x, 16)[0][0]
    _, counts = torch.unique(best, return_counts=True)
    assert counts[counts > 1].sum().item() / best.numel() > 0.5
    src, unm, _ = match(x, 392, 16)
    expected = best.sort(descending=True, stable=True).indices
    assert torch.equal(torch.cat([src, unm], dim=1)[0], expected)
    # in float32 the same features hardly tie
    best32 = best_matches(x.float(), 16)[0][0]
    _, counts32 = torch.unique(best32, return_counts=True)
    assert counts32[counts32 > 1].sum().item() / best32.numel() < 0.2


@settings(max_examples=10, deadline=None)
@given(p=st.integers(65, 300), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.05, 0.3, 1.0]))
def test_bf16_merge_matches_slow_reference_hypothesis(p: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    x = round_bf16(rng.standard_normal((1, 1, 64)) + scale * rng.standard_normal((1, p, 64))).reshape(1, p, 64)
    tokens, sizes, src = merge_clip_tokens(torch.from_numpy(x).to(torch.bfloat16), 32, 4, track_sources=True)
    ref_src, ref_tokens = reference_merge_lowp(x, 32, 4, round_bf16)
    np.testing.assert_array_equal(src.numpy(), ref_src)
    np.testing.assert_array_equal(tokens.float().numpy(), ref_tokens)
    assert (sizes.sum(dim=1) == p).all()


def test_sizes_stay_exact_past_bf16_integers() -> None:
    """On identical tokens everything merges into one anchor: 393 patches, more than bf16 counts
    exactly; the returned sizes are still exact and sum to P."""
    x = torch.ones(1, 784, 64, dtype=torch.bfloat16)
    tokens, sizes = merge_clip_tokens(x, 64, 16)
    assert sizes.sum().item() == 784 and sizes.max().item() > 256
    assert torch.equal(tokens, torch.ones_like(tokens))
