"""The precompress driver: every video shard to one worker (a Ray actor per GPU, or this
process on the CPU), then, from the shards' stats, the cache's `features` catalog rows
(`catalog/features/<tag>.parquet`) and its failed samples' `errors` rows
(`catalog/errors/precompress-<tag>.parquet`)."""

from __future__ import annotations

import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Callable

from longvid.hico.precompress import PrecompressConfig, ShardEncoder
from longvid.run.resources import Resources


def _make_worker(config: PrecompressConfig, device: str) -> ShardEncoder:
    return ShardEncoder(config, device)


def _encode(root: Path, worker: ShardEncoder, shard: Path) -> dict[str, Any]:
    return worker.encode_shard(shard, root)


def placement(config: PrecompressConfig, address: str | None) -> tuple[Any, str, Resources, int]:
    """(runner, device, resources per worker, workers): one Ray actor per GPU; with no GPU,
    `cpu_actors` Ray actors on CPUs (a CPU cluster), else this process alone."""
    from longvid.run import make_runner

    if config.gpus > 0:
        return make_runner("ray", address=address), "cuda", Resources(cpus=config.decode_threads, gpus=1), config.gpus
    if config.cpu_actors > 0:
        return make_runner("ray", address=address), "cpu", Resources(cpus=config.decode_threads), config.cpu_actors
    return make_runner("local", workers=1), "cpu", Resources(cpus=1), 1


def precompress(config: PrecompressConfig, *, address: str | None = None,
                log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """Cache HiCo features for every finished video shard of `config.corpus`; returns a summary."""
    from longvid.catalog.tables import write_table
    from longvid.shards.writer import shard_done

    sampling = config.sampling  # a bad sampler, frame count or fps fails here, before any worker starts
    corpus = Path(config.corpus)
    shard_dir = corpus / "shards"
    shards = sorted(p for p in shard_dir.glob("*.tar") if shard_done(shard_dir, p.name.removesuffix(".tar")))
    if not shards:
        raise FileNotFoundError(f"no finished video shards in {shard_dir}: run `longvid build` first")
    root = corpus / "features"
    started = time.perf_counter()
    runner, device, resources, actors = placement(config, address)
    log(f"[precompress] {len(shards)} shards with {config.encoder} @ {config.resolution}, {sampling.sampler}"
        f"{f' on a {sampling.fps:g}-fps grid' if sampling.fps else ''}, merge {config.merge_dtype}, on "
        f"{actors} {device} worker(s) ({runner.describe()})")
    stats = []
    try:
        for shard, st in runner.map_actors(partial(_make_worker, config, device), partial(_encode, root), shards,
                                           actors, resources):
            stats.append(st)
            failed = f", {len(st['errors'])} failed" if st.get("errors") else ""
            log(f"[precompress] {shard.name}: {st['samples']} samples{failed}, tag {st['encoder_tag']}")
    finally:
        runner.close()
    tag = stats[0]["encoder_tag"]
    ordered = sorted(stats, key=lambda s: s["shard"])
    rows = [row for st in ordered for row in st["rows"]]
    errors = [e for st in ordered for e in st.get("errors", [])]
    write_table(corpus, "features", tag, rows)
    write_table(corpus, "errors", f"precompress-{tag}", errors)
    wall = time.perf_counter() - started
    frames = sum(r["frames"] for r in rows)
    # decode seconds are summed over the decode threads (they run beside the encoder): not wall time
    seconds = {f"{k}_{unit}": round(sum(st["seconds"][k] for st in stats), 3)
               for k, unit in (("decode", "thread_seconds"), ("encode", "seconds"))}
    summary = {"encoder_tag": tag, "shards": len(stats), "samples": len(rows), "failed": len(errors),
               "failures": dict(sorted(Counter(e["cause"] for e in errors).items())), "frames": frames,
               "clips": frames // 4, "tokens": sum(r["tokens"] for r in rows), "wall_seconds": round(wall, 3),
               "seconds": seconds, "out": str(root / tag)}
    log(f"[precompress] done: {summary['samples']} samples ({len(errors)} failed, in the errors table), {frames} frames, "
        f"{summary['tokens'] / max(frames, 1):.1f} tokens/frame in {wall:.1f} s -> {root / tag}")
    return summary
