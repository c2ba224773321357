"""Where FFmpeg is: a system `ffmpeg` on PATH if there is one, else the static binary that the
`imageio-ffmpeg` wheel ships (so no system package is needed). There is no ffprobe in that
wheel: probing uses PyAV (longvid.media.probe)."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise RuntimeError("no ffmpeg on PATH and imageio-ffmpeg is not installed: pip install imageio-ffmpeg") from e
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg quietly with `args`; raise CalledProcessError (with stderr) on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    return subprocess.run(cmd, capture_output=True, check=True, timeout=timeout)
