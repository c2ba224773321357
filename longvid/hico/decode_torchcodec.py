"""torchcodec frame reading: PyTorch's FFmpeg decoder on the CPU, and NVDEC with device="cuda".

`VideoDecoder(path, seek_mode="exact")` scans the packet index on opening (as decord does), so
`num_frames` counts the frames and `get_frames_at` seeks to the keyframe before a far target.
It loads the system's FFmpeg libraries (4 to 8; Debian's 5.1 here, installed by `make setup`):
where they are missing it does not import, and `available()` says so.

On the CPU its frames are bit-identical to PyAV's and decord's on H.264, HEVC, VP9 and MPEG-4
(tests/hico/test_decoders.py); NVDEC converts colours on the GPU, so its frames differ by the
codec's rounding and its caches are tagged apart (longvid.hico.cache.feature_tag).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def import_error() -> str:
    """Why torchcodec cannot decode here ("" when it can): not installed, or no FFmpeg libraries."""
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except ImportError as e:
        return f"torchcodec is not installed ({e})"
    try:  # what VideoDecoder does first (torchcodec 0.17, pinned in pyproject.toml)
        from torchcodec._internally_replaced_utils import load_core_libraries

        load_core_libraries()
    except (ImportError, OSError, RuntimeError) as e:
        return f"torchcodec cannot load the system's FFmpeg libraries ({str(e).splitlines()[0][:200]})"
    return ""


def cuda_error() -> str:
    """Why NVDEC through torchcodec is unavailable here ("" when it is)."""
    why = import_error()
    if why:
        return why
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device is visible"
    return ""


class TorchcodecVideo:
    """One open video; `device` "cpu" (FFmpeg's software decoders) or "cuda" (NVDEC)."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu"):
        from torchcodec.decoders import VideoDecoder

        self.device = device
        self._decoder: Any = VideoDecoder(str(path), seek_mode="exact", num_ffmpeg_threads=1, device=device,
                                          dimension_order="NHWC")
        meta = self._decoder.metadata
        # decord's view: the frames counted in the packets, the rate the header states
        self.vlen = int(meta.num_frames_from_content or 0)
        self.fps = float(meta.average_fps_from_header or meta.average_fps or 0.0)
        header = meta.num_frames_from_header
        if header and header > self.vlen:  # a cut-off or damaged stream: refuse it, as decord does
            raise ValueError(f"the stream's header has {header} frames but its packets hold {self.vlen}")

    def read(self, indices: list[int]) -> Any:
        """uint8 [N, H, W, 3]: numpy on the CPU, a CUDA tensor from NVDEC."""
        wanted = sorted(set(indices))
        for i in (wanted[0], wanted[-1]):
            if not 0 <= i < self.vlen:
                raise IndexError(f"frame index {i} out of range (the video has {self.vlen} frames)")
        data = self._decoder.get_frames_at(wanted).data
        if self.device == "cpu":
            data = data.numpy()
        position = {index: k for k, index in enumerate(wanted)}
        return data[[position[i] for i in indices]]

    def close(self) -> None:
        self._decoder = None
