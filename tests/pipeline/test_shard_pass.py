"""The shard-pass driver (longvid.pipeline.shard_pass) with a small real pass, and the fit check
that runs before any actor starts (longvid.run.placement)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from longvid.pipeline.shard_pass import ShardInput, ShardPass, finished_shards, outputs_current, run_pass
from longvid.run.local import LocalRunner
from longvid.run.placement import Infeasible, Node, free_cpus, place_actors
from longvid.run.resources import Resources
from longvid.shards.reader import iter_shard
from longvid.shards.writer import Sample, read_stats, write_shard
from tests.pipeline.conftest import Built


class SizeCounter:
    """A pass's actor: writes, per video shard, a shard of each sample's mp4 size; counts its loads."""

    loads = 0

    def __init__(self, out: Path):
        SizeCounter.loads += 1
        self.out = out

    def run(self, shard: ShardInput) -> dict[str, Any]:
        samples = [Sample(s["__key__"], {"txt": str(len(s["mp4"])).encode()}) for s in iter_shard(shard.tar)]
        write_shard(self.out, shard.name, samples, allow_empty=True, extra_stats={"input": shard.identity()})
        return read_stats(self.out, shard.name) or {}


def size_pass(out: Path, out_dir: Path | None) -> ShardPass:
    return ShardPass("sizes", make=lambda: SizeCounter(out), run=lambda worker, shard: worker.run(shard),
                     resources=Resources(cpus=1), out_dir=out_dir,
                     rates=lambda fresh, wall: f"{sum(st['samples'] for st in fresh)} samples")


def test_a_pass_runs_once_per_shard_and_resumes_per_shard(reference: Built, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(reference.corpus / "shards", corpus / "shards")
    shards = finished_shards(corpus)
    assert len(shards) >= 3 and all(s.sha256 and s.samples for s in shards)
    out, lines = tmp_path / "sizes", []
    SizeCounter.loads = 0
    stats = run_pass(size_pass(out, out), shards, LocalRunner(), lines.append)
    assert SizeCounter.loads == 1 and [st["shard"] for st in stats] == [s.name for s in shards]
    assert sum(st["samples"] for st in stats) == sum(s.samples for s in shards)
    assert lines[-1] == f"[sizes] shards {len(shards)}/{len(shards)} (0 current) | {stats[0]['samples']} samples" or \
        lines[-1].startswith(f"[sizes] shards {len(shards)}/{len(shards)} (0 current) | ")

    # all current: skipped by the driver, no actor made
    again = run_pass(size_pass(out, out), shards, LocalRunner(), lines.append)
    assert SizeCounter.loads == 1 and all(st["current"] for st in again)
    assert lines[-1] == f"[sizes] all {len(shards)} shards are current"

    # a video shard rewritten (other bytes, same name): its outputs are stale, the others current
    first = shards[0]
    kept = [Sample(s["__key__"], {k: v for k, v in s.items() if k != "__key__"},
                   json.loads(s["json"])["duration"], json.loads(s["json"])["source"],
                   json.loads(s["json"])["video_uid"]) for s in iter_shard(first.tar)][:-1]
    write_shard(corpus / "shards", first.name, kept)
    changed = finished_shards(corpus)
    assert changed[0].sha256 != first.sha256 and outputs_current(out, changed[0]) is None
    assert all(outputs_current(out, s) is not None for s in changed[1:])
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    # the actor decides (out_dir unknown up front): it is made, and redoes only the stale shard
    worker_side = ShardPass("sizes", make=lambda: SizeCounter(out),
                            run=lambda w, s: {**cur, "current": True} if (cur := outputs_current(out, s)) else w.run(s))
    redone = run_pass(worker_side, changed, LocalRunner())
    assert SizeCounter.loads == 2 and [bool(st.get("current")) for st in redone] == [False] + [True] * (len(changed) - 1)
    assert redone[0]["samples"] == len(kept) and redone[0]["input"]["sha256"] == changed[0].sha256
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}.items() - mtimes.items() == \
        {(f"{first.name}.tar", (out / f"{first.name}.tar").stat().st_mtime_ns)}


def test_fit_check_names_the_ask_and_the_largest_node() -> None:
    nodes = [Node("a", 1.0), Node("b", 1.0)]
    with pytest.raises(Infeasible) as e:
        place_actors(nodes, Resources(cpus=2), 2, "precompress encoder actor")
    assert str(e.value) == ("no node of the Ray cluster can host a precompress encoder actor: each asks 2 CPUs, "
                            "0 GPUs; the largest node has 1 CPU, 0 GPUs (2 node(s))")
    with pytest.raises(Infeasible, match="each asks 1 CPU, 1 GPU; the largest node has 1 CPU, 0 GPUs"):
        place_actors(nodes, Resources(cpus=1, gpus=1), 1, "encoder")
    with pytest.raises(Infeasible, match="can host only 2 of the 3 encoders"):
        place_actors(nodes, Resources(cpus=1), 3, "encoder")
    left = place_actors([Node("a", 4.0, 1.0), Node("b", 8.0)], Resources(cpus=1), 2, "encoder")
    assert free_cpus(left) == 10  # whatever the placement, what the actors leave
    assert free_cpus(place_actors(nodes, Resources(cpus=0.5), 2, "encoder")) == 0


def test_fit_check_counts_custom_resources() -> None:
    nodes = [Node("a", 8.0, 1.0, custom=(("nvdec", 1.0),)), Node("b", 8.0, 1.0)]
    ask = Resources(cpus=1, gpus=1, custom=(("nvdec", 1),))
    assert len(place_actors(nodes, ask, 1, "encoder")) == 2
    with pytest.raises(Infeasible, match="can host only 1 of the 2 encoders"):
        place_actors(nodes, ask, 2, "encoder")
    with pytest.raises(Infeasible, match="each asks 1 CPU, 0 GPUs, 2 nvdec; the largest node has 8 CPUs, 1 GPU, 1 nvdec"):
        place_actors(nodes, Resources(cpus=1, custom=(("nvdec", 2),)), 1, "encoder")
