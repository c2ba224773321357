"""CLIP text-video similarity with a tiny seeded open_clip model: shapes, the frames each caption is
scored against, loading from a local file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from longvid.enrich.clip_score import frames_for_caption, load_clip, score_sample, tiny_clip_model  # noqa: E402
from longvid.enrich.frames import FrameSpec, sample_frames  # noqa: E402


def test_scores_and_embeddings(videos: dict[str, Path]) -> None:
    clip = load_clip("tiny")
    assert load_clip("tiny") is clip  # one load per process
    frames = sample_frames(videos["moving"], FrameSpec(count=4))
    captions = [{"start": 0.0, "end": 3.0, "text": "a colourful test pattern", "kind": "alt_text", "origin": "t"},
                {"start": 1.0, "end": 1.0, "text": "a moving box", "kind": "narration", "origin": "t"},
                {"start": 0.0, "end": 3.0, "text": "   ", "kind": "alt_text", "origin": "t"}]
    result = score_sample(clip, frames, captions)
    assert set(result.scores) == {"clip_sim", "clip_sim_min"}
    assert -1 <= result.scores["clip_sim_min"] <= result.scores["clip_sim"] <= 1
    assert result.image_embedding.shape == (32,) and result.text_embeddings.shape == (2, 32)
    assert np.linalg.norm(result.image_embedding) == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(np.linalg.norm(result.text_embeddings, axis=1), 1, atol=1e-5)
    # by hand: the narration at 1.0 s is scored against the frame nearest it only
    image = clip.embed_images(frames.frames)
    text = clip.embed_texts(["a colourful test pattern", "a moving box"])
    nearest = int(np.argmin([abs(t - 1.0) for t in frames.times]))
    want = [float(image.mean(0) @ text[0] / np.linalg.norm(image.mean(0))), float(image[nearest] @ text[1])]
    assert result.scores["clip_sim"] == pytest.approx(np.mean(want), abs=1e-5)
    assert result.scores["clip_sim_min"] == pytest.approx(min(want), abs=1e-5)


def test_no_captions_gives_embeddings_only(videos: dict[str, Path]) -> None:
    result = score_sample(load_clip("tiny"), sample_frames(videos["still"], FrameSpec(count=2)), [])
    assert result.scores == {} and result.image_embedding.shape == (32,) and result.text_embeddings.shape == (0, 32)


def test_frames_for_caption() -> None:
    times = (0.25, 0.75, 1.25, 1.75)
    assert frames_for_caption(times, {"start": 0.0, "end": 2.0}, 2.0) == [0, 1, 2, 3]  # the whole sample
    assert frames_for_caption(times, {"start": 1.0, "end": 1.9}, 10.0) == [1, 2, 3]  # slack 0.5 s
    assert frames_for_caption(times, {"start": 9.0, "end": 9.0}, 10.0) == [3]  # nearest


def test_weights_from_a_local_file(tmp_path: Path, videos: dict[str, Path]) -> None:
    source = tiny_clip_model(seed=7)
    path = tmp_path / "clip.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = load_clip("tiny", weights=path)
    assert loaded is not load_clip("tiny")
    frames = sample_frames(videos["moving"], FrameSpec(count=2))
    x = torch.from_numpy(loaded.embed_images(frames.frames))
    from longvid.enrich.clip_score import preprocess

    with torch.no_grad():
        want = source.encode_image(preprocess(frames.frames, loaded.image_size, loaded.mean, loaded.std), normalize=True)
    torch.testing.assert_close(x, want, atol=1e-5, rtol=1e-5)


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_clip("tiny", weights=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="local weights"):
        load_clip("ViT-B-32")
    (tmp_path / "w.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown open_clip model"):
        load_clip("no-such-model", weights=tmp_path / "w.pt")
