"""The media cache's disk budget (`longvid build --media-budget BYTES`).

CORPUS/media/<source>/<stem>.<ext> holds downloaded videos until their samples are in shards (or
for good with --keep-media). With a budget, before and after each download, and at the end of the
build, the cache is brought back under it by deleting the media of videos that are done with them:
the video's staged result is committed (`staging/<source>/<stem>/result.json`, the same stem) and
every sample of it is held by a shard (or it has none), oldest file first. Media of videos still
in flight are never evicted, so during a build the cache can exceed the budget by what is in flight.
"""

from __future__ import annotations

import os
from pathlib import Path

from longvid.pipeline import staging


def cache_files(corpus: Path) -> list[tuple[float, int, Path]]:
    """(mtime, bytes, path) of every cached media file (not temporaries, not the gates' files)."""
    out = []
    for source in (Path(corpus) / "media").glob("*"):
        if not source.is_dir() or source.name.startswith("."):
            continue
        with os.scandir(source) as entries:
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out.append((st.st_mtime, st.st_size, Path(entry.path)))
    return out


def evictable(corpus: Path, media: Path) -> bool:
    """True when the video this media file belongs to is committed and all its samples are in shards."""
    folder = Path(corpus) / "staging" / media.parent.name / media.name.split(".", 1)[0]
    try:
        result = staging.read_result(folder)
    except (OSError, ValueError):
        return False
    return staging.all_handed_over(folder, result)


def make_room(corpus: Path, budget: int, *, keep: Path | None = None) -> int:
    """Delete evictable media, oldest first, until the cache holds at most `budget` bytes (or
    nothing more can go); returns the bytes freed. `keep` is never deleted."""
    files = cache_files(corpus)
    total = sum(size for _, size, _ in files)
    freed = 0
    for _, size, path in sorted(files):
        if total - freed <= budget:
            break
        if keep is not None and path == Path(keep):
            continue
        if evictable(corpus, path):
            path.unlink(missing_ok=True)
            freed += size
    return freed
