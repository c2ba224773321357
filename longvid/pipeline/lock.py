"""One build per corpus: an exclusive lock on CORPUS/.lock, held by the build's driver.

The lock is an flock, so it is released when the driver dies however it dies (SIGKILL too),
and a second build on the same corpus exits at once naming the holder (written into the file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

from longvid.errors import UserError
from longvid.layout import lock_file


class CorpusBusy(UserError):
    """Another build holds the corpus."""


@contextlib.contextmanager
def corpus_lock(corpus: Path) -> Iterator[None]:
    """Hold CORPUS/.lock for the duration; raise CorpusBusy at once if another process holds it."""
    corpus = Path(corpus)
    corpus.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file(corpus), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            raise CorpusBusy(f"{corpus} is being built by {holder}; wait for it to end or stop it") from None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:300]
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {started} ({command})\n".encode(), 0)
        yield
    finally:
        os.close(fd)
