"""What a HiCo feature cache holds on disk: its tag, each sample's members, its catalog rows.

- The tag (the cache's folder name under CORPUS/features/) names everything that changes the
  tokens: `<encoder>-<resolution>-<encoder dtype>-m<merge dtype>-w<weight hash>-c<sampling
  hash>`, e.g. `umt-l-224-bf16-mbf16-w0123456789ab-c30bdad5e`. The sampling hash covers the
  sampler, t_min/t_max, the frame grid (`--fps`) and the resolution. So a CPU run (float32)
  and a GPU run (bf16), or two samplers, never write into one cache. A cache read from the
  build's proxies ends in `-p<short side>`, one decoded by NVDEC in `-dnvdec` (its colour
  conversion rounds otherwise); CPU decoders give the same frames and are not named.
- Per sample: `{key}.hico.safetensors` (tokens bf16 [T/4, 64, C], sizes int32 [T/4, 64],
  frame_indices int32 [T], indices into the video's frames) and `{key}.json` (captions, the
  time prompt and the facts behind it).
- Catalog rows: one `features` row per cached sample; one `errors` row (stage `precompress`)
  per sample whose video could not be decoded or sampled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvid.hico.sampling import SamplingConfig, time_prompt
from longvid.records import clip_raw

STAGE = "precompress"


def feature_tag(encoder: str, resolution: int, weight_hash: str, sampling: SamplingConfig,
                encoder_dtype: str, merge_dtype: str, *, proxy: int | None = None, decoder: str | None = None) -> str:
    """The cache's folder name, keyed by encoder, precisions, weights, sampling, and the proxies
    and GPU decoder when used."""
    name = encoder.replace(":", "-").replace("/", "-").replace(".", "_")
    return (f"{name}-{resolution}-{encoder_dtype}-m{merge_dtype}-w{weight_hash[:12]}"
            f"-c{sampling.config_hash()[:8]}" + (f"-p{proxy}" if proxy else "") + (f"-d{decoder}" if decoder else ""))


@dataclass(frozen=True)
class CacheFacts:
    """What every sample of one cache shares (the features-table columns beyond the sample's)."""

    tag: str
    weight_hash: str
    sampling: SamplingConfig
    encoder_dtype: str
    merge_dtype: str
    proxy: int | None = None  # short side of the proxies read instead of the sources

    def columns(self) -> dict[str, Any]:
        s = self.sampling
        out = {"encoder_tag": self.tag, "weight_hash": self.weight_hash, "config_hash": s.config_hash(),
               "sampler": s.sampler, "sample_fps": s.fps, "t_min": s.t_min, "t_max": s.t_max,
               "encoder_dtype": self.encoder_dtype, "merge_dtype": self.merge_dtype}
        if self.proxy:  # only then: a cache of the sources keeps its members as they were
            out["proxy"] = self.proxy
        return out


@dataclass(frozen=True)
class SampleFacts:
    """One sample's sampling facts: the video's frames and rate, the grid the sampler counted
    (the video's own, or its cut at `--fps`), and the video frame indices it picked."""

    vlen: int
    fps: float
    grid_frames: int
    grid_fps: float
    indices: list[int]

    @property
    def duration(self) -> float:
        """What the time prompt states: grid frames / grid rate (vlen / fps without a grid)."""
        return self.grid_frames / self.grid_fps


def canonical_safetensors(blob: bytes) -> bytes:
    """The same safetensors file with its header's keys sorted: `safetensors.save` writes the header
    (and its metadata) in an order that varies from call to call, so the same tensors could give
    other bytes. Padded with spaces to 8 bytes, as safetensors pads it; the data is untouched."""
    size = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + size]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + blob[8 + size:]


def feature_sample(facts: CacheFacts, shard: str, key: str, meta: dict[str, Any], sampled: SampleFacts,
                   tokens: Any, sizes: Any) -> tuple[Any, dict[str, Any]]:
    """The feature shard's members for one sample (a shards.writer.Sample) and its features row."""
    import torch
    from safetensors.torch import save

    from longvid.shards.writer import Sample

    duration, t = sampled.duration, len(sampled.indices)
    blob = canonical_safetensors(save(
        {"tokens": tokens.to(torch.bfloat16).contiguous(), "sizes": sizes.to(torch.int32).contiguous(),
         "frame_indices": torch.tensor(sampled.indices, dtype=torch.int32)}, metadata={"key": key, "encoder_tag": facts.tag}))
    n_tokens = int(tokens.shape[0] * tokens.shape[1])
    doc = {"key": key, "source": meta["source"], "video_uid": meta["video_uid"], "captions": meta["captions"],
           "kind": meta["kind"], "duration": round(duration, 6), "vlen": sampled.vlen, "fps": sampled.fps,
           "grid_frames": sampled.grid_frames, "grid_fps": sampled.grid_fps, "frames": t, "tokens": n_tokens,
           "time_prompt": time_prompt(duration, t), **facts.columns()}
    body = (json.dumps(doc, sort_keys=True, ensure_ascii=False) + "\n").encode()
    row = {"key": key, "shard": shard, "frames": t, "tokens": n_tokens, "bytes": len(blob),
           "dim": int(tokens.shape[-1]), "duration": doc["duration"], **facts.columns()}
    sample = Sample(key=key, members={"hico.safetensors": blob, "json": body}, duration=duration,
                    source=meta["source"], video_uid=meta["video_uid"])
    return sample, row


def error_row(tag: str, shard: str, key: str, meta: dict[str, Any], cause: str, detail: str) -> dict[str, Any]:
    """The `errors` row of a sample that got no features: its video shard, key and cause."""
    from longvid.errors import check

    return {"source": str(meta.get("source") or ""), "stage": STAGE, "cause": check(cause),
            "detail": clip_raw(f"{detail} (cache {tag})"), "file": f"shards/{shard}.tar", "line": None,
            "locator": key, "raw": "", "video_uid": meta.get("video_uid"), "dropped": True}


def finished_samples(shard_tar: Path, rows: list[dict[str, Any]]) -> dict[str, tuple[Any, dict[str, Any]]]:
    """The samples already in a finished feature shard, as (Sample, features row) by key, so a
    `--retry-failed` run rewrites the shard without encoding them again."""
    from longvid.shards.reader import iter_shard
    from longvid.shards.writer import Sample

    by_key = {row["key"]: row for row in rows}
    kept = {}
    for member in iter_shard(shard_tar):
        key = member["__key__"]
        doc = json.loads(member["json"])
        sample = Sample(key=key, members={"hico.safetensors": member["hico.safetensors"], "json": member["json"]},
                        duration=doc["duration"], source=doc["source"], video_uid=doc["video_uid"])
        kept[key] = (sample, by_key[key])
    return kept


def load_features(blob: bytes) -> dict[str, Any]:
    """A `.hico.safetensors` member -> {"tokens", "sizes", "frame_indices"} tensors."""
    from safetensors.torch import load

    return load(blob)
