"""Captions from open_clip's CoCa, loaded from local weights only.

`load_coca(model, weights, device)` builds an open_clip CoCa by name (`coca_ViT-B-32`,
`coca_ViT-L-14`, ...) with `pretrained=None` and loads the whole model strictly from a local file
(the same file forms as longvid.enrich.clip_score); `tiny` is a seeded random CoCa (2-layer width-64
ViT at 64 px with an attentional pooler, 1-layer text tower and decoder) with open_clip's BPE
vocabulary, for tests and CPU runs. One model per process and (model, weights, device).

`caption_frames(coca, frames)` captions the anchor frame nearest the middle of the sample (one
image through the real model) by greedy decoding: the decoder's next-token logits
(`CoCa.forward(..., output_labels=False)`) from the start token until the end token or
`max_tokens`, the end token barred for the first `min_tokens`; the tokens are decoded with
open_clip's tokenizer. Greedy is deterministic, so a rerun gives the same caption.
(open_clip's own `generate` needs transformers' generation utilities; this loop does not.)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from longvid.enrich.frames import SampledFrames

__all__ = ["CocaModel", "load_coca", "tiny_coca", "caption_frames"]


@dataclass
class CocaModel:
    name: str
    model: Any  # open_clip.CoCa
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: Any


def tiny_coca(seed: int = 0, image_size: int = 64) -> Any:
    """A seeded random open_clip CoCa small enough for tests."""
    import open_clip
    import torch

    vision = {"image_size": image_size, "layers": 2, "width": 64, "head_width": 16, "patch_size": 16,
              "attentional_pool": True, "attn_pooler_heads": 2, "attn_pooler_queries": 8, "output_tokens": True}
    text = {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
            "embed_cls": True, "output_tokens": True}
    multimodal = {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                  "attn_pooler_heads": 2}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return open_clip.CoCa(embed_dim=32, multimodal_cfg=multimodal, text_cfg=text, vision_cfg=vision)


@functools.lru_cache(maxsize=2)
def _load(name: str, weights: str | None, stamp: int, device: str) -> CocaModel:
    import open_clip
    import torch

    from longvid.hico.encoders.open_clip_tower import read_clip_state_dict

    if name == "tiny":
        model = tiny_coca()
    else:
        if weights is None:
            raise ValueError(f"CoCa model {name!r} needs a local weights file (nothing is downloaded)")
        if not name.startswith("coca_") or open_clip.get_model_config(name) is None:
            raise ValueError(f"unknown open_clip CoCa model {name!r} (e.g. coca_ViT-B-32)")
        model = open_clip.create_model(name, pretrained=None, pretrained_image=False, pretrained_text=False)
    if weights is not None:
        model.load_state_dict(read_clip_state_dict(weights), strict=True)
    model = model.to(device).eval().requires_grad_(False)
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=model.context_length)
    return CocaModel(name, model, tokenizer, size, tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),
                     tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD)), torch.device(device))


def load_coca(name: str = "tiny", weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> CocaModel:
    """The CoCa model `name` from the local `weights` file; loaded once per process."""
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"CoCa weights {weights} not found")
    stamp = os.stat(weights).st_mtime_ns if weights is not None else 0
    return _load(name, None if weights is None else str(Path(weights).resolve()), stamp, device)


def _middle(frames: SampledFrames) -> np.ndarray:
    middle = frames.duration / 2
    i = min(range(len(frames.times)), key=lambda k: abs(frames.times[k] - middle))
    return frames.frames[i : i + 1]


def caption_frames(coca: CocaModel, frames: SampledFrames, *, max_tokens: int = 20, min_tokens: int = 2) -> str:
    """A caption of the sample's middle frame (greedy decoding; see the module docstring)."""
    import torch

    from longvid.enrich.clip_score import preprocess

    tok = coca.tokenizer
    image = preprocess(_middle(frames), coca.image_size, coca.mean, coca.std).to(coca.device)
    limit = min(max_tokens, coca.model.context_length - 1)
    with torch.inference_mode():
        latent, embs = coca.model._encode_image(image)
        out = torch.tensor([[tok.sot_token_id]], device=coca.device)
        for step in range(limit):
            logits = coca.model(image, out, image_latent=latent, image_embs=embs, output_labels=False)["logits"][0, -1]
            if step < min_tokens:
                logits[tok.eot_token_id] = -float("inf")
            logits[tok.sot_token_id] = -float("inf")
            nxt = int(torch.argmax(logits))
            if nxt == tok.eot_token_id:
                break
            out = torch.cat([out, torch.tensor([[nxt]], device=coca.device)], dim=1)
    text = tok.decode(out[0, 1:].tolist())
    return " ".join(text.replace("<end_of_text>", " ").split()).strip()
