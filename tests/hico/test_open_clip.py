"""open_clip per-frame towers: token choice (after ln_post, no CLS, unprojected), regrouping, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from longvid.hico import merge_clip_tokens
from longvid.hico.encoders import Encoder, build_encoder
from longvid.hico.encoders.open_clip_tower import tiny_clip


def test_tiny_tokens_are_ln_post_patch_tokens() -> None:
    enc = build_encoder("open_clip:tiny", resolution=64)
    assert isinstance(enc, Encoder)
    assert (enc.frames_per_clip, enc.tokens_per_frame, enc.dim, enc.metric_groups) == (1, 16, 64, 4)
    frames = torch.randn(8, 3, 64, 64)
    visual = enc.visual
    with torch.no_grad():
        x = visual.transformer(visual._embeds(frames))
        want = visual.ln_post(x)[:, 1:]  # CLS dropped, no projection
    per_frame = enc.frame_tokens(frames)
    assert per_frame.shape == (8, 16, 64)
    torch.testing.assert_close(per_frame, want)
    clips = enc.encode(frames)
    assert clips.shape == (2, 64, 64)
    # frame-major regrouping: clip j = frames 4j..4j+3, each frame's 16 tokens in turn
    torch.testing.assert_close(clips[1, 16:32], per_frame[5])


def test_224_clip_merges_to_64() -> None:
    enc = build_encoder("open_clip:tiny", resolution=224)
    clips = enc.encode(torch.randn(4, 3, 224, 224))
    assert clips.shape == (1, 784, 64)  # 4 frames × 196 patches
    tokens, sizes = merge_clip_tokens(clips, 64, enc.metric_groups)
    assert tokens.shape == (1, 64, 64) and int(sizes.sum()) == 784


def test_seeded_and_hashed() -> None:
    a, b = build_encoder("open_clip:tiny", resolution=64), build_encoder("open_clip:tiny", resolution=64)
    assert a.weight_hash() == b.weight_hash()
    assert a.weight_hash() != build_encoder("open_clip:tiny", resolution=224).weight_hash()


def test_weights_from_local_file(tmp_path: Path) -> None:
    src = tiny_clip(64, seed=5)
    full = tmp_path / "clip.pt"
    torch.save(src.state_dict(), full)
    enc = build_encoder("open_clip:tiny", weights=full, resolution=64)
    frames = torch.randn(4, 3, 64, 64)
    src.visual.output_tokens = True
    with torch.no_grad():
        want = src.visual(frames)[1].reshape(1, 64, 64)
    torch.testing.assert_close(enc.encode(frames), want)
    # a visual-only file under {"state_dict": ...}, without the visual. prefix, loads the same
    wrapped = tmp_path / "visual.pt"
    torch.save({"state_dict": src.visual.state_dict()}, wrapped)
    assert build_encoder("open_clip:tiny", weights=wrapped, resolution=64).weight_hash() == enc.weight_hash()
    # strict: a file missing tower weights is refused
    broken = {k: v for k, v in src.state_dict().items() if not k.startswith("visual.ln_post")}
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(RuntimeError):
        build_encoder("open_clip:tiny", weights=tmp_path / "broken.pt", resolution=64)


def test_named_model_needs_a_local_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="local weights"):
        build_encoder("open_clip:ViT-S-32", resolution=224)
    with pytest.raises(KeyError):
        build_encoder("open_clip:<model>")
    import open_clip

    model = open_clip.create_model("ViT-S-32", pretrained=None)  # 224 native, grid 7
    path = tmp_path / "vit_s_32.pt"
    torch.save({k: v for k, v in model.state_dict().items() if k.startswith("visual.")}, path)
    enc = build_encoder("open_clip:ViT-S-32", weights=path, resolution=64)  # pos table resized to 2×2
    assert enc.tokens_per_frame == 4 and enc.resolution == 64
    assert enc.encode(torch.randn(4, 3, 64, 64)).shape == (1, 16, enc.dim)
