"""HiCo feature encoders: the Encoder protocol (base), UMT-L (umt), open_clip towers (open_clip_tower).

`build_encoder` looks names up in longvid.registry.ENCODERS (the one registry): a factory
`(name, weights, resolution, device, dtype) -> Encoder`; `open_clip:<model>` is matched by prefix.
"""

from __future__ import annotations

from pathlib import Path

import torch

from longvid.hico.encoders.base import Encoder, regroup_frames, state_dict_hash

__all__ = ["Encoder", "build_encoder", "regroup_frames", "state_dict_hash"]


def build_encoder(name: str, weights: Path | str | None = None, resolution: int = 224,
                  device: str = "cpu", dtype: torch.dtype = torch.float32) -> Encoder:
    """Build the encoder registered as `name` (`open_clip:ViT-B-16` uses `open_clip:<model>`)."""
    from longvid.registry import ENCODERS, resolve

    generic = "open_clip:<model>"
    if name in ENCODERS and name != generic:
        key = name
    elif name.startswith("open_clip:") and name not in ("open_clip:", generic):
        key = generic
    else:
        raise KeyError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")
    factory = resolve(ENCODERS, key, "encoder")
    return factory(name, Path(weights) if weights is not None else None, resolution, device, dtype)
