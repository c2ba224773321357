"""CoCa captions with a tiny seeded open_clip CoCa: real greedy decoding, deterministic, local weights."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from longvid.enrich.coca import caption_frames, load_coca, tiny_coca  # noqa: E402
from longvid.enrich.frames import FrameSpec, sample_frames  # noqa: E402


def test_caption_is_the_greedy_decoding_of_the_middle_frame(videos: dict[str, Path]) -> None:
    coca = load_coca("tiny")
    frames = sample_frames(videos["moving"], FrameSpec(count=5))
    text = caption_frames(coca, frames, max_tokens=8)
    assert text and text == caption_frames(coca, frames, max_tokens=8)  # deterministic
    # the same tokens by open_clip's own forward, step by step from the middle frame
    from longvid.enrich.clip_score import preprocess

    tok = coca.tokenizer
    image = preprocess(frames.frames[2:3], coca.image_size, coca.mean, coca.std)
    ids = [tok.sot_token_id]
    with torch.no_grad():
        for step in range(8):
            logits = coca.model(image, torch.tensor([ids]), output_labels=False)["logits"][0, -1]
            logits[tok.sot_token_id] = -float("inf")
            if step < 2:
                logits[tok.eot_token_id] = -float("inf")
            nxt = int(logits.argmax())
            if nxt == tok.eot_token_id:
                break
            ids.append(nxt)
    assert text == " ".join(tok.decode(ids[1:]).split())


def test_weights_from_a_local_file(tmp_path: Path, videos: dict[str, Path]) -> None:
    path = tmp_path / "coca.pt"
    torch.save(tiny_coca(seed=3).state_dict(), path)
    frames = sample_frames(videos["moving"], FrameSpec(count=3))
    loaded = load_coca("tiny", weights=path)
    assert loaded is not load_coca("tiny")
    assert caption_frames(loaded, frames, max_tokens=6) != ""
    with pytest.raises(FileNotFoundError):
        load_coca("tiny", weights=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="local weights"):
        load_coca("coca_ViT-B-32")
    with pytest.raises(ValueError, match="CoCa"):
        load_coca("ViT-B-32", weights=path)
