"""Benchmark: streaming ingest of a multi-GB HowTo100M caption.json, against a plain json.load.

Generates a caption.json of at least --gb GiB (real layout: video id -> parallel start/end/text
arrays, float32-noisy times), ingests it with `longvid ingest` in a child process, and reports
segments/s and the child's peak memory. For comparison it parses a smaller file (--baseline-mb)
with a plain `json.load` (which holds the whole document in memory) in another child, and prints
the rate ratio measured in the same run.

    .venv/bin/python bench/ingest_captions.py --gb 1.0 --work /tmp/lv-bench
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORDS = ("so now we are going to take the screw and put it right here then you just turn it "
         "until it is tight and that is it music okay").split()


def video_id(i: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rnd = random.Random(i)
    return "".join(rnd.choice(alphabet) for _ in range(11))


def write_manifests(folder: Path, target_bytes: int, seed: int = 0) -> tuple[int, int]:
    """HowTo100M_v1.csv, task_ids.csv and a caption.json of at least target_bytes; returns (videos, segments).
    Files made by an earlier run with the same size and seed are reused."""
    made = folder / "made.json"
    if made.exists():
        info = json.loads(made.read_text())
        if info["target_bytes"] == target_bytes and info["seed"] == seed:
            return info["videos"], info["segments"]
    folder.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    videos = segments = 0
    with open(folder / "caption.json", "w") as cap, open(folder / "HowTo100M_v1.csv", "w") as csv:
        csv.write("video_id,category_1,category_2,rank,task_id\n")
        cap.write("{")
        while cap.tell() < target_bytes:
            vid = video_id(videos)
            n = rnd.randint(40, 160)
            t, starts, ends, texts = 0.0, [], [], []
            for _ in range(n):
                t += rnd.uniform(0.5, 4.0)
                starts.append(float(f"{t:.2f}") + rnd.choice([0.0, 1.9e-8, -2.3e-8]))
                ends.append(round(t + rnd.uniform(1.0, 5.0), 2))
                texts.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 9))))
            cap.write(("," if videos else "") + json.dumps(vid) + ":" +
                      json.dumps({"start": starts, "end": ends, "text": texts}))
            csv.write(f"{vid},Home and Garden,Tools,{rnd.randint(1, 200)},{rnd.randint(0, 999)}\n")
            videos += 1
            segments += n
        cap.write("}")
    (folder / "task_ids.csv").write_text("".join(f"{i}\tDo task number {i}\n" for i in range(1000)))
    made.write_text(json.dumps({"target_bytes": target_bytes, "seed": seed, "videos": videos, "segments": segments}))
    return videos, segments


def run_child(code: str) -> tuple[float, int]:
    """Run python code in a child; returns (seconds, the child's own peak RSS in bytes)."""
    code += "\nimport resource; print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    peak_kib = int(out.rsplit("PEAK_KIB", 1)[1].split()[0])
    return seconds, peak_kib * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of the big caption.json in GiB")
    parser.add_argument("--baseline-mb", type=float, default=100.0, help="size of the json.load comparison file")
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-captions"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    big, small = args.work / "big" / "howto100m", args.work / "small" / "howto100m"
    t0 = time.perf_counter()
    big_videos, big_segments = write_manifests(big, int(args.gb * 2**30))
    small_videos, small_segments = write_manifests(small, int(args.baseline_mb * 2**20), seed=1)
    size = (big / "caption.json").stat().st_size
    print(f"generated caption.json: {size / 2**30:.2f} GiB, {big_videos} videos, {big_segments} segments "
          f"({time.perf_counter() - t0:.0f} s); baseline file {(small / 'caption.json').stat().st_size / 2**20:.0f} MiB")

    stream_s, stream_peak = run_child(
        "from longvid.catalog.ingest import ingest; "
        f"ingest(['howto100m'], {str(big.parent)!r}, {str(args.work / 'corpus')!r})")
    load_s, load_peak = run_child(
        "import json; d = json.load(open(" + repr(str(small / "caption.json")) + ")); "
        "n = sum(len(v['text']) for v in d.values()); print(n, 'segments in json.load')")

    stream_rate, load_rate = big_segments / stream_s, small_segments / load_s
    print(f"longvid ingest (stream, parse + validate + write Parquet): {stream_rate:,.0f} segments/s "
          f"({stream_s:.1f} s for {size / 2**30:.2f} GiB), peak RSS {stream_peak / 2**20:.0f} MiB")
    print(f"plain json.load (parse only, whole file in memory):      {load_rate:,.0f} segments/s "
          f"({load_s:.1f} s for {args.baseline_mb:.0f} MiB), peak RSS {load_peak / 2**20:.0f} MiB "
          f"(projected for the big file: ~{load_peak / 2**20 * size / (small / 'caption.json').stat().st_size:,.0f} MiB)")
    print(f"rate ratio stream/json.load: {stream_rate / load_rate:.2f}")
    print(f"peak memory under 1 GiB: {'yes' if stream_peak < 2**30 else 'NO'}")
    shutil.rmtree(args.work / "corpus", ignore_errors=True)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
