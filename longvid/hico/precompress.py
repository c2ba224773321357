"""`longvid precompress`: read the video shards once and cache HiCo features beside them.

For every shard `CORPUS/shards/<name>.tar` it writes `CORPUS/features/<tag>/<name>.tar` (the
format and the tag: longvid.hico.cache). The tag names the encoder, resolution, encoder and
merge precision, weights and sampling, so changing any of them writes a new cache and never
mixes two. A shard whose stats file exists is skipped (resume per shard).

A sample whose video cannot be opened, decoded or sampled gets no features: it becomes one
`errors` row (stage `precompress`, cause not_video / decode_failed / too_short / stage_error)
recorded in its shard's stats, and the shard goes on. A rerun leaves it alone; with
`retry_failed` a finished shard that has failures decodes those samples again and rewrites
the shard around the samples it already holds (they are not encoded again).

Inside one worker (one per GPU, or one on the CPU) decoding runs in a thread pool ahead of the
encoder, and clips from several samples are batched into one encoder call. The encoder runs in
`encoder_dtype` ("auto": bf16 on a GPU, float32 on the CPU) and the merge in `merge_dtype`
("auto": the encoder's dtype, as VideoChat-Flash merges).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from longvid.hico.cache import SampleFacts
from longvid.hico.sampling import SamplingConfig

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
    decode_threads: int = 2
    backend: str = "auto"
    force: bool = False
    retry_failed: bool = False

    def __post_init__(self) -> None:
        for option, value in (("encoder", self.encoder_dtype), ("merge", self.merge_dtype)):
            if value not in DTYPE_CHOICES:
                raise ValueError(f"unknown {option} dtype {value!r}; use {', '.join(DTYPE_CHOICES)}")
        self.sampling  # noqa: B018 - validates sampler, frame counts and fps up front

    @property
    def sampling(self) -> SamplingConfig:
        t_min = self.t_min if self.t_min is not None else DEFAULT_T_MIN.get(self.sampler, 64)
        return SamplingConfig(t_min=t_min, t_max=self.t_max, resolution=self.resolution, sampler=self.sampler,
                              fps=self.fps)


@dataclass
class Decoded:
    """One sample decoded and preprocessed, ready for the encoder."""

    key: str
    meta: dict[str, Any]
    frames: Any  # uint8 tensor [T, 3, S, S], resized, not yet normalised
    sampled: SampleFacts
    seconds: float


@dataclass
class Failed:
    """One sample whose video could not be opened, decoded or sampled: why, for its error row."""

    key: str
    meta: dict[str, Any]
    cause: str
    detail: str


def _short(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".splitlines()[0][:300] if str(e) else type(e).__name__


class ShardEncoder:
    """One encoder on one device; encodes whole shards. Made once per worker (a Ray actor)."""

    def __init__(self, config: PrecompressConfig, device: str = "cpu"):
        import torch

        from longvid.hico.cache import CacheFacts, feature_tag
        from longvid.hico.encoders import build_encoder
        from longvid.hico.merge import dtype_name, resolve_dtype

        dtype = resolve_dtype(config.encoder_dtype, torch.bfloat16 if device.startswith("cuda") else torch.float32)
        self.config, self.device = config, device
        self.encoder = build_encoder(config.encoder, config.weights, config.resolution, device, dtype)
        self.merge_dtype = resolve_dtype(config.merge_dtype, self.encoder.dtype)
        self.sampling = config.sampling
        enc, merge, weights = dtype_name(self.encoder.dtype), dtype_name(self.merge_dtype), self.encoder.weight_hash()
        self.tag = feature_tag(config.encoder, config.resolution, weights, self.sampling, enc, merge)
        self.facts = CacheFacts(self.tag, weights, self.sampling, enc, merge)

    def decode(self, key: str, members: dict[str, bytes]) -> Decoded | Failed:
        """mp4 bytes -> sampled frames resized to S×S, kept as uint8 (runs in a decode thread;
        normalising happens on the encoder's device). A video that cannot be opened, decoded
        or sampled gives a Failed with its cause instead."""
        from longvid.hico.decode import opens_as_video, read_frames, video_info
        from longvid.hico.preprocess import resize_frames
        from longvid.hico.sampling import VideoTooShort
        from longvid.media.errors import MediaError

        started = time.perf_counter()
        meta: dict[str, Any] = {}
        try:
            meta = json.loads(members["json"])
            with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
                f.write(members["mp4"])
                f.flush()
                try:
                    vlen, fps = video_info(f.name, self.config.backend)
                except Exception as e:  # noqa: BLE001 - decord and PyAV raise many kinds
                    # decord reads every packet on opening: a damaged stream fails here too
                    cause = "decode_failed" if opens_as_video(f.name) else "not_video"
                    raise MediaError(cause, f"cannot read the video: {_short(e)}") from None
                if vlen <= 0 or not fps > 0:
                    raise MediaError("not_video", f"the video stream has {vlen} frames at {fps} fps")
                try:
                    grid_frames, grid_fps = self.sampling.grid(vlen, fps)
                    indices = self.sampling.indices(vlen, fps)
                except VideoTooShort as e:
                    raise MediaError("too_short", str(e)) from None
                try:
                    frames = read_frames(f.name, indices, self.config.backend)
                except Exception as e:  # noqa: BLE001
                    raise MediaError("decode_failed", f"cannot decode frames {indices[0]}..{indices[-1]} "
                                                       f"of {vlen}: {_short(e)}") from None
            pixels = resize_frames(frames, self.config.resolution)
        except MediaError as e:
            return Failed(key, meta, e.cause, e.detail)
        except Exception as e:  # noqa: BLE001 - one sample's bug must not stop the shard
            return Failed(key, meta, "stage_error", _short(e))
        sampled = SampleFacts(vlen, fps, grid_frames, grid_fps, indices)
        return Decoded(key, meta, pixels, sampled, time.perf_counter() - started)

    def encode_batch(self, batch: list[Decoded]) -> list[tuple[Any, Any]]:
        """Encode the clips of several samples in one call, merge each clip to 64 tokens in the
        merge dtype, split back."""
        import torch

        from longvid.hico.merge import merge_clip_tokens
        from longvid.hico.preprocess import normalize

        pixels = normalize(torch.cat([d.frames for d in batch]), mean=self.encoder.mean, std=self.encoder.std,
                           device=self.encoder.device)
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

    def samples(self, shard_tar: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
        from longvid.shards.reader import iter_shard

        for sample in iter_shard(shard_tar):
            yield sample["__key__"], sample

    def encode_shard(self, shard_tar: Path, features_root: Path) -> dict[str, Any]:
        """Write `features_root/<tag>/<shard>.tar` for one video shard (skipped if done, unless
        `force`, or `retry_failed` and it has failures); returns its stats."""
        from longvid.hico.cache import error_row, feature_sample, finished_samples
        from longvid.shards.writer import read_stats, shard_done, write_shard

        name, out_dir = shard_tar.name.removesuffix(".tar"), Path(features_root) / self.tag
        previous = read_stats(out_dir, name) if shard_done(out_dir, name) and not self.config.force else None
        if previous is not None and not (self.config.retry_failed and previous.get("errors")):
            return previous
        done = finished_samples(out_dir / f"{name}.tar", previous["rows"]) if previous is not None else {}
        reused = len(done)
        order: list[str] = []

        def pending() -> Iterator[tuple[str, dict[str, bytes]]]:
            for key, sample in self.samples(shard_tar):
                order.append(key)
                if key not in done:
                    yield key, sample

        timing = {"decode": 0.0, "encode": 0.0}
        failed: list[Failed] = []
        for batch in self.decoded_batches(pending(), failed):
            started = time.perf_counter()
            encoded = self.encode_batch(batch)
            timing["encode"] += time.perf_counter() - started
            for d, (tokens, sizes) in zip(batch, encoded):
                timing["decode"] += d.seconds
                done[d.key] = feature_sample(self.facts, name, d.key, d.meta, d.sampled, tokens, sizes)
        written = [done[key] for key in order if key in done]
        position = {key: i for i, key in enumerate(order)}
        errors = [error_row(self.tag, name, f.key, f.meta, f.cause, f.detail)
                  for f in sorted(failed, key=lambda f: position[f.key])]
        write_shard(out_dir, name, [sample for sample, _ in written], allow_empty=True, extra_stats={
            **self.facts.columns(), "sampling": self.sampling.to_dict(), "rows": [row for _, row in written],
            "errors": errors, "reused": reused, "seconds": {k: round(v, 4) for k, v in timing.items()}})
        return read_stats(out_dir, name) or {}

    def decoded_batches(self, samples: Iterable[tuple[str, dict[str, bytes]]],
                        failed: list[Failed]) -> Iterator[list[Decoded]]:
        """Decoded samples in batches of about `clips_per_batch` clips; samples that fail to
        decode go to `failed` instead. Decoding runs in threads a few samples ahead of the
        encoder (bounded, so memory stays flat over a shard)."""
        # enough samples ahead to fill a batch: each sample has at least min_frames / 4 clips
        per_sample = max(1, self.sampling.min_frames // CLIP_FRAMES)
        ahead = max(2 * self.config.decode_threads, -(-self.config.clips_per_batch // per_sample))
        items = iter(samples)
        with ThreadPoolExecutor(self.config.decode_threads) as pool:
            window: deque[Future[Decoded | Failed]] = deque()

            def refill() -> None:
                while len(window) < ahead and (item := next(items, None)) is not None:
                    window.append(pool.submit(self.decode, *item))

            refill()
            batch: list[Decoded] = []
            while window:
                result = window.popleft().result()
                refill()
                if isinstance(result, Failed):
                    failed.append(result)
                else:
                    batch.append(result)
                clips = sum(len(d.sampled.indices) for d in batch) // CLIP_FRAMES
                if batch and (clips >= self.config.clips_per_batch or not window):
                    yield batch
                    batch = []
