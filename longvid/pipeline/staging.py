"""A video's staged work: one folder per video, made whole or not at all, trusted only when checked.

Every attempt at a video works in a folder of its own, `staging/<source>/.<id>.<random>.attempt/`,
and is renamed to `staging/<source>/<id>/` only when complete (`result.json` written last). A
worker of a killed build that is still running can therefore only finish its own attempt folder:
it never writes into a folder a rerun is using, and its rename fails when the video is already
in place. `result.json` records each sample's member sizes; a rerun trusts a staged video only
when each sample's mp4 is there at that size, or has been handed over to a shard.

Handing over: once a shard holds a sample's mp4 (durably, see longvid.shards.appender) the
staged copy is replaced by `<key>.mp4.held`, which says where the shard holds it (shard name and
header offset). `where(...)` checks that claim against the shard's own bytes, so nothing but the
data itself is trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any

from longvid.atomic import atomic_write_text, is_temporary
from longvid.layout import staging_root
from longvid.shards.appender import holder_of
from longvid.shards.format import BLOCK, FileRange

RESULT = "result.json"


def video_folder(corpus: Path, video_uid: str) -> Path:
    """`CORPUS/staging/<source>/<20 hex of sha1(video_uid)>`: no manifest text in the path."""
    source = video_uid.split("/", 1)[0]
    return staging_root(corpus) / source / hashlib.sha1(video_uid.encode()).hexdigest()[:20]


def new_attempt(final: Path) -> Path:
    """A fresh attempt folder beside `final`, named after this host and process (see clean_attempts)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    attempt = final.parent / f".{final.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.attempt"
    attempt.mkdir()
    return attempt


def commit(attempt: Path, final: Path, shard_dir: Path) -> dict[str, Any]:
    """Rename a finished attempt into place and return the result that is in place. When another
    attempt got there first, its result wins if it is trusted (this one is thrown away), else it
    is replaced."""
    try:
        os.rename(attempt, final)
        return read_result(final)
    except OSError:
        pass  # `final` exists: an earlier run's folder, or a concurrent attempt's
    theirs = trusted(final, shard_dir)
    if theirs is not None:
        shutil.rmtree(attempt, ignore_errors=True)
        return theirs
    trash = final.parent / f".{final.name}.{secrets.token_hex(6)}.trash"
    os.rename(final, trash)
    os.rename(attempt, final)
    shutil.rmtree(trash, ignore_errors=True)
    return read_result(final)


def write_result(folder: Path, result: dict[str, Any]) -> None:
    """Write result.json last; never creates `folder` (an attempt that vanished stays vanished)."""
    if not folder.is_dir():
        raise FileNotFoundError(f"attempt folder {folder} is gone")
    atomic_write_text(folder / RESULT, json.dumps(result, sort_keys=True, ensure_ascii=False))


def read_result(folder: Path) -> dict[str, Any]:
    return json.loads((folder / RESULT).read_text(encoding="utf-8"))


def trusted(folder: Path, shard_dir: Path) -> dict[str, Any] | None:
    """The staged result of `folder` if every sample's mp4 is staged at its recorded size or held
    by a shard; else None (the video must be redone)."""
    try:
        result = read_result(folder)
    except (OSError, ValueError):
        return None
    for sample in result.get("samples", []):
        if where(folder, sample["key"], sample["bytes"], shard_dir) is None:
            return None
    return result


def staged_member(folder: Path, key: str) -> Path:
    return folder / f"{key}.mp4"


def marker(folder: Path, key: str) -> Path:
    return folder / f"{key}.mp4.held"


def where(folder: Path, key: str, size: int, shard_dir: Path) -> Path | FileRange | None:
    """Where the sample's mp4 is now: its staged file, or the range of a shard tar (finished or
    partial) that holds it; None when it is nowhere."""
    staged = staged_member(folder, key)
    try:
        if staged.stat().st_size == size:
            return staged
    except OSError:
        pass
    held = read_marker(folder, key)
    if held is not None:
        tar = holder_of(shard_dir, held["shard"], held["header_offset"], f"{key}.mp4", size)
        if tar is not None:
            return FileRange(tar, held["header_offset"] + BLOCK, size)
    return None


def read_marker(folder: Path, key: str) -> dict[str, Any] | None:
    try:
        held = json.loads(marker(folder, key).read_text(encoding="utf-8"))
        return held if isinstance(held, dict) and {"shard", "header_offset"} <= held.keys() else None
    except (OSError, ValueError):
        return None


def hand_over(folder: Path, key: str, shard: str, header_offset: int) -> None:
    """Record that shard `shard` now holds the mp4 (durably), then drop the staged copy. The marker
    is written in place: a torn one (a kill mid-write) is unreadable, and the staged copy, removed
    only after it, is still there."""
    marker(folder, key).write_text(json.dumps({"shard": shard, "header_offset": header_offset}), encoding="utf-8")
    staged_member(folder, key).unlink(missing_ok=True)


def sweep_temporaries(folder: Path) -> None:
    """Remove temporary files a killed writer left in a video's folder."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if is_temporary(name):
            (folder / name).unlink(missing_ok=True)


def all_handed_over(folder: Path, result: dict[str, Any]) -> bool:
    """True when no sample of the video has a staged mp4 left and each has a marker."""
    return all(not staged_member(folder, s["key"]).exists() and marker(folder, s["key"]).exists()
               for s in result.get("samples", []))


def clean_attempts(staging: Path) -> None:
    """Remove the attempt and trash folders of dead processes on this host (a worker of a killed
    run that is still running keeps its folder: it may still commit it, or will die)."""
    if not staging.is_dir():
        return
    for source in staging.iterdir():
        for folder in source.glob(".*") if source.is_dir() else ():
            if folder.name.endswith(".trash") or (folder.name.endswith(".attempt") and not _owner_alive(folder.name)):
                shutil.rmtree(folder, ignore_errors=True)


_HOST = socket.gethostname().replace(".", "_").replace("-", "_")[:40] or "host"


def _owner_alive(name: str) -> bool:
    """Whether the process named in an attempt folder's name may still be running."""
    try:
        host, pid = name.rsplit(".", 2)[-2].rsplit("-", 2)[:2]
        if host != _HOST:
            return True  # another machine's worker: not ours to judge
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
