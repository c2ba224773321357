"""Benchmark: `longvid build` throughput, the stream-copy segmenter against plain FFmpeg, and
peak memory at 1x and 10x the number of videos.

Generates an HD-VILA-format input (`hdvila_part0.jsonl`, one line per video with several clip
spans) and FFmpeg-made videos of 5-20 s under a media root (`download_videos/<id>.mp4`); the
10x input reuses the same files under more ids (hard links), so it costs no more to make. Each
build runs `python -m longvid.cli.main build` in a child process (a local Ray by default) while
a sampler reads /proc: the driver's peak RSS, and the peak summed RSS and PSS of everything
below it (Ray's GCS, raylet and workers, and their FFmpeg children).

The segmenter comparison takes the cuts of the 1x build from its clips table (source file,
real start, duration) and runs them one at a time, in the same run, with `longvid.media.segment.cut`
(stream copy; the source probed beforehand, as in the build) and with plain
`ffmpeg -ss S -i IN -t D -c copy OUT`; medians over --rounds.

    .venv/bin/python bench/build.py --videos 50 --scale 10 --work /tmp/lv-bench-build [--local]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from longvid.catalog.sql import query  # noqa: E402
from longvid.media.ffmpeg import ffmpeg_exe, run_ffmpeg  # noqa: E402
from longvid.media.probe import probe  # noqa: E402
from longvid.media.segment import cut  # noqa: E402

STAGES = ("fetch", "probe", "segment", "align")


# ---- input --------------------------------------------------------------------------------------

def video_id(i: int) -> str:
    return f"bench{i:06d}"  # 11 characters, like a YouTube id


def hms(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def make_video(path: Path, seconds: float, seed: int) -> None:
    """testsrc2 320x240 at 25 fps, a keyframe every second, with a sine audio track."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
                "-f", "lavfi", "-i", f"sine=frequency={300 + seed % 500}:duration={seconds}",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", str(tmp)], timeout=120)
    tmp.replace(path)


def spans_for(seconds: float, rnd: random.Random) -> list[tuple[float, float]]:
    """2-5 non-overlapping clip spans of 1.5-4 s inside the video."""
    spans, t = [], rnd.uniform(0.0, 1.0)
    for _ in range(rnd.randint(2, 5)):
        length = rnd.uniform(1.5, 4.0)
        if t + length > seconds - 0.2:
            break
        spans.append((round(t, 3), round(t + length, 3)))
        t += length + rnd.uniform(0.2, 2.0)
    return spans


def make_files(work: Path, videos: int, workers: int) -> tuple[dict[int, float], dict[int, list]]:
    """The distinct video files (work/files/<n>.mp4) and their durations and spans."""
    rnd = random.Random(0)
    durations = {i: round(rnd.uniform(5.0, 20.0), 2) for i in range(videos)}
    spans = {i: spans_for(d, random.Random(i)) for i, d in durations.items()}
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: make_video(work / "files" / f"{i}.mp4", durations[i], i), durations))
    return durations, spans


def make_input(root: Path, files: Path, count: int, distinct: int, spans: dict[int, list]) -> None:
    """manifests/hdvila/hdvila_part0.jsonl and media/hdvila/download_videos/ for `count` ids,
    id i using file i % distinct (hard-linked)."""
    shutil.rmtree(root, ignore_errors=True)
    manifest = root / "manifests" / "hdvila" / "hdvila_part0.jsonl"
    media = root / "media" / "hdvila" / "download_videos"
    manifest.parent.mkdir(parents=True)
    media.mkdir(parents=True)
    with open(manifest, "w", encoding="utf-8") as f:
        for i in range(count):
            vid, n = video_id(i), i % distinct
            clips = [{"clip_id": f"{vid}.{k}.mp4", "span": [hms(s), hms(e)]} for k, (s, e) in enumerate(spans[n])]
            f.write(json.dumps({"video_id": vid, "url": f"https://www.youtube.com/watch?v={vid}", "clip": clips}) + "\n")
            src, dst = files / f"{n}.mp4", media / f"{vid}.mp4"
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)


# ---- memory ------------------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(name))
    return tree


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples a child process and everything below it every `every` seconds."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every = pid, every
        self.driver_peak = self.tree_rss_peak = self.tree_pss_peak = 0  # KiB
        self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        self.driver_peak = max(self.driver_peak, _status_kib(self.pid, "VmHWM"), _status_kib(self.pid, "VmRSS"))
        tree, below, todo = _children(), [], list(_children().get(self.pid, []))
        while todo:
            pid = todo.pop()
            below.append(pid)
            todo.extend(tree.get(pid, []))
        self.max_procs = max(self.max_procs, len(below))
        self.tree_rss_peak = max(self.tree_rss_peak, sum(_status_kib(p, "VmRSS") for p in below))
        self.tree_pss_peak = max(self.tree_pss_peak, sum(_pss_kib(p) for p in below))


# ---- builds -------------------------------------------------------------------------------------

def run_build(root: Path, corpus: Path, runner: str, workers: int) -> dict[str, Any]:
    shutil.rmtree(corpus, ignore_errors=True)
    args = [sys.executable, "-m", "longvid.cli.main", "build", "--sources", "hdvila",
            "--manifests", str(root / "manifests"), "--media-root", str(root / "media"), "--out", str(corpus),
            "--runner", runner, "--workers", str(workers)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    env.pop("RAY_ADDRESS", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=REPO)
        with MemorySampler(proc.pid) as mem:
            rc = proc.wait()
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if rc != 0:
            raise SystemExit(f"build failed ({rc}):\n{err.read().decode(errors='replace')[-3000:]}")
        summary = json.loads(out.read())
    return {"summary": summary, "child_seconds": seconds, "driver_peak_mib": mem.driver_peak / 1024,
            "tree_rss_mib": mem.tree_rss_peak / 1024, "tree_pss_mib": mem.tree_pss_peak / 1024,
            "procs": mem.max_procs}


def cuts_from_clips(corpus: Path, media: Path) -> list[dict[str, Any]]:
    """The 1x build's cuts: source file, requested and real range, from the catalog."""
    rows = query(corpus, "SELECT v.media_path, c.requested_start, c.requested_end, c.start, c.duration "
                         "FROM clips c JOIN videos v USING (video_uid) ORDER BY c.key")[1]
    return [{"src": media / "hdvila" / p, "req_start": rs, "req_end": re_, "start": s, "duration": d}
            for p, rs, re_, s, d in rows]


def time_segmenter(cuts: list[dict[str, Any]], out: Path, infos: dict[Path, Any]) -> float:
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for i, c in enumerate(cuts):
        cut(c["src"], out / f"{i}.mp4", c["req_start"], c["req_end"], mode="copy", info=infos[c["src"]],
            keyframes=infos[c["src"]].keyframes)
    return time.perf_counter() - started


def time_plain_ffmpeg(cuts: list[dict[str, Any]], out: Path) -> float:
    out.mkdir(parents=True, exist_ok=True)
    exe = ffmpeg_exe()
    started = time.perf_counter()
    for i, c in enumerate(cuts):
        subprocess.run([exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{c['start']:.6f}",
                        "-i", str(c["src"]), "-t", f"{c['duration']:.6f}", "-c", "copy", str(out / f"{i}.mp4")],
                       check=True, capture_output=True)
    return time.perf_counter() - started


# ---- report -------------------------------------------------------------------------------------

def row(label: str, runs: list[dict[str, Any]]) -> list[str]:
    med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
    s = runs[0]["summary"]
    per_stage = " ".join(f"{st[:3]} {med(lambda r: r['summary']['stage_videos_per_second'].get(st, 0)):.1f}"
                         for st in STAGES)
    return [label, f"{s['videos']}", f"{s['samples']}", f"{s['shards']}",
            f"{med(lambda r: r['summary']['wall_seconds']):.1f}",
            f"{med(lambda r: r['summary']['videos_per_second']):.2f}",
            f"{med(lambda r: r['summary']['samples'] / r['summary']['wall_seconds']):.1f}", per_stage,
            f"{med(lambda r: r['driver_peak_mib']):.0f}",
            f"{med(lambda r: r['tree_rss_mib']):.0f}/{med(lambda r: r['tree_pss_mib']):.0f}",
            f"{max(r['procs'] for r in runs)}"]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50, help="videos at 1x (distinct files)")
    parser.add_argument("--scale", type=int, default=10, help="the larger run has scale x videos (same files)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-build"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="CPUs for Ray / threads for local")
    parser.add_argument("--repeat", type=int, default=1, help="build runs per configuration (medians shown)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the segmenter-vs-ffmpeg comparison")
    parser.add_argument("--local", action="store_true", help="also run every build with --runner local")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    durations, spans = make_files(work, args.videos, args.workers)
    n_spans = sum(len(spans[i]) for i in durations)
    print(f"input: {args.videos} FFmpeg-made videos (320x240, 25 fps, 5-20 s, {sum(durations.values()) / 60:.1f} min), "
          f"{n_spans} clip spans (HD-VILA jsonl); {time.perf_counter() - t0:.0f} s to make", flush=True)

    runners = ["ray"] + (["local"] if args.local else [])
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for scale in (1, args.scale):
        count = args.videos * scale
        root = work / f"input-{scale}x"
        make_input(root, work / "files", count, args.videos, spans)
        for runner in runners:
            runs = []
            for i in range(args.repeat):
                runs.append(run_build(root, work / f"corpus-{scale}x-{runner}", runner, args.workers))
                s = runs[-1]["summary"]
                print(f"  {scale}x {runner} run {i + 1}: {s['videos']} videos, {s['samples']} samples, "
                      f"{s['wall_seconds']:.1f} s", flush=True)
            results[(scale, runner)] = runs

    # the segmenter against plain ffmpeg, on the 1x build's cuts, one at a time, same run
    corpus = work / "corpus-1x-ray"
    cuts = cuts_from_clips(corpus, work / "input-1x" / "media")
    infos = {src: probe(src) for src in {c["src"] for c in cuts}}
    seg_times, ff_times = [], []
    for r in range(args.rounds):
        seg_times.append(time_segmenter(cuts, work / "cut-longvid", infos))
        ff_times.append(time_plain_ffmpeg(cuts, work / "cut-ffmpeg"))
    seg_rate, ff_rate = len(cuts) / statistics.median(seg_times), len(cuts) / statistics.median(ff_times)

    print()
    print(f"== builds (--workers {args.workers}; medians of {args.repeat} run(s); per-stage = videos/s of one worker "
          f"from the summary; memory = peaks sampled from /proc every 0.1 s)")
    header = ["run", "videos", "samples", "shards", "wall s", "videos/s", "samples/s",
              "per stage (fet/pro/seg/ali videos/s)", "driver MiB", "ray+workers RSS/PSS MiB", "procs"]
    print(table(header, [row(f"{scale}x {runner}", runs) for (scale, runner), runs in results.items()]))
    print()
    print(f"== stream-copy segmenter vs plain `ffmpeg -ss S -i IN -t D -c copy OUT` ({len(cuts)} cuts from the 1x "
          f"clips table, one at a time, median of {args.rounds} rounds)")
    print(table(["tool", "cuts/s", "ms/cut", "rounds (s)"], [
        ["ffmpeg -c copy alone", f"{ff_rate:.1f}", f"{1000 / ff_rate:.1f}", " ".join(f"{t:.2f}" for t in ff_times)],
        ["longvid cut(mode=copy)", f"{seg_rate:.1f}", f"{1000 / seg_rate:.1f}", " ".join(f"{t:.2f}" for t in seg_times)],
    ]))
    print(f"ratio segmenter/ffmpeg: {seg_rate / ff_rate:.2f} (the segmenter also probes its output and checks it)")
    one = results[(1, "ray")][0]["summary"]
    seg_cuts = one["stage_videos_per_second"].get("segment", 0) * one["samples"] / max(one["videos"], 1)
    print(f"in-build segment stage (ray, 1x): {seg_cuts:.1f} cuts/s per worker")
    big, small = results[(args.scale, "ray")], results[(1, "ray")]
    print(f"memory {args.scale}x/1x (ray): driver {statistics.median(r['driver_peak_mib'] for r in big) / statistics.median(r['driver_peak_mib'] for r in small):.2f}, "
          f"ray+workers PSS {statistics.median(r['tree_pss_mib'] for r in big) / statistics.median(r['tree_pss_mib'] for r in small):.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
