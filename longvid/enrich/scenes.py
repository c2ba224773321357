"""Scene cuts from FFmpeg's scene score, and the scenes they bound.

`detect_cuts(path, threshold)` runs FFmpeg once over the video's first video stream (scaled down
to `width` pixels first, which keeps the score's meaning and costs a fraction of full-size
decoding) with `select='gt(scene,T)'` and `metadata=print`, and returns the times (seconds, from
the stream's first frame) of the frames whose scene score (0..1: how different a frame is from
the one before) exceeds `threshold`, with their scores.

`scenes(cuts, duration, min_seconds, max_seconds)` turns cut times into [start, end) scenes that
cover the video: a cut closer than `min_seconds` to the previous boundary is ignored (a flash is
not a scene), and a scene longer than `max_seconds` is split into equal parts (0: never).
"""

from __future__ import annotations

import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from longvid.media.errors import MediaError

__all__ = ["Cut", "detect_cuts", "scenes"]

_PTS = re.compile(r"pts_time:(-?[0-9.]+)")
_SCORE = re.compile(r"lavfi\.scene_score=([0-9.]+)")


@dataclass(frozen=True)
class Cut:
    time: float
    score: float


def detect_cuts(path: Path, threshold: float = 0.3, *, width: int = 192, timeout: float = 600) -> list[Cut]:
    """Frames whose FFmpeg scene score is above `threshold` (0..1), in time order."""
    from longvid.media.ffmpeg import run_ffmpeg

    if not 0 < threshold < 1:
        raise ValueError(f"scene threshold must be in (0, 1), got {threshold}")
    graph = f"scale={int(width)}:-2,select='gt(scene\\,{threshold})',metadata=print:file=-"
    try:
        done = run_ffmpeg(["-i", str(path), "-map", "0:v:0", "-an", "-sn", "-vf", graph, "-f", "null", "-"],
                          timeout=timeout)
    except subprocess.CalledProcessError as e:
        tail = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or ["ffmpeg failed"]
        raise MediaError("not_video", f"scene detection failed on {path}: {tail[0]}") from None
    except subprocess.TimeoutExpired:
        raise MediaError("timeout", f"scene detection ran past {timeout} s on {path}") from None
    cuts, time = [], None
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if (m := _PTS.search(line)) is not None:
            time = float(m.group(1))
        elif (m := _SCORE.search(line)) is not None and time is not None:
            cuts.append(Cut(max(0.0, time), float(m.group(1))))
            time = None
    return sorted(cuts, key=lambda c: c.time)


def scenes(cuts: list[float], duration: float, *, min_seconds: float = 1.0,
           max_seconds: float = 0.0) -> list[tuple[float, float]]:
    """[start, end) scenes covering [0, duration), bounded by the cuts (see the module docstring)."""
    if duration <= 0:
        return []
    bounds = [0.0]
    for t in sorted(cuts):
        if t - bounds[-1] >= min_seconds and duration - t >= min_seconds:
            bounds.append(float(t))
    bounds.append(float(duration))
    out: list[tuple[float, float]] = []
    for start, end in zip(bounds, bounds[1:]):
        parts = max(1, math.ceil((end - start) / max_seconds)) if max_seconds > 0 else 1
        step = (end - start) / parts
        out += [(start + i * step, end if i == parts - 1 else start + (i + 1) * step) for i in range(parts)]
    return out
