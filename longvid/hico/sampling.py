"""Frame selection and the time prompt of VideoChat-Flash's samplers (hico-spec §3, §9.2).

Rules (re-derived from `llava/video_utils.py::get_frame_indices`, `read_frames_img` and
`train.py::process_video`):

- `num_frames`: if vlen < t_min, t_min becomes local·⌊vlen/local⌋ first; D = vlen/fps;
  T = local·⌊D/local⌋ (local when that is 0); T = min(T, t_max) when t_max > 0 (t_max <= 0
  means no cap, as in the original); T = max(T, t_min). T must be a multiple of `local`
  (the trainer raises otherwise; so do we).
- `frame_indices`: "middle" sampling. With n = min(T, vlen) bins whose integer edges are
  `np.linspace(0, vlen, n + 1).astype(int)`, each bin [e_i, e_{i+1} - 1] contributes
  (e_i + e_{i+1} - 1) // 2. When T > vlen (very short videos, or fps < 1) the list is padded
  to T with the last index, exactly like the original. Deterministic.
- `middle` (stage 1): T = t_max (`frames_upbound`; the original's `frames_lowbound` is 1),
  the same middle-of-bin indices, padded the same way.
- `time_prompt`: the `--time_msg short` text; T is the number of sampled frames (padding
  included), duration = vlen / fps.

Frame grid (`SamplingConfig.fps`, `--fps`): VideoChat-Flash reads the released LongVid subset
as folders of JPEG frames cut at 1 fps, and counts a folder as vlen = its number of frames at
fps = 1 (hico-spec §9.2 step 1). With `fps=r` the sampler sees the video as FFmpeg's `fps=r`
filter cuts it (measured against FFmpeg: `tests/hico/test_sampling.py`):

- `grid_frames`: n = ⌊D·r + ½⌋ frames, D = vlen / fps (a frame per 1/r s whose middle lies
  inside the video);
- `grid_index`: grid frame k is the video frame on screen just before (k + ½)/r s, index
  ⌈(k + ½)·fps/r⌉ − 1;
- T and the middle indices are computed on the grid (vlen := n, fps := r), then each grid
  index is mapped to its video frame; the time prompt states D = n / r, as the original's
  does for a frame folder. A video with n = 0 (shorter than ½ grid frame) cannot be sampled
  (`VideoTooShort`).

At r = 1 this is the original's frame-folder path exactly. (At r = 3, its TVQA rate, the
original computes T from the frame count as if at 1 fps; we use n / r throughout.)

Torch-free on purpose (numpy only).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

__all__ = ["num_frames", "frame_indices", "middle_indices", "time_prompt", "grid_frames", "grid_index",
           "SamplingConfig", "VideoTooShort", "SAMPLERS"]

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


class VideoTooShort(ValueError):
    """The video has no frame on the sampling grid (shorter than half a grid frame)."""


def grid_frames(vlen: int, fps: float, rate: float) -> int:
    """Frames of a `vlen`-frame video at `fps` when cut at `rate` fps (FFmpeg's fps filter):
    ⌊vlen/fps·rate + ½⌋, computed exactly on the floats' values."""
    _check_video(vlen, fps)
    if not rate > 0:
        raise ValueError(f"grid rate must be > 0, got {rate!r}")
    return math.floor(Fraction(vlen) / Fraction(fps) * Fraction(rate) + Fraction(1, 2))


def grid_index(k: int, fps: float, rate: float) -> int:
    """The video frame that grid frame `k` (at `rate` fps) shows: the one on screen just before
    (k + ½)/rate seconds, ⌈(k + ½)·fps/rate⌉ − 1."""
    return math.ceil((Fraction(k) + Fraction(1, 2)) * Fraction(fps) / Fraction(rate)) - 1


def time_prompt(duration: float, t: int) -> str:
    """The `--time_msg short` message that follows the visual tokens."""
    return f"\nThe video lasts for {duration:.2f} seconds, and {t} frames are uniformly sampled from it. "


@dataclass(frozen=True)
class SamplingConfig:
    """Everything that decides which frames are encoded, and at what size.

    `sampler="dynamic_fps1"` uses t_min/t_max as above; `sampler="middle"` samples a fixed
    T = t_max frames (stage 1's `frames_upbound`; t_min must not exceed it), padded like the
    original. `fps` (None: the video's own frames) samples on a grid of that many frames per
    second, as the original reads 1-fps frame folders.
    """

    t_min: int = 64
    t_max: int = 512
    local_frames: int = 4
    resolution: int = 224
    sampler: str = "dynamic_fps1"
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}; known: {', '.join(SAMPLERS)}")
        if self.local_frames < 1 or self.resolution < 1:
            raise ValueError("local_frames and resolution must be positive")
        if self.sampler == "middle" and (self.t_max <= 0 or self.t_max % self.local_frames):
            raise ValueError("sampler 'middle' needs t_max > 0, a multiple of local_frames")
        if self.sampler == "middle" and self.t_min > self.t_max:
            raise ValueError(f"sampler 'middle' samples t_max={self.t_max} frames; t_min={self.t_min} exceeds it")
        if self.fps is not None:
            if not (math.isfinite(self.fps) and self.fps > 0):
                raise ValueError(f"fps must be a positive number, got {self.fps!r}")
            object.__setattr__(self, "fps", float(self.fps))  # 1 and 1.0 hash alike

    def grid(self, vlen: int, fps: float) -> tuple[int, float]:
        """(frames, rate) the sampler counts: the video's own, or its cut at `self.fps`."""
        _check_video(vlen, fps)
        if self.fps is None:
            return vlen, fps
        n = grid_frames(vlen, fps, self.fps)
        if n == 0:
            raise VideoTooShort(f"{vlen / fps:.3f} s is less than half a frame at {self.fps:g} fps")
        return n, self.fps

    def duration(self, vlen: int, fps: float) -> float:
        """The duration the time prompt states: frames / rate of the grid."""
        n, rate = self.grid(vlen, fps)
        return n / rate

    def num_frames(self, vlen: int, fps: float) -> int:
        n, rate = self.grid(vlen, fps)
        if self.sampler == "middle":
            return self.t_max
        return num_frames(n, rate, self.t_min, self.t_max, self.local_frames)

    def indices(self, vlen: int, fps: float) -> list[int]:
        """Indices into the video's frames (grid indices mapped to video frames with `fps`)."""
        n, _ = self.grid(vlen, fps)
        picked = middle_indices(n, self.num_frames(vlen, fps))
        if self.fps is None:
            return picked
        return [grid_index(k, fps, self.fps) for k in picked]

    @property
    def min_frames(self) -> int:
        """The fewest frames a sample gets (for sizing read-ahead)."""
        return self.t_max if self.sampler == "middle" else max(self.local_frames, self.t_min)

    def to_dict(self) -> dict[str, int | str | float]:
        """The fields; `fps` only when set, so configs without it keep their earlier hash."""
        d = asdict(self)
        if d["fps"] is None:
            del d["fps"]
        return d

    def config_hash(self) -> str:
        """sha256 hex of the canonical JSON of the fields (sorted keys, no spaces); stable
        across processes and Python versions."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
