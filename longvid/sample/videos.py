"""Short test videos made with FFmpeg's lavfi sources: each one looks different, all deterministic.

A `VideoSpec` says what to make (size, rate, frame count, codec, audio, a look); `make_videos`
runs FFmpeg for a list of them, two at a time. Durations are exact: `frames / fps`, so manifests
can state spans that are known to lie inside the file. Files are written with bitexact flags and
no metadata, so the same spec gives the same bytes.
"""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from longvid.media.ffmpeg import run_ffmpeg

FPS_CHOICES = ("10", "15", "24", "25", "24000/1001", "30000/1001", "30")
SIZES = ((160, 90), (192, 108), (176, 144), (160, 120), (240, 100), (144, 176), (208, 120), (128, 96), (320, 240))
LONG_S = 100.0  # above this, a video gets a tiny size and a low rate
COSTLY_PIXELS = 8_000_000  # above this many pixels in all, only cheap patterns (about 0.3 ms/frame)


@dataclass(frozen=True)
class VideoSpec:
    """One video file to make. `path` is relative to the sample root: `media/<source>/...` for
    local files, `http/...` for files only reachable through the loopback server."""

    source: str
    native_id: str
    path: str
    frames: int
    fps: str  # "25" or "30000/1001"
    width: int
    height: int
    look: int  # picks the pattern, its seed and colours
    codec: str = "h264"  # or "vp9"
    audio: str | None = None  # "aac", "opus" or None
    url: str | None = None  # set when served over HTTP
    index: int = 0  # position in the whole sample; drawn into the picture as bits

    @property
    def rate(self) -> Fraction:
        return Fraction(self.fps)

    @property
    def duration(self) -> float:
        """Exact length in seconds (frames / fps)."""
        return float(self.frames / self.rate)

    @property
    def served(self) -> str:
        return "http" if self.path.startswith("http/") else "local"


def plan(rng: random.Random, source: str, native_id: str, path: str, seconds: float, *,
         fps: str | None = None, size: tuple[int, int] | None = None, codec: str = "h264",
         audio: str | None = "aac", url: str | None = None, frame_multiple: int = 1) -> VideoSpec:
    """A spec of about `seconds` (rounded to whole frames, a multiple of `frame_multiple`).
    Long videos get a tiny size and a low rate unless given, so they stay cheap to make."""
    long = seconds > LONG_S
    fps = fps or (rng.choice(("10", "15")) if long else rng.choice(FPS_CHOICES))
    size = size or ((96, 54) if long else rng.choice(SIZES))
    frames = max(frame_multiple, round(seconds * Fraction(fps) / frame_multiple) * frame_multiple)
    return VideoSpec(source, native_id, path, frames, fps, size[0], size[1], rng.randrange(1 << 30),
                     codec, audio, url)


def _pattern(spec: VideoSpec) -> str:
    """The lavfi source graph: a pattern picked by `look`, a box moving across it, and the
    video's index as white squares along the top. Only sources FFmpeg 4.4 already had."""
    w, h, r, look = spec.width, spec.height, spec.fps, spec.look
    seed = look % 100_000
    blocky = f"scale={w}:{h}:flags=neighbor"  # cellular patterns at 1/4 size: cheaper to encode
    n = 2 + look % 4  # gradients: explicit colours (its default "random" colours are not seeded)
    colours = ":".join(f"c{i}=0x{(look * (i + 7) * 2654435761) >> 8 & 0xFFFFFF:06X}" for i in range(n))
    cheap = [  # about 0.3 ms a frame at 160x120, encoding included
        f"testsrc2=s={w}x{h}:r={r}",
        f"cellauto=s={w // 4}x{h // 4}:r={r}:seed={seed}:rule={(30, 90, 110, 150)[look % 4]},{blocky}",
        f"life=s={w // 4}x{h // 4}:r={r}:seed={seed}:mold={5 + look % 20}:ratio=0.{2 + look % 5},{blocky}",
        f"smptehdbars=s={w}x{h}:r={r}",
        f"rgbtestsrc=s={w}x{h}:r={r}",
        f"testsrc=s={w}x{h}:r={r}:decimals={look % 3}",
    ]
    costly = [  # up to ten times that
        f"sierpinski=s={w}x{h}:r={r}:seed={seed}:type={look % 2}",
        f"gradients=s={w}x{h}:r={r}:seed={seed}:n={n}:{colours}:speed={0.01 + (look % 7) / 100:.2f}",
        f"mandelbrot=s={w}x{h}:r={r}:start_x={-0.743643887 - (look % 9) * 1e-4:.9f}:start_y=0.131825904",
        f"smptebars=s={w}x{h}:r={r},hue=h=t*{20 + look % 50}",
    ]
    pool = cheap if spec.frames * w * h > COSTLY_PIXELS else cheap + costly
    box = max(4, h // 12)
    colour = f"0x{(look * 2654435761) & 0xFFFFFF:06X}"
    graph = (f"{pool[(look >> 3) % len(pool)]},format=yuv420p[bg];color=c={colour}:s={box}x{box}:r={r}[fg];"
             f"[bg][fg]overlay=x='mod(t*{10 + look % 40},W)':y={h // 2}:eval=frame:format=yuv420")
    for bit in range(8):
        if spec.index >> bit & 1:
            graph += f",drawbox=x={2 + bit * (box + 2)}:y=2:w={box}:h={box}:color=white:t=fill"
    return graph


def _args(spec: VideoSpec, target: Path) -> list[str]:
    """FFmpeg arguments: lavfi picture (+ sine), exact frame count, short GOP, bitexact output."""
    gop = str(2 * math.ceil(spec.rate))
    args = ["-f", "lavfi", "-i", _pattern(spec)]
    if spec.audio:
        rate = 48000 if spec.audio == "opus" else 16000
        freq = 220 + spec.look % 660
        args += ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={spec.duration:.6f}"]
    args += ["-frames:v", str(spec.frames), "-map", "0:v"]
    if spec.codec == "vp9":
        args += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "45",
                 "-row-mt", "0"]
    else:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "36"]
    args += ["-g", gop, "-threads", "1", "-pix_fmt", "yuv420p"]
    if spec.audio:
        encoder = "libopus" if spec.audio == "opus" else "aac"
        args += ["-map", "1:a", "-c:a", encoder, "-b:a", "24k", "-ac", "1", "-flags:a", "+bitexact"]
    args += ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
             "-movflags", "+faststart", "-f", "mp4", str(target)]
    return args


def make_video(root: Path, spec: VideoSpec) -> Path:
    """Make one video under `root` (written to a temporary name, then renamed)."""
    final = root / spec.path
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(final.name + ".part")
    run_ffmpeg(_args(spec, part), timeout=600)
    part.replace(final)
    return final


def make_videos(root: Path, specs: list[VideoSpec], workers: int = 2) -> list[Path]:
    """Make every spec, `workers` FFmpeg processes at a time; the first failure is raised."""
    order = sorted(specs, key=lambda s: -s.frames * s.width * s.height)  # big ones first
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda s: make_video(root, s), order))
