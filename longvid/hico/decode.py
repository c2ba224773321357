"""Frame decoding for HiCo behind one interface: `open_video(path, decoder)` -> a video with
`vlen`, `fps` and `read(indices)` (hico-spec §3, §9.2).

Decoders (`--decoder`):

- `torchcodec`: PyTorch's FFmpeg decoder (longvid.hico.decode_torchcodec), on the CPU;
- `decord`: `VideoReader(path, num_threads=1)`, `get_batch(indices)`, then `seek(0)` (the decord
  #208 memory workaround VideoChat-Flash applies); vlen = len(vr), fps = vr.get_avg_fps();
- `pyav`: exact random access on constant-rate streams (longvid.hico.decode_pyav);
- `nvdec`: torchcodec on a CUDA device (the GPU's hardware decoders); frames stay on the GPU;
- `auto`: the fastest available CPU decoder as measured by bench/decoders.py (AUTO_ORDER), PyAV
  for `.avi` files (as the original reads them).

Each reader uses one thread (a decode task asks for one CPU). On the CPU all three give the same
RGB frames for H.264 (B-frames included), and torchcodec and PyAV also for HEVC, VP9 and MPEG-4
(tests/hico/test_decoders.py), so a cache's tag does not name its CPU decoder. Known decord 0.6.0
fault (measured here): random access into HEVC `.mp4` and MPEG-4 Part 2 files returns the wrong
frames (typically 2 later than asked); sequential reads are right. `auto` no longer picks decord
where torchcodec works, so such files now get their right frames.

Torch-free except for torchcodec and nvdec (numpy only).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from longvid.hico.decode_pyav import DEFAULT_SEEK_GAP, pyav_info, pyav_read

__all__ = ["DECODERS", "DecoderUnavailable", "open_video", "read_frames", "video_info", "available_decoders", "decoder_error",
           "opens_as_video", "pick_decoder"]

DECODERS = ("torchcodec", "decord", "pyav", "nvdec")
AUTO_ORDER = ("torchcodec", "decord", "pyav")  # fastest first: sampled frames/s per core, bench/decoders.py


class DecoderUnavailable(ValueError):
    """The decoder asked for is unknown or cannot run here (a setting's fault, not a video's)."""


class Video(Protocol):
    """An open video: its frame count and rate, and frames by index."""

    vlen: int
    fps: float

    def read(self, indices: list[int]) -> Any:
        """uint8 [len(indices), H, W, 3] RGB in the given order (numpy; a CUDA tensor from nvdec)."""

    def close(self) -> None: ...


def decoder_error(name: str) -> str:
    """Why `name` cannot decode here ("" when it can)."""
    if name == "decord":
        try:
            import decord  # noqa: F401
        except ImportError as e:
            return f"decord is not installed ({e})"
        return ""
    if name == "pyav":
        return ""
    from longvid.hico import decode_torchcodec

    if name == "torchcodec":
        return decode_torchcodec.import_error()
    if name == "nvdec":
        return decode_torchcodec.cuda_error()
    raise DecoderUnavailable(f"unknown decoder {name!r}; use auto, {', '.join(DECODERS)}")


def available_decoders() -> list[str]:
    """The decoders that work here, nvdec only where a CUDA device is visible."""
    return [name for name in DECODERS if not decoder_error(name)]


def pick_decoder(path: str | os.PathLike[str], decoder: str) -> str:
    """The decoder `decoder` stands for on `path`; raises DecoderUnavailable for one that cannot run here."""
    if decoder == "auto":
        if Path(path).suffix.lower() == ".avi":
            return "pyav"
        return next(name for name in AUTO_ORDER if not decoder_error(name))
    why = decoder_error(decoder)
    if why:
        raise DecoderUnavailable(f"decoder {decoder} is unavailable: {why}")
    return decoder


class DecordVideo:
    def __init__(self, path: str | os.PathLike[str]):
        from decord import VideoReader, cpu

        self._reader: Any = VideoReader(str(path), ctx=cpu(0), num_threads=1)
        self.vlen, self.fps = len(self._reader), float(self._reader.get_avg_fps())

    def read(self, indices: list[int]) -> np.ndarray:
        frames = self._reader.get_batch(indices).asnumpy()
        self._reader.seek(0)  # https://github.com/dmlc/decord/issues/208
        return frames

    def close(self) -> None:
        self._reader = None


class PyAVVideo:
    def __init__(self, path: str | os.PathLike[str], seek_gap: int | None = DEFAULT_SEEK_GAP):
        self.path, self.seek_gap = path, seek_gap
        self.vlen, self.fps = pyav_info(path)

    def read(self, indices: list[int]) -> np.ndarray:
        return pyav_read(self.path, indices, self.seek_gap)

    def close(self) -> None:
        pass


def open_video(path: str | os.PathLike[str], decoder: str = "auto", *,
               seek_gap: int | None = DEFAULT_SEEK_GAP) -> Video:
    """Open `path` with `decoder` (see the module doc); raises what the decoder raises for a file
    it cannot open, ValueError for an unknown or unavailable decoder."""
    name = pick_decoder(path, decoder)
    if name == "decord":
        return DecordVideo(path)
    if name == "pyav":
        return PyAVVideo(path, seek_gap)
    from longvid.hico.decode_torchcodec import TorchcodecVideo

    return TorchcodecVideo(path, device="cuda" if name == "nvdec" else "cpu")


def _check(indices: list[int] | np.ndarray) -> list[int]:
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("no frame indices given")
    if min(idx) < 0:
        raise IndexError(f"negative frame index in {idx[:8]}")
    return idx


def read_frames(path: str | os.PathLike[str], indices: list[int] | np.ndarray, decoder: str = "auto",
                seek_gap: int | None = DEFAULT_SEEK_GAP) -> Any:
    """Decode the frames at `indices` -> uint8 [len(indices), H, W, 3] RGB, in the given order."""
    idx = _check(indices)
    video = open_video(path, decoder, seek_gap=seek_gap)
    try:
        return video.read(idx)
    finally:
        video.close()


def read_video(video: Video, indices: list[int] | np.ndarray) -> Any:
    """`video.read` with the indices checked (not empty, none negative)."""
    return video.read(_check(indices))


def video_info(path: str | os.PathLike[str], decoder: str = "auto") -> tuple[int, float]:
    """(vlen, fps) of the first video stream; duration = vlen / fps."""
    video = open_video(path, decoder)
    try:
        return video.vlen, video.fps
    finally:
        video.close()


def opens_as_video(path: str | os.PathLike[str]) -> bool:
    """Whether PyAV opens `path` as a container with a video stream (headers only, no decoding):
    tells a file that is not a video from one whose stream is damaged (decord refuses both)."""
    import av

    try:
        with av.open(str(path)) as container:
            return bool(container.streams.video)
    except (av.error.FFmpegError, OSError, ValueError):
        return False
