"""The Encoder protocol every HiCo feature tower implements, and weight hashing.

An encoder takes preprocessed frames [T, 3, S, S] (T a multiple of 4) and returns clip
features [T/4, P, C] ready for `merge_clip_tokens`:

- clip towers (UMT, frames_per_clip = 4) attend jointly over each 4-frame clip and return its
  P = 4·(S/patch)² tokens in (t, row, col) order;
- per-frame towers (open_clip, frames_per_clip = 1) encode each frame alone to [T, L, C] and
  are regrouped frame-major to [T/4, 4·L, C], exactly the reshape VideoChat-Flash's projector
  applies to per-frame features before merging (hico-spec §2.3), so the same merge applies.

`weight_hash()` is the sha256 over the tower's state dict in sorted-name order, feeding for
each tensor its name, dtype, shape and raw bytes; it is computed on the weights as loaded
(before any cast to the encode dtype), so one checkpoint has one hash whatever dtype it runs in.
"""

from __future__ import annotations

import hashlib
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = ["Encoder", "state_dict_hash", "regroup_frames", "check_frames"]

LOCAL_FRAMES = 4


@runtime_checkable
class Encoder(Protocol):
    """A frozen feature tower: frames [T, 3, S, S] -> clip features [T/4, P, C]."""

    tag: str  # e.g. "umt-l", "open_clip:ViT-B-16"
    resolution: int  # S
    dim: int  # C
    frames_per_clip: int  # 4 for UMT (joint attention), 1 for per-frame towers
    tokens_per_frame: int  # L; P = 4·L
    metric_groups: int  # channel groups for the merge metric (the tower's attention heads)
    mean: tuple[float, float, float]  # normalisation the tower expects
    std: tuple[float, float, float]
    device: torch.device
    dtype: torch.dtype

    def encode(self, frames: Tensor) -> Tensor: ...

    def weight_hash(self) -> str: ...


def state_dict_hash(module: nn.Module) -> str:
    """sha256 hex over (name, dtype, shape, bytes) of every state-dict tensor, names sorted."""
    h = hashlib.sha256()
    state = module.state_dict()
    for name in sorted(state):
        t = state[name].detach().to("cpu").contiguous()
        h.update(name.encode("utf-8") + b"\0")
        h.update(f"{t.dtype}|{tuple(t.shape)}".encode("ascii") + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def check_frames(frames: Tensor, resolution: int) -> int:
    """Validate frames [T, 3, S, S] with T a multiple of 4; return the number of clips."""
    if frames.ndim != 4 or frames.shape[1] != 3 or tuple(frames.shape[2:]) != (resolution, resolution):
        raise ValueError(f"expected frames [T, 3, {resolution}, {resolution}], got {tuple(frames.shape)}")
    t = frames.shape[0]
    if t == 0 or t % LOCAL_FRAMES:
        raise ValueError(f"frame count {t} is not a positive multiple of {LOCAL_FRAMES}")
    return t // LOCAL_FRAMES


def regroup_frames(features: Tensor, local: int = LOCAL_FRAMES) -> Tensor:
    """Per-frame features [T, L, C] -> clip features [T/local, local·L, C] (frame-major)."""
    t, l, c = features.shape
    if t % local:
        raise ValueError(f"frame count {t} is not a multiple of {local}")
    return features.reshape(t // local, local * l, c)
