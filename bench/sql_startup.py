"""Benchmark: `longvid sql` start-up against a bare DuckDB Python query over the same Parquet files.

Both run as fresh processes, alternately, on the same corpus; the figure is the median wall
time of each and their ratio (the issue's bound: longvid at most 1.5x the bare query).

    .venv/bin/python bench/sql_startup.py CORPUS [--runs 21]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    clips = args.corpus.resolve() / "catalog" / "clips" / "*.parquet"
    bare = [sys.executable, "-c", "import duckdb; print(duckdb.sql(\"SELECT count(*) FROM "
            f"read_parquet('{clips}')\").fetchall())"]
    ours = [str(BIN / "longvid"), "sql", str(args.corpus), "SELECT count(*) FROM clips"]
    times: dict[str, list[float]] = {"bare duckdb": [], "longvid sql": []}
    for _ in range(args.runs):
        times["bare duckdb"].append(wall(bare))
        times["longvid sql"].append(wall(ours))
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    for name, m in medians.items():
        print(f"{name:12s} median {m * 1000:.0f} ms over {args.runs} runs (min {min(times[name]) * 1000:.0f} ms)")
    print(f"ratio longvid sql / bare duckdb: {medians['longvid sql'] / medians['bare duckdb']:.2f}")


if __name__ == "__main__":
    main()
