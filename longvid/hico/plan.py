"""`longvid precompress --plan`: what caching the whole corpus would cost, from a measured sample.

It decodes a few samples spread over the corpus (every available decoder, on the source videos and
on each set of the build's proxies that suffices), single-threaded, timing the CPU each sampled
frame costs (decode + resize, as a decode task does it), and projects to the whole corpus (or to
`hours` of video like it): sampled frames (from every sample's duration and the sampler),
CPU core-hours of decoding, GPU-hours of encoding at `gpu_clips_per_s` (not measured here: UMT-L
at 224 on one H100 encodes about 900 clips/s), and the decode cores one GPU needs to be kept busy.
Nothing is encoded or written.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

from longvid.hico.decode_sample import DecodeSpec, Decoded, SampleRef, decode_ref
from longvid.hico.precompress import CLIP_FRAMES, PrecompressConfig
from longvid.pipeline.shard_pass import ShardInput, finished_shards


def spread_refs(shards: list[ShardInput], count: int) -> list[SampleRef]:
    """`count` samples at even positions over all the shards' samples (their index rows)."""
    from longvid.shards.reader import read_index

    rows = [(shard, row) for shard in shards for row in read_index(shard.index)]
    if not rows:
        return []
    picks = sorted({round(i * (len(rows) - 1) / max(count - 1, 1)) for i in range(min(count, len(rows)))})
    return [SampleRef(row["key"], shard.tar, tuple(zip(row["member"], row["offset"], row["size"])))
            for shard, row in (rows[i] for i in picks)]


def corpus_frames(config: PrecompressConfig, shards: list[ShardInput], fps: float) -> tuple[int, float, int]:
    """(samples, seconds of video, sampled frames) of the whole corpus: the sampler on each sample's
    duration at the measured frame rate."""
    from longvid.hico.sampling import VideoTooShort
    from longvid.shards.reader import read_index

    samples, seconds, frames = 0, 0.0, 0
    for shard in shards:
        for row in read_index(shard.index):
            samples += 1
            seconds += row["duration"]
            try:
                frames += config.sampling.num_frames(max(1, round(row["duration"] * fps)), fps)
            except VideoTooShort:
                pass
    return samples, seconds, frames


def measure(spec: DecodeSpec, refs: list[SampleRef]) -> dict[str, Any]:
    """CPU seconds (this process, one thread) and sampled frames over `refs` with one decoder."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the resize too: a figure per core
    try:
        cpu, frames, fps, failed = 0.0, 0, [], 0
        for ref in refs:
            started = time.process_time()
            result = decode_ref(spec, ref)
            cpu += time.process_time() - started
            if isinstance(result, Decoded):
                frames += len(result.sampled.indices)
                fps.append(result.sampled.fps)
            else:
                failed += 1
    finally:
        torch.set_num_threads(threads)
    return {"cpu_seconds": cpu, "frames": frames, "failed": failed, "fps": statistics.median(fps) if fps else 0.0}


def plan_corpus(config: PrecompressConfig, *, samples: int = 8, hours: float | None = None,
                gpu_clips_per_s: float = 900.0, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Measure and project (see the module doc); returns the rows behind `plan_table`."""
    from longvid.hico.decode import available_decoders
    from longvid.pipeline.proxies import proxy_shards

    corpus = Path(config.corpus)
    shards = finished_shards(corpus)
    if not shards:
        raise FileNotFoundError(f"no finished video shards in {corpus / 'shards'}: run `longvid build` first")
    if samples < 1 or gpu_clips_per_s <= 0:
        raise ValueError("--plan-samples and --gpu-clips-per-s must be positive")
    sources = [("source", None, shards)]
    proxy, proxied = proxy_shards(corpus, shards, config.resolution)
    if proxy is not None:
        sources.append((f"proxy {proxy}", proxy, proxied))
    decoders = [d for d in available_decoders() if d != "nvdec"]
    rows, fps = [], 0.0
    for label, _, chosen in sources:
        refs = spread_refs(chosen, samples)
        for decoder in decoders:
            log(f"[plan] {len(refs)} samples, {label}, {decoder}")
            got = measure(DecodeSpec(config.sampling, config.resolution, decoder), refs)
            fps = fps or got["fps"]
            rows.append({"video": label, "decoder": decoder, **got})
    total_samples, seconds, frames = corpus_frames(config, shards, fps or 30.0)
    scale = hours * 3600 / seconds if hours and seconds else 1.0
    projected = frames * scale
    gpu_hours = projected / CLIP_FRAMES / gpu_clips_per_s / 3600
    for row in rows:
        per_frame = row["cpu_seconds"] / max(row["frames"], 1)
        row.update(frames_per_core_s=1 / per_frame if per_frame else 0.0, core_hours=projected * per_frame / 3600,
                   gpu_hours=gpu_hours, cores_per_gpu=gpu_clips_per_s * CLIP_FRAMES * per_frame)
    return {"corpus_samples": total_samples, "corpus_hours": seconds / 3600, "hours": seconds * scale / 3600,
            "sampled_frames": round(projected), "gpu_clips_per_s": gpu_clips_per_s, "measured_samples": samples,
            "rows": rows}


def plan_table(plan: dict[str, Any]) -> str:
    """The projection as text: one line per decoder and video choice."""
    head = (f"corpus: {plan['corpus_samples']} samples, {plan['corpus_hours']:.2f} hours of video; projected to "
            f"{plan['hours']:,.1f} hours: {plan['sampled_frames']:,} sampled frames, "
            f"{plan['sampled_frames'] // CLIP_FRAMES:,} clips; GPU at {plan['gpu_clips_per_s']:g} clips/s (assumed)")
    lines = [head, f"{'video':<12} {'decoder':<11} {'frames/s/core':>13} {'CPU core-h':>12} {'GPU-h':>10} "
                   f"{'cores/GPU':>9}"]
    for r in plan["rows"]:
        lines.append(f"{r['video']:<12} {r['decoder']:<11} {r['frames_per_core_s']:>13.1f} {r['core_hours']:>12,.1f} "
                     f"{r['gpu_hours']:>10,.1f} {r['cores_per_gpu']:>9.1f}" + (f"  ({r['failed']} failed)" if r["failed"] else ""))
    return "\n".join(lines)
