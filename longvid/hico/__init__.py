"""HiCo pre-compression for VideoChat-Flash-style training.

Modules (one job each):
  sampling     dynamic_fps1 / middle frame counts and indices, the --fps grid, the time prompt (numpy only)
  decode       read_frames / video_info with decord (as the original) or PyAV (numpy only)
  preprocess   uint8 frames -> square, PIL-equivalent bicubic, ImageNet-normalised tensors
  encoders/    the Encoder protocol and registry; UMT-L (umt), open_clip towers (open_clip_tower)
  merge        the clip-level bipartite token merge (P tokens -> 64 per 4-frame clip), in the encoder's dtype
  precompress  PrecompressConfig and the per-worker ShardEncoder (decode -> encode -> merge -> feature shard)
  cache        a feature cache on disk: its tag, per-sample members, features and errors rows
  run          the precompress driver (workers, catalog tables); dataset: FeatureDataset for training

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
