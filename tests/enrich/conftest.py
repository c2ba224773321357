"""Small FFmpeg-made videos for the enrichment tests, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from longvid.media.ffmpeg import run_ffmpeg

SIZE = "160x120"
X264 = ["-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", "-an"]


def _make(path: Path, args: list[str]) -> Path:
    if not path.exists():
        tmp = path.with_name(f".tmp.{path.name}")
        run_ffmpeg([*args, *X264, str(tmp)], timeout=60)
        tmp.replace(path)
    return path


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """still.mp4 (one colour, 3 s), moving.mp4 (testsrc2, 3 s), cuts.mp4 (red 2 s | testsrc2 2 s |
    blue 2 s: cuts at 2 and 4 s), all 10 fps at 160x120."""
    root = tmp_path_factory.mktemp("enrich-videos")

    def lavfi(kind: str, seconds: float) -> list[str]:
        sep = ":" if "=" in kind else "="
        return ["-f", "lavfi", "-i", f"{kind}{sep}size={SIZE}:rate=10:duration={seconds}"]

    return {
        "still": _make(root / "still.mp4", lavfi("color=c=red", 3)),
        "moving": _make(root / "moving.mp4", lavfi("testsrc2", 3)),
        "cuts": _make(root / "cuts.mp4", [*lavfi("color=c=red", 2), *lavfi("testsrc2", 2), *lavfi("color=c=blue", 2),
                                          "-filter_complex", "[0:v][1:v][2:v]concat=n=3:v=1:a=0"]),
    }
