"""What a video file holds (duration, rate, size, codec, keyframe times), read with PyAV.

Probing demuxes packets but never decodes frames, so it costs one read of the file, not a decode.
Times are seconds from the container's start (what ffmpeg's `-ss` counts from). `decodes()` is
the cheap validity check: decode a few frames at the start and at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from longvid.media.errors import MediaError

__all__ = ["ProbeInfo", "probe", "decodes"]


@dataclass(frozen=True, slots=True)
class ProbeInfo:
    """One video file's facts. `frames` is the container's count, else the video packets counted."""

    duration: float
    fps: float
    width: int
    height: int
    codec: str
    bytes: int
    frames: int
    has_audio: bool
    keyframes: tuple[float, ...]
    container: str = ""  # PyAV's format name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    audio_codec: str = ""  # the first audio stream's codec ("" without audio)
    streams: int = 1  # streams of every kind in the container
    start: float = 0.0  # the container's start time (seconds)

    @property
    def frame_duration(self) -> float:
        """Seconds per frame (0 if the rate is unknown)."""
        return 1.0 / self.fps if self.fps > 0 else 0.0


def _av():
    import av  # late: PyAV loads FFmpeg's libraries; `longvid --help` should not

    return av


def _open(path: Path):
    """Open `path` with PyAV, mapping a missing, empty or unreadable file to a MediaError."""
    path = Path(path)
    if not path.is_file():
        raise MediaError("no_media", f"no such file: {path}")
    if path.stat().st_size == 0:
        raise MediaError("empty_file", f"zero bytes: {path}")
    av = _av()
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise MediaError("not_video", f"cannot open as media ({_short(e)}): {path}") from None
    if not container.streams.video:
        container.close()
        raise MediaError("not_video", f"no video stream: {path}")
    return container


def _short(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:300]


def probe(path: Path, *, scan: bool = True) -> ProbeInfo:
    """Probe `path`. With `scan` (the default) all video packets are demuxed (not decoded) to list
    keyframes and count frames; `scan=False` reads only the headers (keyframes empty).

    Raises MediaError: no_media (no file), empty_file, not_video (unreadable, no video stream),
    truncated_file (the index lists more video than the file holds: a cut-off download)."""
    path = Path(path)
    av = _av()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        offset = container.start_time / 1_000_000 if container.start_time is not None else 0.0
        keyframes: list[float] = []
        packets, last_end = 0, None
        if scan:
            try:
                for packet in container.demux(stream):
                    ts = packet.pts if packet.pts is not None else packet.dts
                    if ts is None:
                        continue  # the flush packet at the end
                    packets += 1
                    t = float(ts * packet.time_base) - offset
                    if packet.is_keyframe:
                        keyframes.append(round(t, 6))
                    end = t + float((packet.duration or 0) * packet.time_base)
                    last_end = end if last_end is None else max(last_end, end)
            except av.error.FFmpegError as e:
                if packets == 0:
                    raise MediaError("not_video", f"no video packets ({_short(e)}): {path}") from None
                # a damaged tail: keep what was read; duration falls back to the headers
        duration = _duration(stream, container, last_end)
        listed = int(stream.frames or 0)
        if scan and listed > packets and last_end is not None and last_end < duration - max(1.0, 0.05 * duration):
            raise MediaError("truncated_file", f"file ends early: {packets} of {listed} video packets, data up to "
                                          f"{last_end:.2f} of {duration:.2f} s: {path}")
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else (packets / duration if duration > 0 and packets else 0.0)
        frames = listed or packets or int(round(duration * fps))
        if duration <= 0 or (scan and packets == 0):
            raise MediaError("not_video", f"video stream has no duration or packets: {path}")
        return ProbeInfo(
            duration=duration, fps=fps, width=int(ctx.width or 0), height=int(ctx.height or 0),
            codec=str(ctx.name or ""), bytes=path.stat().st_size, frames=frames,
            has_audio=bool(container.streams.audio), keyframes=tuple(sorted(set(keyframes))),
            container=str(container.format.name or ""),
            audio_codec=str(container.streams.audio[0].codec_context.name or "") if container.streams.audio else "",
            streams=len(container.streams), start=offset,
        )
    finally:
        container.close()


def _duration(stream, container, last_end: float | None) -> float:
    """Video stream duration, else the container's, else where the last packet ends."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return max(last_end or 0.0, 0.0)


def decodes(path: Path, frames: int = 1) -> bool:
    """True if the first frames decode and so do the first frames of the last keyframe's group of
    pictures: both ends of the stream are there and decodable. A cheap check (a few frames at each
    end, whatever the video's length), not a full decode; the probe's packet scan has already
    seen every packet."""
    av = _av()
    try:
        container = _open(path)
    except MediaError:
        return False
    try:
        stream = container.streams.video[0]
        if _decoded(container, stream, frames) == 0:
            return False
        duration = _duration(stream, container, None)
        if stream.time_base and duration > 0:  # the keyframe at or before the last frame
            near_end = max(0.0, duration - 0.01)
            target = int(Fraction(near_end).limit_denominator(1_000_000) / stream.time_base) + int(stream.start_time or 0)
            container.seek(target, stream=stream, backward=True, any_frame=False)
            return _decoded(container, stream, frames) > 0
        return True
    except (av.error.FFmpegError, OSError, ValueError):
        return False
    finally:
        container.close()


def _decoded(container, stream, limit: int) -> int:
    """Decode up to `limit` frames from the current position; how many came out."""
    n = 0
    for _ in container.decode(stream):
        n += 1
        if n >= limit:
            break
    return n
