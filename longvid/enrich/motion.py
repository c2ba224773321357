"""Motion from frame differences: how much the picture changes from one frame to the next.

For each anchor frame of a `SampledFrames` decoded with pairs (longvid.enrich.frames), the mean
absolute difference of luma (BT.601) between the anchor and the frame after it, on 0..1, after
both are averaged down to at most `side` pixels on the longer side (so noise and resolution
matter little). `motion` is the mean over anchors, `motion_max` the largest: a still image or a
slide show scores about 0 (a hard cut between two anchors does not count: only next-frame pairs
do), a pan or a moving subject well above. Numpy only.
"""

from __future__ import annotations

import numpy as np

from longvid.enrich.frames import SampledFrames

__all__ = ["luma", "pair_difference", "motion_scores"]

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(frames: np.ndarray, side: int = 64) -> np.ndarray:
    """uint8 RGB [N, H, W, 3] -> luma on 0..1 [N, h, w], box-averaged so max(h, w) <= side."""
    y = frames.astype(np.float32) @ LUMA / 255.0
    n, h, w = y.shape
    k = max(1, -(-max(h, w) // side))  # box size
    hh, ww = h // k * k, w // k * k
    if k > 1:
        y = y[:, :hh, :ww].reshape(n, hh // k, k, ww // k, k).mean(axis=(2, 4))
    return y


def pair_difference(a: np.ndarray, b: np.ndarray, side: int = 64) -> np.ndarray:
    """Mean absolute luma difference of each pair of frames a[i], b[i], on 0..1 -> [N]."""
    if a.shape != b.shape:
        raise ValueError(f"frame pairs differ in shape: {a.shape} vs {b.shape}")
    return np.abs(luma(a, side) - luma(b, side)).mean(axis=(1, 2))


def motion_scores(frames: SampledFrames, side: int = 64) -> dict[str, float]:
    """{"motion": mean next-frame difference, "motion_max": the largest}."""
    if frames.following is None:
        raise ValueError("motion needs frames decoded with pairs (FrameSpec(pairs=True))")
    diffs = pair_difference(frames.frames, frames.following, side)
    # an anchor on the last frame is paired with itself: it says nothing about motion
    usable = [d for d, i in zip(diffs, frames.indices) if i + 1 < frames.vlen] or list(diffs)
    return {"motion": float(np.mean(usable)), "motion_max": float(np.max(usable))}
