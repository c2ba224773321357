"""Frames sampled from a sample's video, decoded once and shared by every scorer that reads them.

`FrameSpec(count, pairs, max_side)` says which frames: `count` at the middle of equal bins of the
video (the HiCo rule, longvid.hico.sampling.middle_indices), each followed by the next frame when
`pairs` is set (motion needs two frames one frame-step apart), scaled so that the longer side is at
most `max_side`. `sample_frames(path, spec)` decodes them in one pass (longvid.hico.decode).

`SharedFrames` is the decode-once cache: `get(path, spec)` decodes on the first call and hands the
same `SampledFrames` to every later caller for that file (identified by path, size and mtime) and
spec. Scorers of one video's chain run in one process (longvid.pipeline runs consecutive stages of
equal resources as one task), so CLIP, motion and any other scorer share one decode per sample;
`decodes` counts real decodes (the test and bench/scoring.py read it). `shared_frames()` is the
process's cache; it holds at most `max_bytes` of frames (and `capacity` samples) and drops the
oldest first, so all the samples of one video stay while its scorers run one after the other.

Torch-free (numpy and PyAV only).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["FrameSpec", "SampledFrames", "sample_frames", "SharedFrames", "shared_frames"]


@dataclass(frozen=True)
class FrameSpec:
    """Which frames to decode: `count` anchors (+ the frame after each when `pairs`), longer side
    at most `max_side` pixels (0: as decoded)."""

    count: int = 8
    pairs: bool = True
    max_side: int = 256

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"FrameSpec.count must be >= 1, got {self.count}")
        if self.max_side < 0:
            raise ValueError(f"FrameSpec.max_side must be >= 0, got {self.max_side}")


@dataclass(frozen=True)
class SampledFrames:
    """Decoded frames of one video: anchors [N, H, W, 3] uint8 RGB, their indices and times
    (seconds from the video's start), and the frame after each anchor (None without pairs)."""

    frames: np.ndarray
    indices: tuple[int, ...]
    times: tuple[float, ...]
    following: np.ndarray | None
    fps: float
    vlen: int

    @property
    def duration(self) -> float:
        return self.vlen / self.fps

    def nbytes(self) -> int:
        return self.frames.nbytes + (0 if self.following is None else self.following.nbytes)


def _scaled(frames: np.ndarray, max_side: int) -> np.ndarray:
    """Frames scaled (area filter, even sizes) so that the longer side is at most `max_side`."""
    n, h, w, _ = frames.shape
    if not max_side or max(h, w) <= max_side:
        return frames
    import av

    scale = max_side / max(h, w)
    width, height = max(2, int(round(w * scale / 2)) * 2), max(2, int(round(h * scale / 2)) * 2)
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
        out[i] = frame.reformat(width=width, height=height, interpolation="AREA").to_ndarray()
    return out


def anchor_indices(vlen: int, count: int) -> list[int]:
    """`count` frame indices at the middle of equal bins (fewer when the video has fewer frames)."""
    from longvid.hico.sampling import middle_indices

    return [int(i) for i in middle_indices(vlen, min(count, vlen))]


def sample_frames(path: str | os.PathLike[str], spec: FrameSpec = FrameSpec(), backend: str = "pyav") -> SampledFrames:
    """Decode `spec`'s frames of the video at `path` in one pass."""
    from longvid.hico.decode import read_frames, video_info

    vlen, fps = video_info(path, backend)
    if vlen <= 0 or fps <= 0:
        raise ValueError(f"{path}: no frames to sample (frames={vlen}, fps={fps})")
    anchors = anchor_indices(vlen, spec.count)
    following = [min(i + 1, vlen - 1) for i in anchors] if spec.pairs else []
    wanted = anchors + following
    decoded = _scaled(read_frames(path, wanted, decoder=backend), spec.max_side)
    n = len(anchors)
    return SampledFrames(frames=decoded[:n], indices=tuple(anchors), times=tuple(i / fps for i in anchors),
                         following=decoded[n:] if spec.pairs else None, fps=float(fps), vlen=int(vlen))


class SharedFrames:
    """Decode-once cache of `SampledFrames` by (file identity, spec); thread-safe, bounded."""

    def __init__(self, capacity: int = 4096, backend: str = "pyav", max_bytes: int = 512 << 20) -> None:
        self.capacity, self.backend, self.max_bytes = capacity, backend, max_bytes
        self.decodes = 0
        self._items: OrderedDict[tuple, SampledFrames] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(path: str | os.PathLike[str], spec: FrameSpec) -> tuple:
        st = os.stat(path)
        return str(Path(path).resolve()), st.st_size, st.st_mtime_ns, spec

    def get(self, path: str | os.PathLike[str], spec: FrameSpec = FrameSpec()) -> SampledFrames:
        key = self._key(path, spec)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        frames = sample_frames(path, spec, self.backend)
        with self._lock:
            self.decodes += 1
            self._items[key] = frames
            held = sum(f.nbytes() for f in self._items.values())
            while len(self._items) > 1 and (len(self._items) > self.capacity or held > self.max_bytes):
                held -= self._items.popitem(last=False)[1].nbytes()
        return frames

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_SHARED = SharedFrames()


def shared_frames() -> SharedFrames:
    """This process's decode-once cache."""
    return _SHARED
