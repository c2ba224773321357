"""`longvid precompress` as a shard pass (longvid.pipeline.shard_pass): one encoder actor per GPU
(or Ray actors on CPUs, or this process alone), decode tasks across the cluster feeding them; then,
from the shards' stats, the cache's `features` catalog rows (`catalog/features/<tag>.parquet`) and
its failed samples' `errors` rows (`catalog/errors/precompress-<tag>.parquet`).

Where decoding runs (`decode_cpus`): one-CPU Ray tasks spread over the cluster, at most that many
at once (None: every CPU the actors leave free), or threads inside each worker (0, and always
with `--gpus 0 --cpu-actors 0` unless decode_cpus is given). Before any actor starts, a request the
cluster cannot host is one line (longvid.run.placement).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

from longvid.hico.decode_sample import DecodeSpec, decode_ref
from longvid.hico.precompress import CLIP_FRAMES, PrecompressConfig, ShardEncoder
from longvid.layout import features_root
from longvid.pipeline.shard_pass import ShardInput, ShardPass, finished_shards, fit_actors, run_pass
from longvid.run.placement import Infeasible, free_cpus
from longvid.run.resources import Resources

ACTOR = "precompress encoder actor"


@dataclass
class Placement:
    """Where the encoders and the decode tasks run."""

    runner: Any  # the encoders' runner: Ray actors, or this process
    device: str
    resources: Resources  # per encoder actor
    actors: int
    tasks_runner: Any = None  # the decode tasks' runner (Ray), None: threads inside each worker
    decode_cpus: int = 0

    def describe(self) -> str:
        where = (f"{self.decode_cpus} one-CPU decode tasks at a time on {self.tasks_runner.describe()}"
                 if self.tasks_runner is not None else "decoding inside the workers")
        return f"{self.actors} {self.device} worker(s) on {self.runner.describe()}, {where}"

    def close(self) -> None:
        for runner in {id(r): r for r in (self.tasks_runner, self.runner) if r is not None}.values():
            runner.close()


def placement(config: PrecompressConfig, address: str | None) -> Placement:
    """Start the runner(s) and check the request fits: one Ray actor per GPU; with no GPU,
    `cpu_actors` Ray actors on CPUs, else this process alone; decode tasks on Ray within the budget."""
    from longvid.run import make_runner

    inside = config.decode_cpus == 0
    if config.gpus > 0 or config.cpu_actors > 0:
        cpus = config.actor_cpus if config.actor_cpus is not None else (config.decode_threads if inside else 1)
        device, actors = ("cuda", config.gpus) if config.gpus > 0 else ("cpu", config.cpu_actors)
        runner = make_runner("ray", address=address)
        place = Placement(runner, device, Resources(cpus=cpus, gpus=1 if device == "cuda" else 0), actors)
        try:
            left = fit_actors(runner, place.resources, actors, ACTOR) or []
            if not inside and config.decoder != "nvdec":  # NVDEC decodes on the actor's GPU
                place.decode_cpus, place.tasks_runner = decode_budget(config, free_cpus(left), actors), runner
                if place.decode_cpus == 0:
                    place.tasks_runner = None
        except BaseException:
            runner.close()
            raise
        return place
    place = Placement(make_runner("local", workers=1), "cpu", Resources(cpus=1), 1)
    if config.decode_cpus:  # the encoder here, decode tasks on a Ray (private, or the cluster named)
        try:
            place.tasks_runner = make_runner("ray", address=address)
            place.decode_cpus = decode_budget(config, free_cpus(place.tasks_runner.nodes()), 1)
        except BaseException:
            place.close()
            raise
    return place


def decode_budget(config: PrecompressConfig, free: int, actors: int) -> int:
    """One-CPU decode tasks at once: `decode_cpus`, checked against the `free` CPUs the actors leave
    (None: all of them, or 0, decoding inside the actors, when fewer than one per actor is left)."""
    if config.decode_cpus is None:
        return free if free >= actors else 0
    if config.decode_cpus > free:
        raise Infeasible(f"--decode-cpus {config.decode_cpus}: only {free} CPU(s) are left for decode tasks once the "
                         f"{actors} encoder worker(s) are placed; lower --decode-cpus or --actor-cpus, or give "
                         "--decode-cpus 0 to decode inside the workers")
    if config.decode_cpus < actors:
        raise Infeasible(f"--decode-cpus {config.decode_cpus} is fewer than the {actors} encoder workers: each needs "
                         "at least one decode task in flight (or --decode-cpus 0 to decode inside the workers)")
    return config.decode_cpus


def _make_worker(config: PrecompressConfig, device: str, tasks: Any, window: int | None,
                 proxy: int | None) -> ShardEncoder:
    return ShardEncoder(config, device, tasks=tasks, window=window, proxy=proxy)


def _encode(root: Path, worker: ShardEncoder, shard: ShardInput) -> dict[str, Any]:
    return worker.encode_shard(shard, root)


def rates(fresh: list[dict[str, Any]], wall: float) -> str:
    """The progress line's precompress part: clips/s, sampled frames decoded/s, encoder waits."""
    frames = sum(row["frames"] for st in fresh for row in st["rows"])
    wait = sum(st["seconds"].get("wait", 0.0) for st in fresh)
    wall = max(wall, 1e-9)
    return (f"{frames // CLIP_FRAMES / wall:.1f} clips/s | {frames / wall:.1f} frames/s decoded | "
            f"encoders waited {wait:.1f} s for frames")


def check_decoder(config: PrecompressConfig) -> None:
    """A CPU decoder that cannot run here, or NVDEC without GPUs, is one line before any work."""
    from longvid.hico.decode import pick_decoder

    if config.decoder == "nvdec":
        if config.gpus < 1:
            raise ValueError("--decoder nvdec decodes on the encoders' GPUs: it needs --gpus")
    elif config.decoder != "auto":
        pick_decoder("", config.decoder)


def precompress(config: PrecompressConfig, *, address: str | None = None,
                log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Cache HiCo features for every finished video shard of `config.corpus`; returns a summary."""
    from longvid.pipeline.proxies import proxy_shards

    sampling = config.sampling  # a bad sampler, frame count or fps fails here, before any worker starts
    check_decoder(config)
    corpus = Path(config.corpus)
    shards = finished_shards(corpus)
    if not shards:
        raise FileNotFoundError(f"no finished video shards in {corpus / 'shards'}: run `longvid build` first")
    proxy, shards = proxy_shards(corpus, shards, config.resolution) if config.proxy == "auto" else (None, shards)
    root = features_root(corpus)
    started = time.perf_counter()
    place = placement(config, address)
    tasks, window = None, None
    if place.tasks_runner is not None:
        spec = DecodeSpec(sampling, config.resolution, config.decoder)
        tasks, window = place.tasks_runner.tasks(partial(decode_ref, spec), Resources(cpus=1)), \
            place.decode_cpus // place.actors
    log(f"[precompress] {len(shards)} shards with {config.encoder} @ {config.resolution}, {sampling.sampler}"
        f"{f' on a {sampling.fps:g}-fps grid' if sampling.fps else ''}, merge {config.merge_dtype}, decoder "
        f"{config.decoder}{f', from the {proxy}-px proxies' if proxy else ''}; {place.describe()}")
    shard_pass = ShardPass("precompress", make=partial(_make_worker, config, place.device, tasks, window, proxy),
                           run=partial(_encode, root), resources=place.resources, actors=place.actors, rates=rates)
    try:
        stats = run_pass(shard_pass, shards, place.runner, log)
    finally:
        place.close()
    return catalog_and_summary(corpus, stats, place, proxy, time.perf_counter() - started, log)


def catalog_and_summary(corpus: Path, stats: list[dict[str, Any]], place: Placement, proxy: int | None,
                        wall: float, log: Callable[[str], None]) -> dict[str, Any]:
    """Write the cache's features and errors tables from its shards' stats; the run's summary."""
    from longvid.catalog.tables import write_table

    tag = stats[0]["encoder_tag"]
    rows = [row for st in stats for row in st["rows"]]
    errors = [e for st in stats for e in st.get("errors", [])]
    write_table(corpus, "features", tag, rows)
    write_table(corpus, "errors", f"precompress-{tag}", errors)
    frames = sum(r["frames"] for r in rows)
    fresh = [st for st in stats if not st.get("current")]
    # decode seconds are summed over the decode tasks (they run beside the encoder): not wall time
    seconds = {f"{k}_{unit}": round(sum(st["seconds"].get(k, 0.0) for st in fresh), 3)
               for k, unit in (("decode", "task_seconds"), ("encode", "seconds"), ("wait", "seconds"))}
    nodes: Counter[str] = Counter()
    decoders: Counter[str] = Counter()
    for st in fresh:
        nodes.update(st.get("decode_nodes", {}))
        decoders.update(st.get("decoders", {}))
    summary = {"encoder_tag": tag, "shards": len(stats), "current": len(stats) - len(fresh), "samples": len(rows),
               "failed": len(errors), "failures": dict(sorted(Counter(e["cause"] for e in errors).items())),
               "frames": frames, "clips": frames // CLIP_FRAMES, "tokens": sum(r["tokens"] for r in rows),
               "wall_seconds": round(wall, 3), "seconds": seconds, "proxy": proxy,
               "decode": {"cpus": place.decode_cpus, "in_workers": place.tasks_runner is None,
                          "decoders": dict(sorted(decoders.items())), "nodes": dict(sorted(nodes.items()))},
               "out": str(features_root(corpus) / tag)}
    log(f"[precompress] done: {summary['samples']} samples ({len(errors)} failed, in the errors table), {frames} frames, "
        f"{summary['tokens'] / max(frames, 1):.1f} tokens/frame in {wall:.1f} s -> {summary['out']}")
    return summary
