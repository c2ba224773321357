"""Live progress on stderr while a build runs, and the summary at its end."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO


@dataclass
class Progress:
    """Counts per stage, failures by cause, throughput; prints at most every `every` seconds."""

    total_videos: int
    out: TextIO = field(default_factory=lambda: sys.stderr)
    every: float = 1.0
    started: float = field(default_factory=time.perf_counter)
    videos_done: int = 0
    videos_cached: int = 0
    stage_done: Counter = field(default_factory=Counter)
    stage_seconds: Counter = field(default_factory=Counter)
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> in, out, unit, dropped, seconds
    filtered: int = 0
    samples: int = 0
    video_seconds: float = 0.0
    failures: Counter = field(default_factory=Counter)
    shards_total: int = 0
    shards_done: int = 0
    _last: float = 0.0

    def video(self, result: dict[str, Any], cached: bool, kept: int | None = None) -> None:
        """Count one video's result; `kept` of its samples go to the shards (all when None)."""
        self.videos_done += 1
        self.videos_cached += cached
        if not cached:
            for stage, seconds in result.get("seconds", {}).items():
                self.stage_done[stage] += 1
                self.stage_seconds[stage] += seconds
            for stage, counts in result.get("counts", {}).items():
                self.count(stage, counts, result.get("seconds", {}).get(stage, 0.0))
        self.samples += len(result["samples"]) if kept is None else kept
        self.video_seconds += result.get("duration") or 0.0
        for e in result["errors"]:
            self.failures[f"{e['stage']}:{e['cause']}"] += 1
        self.show()

    def count(self, stage: str, counts: dict[str, Any], seconds: float = 0.0) -> None:
        """Add one unit of work's in/out/dropped-by-reason counts to stage `stage`'s."""
        entry = self.stages.setdefault(stage, {"in": 0, "out": 0, "unit": counts.get("unit", "samples"),
                                               "dropped": Counter(), "seconds": 0.0})
        entry["in"] += counts.get("in", 0)
        entry["out"] += counts.get("out", 0)
        entry["dropped"].update(counts.get("dropped", {}))
        entry["seconds"] += seconds
        self.filtered += sum(counts.get("dropped", {}).values())

    def shard(self, planned: int) -> None:
        self.shards_done += 1
        self.shards_total = planned
        self.show()

    def show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last < self.every:
            return
        self._last = now
        stages = " ".join(f"{s} {c['in']}>{c['out']}" for s, c in self.stages.items())
        rate = self.videos_done / max(now - self.started, 1e-9)
        print(f"[build] videos {self.videos_done}/{self.total_videos} ({self.videos_cached} resumed) | {stages} | "
              f"samples {self.samples} ({self.filtered} filtered) | failures {sum(self.failures.values())} | "
              f"shards {self.shards_done}/{self.shards_total} | {rate:.2f} videos/s", file=self.out, flush=True)

    def summary(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.started
        worked = self.videos_done - self.videos_cached
        return {
            "videos": self.videos_done, "resumed": self.videos_cached, "samples": self.samples,
            "shards": self.shards_done, "failures": dict(sorted(self.failures.items())),
            "wall_seconds": round(wall, 3), "videos_per_second": round(self.videos_done / max(wall, 1e-9), 4),
            "video_hours_per_hour": round(self.video_seconds / max(wall, 1e-9), 2),
            "stage_videos_per_second": {s: round(worked / t, 3) for s, t in self.stage_seconds.items() if t > 0},
            "filtered": self.filtered,
            "stages": {s: {**c, "dropped": dict(sorted(c["dropped"].items())), "seconds": round(c["seconds"], 3)}
                       for s, c in self.stages.items()},
        }

    def print_summary(self, summary: dict[str, Any]) -> None:
        lines = [f"[build] done: {summary['videos']} videos ({summary['resumed']} resumed), {summary['samples']} samples "
                 f"in {summary['shards']} shards, {summary['wall_seconds']:.1f} s",
                 f"[build] throughput: {summary['videos_per_second']:.2f} videos/s, "
                 f"{summary['video_hours_per_hour']:.1f} hours of video per hour; per stage (videos/s of one worker): "
                 + ", ".join(f"{k} {v}" for k, v in summary["stage_videos_per_second"].items())]
        lines.append("[build] per stage (in > out): " + ", ".join(
            f"{s} {c['in']} > {c['out']} {c['unit']}" + (f" (dropped: {', '.join(f'{r} {n}' for r, n in c['dropped'].items())})"
                                                        if c["dropped"] else "")
            for s, c in summary["stages"].items()))
        if summary["failures"]:
            lines.append("[build] failures: " + ", ".join(f"{k} {v}" for k, v in summary["failures"].items()))
        print("\n".join(lines), file=self.out, flush=True)
