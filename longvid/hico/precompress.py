"""`longvid precompress`: read the video shards once and cache HiCo features beside them.

For every shard `CORPUS/shards/<name>.tar` it writes `CORPUS/features/<tag>/<name>.tar` with,
per sample, `{key}.hico.safetensors` (tokens bf16 [T/4, 64, C], sizes int32 [T/4, 64],
frame_indices int32 [T]) and `{key}.json` (captions, duration, the time-prompt text, ...).
`<tag>` names the encoder, resolution, weight hash and sampling-config hash, so changing the
weights or the sampling writes a new cache and never mixes two. A shard whose stats file
exists is skipped (resume per shard).

Inside one worker (one per GPU, or one on the CPU) decoding runs in a thread pool ahead of the
encoder, and clips from several samples are batched into one encoder call.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from longvid.hico.sampling import SamplingConfig, time_prompt

TOKENS_PER_FRAME = 16
CLIP_FRAMES = 4  # features are merged per 4-frame clip, whatever the tower (per-frame towers are regrouped)


@dataclass(frozen=True)
class PrecompressConfig:
    corpus: Path
    encoder: str = "umt-l"
    weights: Path | None = None
    resolution: int = 224
    t_min: int = 64
    t_max: int = 512
    gpus: int = 0
    cpu_actors: int = 0  # with gpus == 0: Ray actors on CPUs instead of this process
    clips_per_batch: int = 32
    decode_threads: int = 2
    backend: str = "auto"
    force: bool = False

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(t_min=self.t_min, t_max=self.t_max, resolution=self.resolution)


def feature_tag(encoder: str, resolution: int, weight_hash: str, sampling: SamplingConfig) -> str:
    """`umt-l-224-w<12 hex>-c<8 hex>`: the cache's folder name, keyed by weights and sampling."""
    name = encoder.replace(":", "-").replace("/", "-").replace(".", "_")
    return f"{name}-{resolution}-w{weight_hash[:12]}-c{sampling.config_hash()[:8]}"


@dataclass
class Decoded:
    """One sample decoded and preprocessed, ready for the encoder."""

    key: str
    meta: dict[str, Any]
    frames: Any  # uint8 tensor [T, 3, S, S], resized, not yet normalised
    indices: list[int]
    vlen: int
    fps: float
    seconds: float


class ShardEncoder:
    """One encoder on one device; encodes whole shards. Made once per worker (a Ray actor)."""

    def __init__(self, config: PrecompressConfig, device: str = "cpu"):
        import torch

        from longvid.hico.encoders import build_encoder

        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.config, self.device = config, device
        self.encoder = build_encoder(config.encoder, config.weights, config.resolution, device, dtype)
        self.sampling = config.sampling
        self.tag = feature_tag(config.encoder, config.resolution, self.encoder.weight_hash(), self.sampling)

    def decode(self, key: str, members: dict[str, bytes]) -> Decoded:
        """mp4 bytes -> sampled frames resized to S×S, kept as uint8 (runs in a decode thread;
        normalising happens on the encoder's device)."""
        from longvid.hico.decode import read_frames, video_info
        from longvid.hico.preprocess import resize_frames

        started = time.perf_counter()
        with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
            f.write(members["mp4"])
            f.flush()
            vlen, fps = video_info(f.name, self.config.backend)
            indices = self.sampling.indices(vlen, fps)
            frames = read_frames(f.name, indices, self.config.backend)
        pixels = resize_frames(frames, self.config.resolution)
        meta = json.loads(members["json"])
        return Decoded(key, meta, pixels, indices, vlen, fps, time.perf_counter() - started)

    def encode_batch(self, batch: list[Decoded]) -> list[tuple[Any, Any]]:
        """Encode the clips of several samples in one call, merge each clip to 64 tokens, split back."""
        import torch

        from longvid.hico.merge import merge_clip_tokens
        from longvid.hico.preprocess import normalize

        pixels = normalize(torch.cat([d.frames for d in batch]), mean=self.encoder.mean, std=self.encoder.std,
                           device=self.encoder.device)
        features = self.encoder.encode(pixels)
        target = TOKENS_PER_FRAME * CLIP_FRAMES
        tokens, sizes = merge_clip_tokens(features.float(), target=target, groups=self.encoder.metric_groups)
        out, at = [], 0
        for d in batch:
            n = len(d.indices) // CLIP_FRAMES
            out.append((tokens[at:at + n], sizes[at:at + n]))
            at += n
        return out

    def samples(self, shard_tar: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
        from longvid.shards.reader import iter_shard

        for sample in iter_shard(shard_tar):
            yield sample["__key__"], sample

    def encode_shard(self, shard_tar: Path, features_root: Path) -> dict[str, Any]:
        """Write `features_root/<tag>/<shard>.tar` for one video shard (skipped if done); returns its stats."""
        from longvid.shards.writer import read_stats, shard_done, write_shard

        name, out_dir = shard_tar.name.removesuffix(".tar"), Path(features_root) / self.tag
        if shard_done(out_dir, name) and not self.config.force:
            return read_stats(out_dir, name) or {}
        timing = {"decode": 0.0, "encode": 0.0}
        rows: list[dict[str, Any]] = []
        written = []
        for batch in self.decoded_batches(shard_tar):
            started = time.perf_counter()
            encoded = self.encode_batch(batch)
            timing["encode"] += time.perf_counter() - started
            for d, (tokens, sizes) in zip(batch, encoded):
                timing["decode"] += d.seconds
                sample, row = self.feature_sample(name, d, tokens, sizes)
                written.append(sample)
                rows.append(row)
        write_shard(out_dir, name, written, extra_stats={
            "encoder_tag": self.tag, "weight_hash": self.encoder.weight_hash(),
            "config_hash": self.sampling.config_hash(), "sampling": self.sampling.to_dict(),
            "rows": rows, "seconds": {k: round(v, 4) for k, v in timing.items()}})
        return read_stats(out_dir, name) or {}

    def decoded_batches(self, shard_tar: Path) -> Iterator[list[Decoded]]:
        """Decoded samples in batches of about `clips_per_batch` clips. Decoding runs in threads a
        few samples ahead of the encoder (bounded, so memory stays flat over a shard)."""
        # enough samples ahead to fill a batch: each sample has at least t_min / 4 clips
        per_sample = max(1, self.config.t_min // CLIP_FRAMES)
        ahead = max(2 * self.config.decode_threads, -(-self.config.clips_per_batch // per_sample))
        samples = self.samples(shard_tar)
        with ThreadPoolExecutor(self.config.decode_threads) as pool:
            window: deque[Future[Decoded]] = deque()

            def refill() -> None:
                while len(window) < ahead and (item := next(samples, None)) is not None:
                    window.append(pool.submit(self.decode, *item))

            refill()
            batch: list[Decoded] = []
            while window:
                batch.append(window.popleft().result())
                refill()
                if sum(len(d.indices) for d in batch) // 4 >= self.config.clips_per_batch or not window:
                    yield batch
                    batch = []

    def feature_sample(self, shard: str, d: Decoded, tokens: Any, sizes: Any) -> tuple[Any, dict[str, Any]]:
        """The feature shard's members for one sample, and its features-table row."""
        import torch
        from safetensors.torch import save

        from longvid.shards.writer import Sample

        duration = d.vlen / d.fps
        t = len(d.indices)
        blob = save({"tokens": tokens.to(torch.bfloat16).contiguous(), "sizes": sizes.to(torch.int32).contiguous(),
                     "frame_indices": torch.tensor(d.indices, dtype=torch.int32)},
                    metadata={"key": d.key, "encoder_tag": self.tag})
        meta = {"key": d.key, "source": d.meta["source"], "video_uid": d.meta["video_uid"],
                "captions": d.meta["captions"], "kind": d.meta["kind"], "duration": round(duration, 6),
                "vlen": d.vlen, "fps": d.fps, "frames": t, "tokens": int(tokens.shape[0] * tokens.shape[1]),
                "time_prompt": time_prompt(duration, t), "encoder_tag": self.tag,
                "weight_hash": self.encoder.weight_hash(), "config_hash": self.sampling.config_hash()}
        body = (json.dumps(meta, sort_keys=True, ensure_ascii=False) + "\n").encode()
        row = {"key": d.key, "shard": shard, "encoder_tag": self.tag, "frames": t, "tokens": meta["tokens"],
               "bytes": len(blob), "dim": int(tokens.shape[-1]), "duration": meta["duration"],
               "weight_hash": self.encoder.weight_hash(), "config_hash": self.sampling.config_hash()}
        sample = Sample(key=d.key, members={"hico.safetensors": blob, "json": body}, duration=duration,
                        source=d.meta["source"], video_uid=d.meta["video_uid"])
        return sample, row


def load_features(blob: bytes) -> dict[str, Any]:
    """A `.hico.safetensors` member -> {"tokens", "sizes", "frame_indices"} tensors."""
    from safetensors.torch import load

    return load(blob)
