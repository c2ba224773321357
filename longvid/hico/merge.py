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

Deviations from the original code, all deliberate and documented here:

- The merge runs in `dtype` (float32 by default) instead of the encoder's dtype (bf16 in
  training); the original's ties and argsort happen in the model dtype, so bf16 inputs can
  produce a different (near-tie) assignment. Pass `dtype=torch.bfloat16` for bit-closeness.
- The descending sort is *stable* (equal scores keep position order) so results are
  deterministic; the original's `argsort` is unstable, which only matters for exact ties.
- The L2 norm is clamped at 1e-12 (as `F.normalize`), so an all-zero metric row gives zero
  scores instead of NaN; non-degenerate inputs are unaffected.
- P == target is accepted and returns the input unchanged with sizes 1 (the original asserts
  P > target). P < target raises ValueError.
- Sizes are returned (int64, exact counts of absorbed patches; the original drops them), and
  with `track_sources=True` the index of the output token that absorbed each input patch.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["merge_schedule", "merge_clip_tokens", "merge_step"]

_EPS = 1e-12


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


def merge_step(x: Tensor, size: Tensor, r: int, groups: int) -> tuple[Tensor, Tensor, Tensor]:
    """One bipartite merge removing `r` tokens.

    x [N, p, C], size [N, p, 1] (same dtype) -> (x' [N, p-r, C], size' [N, p-r, 1],
    new_pos [N, p] int64: the output position each current token went to).
    """
    n, p, c = x.shape
    if not 0 < r <= p // 2:
        raise ValueError(f"r must be in 1..{p // 2} for p={p}, got {r}")
    with torch.no_grad():
        metric = x.reshape(n, p, groups, c // groups).mean(dim=2)
        metric = metric / metric.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        a, b = metric[:, ::2, :], metric[:, 1::2, :]
        scores = a @ b.transpose(1, 2)  # [N, |A|, |B|]
        best, best_idx = scores.max(dim=-1)  # [N, |A|]
        order = torch.sort(best, dim=-1, descending=True, stable=True).indices
        src_idx = order[:, :r]  # merged A rows
        unm_idx = order[:, r:]  # kept A rows, in sorted order
        dst_idx = best_idx.gather(1, src_idx)  # their B destinations

    # Merge x·size and size together: channels [0, C) are x·size, channel C is size.
    y = torch.cat([x * size, size], dim=-1)
    ya, yb = y[:, ::2, :], y[:, 1::2, :]
    width = c + 1
    unm = ya.gather(1, unm_idx[..., None].expand(-1, -1, width))
    src = ya.gather(1, src_idx[..., None].expand(-1, -1, width))
    yb = yb.scatter_add(1, dst_idx[..., None].expand(-1, -1, width), src)
    out = torch.cat([unm, yb], dim=1)
    new_size = out[..., c:]
    new_x = out[..., :c] / new_size

    # Where each current token ended up (for provenance tracking).
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
    dtype: torch.dtype | None = torch.float32,
    track_sources: bool = False,
) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]:
    """Merge each clip of x [N, P, C] down to `target` tokens (hico-spec §2.3).

    Returns (tokens [N, target, C] in `dtype` (x's dtype when None), sizes [N, target] int64
    summing to P); with track_sources=True also src_map [N, P] int64, the output token that
    absorbed each input patch.
    """
    if x.ndim != 3:
        raise ValueError(f"expected x of shape [N, P, C], got {tuple(x.shape)}")
    n, p, c = x.shape
    if c % groups:
        raise ValueError(f"channels {c} not divisible by groups {groups}")
    schedule = merge_schedule(p, target)
    if dtype is not None:
        x = x.to(dtype)
    size = torch.ones(n, p, 1, dtype=x.dtype, device=x.device)
    src_map = torch.arange(p, device=x.device).expand(n, p) if track_sources else None
    for r in schedule:
        x, size, new_pos = merge_step(x, size, r, groups)
        if src_map is not None:
            src_map = new_pos.gather(1, src_map)
    sizes = size[..., 0].round().to(torch.int64)
    if src_map is not None:
        return x, sizes, src_map.contiguous()
    return x, sizes
