"""The disk a build uses: the bytes under the corpus folder, sampled in a thread, and their peak.

Each file is counted once however many hard links it has (a whole-video sample linked to its
fetched media is one file), by its allocated blocks. A scan of a large corpus is not free, so
the monitor waits nine times as long as its last scan took before the next one: it costs at
most a tenth of one core.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


def disk_bytes(root: Path) -> int:
    """Allocated bytes of every file under `root`, each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        st = entry.stat(follow_symlinks=False)
                        if (st.st_dev, st.st_ino) not in seen:
                            seen.add((st.st_dev, st.st_ino))
                            total += st.st_blocks * 512
                except OSError:
                    continue  # removed while we looked
    return total


class DiskMonitor:
    """`with DiskMonitor(corpus) as disk: ...` then `disk.peak` (bytes)."""

    def __init__(self, root: Path, min_interval: float = 0.25):
        self.root, self.min_interval = Path(root), min_interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-monitor", daemon=True)

    def _sample(self) -> float:
        started = time.perf_counter()
        self.peak = max(self.peak, disk_bytes(self.root))
        return time.perf_counter() - started

    def _run(self) -> None:
        while True:
            took = self._sample()
            if self._stop.wait(max(self.min_interval, 9 * took)):
                return

    def __enter__(self) -> DiskMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
