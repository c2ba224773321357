"""HiCo clip-level token merge (VideoChat-Flash `tome16_mlp_hd64`, hico-spec §2.3).

One clip's encoder tokens [P, C] are merged down to `target` (64) tokens by repeated
bipartite soft matching:

1. schedule: while p != target, remove p - target and stop if that is at most p // 2,
   otherwise remove p // 2 (`merge_schedule`);
2. metric, recomputed at every step from the *current* features: [N, p, groups, C/groups]
   averaged over the groups, then L2-normalised;
3. A = even positions, B = odd positions of the current sequence; cosine scores A·Bᵀ; each
   A token's best B (max/argmax); A sorted by that score, descending; the top-r A are merged
   into their best B, the rest stay;
4. size-weighted mean (sizes start at 1, scatter-add x·size and size into the B rows, divide);
   output order = [unmerged A in sorted order] + [all B in original order].

Precision, as the original: the merge runs in one dtype, by default the dtype of its input
(the encoder's: bf16 on a GPU, float32 on the CPU). Every tensor the original materialises is
rounded to that dtype at the same point: the metric, its norm, the normalised metric, the
scores, x·size, the merged sums and the means. In bf16 most best-match scores tie, so the tie
order decides which patches are averaged together:

- best B of an A token: the first maximal score (`max`, as the original);
- A sorted by best score with a *stable* descending sort: equal scores keep position order.
  That is what the original's `argsort(descending=True)` does on a GPU: in PyTorch 2.1 (the
  version VideoChat-Flash pins) a CUDA sort of more than 32 values runs a stable merge or
  radix sort; only sorts of at most 32 values use an unstable bitonic network, and with a
  target of 64 every sorted A set has at least 33 tokens.

In bf16/fp16 the sums behind the rounded values (group mean, norm, scores, scatter-add) are
taken in float64, where sums of bf16 values are exact, then rounded to float32 and to the
dtype (the double rounding PyTorch's own casts do). So a value is the correctly rounded
result whatever the summation order: the merge is deterministic on any device, and equals
the GPU's float32-accumulated kernels except where those round their own sums differently.
Element-wise steps (x·size, the division, the means) are computed in float32 and rounded
once, as PyTorch's half-precision kernels do. In float32 and float64 every step runs in that
dtype, exactly as the original's float32 merge.

Deviations from the original code, all deliberate:

- Merged sums are exact before one rounding (above); the original's CUDA `scatter_add` adds
  in bf16 with atomics in no fixed order, so its sums are not reproducible to the last bit
  even between two of its own runs.
- The L2 norm is clamped at 1e-12 (as `F.normalize`), so an all-zero metric row gives zero
  scores instead of NaN; non-degenerate inputs are unaffected.
- P == target is accepted and returns the input unchanged with sizes 1 (the original asserts
  P > target). P < target raises ValueError.
- Sizes are returned as exact int64 counts of absorbed patches (the original drops them; its
  weights are the sizes rounded to the merge dtype, which we use for the means too, so a
  token of more than 256 patches is weighted as in bf16), and with `track_sources=True` the
  index of the output token that absorbed each input patch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DTYPES", "merge_schedule", "merge_clip_tokens", "merge_step", "match", "best_matches",
           "resolve_dtype", "dtype_name"]

_EPS = 1e-12
_HALF = (torch.bfloat16, torch.float16)

DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_dtype(name: str, auto: torch.dtype) -> torch.dtype:
    """A dtype option ("auto", "bf16", "fp16", "fp32") -> a torch dtype; "auto" gives `auto`
    (for `--merge-dtype`: the encoder's compute dtype, as the original merges)."""
    if name == "auto":
        return auto
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; use auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    """torch dtype -> its short name in cache tags ("bf16", "fp16", "fp32", "fp64")."""
    names = {**{v: k for k, v in DTYPES.items()}, torch.float64: "fp64"}
    if dtype not in names:
        raise ValueError(f"no short name for {dtype}")
    return names[dtype]


def merge_schedule(p: int, target: int) -> list[int]:
    """Tokens removed per step to go from `p` to `target` (e.g. 784 -> [392, 196, 98, 34])."""
    if target < 1:
        raise ValueError(f"target must be >= 1, got {target}")
    if p < target:
        raise ValueError(f"cannot merge {p} tokens up to {target}")
    steps: list[int] = []
    while p != target:
        if p - target <= p // 2:
            steps.append(p - target)
            break
        r = p // 2
        steps.append(r)
        p -= r
    return steps


def _wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype sums are taken in: float64 for bf16/fp16 (exact for their values), else dtype."""
    return torch.float64 if dtype in _HALF else dtype


def _elementwise(dtype: torch.dtype) -> torch.dtype:
    """The dtype an element-wise op of `dtype` values is computed in: float32 for bf16/fp16."""
    return torch.float32 if dtype in _HALF else dtype


def _round(t: Tensor, dtype: torch.dtype) -> Tensor:
    """A wide result rounded to `dtype` (through float32 for bf16/fp16, as PyTorch's casts do)."""
    return t.to(torch.float32).to(dtype) if dtype in _HALF else t.to(dtype)


def best_matches(x: Tensor, groups: int) -> tuple[Tensor, Tensor]:
    """Each A token's best score and best B, in x's dtype: (best [N, |A|], best_idx [N, |A|])."""
    n, p, c = x.shape
    dtype, wide, elem = x.dtype, _wide(x.dtype), _elementwise(x.dtype)
    with torch.no_grad():
        metric = _round(x.to(wide).reshape(n, p, groups, c // groups).mean(dim=2), dtype)
        norm = _round(metric.to(wide).norm(dim=-1, keepdim=True), dtype)
        metric = (metric.to(elem) / norm.to(elem).clamp_min(_EPS)).to(dtype)
        a, b = metric[:, ::2, :].to(wide), metric[:, 1::2, :].to(wide)
        scores = _round(a @ b.transpose(1, 2), dtype)  # [N, |A|, |B|]
        return scores.max(dim=-1)  # the first maximal B on ties


def match(x: Tensor, r: int, groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """Bipartite matching of one step, in x's dtype: (src_idx [N, r] A rows merged, in sorted
    order; unm_idx [N, |A|-r] A rows kept, in sorted order; dst_idx [N, r] their B rows)."""
    best, best_idx = best_matches(x, groups)
    order = torch.sort(best, dim=-1, descending=True, stable=True).indices
    src_idx, unm_idx = order[:, :r], order[:, r:]
    return src_idx, unm_idx, best_idx.gather(1, src_idx)


def merge_step(x: Tensor, size: Tensor, r: int, groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """One bipartite merge removing `r` tokens, computed in x's dtype.

    x [N, p, C], size [N, p, 1] (same dtype) -> (x' [N, p-r, C], size' [N, p-r, 1],
    new_pos [N, p] int64: the output position each current token went to).
    """
    n, p, c = x.shape
    if not 0 < r <= p // 2:
        raise ValueError(f"r must be in 1..{p // 2} for p={p}, got {r}")
    src_idx, unm_idx, dst_idx = match(x, r, groups)

    # Merge x·size and size together: channels [0, C) are x·size, channel C is size.
    y = torch.cat([x * size, size], dim=-1)
    ya, yb = y[:, ::2, :], y[:, 1::2, :]
    width = c + 1
    unm = ya.gather(1, unm_idx[..., None].expand(-1, -1, width))
    src = ya.gather(1, src_idx[..., None].expand(-1, -1, width))
    wide = _wide(x.dtype)
    yb = _round(yb.to(wide).scatter_add(1, dst_idx[..., None].expand(-1, -1, width), src.to(wide)), x.dtype)
    out = torch.cat([unm, yb], dim=1)
    new_size = out[..., c:]
    new_x = out[..., :c] / new_size

    # Where each current token ended up (for sizes and provenance).
    n_unm, n_b = unm_idx.shape[1], yb.shape[1]
    new_pos = torch.empty(n, p, dtype=torch.int64, device=x.device)
    ar_unm = torch.arange(n_unm, device=x.device).expand(n, n_unm)
    new_pos.scatter_(1, 2 * unm_idx, ar_unm)
    new_pos.scatter_(1, 2 * src_idx, n_unm + dst_idx)
    new_pos[:, 1::2] = n_unm + torch.arange(n_b, device=x.device)
    return new_x, new_size, new_pos


def merge_clip_tokens(
    x: Tensor,
    target: int = 64,
    groups: int = 16,
    *,
    dtype: torch.dtype | None = None,
    track_sources: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Merge each clip of x [N, P, C] down to `target` tokens (hico-spec §2.3), in `dtype`
    (x's own dtype when None, as the original merges in the encoder's dtype).

    Returns (tokens [N, target, C] in that dtype, sizes [N, target] int64 summing to P); with
    track_sources=True also src_map [N, P] int64, the output token that absorbed each input patch.
    """
    if x.ndim != 3:
        raise ValueError(f"expected x of shape [N, P, C], got {tuple(x.shape)}")
    n, p, c = x.shape
    if c % groups:
        raise ValueError(f"channels {c} not divisible by groups {groups}")
    if not x.is_floating_point() or (dtype is not None and not dtype.is_floating_point):
        raise ValueError(f"the merge needs a floating dtype, got {dtype or x.dtype}")
    schedule = merge_schedule(p, target)
    if dtype is not None:
        x = x.to(dtype)
    size = torch.ones(n, p, 1, dtype=x.dtype, device=x.device)
    counts = torch.ones(n, p, dtype=torch.int64, device=x.device)
    src_map = torch.arange(p, device=x.device).expand(n, p) if track_sources else None
    for r in schedule:
        x, size, new_pos = merge_step(x, size, r, groups)
        counts = torch.zeros(n, x.shape[1], dtype=torch.int64, device=x.device).scatter_add_(1, new_pos, counts)
        if src_map is not None:
            src_map = new_pos.gather(1, src_map)
    if src_map is not None:
        return x, counts, src_map.contiguous()
    return x, counts
