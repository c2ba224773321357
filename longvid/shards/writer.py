"""Write one shard whole: `<name>.tar`, then `<name>.parquet` (its index), then `<name>.stats.json`.

The format is longvid.shards.format's; the bytes go through longvid.shards.appender (the same
code that builds a shard sample by sample and resumes one). The stats file is written last:
its existence (with a tar of the size it records) means the shard is done, so a rerun skips it;
`clean_partial` removes what a killed run left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any

from longvid.atomic import is_temporary
from longvid.shards.appender import ShardAppender, discard_partial
from longvid.shards.format import Sample, ShardStats
from longvid.shards.plan import NAME_PATTERN

__all__ = ["Sample", "ShardStats", "read_stats", "shard_done", "clean_partial", "write_shard"]

SUFFIXES = (".stats.json", ".parquet", ".tar")  # removal order: the "done" marker first


def read_stats(shard_dir: Path, name: str) -> dict[str, Any] | None:
    """The parsed `<name>.stats.json`, or None when it is absent or unreadable."""
    try:
        stats = json.loads((Path(shard_dir) / f"{name}.stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats if isinstance(stats, dict) else None


def shard_done(shard_dir: Path, name: str) -> bool:
    """True when the shard's stats exist and its tar and index are there, the tar at the
    size the stats record."""
    shard_dir = Path(shard_dir)
    stats = read_stats(shard_dir, name)
    tar, index = shard_dir / f"{name}.tar", shard_dir / f"{name}.parquet"
    if stats is None or not tar.is_file() or not index.is_file():
        return False
    return tar.stat().st_size == stats.get("bytes")


def clean_partial(shard_dir: Path) -> list[Path]:
    """Remove what a killed run left: temporary files and every file of a shard that is not
    done (a tar or index without stats, or stats whose tar is missing or of another size).
    Partial shards being appended (`.<name>.tar.partial` and their journals) are resume state
    and stay. Call it before writing, never while another process writes into the same folder."""
    shard_dir = Path(shard_dir)
    if not shard_dir.is_dir():
        return []
    removed: list[Path] = []
    names: set[str] = set()
    for path in sorted(shard_dir.iterdir()):
        if not path.is_file():
            continue
        if is_temporary(path.name):
            path.unlink()
            removed.append(path)
            continue
        for suffix in SUFFIXES:
            stem = path.name[: -len(suffix)]
            if path.name.endswith(suffix) and NAME_PATTERN.fullmatch(stem):
                names.add(stem)
                break
    for name in sorted(names):
        if shard_done(shard_dir, name):
            continue
        for suffix in SUFFIXES:
            path = shard_dir / f"{name}{suffix}"
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def write_shard(
    shard_dir: Path, name: str, samples: Iterable[Sample], *, extra_stats: dict[str, Any] | None = None,
    allow_empty: bool = False,
) -> ShardStats | None:
    """Write shard `name` (tar, index, then stats) into `shard_dir` and return its stats.

    Returns None and writes nothing when `samples` is empty, unless `allow_empty` (then an
    empty tar and index with their stats: a finished shard of no samples, e.g. a feature shard
    whose every video failed, which a rerun must not redo). Raises ValueError for an unsafe or
    duplicate key, a bad extension or a member that does not fit a USTAR header, TypeError for
    a member that is neither bytes nor a path; no file of the shard is left behind then. An
    existing shard of the same name is replaced (its stats go first: never "done" half-written).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"shard name must match {NAME_PATTERN.pattern}, got {name!r}")
    extra = dict(extra_stats or {})
    ShardStats(name, 0, 0, 0, "", 0.0, {}, extra).to_json()  # refuse clashing keys up front
    json.dumps(extra)  # and values JSON cannot hold
    items = iter(samples)
    first = next(items, None)
    if first is None and not allow_empty:
        return None
    appender = ShardAppender.fresh(shard_dir, name)
    try:
        for sample in items if first is None else chain([first], items):
            appender.append(sample)
        return appender.finish(extra)
    except BaseException:
        appender.close()
        discard_partial(shard_dir, name)
        raise
