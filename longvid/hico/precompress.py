"""`longvid precompress`: read the video shards once and cache HiCo features beside them.

For every shard `CORPUS/shards/<name>.tar` it writes `CORPUS/features/<tag>/<name>.tar` (the
format and the tag: longvid.hico.cache). The tag names the encoder, resolution, encoder and
merge precision, weights, sampling and the proxies read (if any), so changing any of them writes
a new cache and never mixes two. A shard whose feature shard is finished and was made from this
very video shard (its stats record the video shard's sha256) is skipped (resume per shard).

A sample whose video cannot be opened, decoded or sampled gets no features: it becomes one
`errors` row (stage `precompress`, cause not_video / decode_failed / too_short / stage_error)
recorded in its shard's stats, and the shard goes on. A rerun leaves it alone; with
`retry_failed` a finished shard that has failures decodes those samples again and rewrites
the shard around the samples it already holds (they are not encoded again).

One worker per GPU (or on the CPU) encodes whole shards. Its samples are decoded and resized by
decode tasks (longvid.hico.decode_sample) a bounded number ahead of the encoder: Ray tasks across
the cluster (longvid.run.ray.RayTasks) or threads of the worker's process; results are taken in
the shard's order, and clips from several samples are batched into one encoder call by that
order alone, so the cache does not depend on where or how decoding ran. The encoder runs in
`encoder_dtype` ("auto": bf16 on a GPU, float32 on the CPU) and the merge in `merge_dtype`
("auto": the encoder's dtype, as VideoChat-Flash merges).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Iterator

from longvid.hico.decode import DECODERS
from longvid.hico.decode_sample import Decoded, DecodeSpec, Failed, SampleRef, decode_ref, decode_sample
from longvid.hico.sampling import SamplingConfig
from longvid.pipeline.shard_pass import ShardInput

TOKENS_PER_FRAME = 16
CLIP_FRAMES = 4  # features are merged per 4-frame clip, whatever the tower (per-frame towers are regrouped)
DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32")  # longvid.hico.merge.DTYPES and "auto"
DEFAULT_T_MIN = {"dynamic_fps1": 64, "middle": 1}  # the original's frames_lowbound: 64 in stages 3-4, 1 in stage 1


@dataclass(frozen=True)
class PrecompressConfig:
    corpus: Path
    encoder: str = "umt-l"
    weights: Path | None = None
    resolution: int = 224
    t_min: int | None = None  # None: 64 for dynamic_fps1, 1 for middle
    t_max: int = 512
    sampler: str = "dynamic_fps1"
    fps: float | None = None  # sample on a grid of this many frames per second (None: the video's frames)
    encoder_dtype: str = "auto"  # auto: bf16 on a GPU, fp32 on the CPU
    merge_dtype: str = "auto"  # auto: the encoder's dtype, as VideoChat-Flash
    gpus: int = 0
    cpu_actors: int = 0  # with gpus == 0: Ray actors on CPUs instead of this process
    clips_per_batch: int = 32
    decode_threads: int = 2  # threads per worker when decoding inside it (decode_cpus == 0)
    decode_cpus: int | None = None  # one-CPU decode tasks at once across the cluster; 0: inside the workers
    actor_cpus: float | None = None  # CPUs each Ray worker asks (None: 1, or decode_threads when decoding inside)
    decoder: str = "auto"  # torchcodec, decord, pyav, nvdec or auto (longvid.hico.decode)
    proxy: str = "auto"  # auto: read the build's proxies when they suffice; off: always the source videos
    force: bool = False
    retry_failed: bool = False

    def __post_init__(self) -> None:
        for option, value in (("encoder", self.encoder_dtype), ("merge", self.merge_dtype)):
            if value not in DTYPE_CHOICES:
                raise ValueError(f"unknown {option} dtype {value!r}; use {', '.join(DTYPE_CHOICES)}")
        if self.decoder not in ("auto", *DECODERS):
            raise ValueError(f"unknown decoder {self.decoder!r}; use auto, {', '.join(DECODERS)}")
        if self.proxy not in ("auto", "off"):
            raise ValueError(f"--proxy is auto or off, got {self.proxy!r}")
        for option, number in (("--decode-cpus", self.decode_cpus), ("--actor-cpus", self.actor_cpus)):
            if number is not None and number < 0:
                raise ValueError(f"{option} must be >= 0, got {number}")
        if self.decode_threads < 1 or self.clips_per_batch < 1:
            raise ValueError("--decode-threads and --clips-per-batch must be >= 1")
        self.sampling  # noqa: B018 - validates sampler, frame counts and fps up front

    @property
    def sampling(self) -> SamplingConfig:
        t_min = self.t_min if self.t_min is not None else DEFAULT_T_MIN.get(self.sampler, 64)
        return SamplingConfig(t_min=t_min, t_max=self.t_max, resolution=self.resolution, sampler=self.sampler,
                              fps=self.fps)


class ShardEncoder:
    """One encoder on one device; encodes whole shards. Made once per worker (a Ray actor).

    `tasks` runs the decode tasks (a longvid.run RayTasks or LocalTasks over `decode_ref`; default:
    `decode_threads` threads here) with at most `window` of them in flight; `proxy` is the short
    side of the proxies read instead of the source videos (None: the sources)."""

    def __init__(self, config: PrecompressConfig, device: str = "cpu", *, tasks: Any = None,
                 window: int | None = None, proxy: int | None = None):
        import torch

        from longvid.hico.cache import CacheFacts, feature_tag
        from longvid.hico.decode import pick_decoder
        from longvid.hico.encoders import build_encoder
        from longvid.hico.merge import dtype_name, resolve_dtype

        if config.decoder == "nvdec":
            pick_decoder("", "nvdec")  # no CUDA device or no CUDA build: one clear error, not a row per sample
        dtype = resolve_dtype(config.encoder_dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)
        self.config, self.device = config, device
        self.encoder = build_encoder(config.encoder, config.weights, config.resolution, device, dtype)
        self.merge_dtype = resolve_dtype(config.merge_dtype, self.encoder.dtype)
        self.sampling = config.sampling
        enc, merge, weights = dtype_name(self.encoder.dtype), dtype_name(self.merge_dtype), self.encoder.weight_hash()
        nvdec = config.decoder == "nvdec"
        self.tag = feature_tag(config.encoder, config.resolution, weights, self.sampling, enc, merge, proxy=proxy,
                               decoder="nvdec" if nvdec else None)
        self.facts = CacheFacts(self.tag, weights, self.sampling, enc, merge, proxy=proxy)
        self.spec = DecodeSpec(self.sampling, config.resolution, config.decoder)
        if tasks is None:
            from longvid.run.local import LocalTasks

            tasks = LocalTasks(partial(decode_ref, self.spec), config.decode_threads)
        per_sample = max(1, self.sampling.min_frames // CLIP_FRAMES)  # enough ahead to fill a batch
        self.tasks = tasks
        self.window = window or max(2 * config.decode_threads, -(-config.clips_per_batch // per_sample))

    def decode(self, key: str, members: dict[str, bytes]) -> Decoded | Failed:
        """One sample's members -> its frames resized to S×S uint8, or a Failed with its cause."""
        return decode_sample(self.spec, key, members)

    def encode_batch(self, batch: list[Decoded]) -> list[tuple[Any, Any]]:
        """Encode the clips of several samples in one call, merge each clip to 64 tokens in the
        merge dtype, split back."""
        import torch

        from longvid.hico.merge import merge_clip_tokens
        from longvid.hico.preprocess import normalize

        pixels = normalize(torch.cat([d.frames.to(self.encoder.device) for d in batch]), mean=self.encoder.mean,
                           std=self.encoder.std, device=self.encoder.device)
        features = self.encoder.encode(pixels)
        target = TOKENS_PER_FRAME * CLIP_FRAMES
        tokens, sizes = merge_clip_tokens(features, target=target, groups=self.encoder.metric_groups,
                                          dtype=self.merge_dtype)
        out, at = [], 0
        for d in batch:
            n = len(d.sampled.indices) // CLIP_FRAMES
            out.append((tokens[at:at + n], sizes[at:at + n]))
            at += n
        return out

    def encode_shard(self, shard: ShardInput, features_root: Path) -> dict[str, Any]:
        """Write `features_root/<tag>/<shard>.tar` for one video shard (skipped when current, unless
        `force`, or `retry_failed` and it has failures); returns its stats."""
        from longvid.hico.cache import error_row, feature_sample, finished_samples
        from longvid.pipeline.shard_pass import outputs_current
        from longvid.shards.reader import read_index
        from longvid.shards.writer import read_stats, write_shard

        name, out_dir = shard.name, Path(features_root) / self.tag
        previous = None if self.config.force else outputs_current(out_dir, shard)
        if previous is not None and not (self.config.retry_failed and previous.get("errors")):
            return {**previous, "current": True}
        done = finished_samples(out_dir / f"{name}.tar", previous["rows"]) if previous is not None else {}
        reused = len(done)
        order = [row["key"] for row in read_index(shard.index)]
        refs = (SampleRef(row["key"], shard.tar, tuple(zip(row["member"], row["offset"], row["size"])))
                for row in read_index(shard.index) if row["key"] not in done)
        timing = {"decode": 0.0, "encode": 0.0, "wait": 0.0}
        decoders: Counter[str] = Counter()
        failed: list[Failed] = []
        for batch in self.decoded_batches(refs, failed, timing):
            started = time.perf_counter()
            encoded = self.encode_batch(batch)
            timing["encode"] += time.perf_counter() - started
            for d, (tokens, sizes) in zip(batch, encoded):
                timing["decode"] += d.seconds
                decoders[d.decoder] += 1
                done[d.key] = feature_sample(self.facts, name, d.key, d.meta, d.sampled, tokens, sizes)
        written = [done[key] for key in order if key in done]
        position = {key: i for i, key in enumerate(order)}
        errors = [error_row(self.tag, name, f.key, f.meta, f.cause, f.detail)
                  for f in sorted(failed, key=lambda f: position[f.key])]
        nodes, self.tasks.nodes = dict(self.tasks.nodes), Counter()
        write_shard(out_dir, name, [sample for sample, _ in written], allow_empty=True, extra_stats={
            **self.facts.columns(), "sampling": self.sampling.to_dict(), "rows": [row for _, row in written],
            "errors": errors, "reused": reused, "seconds": {k: round(v, 4) for k, v in timing.items()},
            "input": shard.identity(), "decoders": dict(sorted(decoders.items())), "decode_nodes": nodes})
        return read_stats(out_dir, name) or {}

    def decoded_batches(self, refs: Iterable[SampleRef], failed: list[Failed],
                        timing: dict[str, float]) -> Iterator[list[Decoded]]:
        """Decoded samples, in the shard's order, in batches of about `clips_per_batch` clips;
        samples that fail to decode go to `failed` instead. At most `window` decode tasks are in
        flight (back-pressure: memory stays flat over a shard); the time spent waiting for the
        next sample's frames is added to timing["wait"]."""
        items = iter(refs)
        window: deque[Any] = deque()

        def refill() -> None:
            while len(window) < self.window and (item := next(items, None)) is not None:
                window.append(self.tasks.submit(item))

        refill()
        batch: list[Decoded] = []
        while window:
            started = time.perf_counter()
            result = self.tasks.result(window.popleft())
            timing["wait"] += time.perf_counter() - started
            refill()
            if isinstance(result, Failed):
                failed.append(result)
            else:
                batch.append(result)
            clips = sum(len(d.sampled.indices) for d in batch) // CLIP_FRAMES
            if batch and (clips >= self.config.clips_per_batch or not window):
                yield batch
                batch = []
