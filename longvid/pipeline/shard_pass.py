"""Shard passes: stages of scope "shard" that run over finished video shards as an actor pool.

A pass declares its name, the resources of one actor, how many actors, how an actor is made
(`make`: the model is loaded once per actor) and what it does with one shard (`run`: writes the
pass's own outputs beside the shards, `<out>/<shard>.tar` with its index and stats, and returns
the stats). The driver (`run_pass`):

- checks before any actor starts that the cluster can host them all (longvid.run.placement): a
  request no node can host is one line naming what was asked and the largest node;
- resumes per shard: a shard whose outputs are current (finished, and their stats record this
  very input shard, by name and sha256) is skipped, by the driver when the pass names its output
  folder up front (`out_dir`), else by the actor (`outputs_current`, before any work);
- prints a progress line as shards finish (shards done, and the pass's own rates);
- returns every shard's stats in shard order.

HiCo precompress (longvid.hico.run) and the proxies of `longvid build --proxy` (longvid.pipeline.proxies)
are passes. Passes get the runner from their caller (a private Ray, a cluster, or this process).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from longvid.layout import shard_dir
from longvid.run.placement import Node, place_actors
from longvid.run.resources import Resources


@dataclass(frozen=True)
class ShardInput:
    """A finished video shard, as a pass sees it."""

    name: str
    tar: Path
    index: Path
    sha256: str
    samples: int

    def identity(self) -> dict[str, str]:
        """What a pass's stats record as their input (`"input"`); outputs are current while it holds."""
        return {"shard": self.name, "sha256": self.sha256}


def finished_shards(corpus: Path, folder: Path | None = None) -> list[ShardInput]:
    """The finished shards of `folder` (default: the corpus's video shards), in name order."""
    from longvid.shards.reader import done_shards
    from longvid.shards.writer import read_stats

    folder = Path(folder) if folder is not None else shard_dir(corpus)
    out = []
    for name in done_shards(folder):
        stats = read_stats(folder, name) or {}
        out.append(ShardInput(name, folder / f"{name}.tar", folder / f"{name}.parquet", str(stats.get("sha256", "")),
                              int(stats.get("samples", 0))))
    return out


def outputs_current(out_dir: Path, shard: ShardInput) -> dict[str, Any] | None:
    """The stats of the pass's output for `shard` in `out_dir` when they are finished and made
    from this very shard; None when the shard needs the pass (again). Outputs whose stats record
    no input (written before inputs were recorded) count as current."""
    from longvid.shards.writer import read_stats, shard_done

    if not shard_done(out_dir, shard.name):
        return None
    stats = read_stats(out_dir, shard.name)
    if stats is None:
        return None
    recorded = stats.get("input")
    if recorded is not None and recorded != shard.identity():
        return None
    return stats


@dataclass(frozen=True)
class ShardPass:
    """A stage of scope "shard" (see the module doc)."""

    name: str
    make: Callable[[], Any]
    run: Callable[[Any, ShardInput], dict[str, Any]]
    resources: Resources = Resources()
    actors: int = 1
    out_dir: Path | None = None  # the outputs' folder when known before an actor is made
    rates: Callable[[list[dict[str, Any]], float], str] | None = None  # the pass's part of the progress line
    scope: str = "shard"

    @property
    def actor_name(self) -> str:
        return f"{self.name} actor"


def fit_actors(runner: Any, resources: Resources, actors: int, what: str) -> list[Node] | None:
    """Check that the runner's cluster can host `actors` actors asking `resources` each; returns the
    nodes with what they have left (None for a runner without a cluster: this process)."""
    if not hasattr(runner, "nodes"):
        return None
    return place_actors(runner.nodes(), resources, actors, what)


def run_pass(spec: ShardPass, shards: list[ShardInput], runner: Any,
             log: Callable[[str], None] = lambda message: None) -> list[dict[str, Any]]:
    """Run `spec` over `shards` on `runner`; returns their stats in shard order (see the module doc)."""
    stats: dict[str, dict[str, Any]] = {}
    todo = []
    for shard in shards:
        current = outputs_current(spec.out_dir, shard) if spec.out_dir is not None else None
        if current is not None:
            stats[shard.name] = {**current, "current": True}
        else:
            todo.append(shard)
    if todo:
        fit_actors(runner, spec.resources, spec.actors, spec.actor_name)
        started, fresh = time.perf_counter(), []
        for shard, st in runner.map_actors(spec.make, spec.run, todo, spec.actors, spec.resources):
            stats[shard.name] = st
            if not st.get("current"):
                fresh.append(st)
            log(progress_line(spec, len(stats), len(shards), sum(bool(s.get("current")) for s in stats.values()),
                              fresh, time.perf_counter() - started))
    elif shards:
        log(f"[{spec.name}] all {len(shards)} shards are current")
    return [stats[shard.name] for shard in shards]


def progress_line(spec: ShardPass, done: int, total: int, current: int, fresh: list[dict[str, Any]],
                  wall: float) -> str:
    """`[name] shards 3/10 (1 current) | <the pass's rates>`."""
    line = f"[{spec.name}] shards {done}/{total} ({current} current)"
    if spec.rates is not None and fresh:
        line += " | " + spec.rates(fresh, wall)
    return line
