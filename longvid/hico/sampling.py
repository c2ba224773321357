"""Frame selection and the time prompt of VideoChat-Flash's `dynamic_fps1` sampler (hico-spec §3).

Rules (re-derived from `llava/video_utils.py::get_frame_indices` and `train.py::process_video`):

- `num_frames`: if vlen < t_min, t_min becomes local·⌊vlen/local⌋ first; D = vlen/fps;
  T = local·⌊D/local⌋ (local when that is 0); T = min(T, t_max) when t_max > 0 (t_max <= 0
  means no cap, as in the original); T = max(T, t_min). T must be a multiple of `local`
  (the trainer raises otherwise; so do we).
- `frame_indices`: "middle" sampling. With n = min(T, vlen) bins whose integer edges are
  `np.linspace(0, vlen, n + 1).astype(int)`, each bin [e_i, e_{i+1} - 1] contributes
  (e_i + e_{i+1} - 1) // 2. When T > vlen (very short videos, or fps < 1) the list is padded
  to T with the last index, exactly like the original. Deterministic.
- `time_prompt`: the `--time_msg short` text; T is the number of sampled frames (padding
  included), duration = vlen / fps.

Torch-free on purpose (numpy only).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["num_frames", "frame_indices", "middle_indices", "time_prompt", "SamplingConfig"]

SAMPLERS = ("dynamic_fps1", "middle")


def _check_video(vlen: int, fps: float) -> None:
    if int(vlen) != vlen or vlen <= 0:
        raise ValueError(f"vlen must be a positive integer, got {vlen!r}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")


def num_frames(vlen: int, fps: float, t_min: int = 64, t_max: int = 512, local: int = 4) -> int:
    """Number of frames T that `dynamic_fps1` samples from a video of `vlen` frames at `fps`."""
    _check_video(vlen, fps)
    if t_min > vlen:
        t_min = (vlen // local) * local
    duration = float(vlen) / fps
    segments = int(duration // local)
    t = local * segments if segments else local
    if t_max > 0:
        t = min(t, t_max)
    t = max(t_min, t)
    if t % local:
        raise ValueError(f"T={t} is not a multiple of local_frames={local} (t_min={t_min}, t_max={t_max})")
    return t


def middle_indices(vlen: int, t: int) -> list[int]:
    """Midpoints of min(t, vlen) equal integer bins over [0, vlen), padded to t with the last."""
    if int(vlen) != vlen or vlen <= 0 or t <= 0:
        raise ValueError(f"need vlen > 0 and t > 0, got vlen={vlen!r}, t={t!r}")
    bins = min(t, vlen)
    edges = np.linspace(0, vlen, bins + 1).astype(int)
    indices = [(int(edges[i]) + int(edges[i + 1]) - 1) // 2 for i in range(bins)]
    indices += [indices[-1]] * (t - bins)
    return indices


def frame_indices(vlen: int, fps: float, t_min: int = 64, t_max: int = 512, local: int = 4) -> list[int]:
    """The `dynamic_fps1` frame indices (length num_frames(...), non-decreasing, < vlen)."""
    return middle_indices(vlen, num_frames(vlen, fps, t_min, t_max, local))


def time_prompt(duration: float, t: int) -> str:
    """The `--time_msg short` message that follows the visual tokens."""
    return f"\nThe video lasts for {duration:.2f} seconds, and {t} frames are uniformly sampled from it. "


@dataclass(frozen=True)
class SamplingConfig:
    """Everything that decides which frames are encoded, and at what size.

    `sampler="dynamic_fps1"` uses t_min/t_max as above; `sampler="middle"` samples a fixed
    T = t_max frames (stage 1's `frames_upbound`), padded like the original.
    """

    t_min: int = 64
    t_max: int = 512
    local_frames: int = 4
    resolution: int = 224
    sampler: str = "dynamic_fps1"

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        if self.local_frames < 1 or self.resolution < 1:
            raise ValueError("local_frames and resolution must be positive")
        if self.sampler == "middle" and (self.t_max <= 0 or self.t_max % self.local_frames):
            raise ValueError("sampler 'middle' needs t_max > 0, a multiple of local_frames")

    def num_frames(self, vlen: int, fps: float) -> int:
        if self.sampler == "middle":
            _check_video(vlen, fps)
            return self.t_max
        return num_frames(vlen, fps, self.t_min, self.t_max, self.local_frames)

    def indices(self, vlen: int, fps: float) -> list[int]:
        return middle_indices(vlen, self.num_frames(vlen, fps))

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)

    def config_hash(self) -> str:
        """sha256 hex of the canonical JSON of the fields (sorted keys, no spaces); stable
        across processes and Python versions."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
