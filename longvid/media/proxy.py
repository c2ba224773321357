"""Proxies: a smaller copy of a sample's video that feature caching reads instead of the source.

`make_proxy(src, dst, short_side)` re-encodes the video stream alone (H.264, yuv420p, CRF 20) with
its short side scaled to `short_side` (never up; even sizes, aspect kept), every frame kept with
its timestamp (so frame indices, frame count and rate are the source's: the sampler picks the same
frames), and keyframes on the frames the default sampler picks (`dynamic_fps1`, 64..512 frames,
longvid.hico.sampling) where they lie at least MIN_KEY_GAP seconds apart (about one per second on
a long video; a short clip sampled densely is decoded straight through anyway, and a keyframe on
every sampled frame would only make it bigger), and at least every `max_gop_seconds`: a decoder
seeking to a sampled frame decodes one frame instead of the group before it.

A proxy whose frame count or rate comes out different from the source's raises MediaError
(`segment_failed`); the caller keeps the source in its place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longvid.media.errors import MediaError

CRF = 20
MAX_GOP_SECONDS = 2.0
MIN_KEY_GAP = 0.5  # seconds between forced keyframes


@dataclass(frozen=True)
class ProxyResult:
    width: int
    height: int
    vlen: int
    fps: float
    keyframes: int  # forced on sampled frames
    bytes: int


def proxy_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side min(short_side, the source's), aspect kept, both even."""
    short = min(width, height)
    scale = min(1.0, short_side / short)

    def even(x: float) -> int:
        return max(2, int(round(x / 2)) * 2)

    return even(width * scale), even(height * scale)


def sampled_keyframes(vlen: int, fps: float) -> list[int]:
    """The frames the default sampler picks on this video, MIN_KEY_GAP apart (the proxy's keyframes)."""
    from longvid.hico.sampling import SamplingConfig

    keys: list[int] = []
    for index in sorted(set(SamplingConfig().indices(vlen, fps))):
        if not keys or index - keys[-1] >= MIN_KEY_GAP * fps:
            keys.append(index)
    return keys


def make_proxy(src: Path, dst: Path, short_side: int, *, max_gop_seconds: float = MAX_GOP_SECONDS,
               timeout: float | None = 3600) -> ProxyResult:
    """Write the proxy of `src` to `dst` (see the module doc); raises MediaError when it cannot."""
    import subprocess

    from longvid.hico.decode_pyav import pyav_info
    from longvid.media.ffmpeg import run_ffmpeg
    from longvid.media.probe import probe

    info = probe(src, scan=False)
    vlen, fps = pyav_info(src)
    if vlen <= 0 or not fps > 0 or not info.width or not info.height:
        raise MediaError("not_video", f"{src}: no frames to make a proxy of")
    width, height = proxy_size(info.width, info.height, short_side)
    keys = sampled_keyframes(vlen, fps)
    expr = "+".join(f"eq(n,{k})" for k in keys)
    gop = max(1, round(fps * max_gop_seconds))
    try:
        run_ffmpeg(["-i", str(src), "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1",
                    "-vf", f"scale={width}:{height}:flags=bicubic", "-fps_mode", "passthrough",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), "-pix_fmt", "yuv420p",
                    "-g", str(gop), "-force_key_frames", f"expr:{expr}", "-movflags", "+faststart",
                    "-f", "mp4", str(dst)], timeout=timeout)
    except subprocess.CalledProcessError as e:
        raise MediaError("segment_failed", f"FFmpeg could not make the proxy: "
                                           f"{e.stderr.decode(errors='replace').strip()[-300:]}") from None
    got_vlen, got_fps = pyav_info(dst)
    if (got_vlen, round(got_fps, 6)) != (vlen, round(fps, 6)):
        dst.unlink(missing_ok=True)
        raise MediaError("segment_failed", f"the proxy has {got_vlen} frames at {got_fps} fps, the source "
                                           f"{vlen} at {fps}")
    return ProxyResult(width, height, vlen, fps, len(keys), dst.stat().st_size)
