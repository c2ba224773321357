"""HiCo pre-compression for VideoChat-Flash-style training.

Modules (one job each):
  sampling     dynamic_fps1 / middle frame counts and indices, the --fps grid, the time prompt (numpy only)
  decode       the decoders behind one interface (torchcodec, decord, pyav, nvdec, auto); decode_pyav and
               decode_torchcodec hold two of them (numpy only, but for torchcodec)
  decode_sample  a decode task: a sample's members -> sampled frames resized to S×S uint8, or its failure
  preprocess   uint8 frames -> square, PIL-equivalent bicubic, ImageNet-normalised tensors
  encoders/    the Encoder protocol and registry; UMT-L (umt), open_clip towers (open_clip_tower)
  merge        the clip-level bipartite token merge (P tokens -> 64 per 4-frame clip), in the encoder's dtype
  precompress  PrecompressConfig and the per-worker ShardEncoder (decode tasks -> encode -> merge -> feature shard)
  cache        a feature cache on disk: its tag, per-sample members, features and errors rows
  run          precompress as a shard pass (longvid.pipeline.shard_pass): placement, decode budget, catalog
  plan         `--plan`: measured decode cost projected to the whole corpus; dataset: FeatureDataset for training

`merge_clip_tokens` / `merge_schedule` are re-exported lazily, so `sampling` and `decode` can be
imported where torch is not installed (e.g. CPU-only decode workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longvid.hico.merge import merge_clip_tokens, merge_schedule

__all__ = ["merge_clip_tokens", "merge_schedule"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from longvid.hico import merge

        return getattr(merge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
