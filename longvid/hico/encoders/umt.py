"""UMT-L video tower of VideoChat-Flash, re-implemented per umt-checkpoint-layout.md (§2, §4, §5).

- Root module with one child `encoder`: Conv3d patch embed (kernel = stride = (1, 16, 16),
  with bias), tokens in (t, row, col) order; a fixed 1-D sinusoidal table over the whole
  clip (pairs sin/cos share one frequency, float64 -> float32; not in the state dict);
  pre-LN blocks (eps 1e-6) with q/v biases and a zero k bias, scale 64^-0.5, SDPA, exact-erf
  GELU MLP; 23 of 24 blocks (depth + select_layer + 1); final `vision_layernorm` eps 1e-12.
- Other resolutions: the table for the base grid (14×14 at 224) is viewed per frame and
  bicubic-resized (align_corners=False, float32) to the new grid, e.g. 28×28 at 448.
- Clips of 4 frames use the clip table; single frames (T = 1) use the image table (the first
  frame's rows); any other T raises, as in the original (no temporal interpolation).
- `umt-tiny`: the same architecture at width 64, 4 heads, depth 3 (2 blocks run), base size 64,
  with weights drawn from a seeded torch.Generator; for tests and CPU smoke runs.

Deviations: SDPA replaces flash-attn (same maths, different kernels/rounding). Parameters a
checkpoint lacks keep the original init (xavier-uniform Linear weights, zero biases, LayerNorm
1/0), but drawn from a seeded generator rather than the global RNG, so they are reproducible.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from longvid.hico.encoders.base import LOCAL_FRAMES, check_frames, state_dict_hash

__all__ = ["UMTConfig", "UMT_L", "UMT_TINY", "UMTVisionTower", "sinusoid_table", "position_table",
           "load_umt_weights", "LoadReport", "UMTEncoder", "build_umt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UMTConfig:
    dim: int = 1024
    depth: int = 24
    heads: int = 16
    mlp_dim: int = 4096
    patch: int = 16
    base_size: int = 224  # size the position table is defined for (14×14 grid)
    clip_frames: int = 4  # frames the table covers (ckpt_num_frame)
    select_layer: int = -2
    norm_eps: float = 1e-6
    final_eps: float = 1e-12

    @property
    def n_blocks(self) -> int:
        return self.depth + self.select_layer + 1


UMT_L = UMTConfig()
UMT_TINY = UMTConfig(dim=64, depth=3, heads=4, mlp_dim=256, base_size=64)


def sinusoid_table(n: int, dim: int) -> Tensor:
    """[1, n, dim] float32: angle p / 10000^(2·⌊j/2⌋/dim); even j sin, odd j cos (float64 maths)."""
    pos = np.arange(n, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angles = pos / np.power(10000.0, 2 * (j // 2) / dim)[None, :]
    table = np.empty_like(angles)
    table[:, 0::2] = np.sin(angles[:, 0::2])
    table[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(table).float()[None]


def position_table(frames: int, grid: int, dim: int, base_grid: int) -> Tensor:
    """[1, frames·grid², dim]: the base table over frames·base_grid², per-frame bicubic-resized."""
    table = sinusoid_table(frames * base_grid * base_grid, dim)
    if grid == base_grid:
        return table
    x = table.reshape(frames, base_grid, base_grid, dim).permute(0, 3, 1, 2)
    x = F.interpolate(x, size=(grid, grid), mode="bicubic", align_corners=False)
    return x.permute(0, 2, 3, 1).reshape(1, frames * grid * grid, dim)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        k = (1, cfg.patch, cfg.patch)
        self.proj = nn.Conv3d(3, cfg.dim, kernel_size=k, stride=k)

    def forward(self, x: Tensor) -> Tensor:  # [B, 3, T, S, S] -> [B, T·h·w, C]
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.heads = cfg.heads
        self.scale = (cfg.dim // cfg.heads) ** -0.5
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(cfg.dim))
        self.v_bias = nn.Parameter(torch.zeros(cfg.dim))
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def qkv_heads(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, n, c = x.shape
        bias = torch.cat([self.q_bias, torch.zeros_like(self.v_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, N, D]
        return q, k, v

    def forward(self, x: Tensor) -> Tensor:
        out = F.scaled_dot_product_attention(*self.qkv_heads(x), scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(x.shape))


class Mlp(nn.Module):
    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_dim)
        self.act = nn.GELU()  # exact erf
        self.fc2 = nn.Linear(cfg.mlp_dim, cfg.dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, cfg: UMTConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.norm_eps)
        self.mlp = Mlp(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class UMTEncoderModule(nn.Module):
    def __init__(self, cfg: UMTConfig, size: int) -> None:
        super().__init__()
        if size % cfg.patch or cfg.base_size % cfg.patch:
            raise ValueError(f"size {size} and base size {cfg.base_size} must be multiples of {cfg.patch}")
        self.cfg, self.size = cfg, size
        grid, base_grid = size // cfg.patch, cfg.base_size // cfg.patch
        self.patch_embed = PatchEmbed(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_blocks))
        self.vision_layernorm = nn.LayerNorm(cfg.dim, eps=cfg.final_eps)
        # Fixed tables: buffers so they follow .to(), but not persistent (not in the state dict).
        self.register_buffer("pos_embed", position_table(cfg.clip_frames, grid, cfg.dim, base_grid), persistent=False)
        self.register_buffer("img_pos_embed", position_table(1, grid, cfg.dim, base_grid), persistent=False)

    def forward(self, x: Tensor) -> Tensor:  # [B, 3, T, S, S] -> [B, T·h·w, C]
        t = x.shape[2]
        if t not in (1, self.cfg.clip_frames):
            raise ValueError(f"UMT tables cover {self.cfg.clip_frames} frames or 1 image, got T={t}")
        pos = self.img_pos_embed if t == 1 else self.pos_embed
        x = self.patch_embed(x)
        x = x + pos.to(dtype=x.dtype, device=x.device)
        for block in self.blocks:
            x = block(x)
        return self.vision_layernorm(x)


class UMTVisionTower(nn.Module):
    """Root module: state-dict names start with `encoder.` exactly as the checkpoint's."""

    def __init__(self, cfg: UMTConfig = UMT_L, size: int = 224) -> None:
        super().__init__()
        self.encoder = UMTEncoderModule(cfg, size)

    def forward(self, x: Tensor) -> Tensor:  # [B, T, 3, S, S] -> [B, T·L, C]
        return self.encoder(x.permute(0, 2, 1, 3, 4))


def init_original(model: nn.Module, seed: int = 0) -> None:
    """The original init (what a parameter missing from the checkpoint keeps), drawn from a
    seeded generator so that even a partial checkpoint gives reproducible features and hash."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight, generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def init_seeded(model: nn.Module, seed: int = 0) -> None:
    """Deterministic random weights (all parameters, biases and norms included) from `seed`."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if name.endswith(("norm1.weight", "norm2.weight", "layernorm.weight")):
            p.copy_(1.0 + 0.1 * noise)
        elif p.ndim == 1:
            p.copy_(0.02 * noise)
        else:
            p.copy_(noise / p[0].numel() ** 0.5)  # 1/sqrt(fan_in)


# ------------------------------------------------------------------------------- loader


@dataclass
class LoadReport:
    loaded: list[str]
    missing: list[str]
    unexpected: list[str]
    dropped: int = 0  # keys outside `encoder.`, ignored like the original
    notes: list[str] = field(default_factory=list)


_WRAPPERS = ("model", "state_dict", "module")
_VCF_PREFIX = "model.vision_tower.vision_tower."


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A flat name -> tensor mapping from .safetensors or a torch file (weights_only)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return torch.load(path, map_location="cpu", weights_only=True)


def _normalise_keys(sd: dict, notes: list[str]) -> dict[str, Tensor]:
    while isinstance(sd, dict) and not any(isinstance(v, Tensor) for v in sd.values()):
        inner = next((k for k in _WRAPPERS if isinstance(sd.get(k), dict)), None)
        if inner is None:
            break
        notes.append(f"unwrapped {{{inner!r}: ...}}")
        sd = sd[inner]
    sd = {k: v for k, v in sd.items() if isinstance(v, Tensor)}
    if not any(k.startswith("encoder.") for k in sd):
        if any(k.startswith(_VCF_PREFIX) for k in sd):
            notes.append(f"took the VideoChat-Flash tower under {_VCF_PREFIX!r}")
            sd = {k[len(_VCF_PREFIX):]: v for k, v in sd.items() if k.startswith(_VCF_PREFIX)}
        elif sd and all(k.startswith("module.") for k in sd):
            notes.append("stripped the 'module.' prefix")
            sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_umt_weights(model: UMTVisionTower, path: str | Path) -> LoadReport:
    """Load a UMT checkpoint as the original loader does (keep `encoder.*`, rename
    `encoder.norm*` -> `encoder.vision_layernorm*`, non-strict) and report what happened.
    Raises if nothing at all was loaded; logs a warning listing missing/unexpected names."""
    notes: list[str] = []
    sd = _normalise_keys(read_state_dict(path), notes)
    kept: dict[str, Tensor] = {}
    for k, v in sd.items():
        if not k.startswith("encoder."):
            continue
        if k.startswith("encoder.norm"):
            k = "encoder.vision_layernorm" + k[len("encoder.norm"):]
        kept[k] = v
    result = model.load_state_dict(kept, strict=False)
    report = LoadReport(
        loaded=sorted(set(kept) - set(result.unexpected_keys)),
        missing=sorted(result.missing_keys),
        unexpected=sorted(result.unexpected_keys),
        dropped=len(sd) - len(kept),
        notes=notes,
    )
    if not report.loaded:
        raise ValueError(f"{path}: no UMT tensor loaded ({len(sd)} keys, e.g. {sorted(sd)[:3]}; notes: {notes})")
    for note in notes:
        log.info("%s: %s", path, note)
    if report.missing or report.unexpected:
        log.warning("%s: loaded %d tensors; missing %s; unexpected %s", path, len(report.loaded),
                    report.missing, report.unexpected)
    return report


# ------------------------------------------------------------------------------- encoder


class UMTEncoder:
    """Encoder-protocol wrapper: frames [T, 3, S, S] -> [T/4, 4·(S/16)², C]."""

    frames_per_clip = LOCAL_FRAMES

    def __init__(self, tag: str, model: UMTVisionTower, weight_hash: str, device: torch.device,
                 dtype: torch.dtype, clips_per_batch: int = 8) -> None:
        cfg = model.encoder.cfg
        self.tag, self.model, self._hash = tag, model, weight_hash
        self.resolution, self.dim, self.metric_groups = model.encoder.size, cfg.dim, cfg.heads
        self.tokens_per_frame = (self.resolution // cfg.patch) ** 2
        self.mean, self.std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        self.device, self.dtype, self.clips_per_batch = device, dtype, clips_per_batch

    def weight_hash(self) -> str:
        return self._hash

    @torch.inference_mode()
    def encode(self, frames: Tensor) -> Tensor:
        n, s = check_frames(frames, self.resolution), self.resolution
        x = frames.to(self.device, self.dtype).reshape(n, LOCAL_FRAMES, 3, s, s)
        return torch.cat([self.model(x[i : i + self.clips_per_batch]) for i in range(0, n, self.clips_per_batch)])


def build_umt(name: str, weights: Path | None, resolution: int, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float32, seed: int = 0) -> UMTEncoder:
    """`umt-l` (weights required) or `umt-tiny` (seeded random, or `weights` if given)."""
    if name == "umt-l":
        if weights is None:
            raise ValueError("umt-l needs a weights file (UMT-L_f4_vision.pt or a VideoChat-Flash checkpoint)")
        model = UMTVisionTower(UMT_L, resolution)
        init_original(model)
    elif name == "umt-tiny":
        model = UMTVisionTower(UMT_TINY, resolution)
        init_seeded(model, seed)
    else:
        raise KeyError(f"unknown UMT encoder {name!r}")
    if weights is not None:
        load_umt_weights(model, weights)
    digest = state_dict_hash(model)
    device = torch.device(device)
    model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    return UMTEncoder(name, model, digest, device, dtype)
