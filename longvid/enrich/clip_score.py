"""CLIP text-video similarity with open_clip, from local weights only.

`load_clip(model, weights, device)` builds an open_clip CLIP by name with `pretrained=None` (nothing
is downloaded) and loads the whole model strictly from a local file (.safetensors or a torch file
read with weights_only; `{"state_dict": ...}` and a `module.` prefix are unwrapped). `tiny` is a
seeded random CLIP (2-layer width-64 ViT at 64 px, 1-layer text tower) with open_clip's own BPE
vocabulary, for tests and CPU runs. Text is tokenized with open_clip's built-in CLIP tokenizer;
models whose tokenizer would come from the Hugging Face hub are refused. One model per process
and (model, weights, device) (`load_clip` is cached).

`score_sample(clip, frames, captions)`: every caption against the frames it speaks about: a timed
caption (start < end inside the sample, times relative to it) against the frames inside its span
(the nearest frame for an instant or a span between frames), an untimed one against all frames;
per caption the cosine between its text embedding and the normalised mean of those frames' image
embeddings. Scores: `clip_sim` (mean over captions), `clip_sim_min`; no captions gives no
similarity, only the embeddings. The image embedding (mean of the frames, normalised) and each
caption's text embedding are returned for reuse (near-duplicates, retrieval).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from longvid.enrich.frames import SampledFrames

__all__ = ["ClipModel", "ClipResult", "load_clip", "tiny_clip_model", "score_sample", "preprocess"]

TIME_SLACK = 0.5  # seconds a frame may lie outside a caption's span and still count for it


@dataclass
class ClipModel:
    """A loaded open_clip CLIP with its tokenizer and preprocessing numbers."""

    name: str
    model: Any  # open_clip.CLIP
    tokenizer: Any
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: Any

    def embed_images(self, frames: np.ndarray, batch: int = 32) -> np.ndarray:
        """uint8 frames [N, H, W, 3] -> L2-normalised image embeddings [N, D] (float32)."""
        import torch

        x = preprocess(frames, self.image_size, self.mean, self.std)
        out = []
        with torch.inference_mode():
            for i in range(0, x.shape[0], batch):
                out.append(self.model.encode_image(x[i : i + batch].to(self.device), normalize=True).float().cpu())
        return torch.cat(out).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> L2-normalised text embeddings [M, D] (float32)."""
        import torch

        with torch.inference_mode():
            tokens = self.tokenizer(texts).to(self.device)
            return self.model.encode_text(tokens, normalize=True).float().cpu().numpy()


@dataclass(frozen=True)
class ClipResult:
    scores: dict[str, float]
    image_embedding: np.ndarray  # [D], mean of the frames, normalised
    text_embeddings: np.ndarray  # [M, D], one per caption scored


def preprocess(frames: np.ndarray, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """CLIP's own preprocessing: shorter side to `size` (bicubic, antialiased), centre crop,
    x/255, mean/std -> float tensor [N, 3, size, size]."""
    import torch
    import torch.nn.functional as F

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames [N, H, W, 3], got {frames.shape} {frames.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    x = F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False).clamp_(0, 255)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[:, :, top : top + size, left : left + size] / 255.0
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    return (x - m) / s


def tiny_clip_model(seed: int = 0, image_size: int = 64) -> Any:
    """A seeded random open_clip CLIP small enough for tests, with the real BPE vocabulary size."""
    from longvid.hico.encoders.open_clip_tower import tiny_clip

    return tiny_clip(image_size, seed, vocab_size=49408, context_length=32)


@functools.lru_cache(maxsize=4)
def _load(name: str, weights: str | None, stamp: int, device: str) -> ClipModel:
    import open_clip
    import torch

    if name == "tiny":
        model = tiny_clip_model()
    else:
        if weights is None:
            raise ValueError(f"CLIP model {name!r} needs a local weights file (nothing is downloaded)")
        cfg = open_clip.get_model_config(name)
        if cfg is None:
            raise ValueError(f"unknown open_clip model {name!r}")
        if cfg.get("text_cfg", {}).get("hf_tokenizer_name"):
            raise ValueError(f"open_clip model {name!r} needs a Hugging Face tokenizer; only CLIP-BPE models are supported")
        model = open_clip.create_model(name, pretrained=None, pretrained_image=False, pretrained_text=False)
    if weights is not None:
        from longvid.hico.encoders.open_clip_tower import read_clip_state_dict

        model.load_state_dict(read_clip_state_dict(weights), strict=True)
    model = model.to(device).eval().requires_grad_(False)
    tokenizer = open_clip.tokenizer.SimpleTokenizer(context_length=model.context_length)
    size = model.visual.image_size
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    mean = tuple(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
    std = tuple(cfg.get("std", open_clip.OPENAI_DATASET_STD))
    return ClipModel(name, model, tokenizer, size, mean, std, torch.device(device))


def load_clip(name: str = "tiny", weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> ClipModel:
    """The CLIP model `name` (an open_clip model name, or `tiny`), from the local `weights` file;
    loaded once per process."""
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"CLIP weights {weights} not found")
    stamp = os.stat(weights).st_mtime_ns if weights is not None else 0
    return _load(name, None if weights is None else str(Path(weights).resolve()), stamp, device)


def frames_for_caption(times: tuple[float, ...], caption: dict[str, Any], sample_duration: float) -> list[int]:
    """Which frames a caption speaks about (indices into `times`)."""
    start, end = float(caption.get("start", 0.0)), float(caption.get("end", sample_duration))
    if start <= TIME_SLACK and end >= sample_duration - TIME_SLACK:
        return list(range(len(times)))
    inside = [i for i, t in enumerate(times) if start - TIME_SLACK <= t <= end + TIME_SLACK]
    if inside:
        return inside
    middle = (start + end) / 2
    return [min(range(len(times)), key=lambda i: abs(times[i] - middle))]


def score_sample(clip: ClipModel, frames: SampledFrames, captions: list[dict[str, Any]],
                 duration: float | None = None) -> ClipResult:
    """Similarity of each caption to its frames; see the module docstring."""
    image = clip.embed_images(frames.frames)
    mean = image.mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    texts = [c for c in captions if str(c.get("text", "")).strip()]
    if not texts:
        return ClipResult({}, mean.astype(np.float32), np.zeros((0, image.shape[1]), np.float32))
    text = clip.embed_texts([str(c["text"]) for c in texts])
    span = frames.duration if duration is None else duration
    sims = []
    for c, t in zip(texts, text):
        chosen = image[frames_for_caption(frames.times, c, span)].mean(axis=0)
        chosen /= max(float(np.linalg.norm(chosen)), 1e-12)
        sims.append(float(chosen @ t))
    scores = {"clip_sim": float(np.mean(sims)), "clip_sim_min": float(np.min(sims))}
    return ClipResult(scores, mean.astype(np.float32), text.astype(np.float32))
