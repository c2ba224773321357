"""Benchmark: peak memory of `longvid build` as the number of videos grows tenfold.

Builds the same kind of manifests at N and 10*N videos (tests/support/crawl_site.py with its
faults off: 60% direct files, 30% pages through yt-dlp, 10% span-only downloads of 12-s videos),
each as a `longvid build` child process, sampling every 0.1 s the memory of the child's whole
process tree (the driver, a local Ray's processes or the runner's threads, FFmpeg) as PSS (shared
pages counted once), and the driver's RSS. Prints the peaks per size (the tree's with and
without the FFmpeg children, whose number at once depends on the moment sampled, not on the
number of videos) and their ratios.

    .venv/bin/python bench/flat_memory.py [--videos 40] [--factor 10] [--runner local|ray] [--work DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.crawl_site import FaultySite, make_site  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _pss(pid: int) -> int:
    """Proportional set size of a process in bytes (shared pages split between their users, so a
    child forked a moment before it runs FFmpeg does not count the driver's memory twice)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> tuple[int, int, int]:
    """(PSS of `root` and all its descendants, of those not FFmpeg, RSS of `root` alone) in bytes, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    ffmpeg: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                name, rest = f.read().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):
            continue
        fields = rest.split()
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * PAGE
        if name.startswith("ffmpeg"):
            ffmpeg.add(pid)
    parent = {child: ppid for ppid, kids in children.items() for child in kids}
    total = python = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid != root and rss.get(pid) == rss.get(parent.get(pid)):
            continue  # a child between vfork and exec (about to become FFmpeg): it shares its parent's memory
        pss = _pss(pid)
        total += pss
        python += 0 if pid in ffmpeg else pss
    return total, python, rss.get(root, 0)


def measure(args: list[str]) -> tuple[float, int, int, int]:
    """(seconds, peak tree RSS, peak tree RSS without FFmpeg, peak driver RSS) of one build child."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "ray_address")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    peak = [0, 0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for i, value in enumerate(tree_rss(proc.pid)):
                peak[i] = max(peak[i], value)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"build failed ({proc.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    return time.perf_counter() - started, peak[0], peak[1], peak[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=40)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--runner", default="local")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-memory"))
    opts = parser.parse_args()
    shutil.rmtree(opts.work, ignore_errors=True)
    results = []
    for n in (opts.videos, opts.videos * opts.factor):
        site_root = opts.work / f"site{n}"
        with FaultySite(site_root) as site:
            site.faults = False
            make_site(site_root, site.base_url, direct=n * 6 // 10, pages=n * 3 // 10, spans=n - n * 6 // 10 - n * 3 // 10)
            seconds, tree, python, own = measure([
                sys.executable, "-m", "longvid.cli.main", "build", "--sources", "webvid,miradata",
                "--manifests", str(site_root / "manifests"), "--out", str(opts.work / f"corpus{n}"),
                "--runner", opts.runner, "--workers", str(opts.workers), "--allow-private-hosts"])
        results.append((n, seconds, tree, python, own))
        print(f"{n:5d} videos: {seconds:6.1f} s, peak PSS of the build's process tree {tree / 2**20:7.1f} MiB "
              f"(without FFmpeg children {python / 2**20:7.1f} MiB), peak RSS of the driver {own / 2**20:7.1f} MiB",
              flush=True)
    (n0, _, t0, p0, d0), (n1, _, t1, p1, d1) = results
    print(f"{n1 // n0}x the videos: peak tree PSS x{t1 / t0:.2f}, without FFmpeg x{p1 / p0:.2f}, "
          f"peak driver RSS x{d1 / d0:.2f}")


if __name__ == "__main__":
    main()
