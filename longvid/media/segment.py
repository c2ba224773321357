"""Cut one span out of a source video with FFmpeg, deterministically, and say what was really cut.

mode "copy" copies packets from the last keyframe at or before `start` (fast, lossless, the start
moves back to that keyframe); mode "reencode" cuts exactly and encodes H.264 (+AAC). The output is
written to a temporary name beside `dst`, probed, and renamed into place; the recorded range is
the probed output's, so a sample's times always describe the file that was written. The same
input and arguments give a byte-identical file (see `determinism_flags`).
"""

from __future__ import annotations

import bisect
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from longvid.atomic import commit, temporary_name
from longvid.media.errors import MediaError
from longvid.media.ffmpeg import run_ffmpeg
from longvid.media.probe import ProbeInfo, probe

__all__ = ["CutResult", "cut", "copy_start", "MODES", "usable_as_is", "place_as_is"]

MODES = ("copy", "reencode")
X264_THREADS = 4  # fixed, not "auto": x264's output depends on its thread count, so auto would
# make files differ between machines with different core counts (measured: 0/1/2/4/8 all differ)
# the exact cut's H.264 + AAC encoding (also a span-only download's, longvid.media.ytdlp)
ENCODE_ARGS = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
               "-threads:v", str(X264_THREADS), "-c:a", "aac")
_MP4_LIKE = {".mp4", ".m4v", ".mov"}
_AS_IS_VIDEO = {"h264", "hevc", "av1"}  # what a stream copy into .mp4 would keep as it is
_AS_IS_AUDIO = {"", "aac", "mp3"}


@dataclass(frozen=True, slots=True)
class CutResult:
    """The written sample: its file, the source range it covers (seconds) and its size."""

    path: Path
    start: float
    end: float
    duration: float
    bytes: int


def copy_start(keyframes: Sequence[float], start: float) -> float:
    """The last keyframe at or before `start` (0.0 when there is none)."""
    i = bisect.bisect_right(keyframes, start + 1e-6)
    return float(keyframes[i - 1]) if i else 0.0


def _ts(seconds: float, up: bool = False) -> str:
    """Seconds as ffmpeg time with microsecond precision; `up` rounds up so a seek to a keyframe's
    time never lands on the keyframe before it."""
    us = math.ceil(seconds * 1e6 - 1e-3) if up else round(seconds * 1e6)
    return f"{max(us, 0) / 1e6:.6f}"


def determinism_flags(dst: Path) -> list[str]:
    """No encoder/version strings, no source metadata, no random UIDs (matroska): same bytes on rerun."""
    flags = ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
             "-flags:v", "+bitexact", "-flags:a", "+bitexact"]
    if dst.suffix.lower() in _MP4_LIKE:
        flags += ["-movflags", "+faststart"]
    return flags


def cut(src: Path, dst: Path, start: float, end: float, *, mode: str = "copy",
        keyframes: Sequence[float] | None = None, timeout: float = 600,
        info: ProbeInfo | None = None) -> CutResult:
    """Write source range [start, end) of `src` to `dst` and return the range really written.

    `info` (a probe of `src`) or `keyframes` saves probing the source again. Raises MediaError:
    span_outside_video for an empty or out-of-range span, segment_failed when FFmpeg fails or
    its output does not match the range asked for.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    src, dst = Path(src), Path(dst)
    if mode == "reencode" and dst.suffix.lower() == ".webm":
        raise ValueError("reencode writes H.264, which WebM cannot hold: use .mp4 or .mkv")
    if info is None:
        info = probe(src, scan=keyframes is None and mode == "copy")
    if keyframes is None and mode == "copy":
        keyframes = info.keyframes or probe(src).keyframes  # a header-only probe lists none
    if not (end > start) or start < 0 or start >= info.duration:
        raise MediaError("span_outside_video",
                         f"span {start:.3f}-{end:.3f} s is empty or outside the video (0-{info.duration:.3f} s): {src}")
    end = min(end, info.duration)
    start, end = float(start), float(end)
    real_start = copy_start(sorted(keyframes or ()), start) if mode == "copy" else start

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(dst, keep_suffix=True)
    try:
        args = ["-ss", _ts(real_start, up=mode == "copy"), "-i", str(src), "-t", _ts(end - real_start),
                "-map", "0:v:0", "-map", "0:a:0?"]
        if mode == "copy":
            try:
                _run(args + ["-c", "copy"] + determinism_flags(dst) + [str(tmp)], timeout, src)
            except MediaError:
                # audio the container cannot hold (PCM, Vorbis in .mp4): copy the video, AAC the audio
                _run(args + ["-c:v", "copy", "-c:a", "aac"] + determinism_flags(dst) + [str(tmp)], timeout, src)
        else:
            args += ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,setpts=PTS-STARTPTS", "-af", "asetpts=PTS-STARTPTS",
                     *ENCODE_ARGS]
            _run(args + determinism_flags(dst) + [str(tmp)], timeout, src)
        out = _probe_output(tmp, src)
        _check_duration(out, end - real_start, info, mode, src)
        commit(tmp, dst, durable=False)  # staged: checked by size before it is trusted
    finally:
        tmp.unlink(missing_ok=True)
    return CutResult(path=dst, start=real_start, end=real_start + out.duration, duration=out.duration,
                     bytes=dst.stat().st_size)


def usable_as_is(info: ProbeInfo, src: Path) -> bool:
    """True when the whole of `src` can be a sample without FFmpeg: an .mp4 holding one
    H.264/HEVC/AV1 video stream and at most one AAC/MP3 audio stream, starting at 0. A stream
    copy would only rewrite its container."""
    return (Path(src).suffix.lower() in {".mp4", ".m4v"} and info.container.startswith("mov,mp4")
            and info.codec in _AS_IS_VIDEO and info.audio_codec in _AS_IS_AUDIO
            and info.streams == 1 + bool(info.audio_codec) and abs(info.start) < 1e-3)


def place_as_is(src: Path, dst: Path, info: ProbeInfo) -> CutResult:
    """The whole of `src` as the sample `dst`: a hard link (no bytes copied), or a copy where the
    file system cannot link. Check `usable_as_is` first."""
    src, dst = Path(src), Path(dst)
    try:
        os.link(src, dst)
    except OSError:
        tmp = temporary_name(dst, keep_suffix=True)
        try:
            shutil.copyfile(src, tmp)
            commit(tmp, dst, durable=False)
        finally:
            tmp.unlink(missing_ok=True)
    return CutResult(path=dst, start=0.0, end=info.duration, duration=info.duration, bytes=dst.stat().st_size)


def _run(args: list[str], timeout: float, src: Path) -> None:
    try:
        run_ffmpeg(args, timeout=timeout)
    except subprocess.CalledProcessError as e:
        tail = (e.stderr or b"").decode("utf-8", "replace").strip()[-500:]
        raise MediaError("segment_failed", f"ffmpeg exit {e.returncode}: {tail or '(no stderr)'} [{src}]") from None
    except subprocess.TimeoutExpired:
        raise MediaError("segment_failed", f"ffmpeg ran past {timeout:g} s [{src}]") from None


def _probe_output(tmp: Path, src: Path) -> ProbeInfo:
    try:
        return probe(tmp, scan=False)
    except MediaError as e:
        raise MediaError("segment_failed", f"output unreadable ({e.cause}: {e.detail}) [{src}]") from None


def _check_duration(out: ProbeInfo, wanted: float, info: ProbeInfo, mode: str, src: Path) -> None:
    """Re-encoded output must last the span within one frame. A copy ends on the first packet in
    decode order past the end, so B-frame reordering can add a few frames: allow 0.5 s there."""
    frame = info.frame_duration or out.frame_duration or 0.04
    slack = frame + 1e-3 if mode == "reencode" else max(0.5, 2 * frame)
    if abs(out.duration - wanted) > slack:
        raise MediaError("segment_failed",
                         f"{mode} output lasts {out.duration:.3f} s, expected {wanted:.3f} s (±{slack:.3f}) [{src}]")
