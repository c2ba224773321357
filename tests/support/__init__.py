"""Helpers shared by tests: a fault-injecting loopback HTTP server (fault_server) and small media
files made with FFmpeg (media_files)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from longvid.media.ffmpeg import run_ffmpeg

# name -> (fps, seconds, ffmpeg output args); all testsrc2 at 160x120 with a short GOP
VIDEOS: dict[str, tuple[int, float, list[str]]] = {
    "av.mp4": (25, 4.0, ["-c:v", "libx264", "-g", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"]),
    "noaudio.mp4": (30, 3.0, ["-c:v", "libx264", "-g", "15", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]),
    "vp9.webm": (24, 3.0, ["-c:v", "libvpx-vp9", "-g", "12", "-deadline", "realtime", "-cpu-used", "8"]),
}


def make_media(folder: Path) -> dict[str, Path]:
    """Small test files in `folder` (made once, reused): the VIDEOS above, plus corrupt.mp4 (random
    bytes), zero.mp4 (empty), truncated.mp4 (first 40% of av.mp4, index at the end so unreadable),
    truncated_tail.mp4 (first 60% of noaudio.mp4, index at the front so it opens but the tail is
    missing) and "with space.mp4" (a copy of av.mp4)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    for name, (fps, seconds, args) in VIDEOS.items():
        path = files[name] = folder / name
        if path.exists():
            continue
        inputs = ["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate={fps}:duration={seconds}"]
        if "-c:a" in args:
            inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
        tmp = path.with_name(f".tmp.{name}")
        run_ffmpeg([*inputs, *args, str(tmp)], timeout=60)
        tmp.replace(path)
    extra = {
        "corrupt.mp4": lambda: random.Random(0).randbytes(50_000),
        "zero.mp4": lambda: b"",
        "truncated.mp4": lambda: (lambda b: b[: len(b) * 2 // 5])(files["av.mp4"].read_bytes()),
        "truncated_tail.mp4": lambda: (lambda b: b[: len(b) * 3 // 5])(files["noaudio.mp4"].read_bytes()),
    }
    for name, make in extra.items():
        path = files[name] = folder / name
        if not path.exists():
            path.write_bytes(make())
    spaced = files["with space.mp4"] = folder / "with space.mp4"
    if not spaced.exists():
        shutil.copyfile(files["av.mp4"], spaced)
    return files
