"""The watchdog of a private local Ray: when the driver stops, however it stops, the Ray goes too.

Ray ties its GCS and raylet to the driver (the kernel kills them when it dies), and the raylet's
workers stop soon after, but some of its helpers (the dashboard and runtime-env agents) outlive
the raylet, and a worker that is busy in a task keeps running for a while. This small process,
started by the driver with a pipe on its stdin, records twice a second the Ray's processes and
all their descendants (until the driver names the Ray's processes with a `roots PID...` line,
every descendant of the driver). When the driver writes `exit`, or the pipe closes (the driver
is gone: EOF), it SIGKILLs every recorded process that is still the same process (its start
time unchanged), with the process group of those that lead one (a Ray worker leads its own, so
FFmpeg children go with it), and removes the Ray's private temporary folder.

Linux only (/proc); elsewhere the driver does not start it. Run as
`python -m longvid.run.watchdog DRIVER_PID TEMP_DIR`.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
from pathlib import Path

POLL_SECONDS = 0.5


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgid, start time in clock ticks) of `pid`, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return int(fields[1]), int(fields[2]), int(fields[19])


def descendants(root: int) -> dict[int, tuple[int, int]]:
    """{pid: (pgid, start time)} of every living descendant of `root`."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is not None:
            children.setdefault(st[0], []).append(int(entry))
            info[int(entry)] = (st[1], st[2])
    found: dict[int, tuple[int, int]] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in info and pid not in found:
            found[pid] = info[pid]
            todo.extend(children.get(pid, []))
    return found


def kill_recorded(recorded: dict[int, tuple[int, int]]) -> None:
    """SIGKILL each recorded process that is still the same one (and its group if it leads it)."""
    me = os.getpid()
    for pid, (pgid, started) in recorded.items():
        st = _stat(pid)
        if pid == me or st is None or st[2] != started:
            continue
        try:
            if pgid == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def watch(driver: int, temp_dir: Path) -> None:
    """Record the Ray's processes until told `exit` or stdin closes; then kill them all."""
    recorded: dict[int, tuple[int, int]] = {}
    roots, told = [driver], b""
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    while b"exit" not in told:
        for root in roots:
            recorded.update(descendants(root))
            st = _stat(root)
            if root != driver and st is not None:
                recorded[root] = (st[1], st[2])
        ready, _, _ = select.select([stdin], [], [], POLL_SECONDS)
        if ready:
            data = os.read(stdin.fileno(), 4096)
            if not data:
                break
            told += data
            for line in told.split(b"\n")[:-1]:
                if line.startswith(b"roots "):
                    roots = [int(pid) for pid in line.split()[1:]]
    kill_recorded(recorded)
    shutil.rmtree(temp_dir, ignore_errors=True)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of the user's terminal is for the driver
    watch(int(sys.argv[1]), Path(sys.argv[2]))


if __name__ == "__main__":
    main()
