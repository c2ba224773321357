"""One sample's video -> its sampled frames, resized and kept uint8: the work of a decode task.

A decode task runs anywhere in the cluster (or in a thread of the encoder's process): it reads the
sample's members from its video shard by offset (the shard index says where), opens the video with
the chosen decoder, samples the frame indices, decodes them and resizes them to S×S uint8
(PIL-equivalent bicubic, longvid.hico.preprocess). Normalising happens on the encoder's device.
A video that cannot be opened, decoded or sampled gives a `Failed` with its cause instead.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvid.hico.cache import SampleFacts
from longvid.hico.sampling import SamplingConfig


@dataclass(frozen=True)
class DecodeSpec:
    """How every sample of a run is decoded (picklable: it travels with each decode task)."""

    sampling: SamplingConfig
    resolution: int
    decoder: str = "auto"


@dataclass(frozen=True)
class SampleRef:
    """Where a sample's members are: a shard tar and (offset, size) per extension."""

    key: str
    tar: Path
    members: tuple[tuple[str, int, int], ...]  # (ext, offset, size)

    def read(self) -> dict[str, bytes]:
        out = {}
        with open(self.tar, "rb") as f:
            for ext, offset, size in self.members:
                f.seek(offset)
                out[ext] = f.read(size)
                if len(out[ext]) != size:
                    raise ValueError(f"{self.tar}: member {ext!r} of {self.key!r} is truncated")
        return out


@dataclass
class Decoded:
    """One sample decoded and resized, ready for the encoder."""

    key: str
    meta: dict[str, Any]
    frames: Any  # uint8 tensor [T, 3, S, S], resized, not yet normalised
    sampled: SampleFacts
    seconds: float
    decoder: str = ""


@dataclass
class Failed:
    """One sample whose video could not be opened, decoded or sampled: why, for its error row."""

    key: str
    meta: dict[str, Any]
    cause: str
    detail: str
    seconds: float = 0.0


def short_error(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300] if str(e) else type(e).__name__


def decode_ref(spec: DecodeSpec, ref: SampleRef) -> Decoded | Failed:
    """A decode task: the sample's members read from its shard, then `decode_sample`."""
    started = time.perf_counter()
    try:
        members = ref.read()
    except (OSError, ValueError) as e:
        return Failed(ref.key, {}, "stage_error", short_error(e), time.perf_counter() - started)
    return decode_sample(spec, ref.key, members)


def decode_sample(spec: DecodeSpec, key: str, members: dict[str, bytes]) -> Decoded | Failed:
    """mp4 bytes -> sampled frames resized to S×S uint8, or a Failed with its cause."""
    from longvid.hico.decode import DecoderUnavailable, open_video, opens_as_video, pick_decoder, read_video
    from longvid.hico.preprocess import resize_frames
    from longvid.hico.sampling import VideoTooShort
    from longvid.media.errors import MediaError

    started = time.perf_counter()
    meta: dict[str, Any] = {}
    try:
        meta = json.loads(members["json"])
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(members["mp4"])
            f.flush()
            decoder = pick_decoder(f.name, spec.decoder)  # an unavailable decoder raises: not the video's fault
            try:
                video = open_video(f.name, decoder)
            except Exception as e:  # noqa: BLE001 - the decoders raise many kinds
                # decord and torchcodec read every packet on opening: a damaged stream fails here too
                cause = "decode_failed" if opens_as_video(f.name) else "not_video"
                raise MediaError(cause, f"cannot read the video: {short_error(e)}") from None
            try:
                vlen, fps = video.vlen, video.fps
                if vlen <= 0 or not fps > 0:
                    raise MediaError("not_video", f"the video stream has {vlen} frames at {fps} fps")
                try:
                    grid_frames, grid_fps = spec.sampling.grid(vlen, fps)
                    indices = spec.sampling.indices(vlen, fps)
                except VideoTooShort as e:
                    raise MediaError("too_short", str(e)) from None
                try:
                    frames = read_video(video, indices)
                except Exception as e:  # noqa: BLE001
                    raise MediaError("decode_failed", f"cannot decode frames {indices[0]}..{indices[-1]} "
                                                       f"of {vlen}: {short_error(e)}") from None
            finally:
                video.close()
        pixels = resize_frames(frames, spec.resolution)
    except MediaError as e:
        return Failed(key, meta, e.cause, e.detail, time.perf_counter() - started)
    except DecoderUnavailable:
        raise
    except Exception as e:  # noqa: BLE001 - one sample's bug must not stop the shard
        return Failed(key, meta, "stage_error", short_error(e), time.perf_counter() - started)
    sampled = SampleFacts(vlen, fps, grid_frames, grid_fps, indices)
    return Decoded(key, meta, pixels, sampled, time.perf_counter() - started, decoder)
