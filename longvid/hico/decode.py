"""Frame decoding for HiCo: decord as in VideoChat-Flash, PyAV as the fallback (hico-spec §3, §9.2).

- decord: `VideoReader(path, num_threads=1)`, `get_batch(indices)`, then `seek(0)` (the
  decord #208 memory workaround the original applies). `video_info` = (len(vr),
  vr.get_avg_fps()).
- PyAV: decodes in presentation order and keeps the wanted indices (duplicates and any order
  allowed). When the next wanted frame is more than `seek_gap` frames ahead it seeks to the
  keyframe before it and recovers the frame index from the pts; this needs a constant frame
  rate, so it is done only when the stream's average rate equals its base rate and frames
  carry pts; otherwise decoding is purely sequential. `video_info` = (stream.frames, or the
  number of video packets when the container does not say, and average_rate).
- backend="auto": decord when it imports, except `.avi` files, which the original reads with
  PyAV; PyAV otherwise. Both give the same RGB frames for H.264 (tested, B-frames included).

Known decord 0.6.0 fault (measured here): random access into HEVC `.mp4` and MPEG-4 Part 2
files with B-frames returns the wrong frames (typically 2 later than asked); sequential reads
are right, and PyAV is right either way. "auto" keeps decord for parity with the original
(whose training frames had the same fault); pass backend="pyav" for correct frames.

Torch-free (numpy only).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["read_frames", "video_info", "available_backends", "opens_as_video"]

DEFAULT_SEEK_GAP = 250


def _have_decord() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def available_backends() -> list[str]:
    return (["decord"] if _have_decord() else []) + ["pyav"]


def _pick(path: str | os.PathLike[str], backend: str) -> str:
    if backend not in ("auto", "decord", "pyav"):
        raise ValueError(f"unknown backend {backend!r}; use auto, decord or pyav")
    if backend != "auto":
        return backend
    if Path(path).suffix.lower() == ".avi" or not _have_decord():
        return "pyav"
    return "decord"


# ---------------------------------------------------------------- decord


def _decord_reader(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    from decord import VideoReader, cpu

    return VideoReader(str(path), ctx=cpu(0), num_threads=1)


def _decord_read(path: str | os.PathLike[str], indices: list[int]) -> np.ndarray:
    vr = _decord_reader(path)
    try:
        frames = vr.get_batch(indices).asnumpy()
        vr.seek(0)  # https://github.com/dmlc/decord/issues/208
    finally:
        del vr
    return frames


def _decord_info(path: str | os.PathLike[str]) -> tuple[int, float]:
    vr = _decord_reader(path)
    return len(vr), float(vr.get_avg_fps())


# ---------------------------------------------------------------- PyAV


def _pyav_info(path: str | os.PathLike[str]) -> tuple[int, float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate is None:
            raise ValueError(f"{path}: no frame rate in the video stream")
        vlen = int(stream.frames or 0)
        if vlen <= 0:
            vlen = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        return vlen, float(rate)


def _frame_index(pts: int, start: int, time_base: Fraction, rate: Fraction) -> int:
    return int(round(float((pts - start) * time_base * rate)))


def _pyav_read(path: str | os.PathLike[str], indices: list[int], seek_gap: int | None) -> np.ndarray:
    import av

    wanted = sorted(set(indices))
    got: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate, tb = stream.average_rate, stream.time_base
        can_seek = seek_gap is not None and rate is not None and tb is not None and rate == stream.base_rate
        pos: int | None = 0  # index of the next frame the decoder yields; None = read it from pts
        start = 0  # pts of frame 0, the origin for pts -> index after a seek
        if can_seek:
            first = next(iter(container.decode(stream)), None)
            if first is None or first.pts is None:
                return _pyav_read(path, indices, seek_gap=None)
            start = first.pts
            # Every path below seeks before decoding on (an abandoned decode generator may hold
            # frames): the loop seeks to a far first target; otherwise rewind to frame 0 here.
            if wanted[0] <= seek_gap:  # type: ignore[operator]
                container.seek(start, stream=stream, backward=True, any_frame=False)
                pos = None
        w = 0  # position in `wanted` of the next frame to keep
        while w < len(wanted):
            if can_seek and pos is not None and wanted[w] - pos > seek_gap:  # type: ignore[operator]
                ts = start + int(Fraction(wanted[w]) / rate / tb)  # type: ignore[operator]
                container.seek(ts, stream=stream, backward=True, any_frame=False)
                pos = None
            for frame in container.decode(stream):
                if pos is None:
                    if frame.pts is None:
                        return _pyav_read(path, indices, seek_gap=None)
                    pos = _frame_index(frame.pts, start, tb, rate)  # type: ignore[arg-type]
                    if pos > wanted[w]:  # the seek overshot: decode sequentially instead
                        return _pyav_read(path, indices, seek_gap=None)
                pos += 1
                if pos - 1 == wanted[w]:
                    got[pos - 1] = frame.to_ndarray(format="rgb24")
                    w += 1
                    # Re-seek only right after keeping a frame, so a seek that lands on a
                    # keyframe far before the target cannot loop.
                    if w == len(wanted) or (can_seek and wanted[w] - pos > seek_gap):  # type: ignore[operator]
                        break
            else:
                if w < len(wanted):
                    raise IndexError(f"{path}: frame index {wanted[w]} out of range (decoded {pos} frames)")
    return np.stack([got[i] for i in indices])


# ---------------------------------------------------------------- public


def read_frames(
    path: str | os.PathLike[str],
    indices: list[int] | np.ndarray,
    backend: str = "auto",
    seek_gap: int | None = DEFAULT_SEEK_GAP,
) -> np.ndarray:
    """Decode the frames at `indices` -> uint8 [len(indices), H, W, 3] RGB, in the given order."""
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("no frame indices given")
    if min(idx) < 0:
        raise IndexError(f"negative frame index in {idx[:8]}")
    if _pick(path, backend) == "decord":
        return _decord_read(path, idx)
    return _pyav_read(path, idx, seek_gap)


def opens_as_video(path: str | os.PathLike[str]) -> bool:
    """Whether PyAV opens `path` as a container with a video stream (headers only, no decoding):
    tells a file that is not a video from one whose stream is damaged (decord refuses both)."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def video_info(path: str | os.PathLike[str], backend: str = "auto") -> tuple[int, float]:
    """(vlen, fps) of the first video stream; duration = vlen / fps."""
    if _pick(path, backend) == "decord":
        return _decord_info(path)
    return _pyav_info(path)
