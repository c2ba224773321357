"""UMT-L re-implementation: parameter layout, position tables, attention maths, loader."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
save_file = pytest.importorskip("safetensors.torch").save_file

import torch.nn.functional as F  # noqa: E402

from longvid.hico.encoders import Encoder, build_encoder
from longvid.hico.encoders.umt import (
    UMT_L, UMT_TINY, UMTConfig, UMTVisionTower, init_seeded, load_umt_weights, position_table, sinusoid_table,
)


def _meta_tower(cfg: UMTConfig = UMT_L, size: int = 224) -> UMTVisionTower:
    with torch.device("meta"):
        return UMTVisionTower(cfg, size)


def _tiny(size: int = 64, seed: int = 0) -> UMTVisionTower:
    model = UMTVisionTower(UMT_TINY, size)
    init_seeded(model, seed)
    return model.eval()


def test_full_size_state_dict_layout() -> None:
    sd = _meta_tower().state_dict()
    assert len(sd) == 303
    assert sum(v.numel() for v in sd.values()) == 290_479_104
    expected = {
        "encoder.patch_embed.proj.weight": (1024, 3, 1, 16, 16),
        "encoder.patch_embed.proj.bias": (1024,),
        "encoder.vision_layernorm.weight": (1024,),
        "encoder.vision_layernorm.bias": (1024,),
    }
    per_block = {
        "norm1.weight": (1024,), "norm1.bias": (1024,),
        "attn.qkv.weight": (3072, 1024), "attn.q_bias": (1024,), "attn.v_bias": (1024,),
        "attn.proj.weight": (1024, 1024), "attn.proj.bias": (1024,),
        "norm2.weight": (1024,), "norm2.bias": (1024,),
        "mlp.fc1.weight": (4096, 1024), "mlp.fc1.bias": (4096,),
        "mlp.fc2.weight": (1024, 4096), "mlp.fc2.bias": (1024,),
    }
    for i in range(23):
        expected.update({f"encoder.blocks.{i}.{k}": v for k, v in per_block.items()})
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert not any("pos_embed" in k or "qkv.bias" in k for k in sd)
    full = _meta_tower(UMTConfig(select_layer=-1)).state_dict()  # all 24 blocks
    assert len(full) == 316 and sum(v.numel() for v in full.values()) == 303_074_304


def test_numerics_settings() -> None:
    enc = _meta_tower().encoder
    assert enc.patch_embed.proj.kernel_size == (1, 16, 16) and enc.patch_embed.proj.stride == (1, 16, 16)
    assert enc.blocks[0].norm1.eps == 1e-6 and enc.blocks[0].norm2.eps == 1e-6
    assert enc.vision_layernorm.eps == 1e-12
    assert enc.blocks[0].attn.scale == 0.125
    assert enc.blocks[0].mlp.act.approximate == "none"
    assert enc.blocks[0].attn.qkv.bias is None


def test_sinusoid_table_interleaves_sin_cos() -> None:
    dim = 1024
    table = sinusoid_table(784, dim)
    assert table.shape == (1, 784, dim) and table.dtype == torch.float32
    assert torch.equal(table[0, 0, 0::2], torch.zeros(dim // 2))
    assert torch.equal(table[0, 0, 1::2], torch.ones(dim // 2))
    for p in (1, 5, 195, 783):
        for j in (0, 1, 2, 3, 510, 511, 1022, 1023):
            angle = p / math.pow(10000, 2 * (j // 2) / dim)
            want = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[0, p, j].item() == pytest.approx(want, abs=1e-7)


def _cubic_matrix(n_in: int, n_out: int, a: float = -0.75) -> np.ndarray:
    """1-D bicubic resize matrix (align_corners=False, clamped borders), written independently."""
    def k(t: float) -> float:
        t = abs(t)
        if t <= 1:
            return (a + 2) * t**3 - (a + 3) * t**2 + 1
        if t < 2:
            return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
        return 0.0
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        src = (o + 0.5) * n_in / n_out - 0.5
        base = math.floor(src)
        for tap in range(base - 1, base + 3):
            m[o, min(max(tap, 0), n_in - 1)] += k(src - tap)
    return m


def test_position_tables_at_224_and_448() -> None:
    t224 = position_table(4, 14, 1024, 14)
    assert torch.equal(t224, sinusoid_table(784, 1024))
    t448 = position_table(4, 28, 1024, 14)
    assert t448.shape == (1, 3136, 1024)
    img448 = position_table(1, 28, 1024, 14)
    assert img448.shape == (1, 784, 1024)
    torch.testing.assert_close(img448[0], t448[0, :784])  # image table = frame 0 of the clip table
    # the 448 table is the per-frame bicubic resize of the 224 table, checked with our own kernel
    w = _cubic_matrix(14, 28)
    base = t224[0].double().numpy().reshape(4, 14, 14, 1024)
    for frame in (0, 3):
        for ch in (0, 1, 700, 1023):
            want = w @ base[frame, :, :, ch] @ w.T
            got = t448[0].numpy().reshape(4, 28, 28, 1024)[frame, :, :, ch]
            np.testing.assert_allclose(got, want, atol=2e-6)
    # the 224 model's tables: clip = 784 rows; image = its first 196
    enc = _meta_tower().encoder
    assert enc.pos_embed.shape == (1, 784, 1024)
    assert torch.equal(enc.img_pos_embed[0], enc.pos_embed[0, :196])
    assert _meta_tower(size=448).encoder.pos_embed.shape == (1, 3136, 1024)


def test_tiny_forward_shapes_two_resolutions() -> None:
    torch.manual_seed(0)
    for size, grid in ((64, 4), (128, 8)):  # 128 uses the interpolated (448-style) table path
        model = _tiny(size)
        clip = torch.randn(2, 4, 3, size, size)
        out = model(clip)
        assert out.shape == (2, 4 * grid * grid, 64) and torch.isfinite(out).all()
        assert model(torch.randn(1, 1, 3, size, size)).shape == (1, grid * grid, 64)
        with pytest.raises(ValueError):
            model(torch.randn(1, 2, 3, size, size))
    assert len(_tiny().encoder.blocks) == 2
    assert _tiny(128).encoder.pos_embed.shape == (1, 256, 64)


def test_patch_order_is_t_row_col() -> None:
    model = _tiny(64)
    x = torch.randn(1, 4, 3, 64, 64)
    tokens = model.encoder.patch_embed(x.permute(0, 2, 1, 3, 4))
    conv = model.encoder.patch_embed.proj
    w2d, b = conv.weight[:, :, 0], conv.bias
    for t, r, c in ((0, 0, 0), (1, 2, 3), (3, 3, 1)):
        patch = x[0, t, :, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16]
        want = (w2d * patch).sum(dim=(1, 2, 3)) + b
        torch.testing.assert_close(tokens[0, t * 16 + r * 4 + c], want, rtol=1e-4, atol=1e-5)


def test_block_matches_naive_softmax_attention() -> None:
    torch.manual_seed(3)
    block = _tiny().encoder.blocks[0]
    attn = block.attn
    x = torch.randn(2, 10, 64, dtype=torch.float64)
    block = block.double()
    with torch.no_grad():
        # naive: explicit bias layout [q_bias, 0, v_bias], softmax(q·kᵀ·d^-0.5)·v, heads concatenated
        h = F.layer_norm(x, (64,), block.norm1.weight, block.norm1.bias, eps=1e-6)
        w = attn.qkv.weight
        q = h @ w[:64].T + attn.q_bias
        k = h @ w[64:128].T
        v = h @ w[128:].T + attn.v_bias
        heads = []
        for i in range(4):
            sl = slice(16 * i, 16 * i + 16)
            logits = q[..., sl] @ k[..., sl].transpose(1, 2) / math.sqrt(16)
            heads.append(torch.softmax(logits, dim=-1) @ v[..., sl])
        y = x + torch.cat(heads, dim=-1) @ attn.proj.weight.T + attn.proj.bias
        h2 = F.layer_norm(y, (64,), block.norm2.weight, block.norm2.bias, eps=1e-6)
        mid = h2 @ block.mlp.fc1.weight.T + block.mlp.fc1.bias
        mid = 0.5 * mid * (1 + torch.erf(mid / math.sqrt(2)))
        want = y + mid @ block.mlp.fc2.weight.T + block.mlp.fc2.bias
        torch.testing.assert_close(block(x), want)


def _checkpoint_from(model: UMTVisionTower) -> dict[str, torch.Tensor]:
    """What UMT-L_f4_vision.pt looks like: encoder.* with the final norm named encoder.norm."""
    sd = {k.replace("encoder.vision_layernorm", "encoder.norm"): v.clone() for k, v in model.state_dict().items()}
    sd["encoder.blocks.2.norm1.weight"] = torch.ones(64)  # block 24 of 24: not built
    sd["clip_decoder.0.weight"] = torch.zeros(3)  # outside encoder.: dropped silently
    return sd


def test_loader_renames_and_reports(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src, dst = _tiny(seed=1), _tiny(seed=2)
    sd = _checkpoint_from(src)
    del sd["encoder.blocks.1.mlp.fc2.bias"]
    path = tmp_path / "umt.pt"
    torch.save(sd, path)
    with caplog.at_level(logging.WARNING):
        report = load_umt_weights(dst, path)
    assert "encoder.vision_layernorm.weight" in report.loaded
    assert "encoder.blocks.0.norm1.weight" in report.loaded  # block norms are not renamed
    assert report.missing == ["encoder.blocks.1.mlp.fc2.bias"]
    assert report.unexpected == ["encoder.blocks.2.norm1.weight"]
    assert report.dropped == 1
    assert "encoder.blocks.1.mlp.fc2.bias" in caplog.text and "encoder.blocks.2.norm1.weight" in caplog.text
    got = dst.state_dict()
    for k, v in src.state_dict().items():
        if k != "encoder.blocks.1.mlp.fc2.bias":
            assert torch.equal(got[k], v), k


@pytest.mark.parametrize("layout", ["model", "state_dict", "videochat_flash", "safetensors"])
def test_loader_unwraps(tmp_path: Path, layout: str) -> None:
    src, dst = _tiny(seed=1), _tiny(seed=2)
    sd = _checkpoint_from(src)
    if layout == "safetensors":
        path = tmp_path / "umt.safetensors"
        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        if layout == "videochat_flash":
            obj = {"model.vision_tower.vision_tower." + k: v for k, v in sd.items()}
            obj["model.layers.0.mlp.up_proj.weight"] = torch.zeros(2)
        else:
            obj = {layout: sd}
        path = tmp_path / "umt.pt"
        torch.save(obj, path)
    report = load_umt_weights(dst, path)
    assert not report.missing
    assert (layout == "safetensors") == (not report.notes)
    assert torch.equal(dst.encoder.vision_layernorm.weight, src.encoder.vision_layernorm.weight)


def test_loader_refuses_a_file_with_nothing_to_load(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"vision_encoder.blocks.0.norm1.weight": torch.ones(64)}, path)
    with pytest.raises(ValueError, match="no UMT tensor loaded"):
        load_umt_weights(_tiny(), path)


def test_encoder_wrapper_and_hash(tmp_path: Path) -> None:
    enc = build_encoder("umt-tiny", resolution=64)
    assert isinstance(enc, Encoder)
    assert (enc.frames_per_clip, enc.tokens_per_frame, enc.dim, enc.metric_groups) == (4, 16, 64, 4)
    out = enc.encode(torch.randn(8, 3, 64, 64))
    assert out.shape == (2, 64, 64)
    assert enc.weight_hash() == build_encoder("umt-tiny", resolution=64).weight_hash()
    assert len(enc.weight_hash()) == 64
    # loading the same weights from a file gives the same hash and the same features
    path = tmp_path / "tiny.pt"
    torch.save(_checkpoint_from(enc.model), path)
    again = build_encoder("umt-tiny", weights=path, resolution=64)
    assert again.weight_hash() == enc.weight_hash()
    frames = torch.randn(4, 3, 64, 64)
    torch.testing.assert_close(again.encode(frames), enc.encode(frames))
    with pytest.raises(ValueError):
        enc.encode(torch.randn(6, 3, 64, 64))
    with pytest.raises(ValueError):
        build_encoder("umt-l", resolution=224)  # weights required
    with pytest.raises(KeyError):
        build_encoder("umt-xl")
