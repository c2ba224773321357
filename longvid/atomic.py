"""Write a file so that no reader ever sees half of it: the one write-then-rename helper.

The content goes to `<name>.tmp-<pid>-<random>` in the same folder, is fsynced, and is renamed
over `<name>`; the folder is fsynced too, so the rename survives a crash. A killed writer leaves
only a temporary file, which `is_temporary` recognises (for the clean-up of a rerun).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Callable

TMP_PATTERN = re.compile(r"\.tmp-\d+(?:-[0-9a-f]+)?(?:\.[A-Za-z0-9]{1,5})?$")


def temporary_name(path: Path, keep_suffix: bool = False) -> Path:
    """A fresh temporary name beside `path` (unique across processes and threads); with
    `keep_suffix` it ends in the same extension (`x.tmp-<pid>-<hex>.mp4`: FFmpeg picks the muxer by it)."""
    path = Path(path)
    tag = f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    if keep_suffix and path.suffix:
        return path.with_name(f"{path.stem}{tag}{path.suffix}")
    return path.with_name(f"{path.name}{tag}")


def is_temporary(name: str) -> bool:
    return bool(TMP_PATTERN.search(name))


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder, so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, path: Path, *, durable: bool = True) -> None:
    """Rename the finished temporary file `tmp` over `path`; `durable` fsyncs the file first and
    the folder after (a cache file that is checked by size on reuse can skip that)."""
    if durable:
        fsync_path(tmp)
    os.replace(tmp, path)
    if durable:
        fsync_path(Path(path).parent)


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to fill a temporary file, then fsync it and rename it to `path`."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        write(tmp)
        commit(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    write_atomic(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
