"""`open_clip:<model>`: an open_clip ViT image tower run per frame, as a HiCo feature encoder.

- Built with `open_clip.create_model(<model>, pretrained=None)` (config only, nothing fetched)
  and loaded from a local file only (`weights`): an open_clip / OpenAI-format CLIP state dict
  (.safetensors, or a torch file readable with weights_only=True; {"state_dict": ...} and a
  `module.` prefix are unwrapped; keys under `visual.` are taken, or the file may hold the
  tower's own keys). The tower is loaded strictly; the position table is resized to the
  requested resolution with open_clip's own `resize_pos_embed`. OpenAI TorchScript archives and
  third-party (timm / big_vision) formats are not handled. Text-tower weights are ignored.
- Output: the patch tokens after `ln_post`, CLS removed, not projected (`visual.output_tokens =
  True`, the `tokens` half of the result), [T, L, C] with L = (S/patch)², regrouped frame-major
  into [T/4, 4L, C] clips (see base.py). At 224 with patch 16: 196 per frame, 784 per clip.
- `metric_groups` is the tower's head count (the original metric uses the vision config's
  heads); `mean`/`std` come from the model's preprocess config (OpenAI CLIP stats by default).
  Frames are still square-resized without a crop (the HiCo recipe), not open_clip's own
  resize + centre-crop: a deliberate deviation for per-frame towers.
- Only open_clip's own `VisionTransformer` towers (timm-based ones such as SigLIP raise).
- `open_clip:tiny`: a 2-layer, width-64, patch-16 ViT (4 heads) with weights drawn under a
  fixed torch seed; for tests and CPU smoke runs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from longvid.hico.encoders.base import LOCAL_FRAMES, check_frames, regroup_frames, state_dict_hash

__all__ = ["OpenClipEncoder", "build_open_clip", "tiny_clip", "load_visual_weights", "read_clip_state_dict"]


def tiny_clip(resolution: int, seed: int = 0, *, vocab_size: int = 64, context_length: int = 8) -> nn.Module:
    """A tiny open_clip CLIP (vision: 2 layers, width 64, 4 heads, patch 16) with seeded weights.
    `vocab_size=49408` gives it open_clip's BPE vocabulary (longvid.enrich.clip_score)."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    vision = CLIPVisionCfg(layers=2, width=64, head_width=16, patch_size=16, image_size=resolution)
    text = CLIPTextCfg(context_length=context_length, vocab_size=vocab_size, width=32, heads=2, layers=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return open_clip.CLIP(embed_dim=32, vision_cfg=vision, text_cfg=text)


def read_clip_state_dict(path: str | Path) -> dict:
    """An open_clip state dict from a local file: `{"state_dict": ...}` and a `module.` prefix unwrapped."""
    from longvid.hico.encoders.umt import read_state_dict

    sd: dict = read_state_dict(path)
    if isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_visual_weights(model: nn.Module, path: str | Path) -> None:
    """Strictly load the image tower of `model` (an open_clip CLIP) from a local file."""
    from open_clip.factory import resize_pos_embed

    sd = read_clip_state_dict(path)
    if any(k.startswith("visual.") for k in sd):
        visual = {k: v for k, v in sd.items() if k.startswith("visual.")}
    else:
        visual = {"visual." + k: v for k, v in sd.items()}
    resize_pos_embed(visual, model)  # in place, when the grid differs
    model.visual.load_state_dict({k[len("visual."):]: v for k, v in visual.items()}, strict=True)


class OpenClipEncoder:
    """Encoder-protocol wrapper: frames [T, 3, S, S] -> [T/4, 4·L, C]."""

    frames_per_clip = 1

    def __init__(self, tag: str, visual: nn.Module, weight_hash: str, device: torch.device,
                 dtype: torch.dtype, frames_per_batch: int = 64) -> None:
        size = visual.image_size
        patch = visual.patch_size
        self.tag, self.visual, self._hash = tag, visual, weight_hash
        self.resolution = int(size[0] if isinstance(size, (tuple, list)) else size)
        p = int(patch[0] if isinstance(patch, (tuple, list)) else patch)
        self.tokens_per_frame = (self.resolution // p) ** 2
        self.dim = int(visual.ln_post.normalized_shape[0])
        self.metric_groups = int(visual.transformer.resblocks[0].attn.num_heads)
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(cfg.get("mean", getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)))
        self.std = tuple(cfg.get("std", getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)))
        self.device, self.dtype, self.frames_per_batch = device, dtype, frames_per_batch
        visual.output_tokens = True

    def weight_hash(self) -> str:
        return self._hash

    @torch.inference_mode()
    def frame_tokens(self, frames: Tensor) -> Tensor:
        """Per-frame patch tokens [T, L, C] (after ln_post, no CLS, not projected)."""
        x = frames.to(self.device, self.dtype)
        out = [self.visual(x[i : i + self.frames_per_batch])[1] for i in range(0, x.shape[0], self.frames_per_batch)]
        return torch.cat(out)

    def encode(self, frames: Tensor) -> Tensor:
        check_frames(frames, self.resolution)
        return regroup_frames(self.frame_tokens(frames), LOCAL_FRAMES)


def build_open_clip(name: str, weights: Path | None, resolution: int, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, seed: int = 0) -> OpenClipEncoder:
    """`name` is `open_clip:tiny` or `open_clip:<open_clip model name>` (weights required)."""
    if not name.startswith("open_clip:"):
        raise KeyError(f"not an open_clip encoder name: {name!r}")
    model_name = name[len("open_clip:"):]
    if model_name == "tiny":
        model = tiny_clip(resolution, seed)
    else:
        if weights is None:
            raise ValueError(f"{name} needs a local weights file (nothing is downloaded)")
        import open_clip

        model = open_clip.create_model(model_name, pretrained=None, pretrained_image=False,
                                       pretrained_text=False, force_image_size=resolution)
    if weights is not None:
        load_visual_weights(model, weights)
    visual = model.visual
    from open_clip.transformer import VisionTransformer

    if not isinstance(visual, VisionTransformer):
        raise ValueError(f"{name}: image tower is {type(visual).__name__}, only open_clip ViTs are supported")
    digest = state_dict_hash(visual)
    device = torch.device(device)
    visual = visual.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return OpenClipEncoder(name, visual, digest, device, dtype)
