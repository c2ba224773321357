"""Proxies, a shard pass of `longvid build --proxy N`: for every finished video shard, a proxy shard
`CORPUS/proxies/<N>/<shard>.tar` holding each sample's proxy (`{key}.mp4`, short side N, keyframes
on the sampled frames: longvid.media.proxy) beside its `{key}.json`, with its index and stats.

It is a drop-in video shard: `longvid precompress` reads it instead of the source shard when the
proxies suffice (`proxy_shards`: N at least the encoder's resolution, and a current proxy shard
for every video shard), and tags its cache `-p<N>`. A sample whose proxy cannot be made keeps its
source video in the proxy shard (listed in the stats' `kept_source`). Resumes per shard: a proxy
shard made from the current video shard is not made again.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

from longvid.layout import proxies_root
from longvid.pipeline.shard_pass import ShardInput, ShardPass, finished_shards, outputs_current, run_pass
from longvid.run.resources import Resources

RESOURCES = Resources(cpus=1)  # one FFmpeg encode at a time per actor


def proxy_dir(corpus: Path, size: int) -> Path:
    return proxies_root(corpus) / str(size)


def write_proxy_shard(corpus: Path, size: int, shard: ShardInput) -> dict[str, Any]:
    """Make the proxy shard of one video shard; returns its stats."""
    import json

    from longvid.media.errors import MediaError
    from longvid.media.proxy import make_proxy
    from longvid.shards.reader import iter_shard
    from longvid.shards.writer import Sample, read_stats, write_shard

    out_dir = proxy_dir(corpus, size)
    out_dir.mkdir(parents=True, exist_ok=True)
    started, kept, source_bytes = time.perf_counter(), [], 0
    samples = []
    with tempfile.TemporaryDirectory(prefix=".proxy-", dir=out_dir) as tmp:
        for i, member in enumerate(iter_shard(shard.tar)):
            key, meta = member["__key__"], json.loads(member["json"])
            src, dst = Path(tmp) / f"{i}.src.mp4", Path(tmp) / f"{i}.mp4"
            src.write_bytes(member["mp4"])
            source_bytes += len(member["mp4"])
            try:
                make_proxy(src, dst, size)
                video: Any = dst.read_bytes()
            except MediaError:
                kept.append(key)
                video = member["mp4"]
            samples.append(Sample(key, {"mp4": video, "json": member["json"]}, meta["duration"], meta["source"],
                                  meta["video_uid"]))
            src.unlink()
            dst.unlink(missing_ok=True)
        write_shard(out_dir, shard.name, samples, allow_empty=True, extra_stats={
            "input": shard.identity(), "proxy": size, "kept_source": kept, "source_bytes": source_bytes,
            "seconds": round(time.perf_counter() - started, 4)})
    return read_stats(out_dir, shard.name) or {}


def _run(corpus: Path, size: int, worker: Any, shard: ShardInput) -> dict[str, Any]:
    return write_proxy_shard(corpus, size, shard)


def rates(fresh: list[dict[str, Any]], wall: float) -> str:
    hours = sum(st["duration"] for st in fresh) / 3600
    size = sum(st["bytes"] for st in fresh) / max(sum(st["source_bytes"] for st in fresh), 1)
    return f"{hours / max(wall, 1e-9) * 3600:.1f} hours of video per hour, proxies {size:.0%} of the sources' bytes"


def make_proxies(corpus: Path, size: int, runner: Any, *, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run the proxy pass over the corpus's finished video shards; returns its summary."""
    if size < 16:
        raise ValueError(f"--proxy {size}: the short side must be at least 16 pixels")
    shards = finished_shards(corpus)
    actors = max(1, min(len(shards), int(sum(n.cpus for n in runner.nodes())) if hasattr(runner, "nodes") else 1))
    started = time.perf_counter()
    spec = ShardPass("proxy", make=lambda: None, run=partial(_run, Path(corpus), size), resources=RESOURCES,
                     actors=actors, out_dir=proxy_dir(corpus, size), rates=rates)
    stats = run_pass(spec, shards, runner, log)
    fresh = [st for st in stats if not st.get("current")]
    return {"size": size, "shards": len(stats), "current": len(stats) - len(fresh),
            "bytes": sum(st["bytes"] for st in stats), "source_bytes": sum(st["source_bytes"] for st in stats),
            "kept_source": sum(len(st["kept_source"]) for st in stats),
            "seconds": round(sum(st["seconds"] for st in fresh), 3), "wall_seconds": round(time.perf_counter() - started, 3)}


def proxy_shards(corpus: Path, shards: list[ShardInput], resolution: int) -> tuple[int | None, list[ShardInput]]:
    """(N, the proxy shards) for the smallest proxy size N >= `resolution` with a current proxy shard
    for every video shard; (None, `shards`) when there is none."""
    root = proxies_root(corpus)
    sizes = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []
    for size in (s for s in sizes if s >= resolution):
        folder = proxy_dir(corpus, size)
        if all(outputs_current(folder, shard) is not None for shard in shards):
            by_name = {s.name: s for s in finished_shards(corpus, folder)}
            return size, [by_name[shard.name] for shard in shards]
    return None, shards
