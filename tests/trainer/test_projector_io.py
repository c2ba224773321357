"""mm_projector.bin under VideoChat-Flash's key names: export, import, and files shaped like theirs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from longvid_trainer.model import Projector
from longvid_trainer.projector_io import export_projector, import_projector

VCF_KEYS = {"model.mm_projector.mlp.0.weight", "model.mm_projector.mlp.0.bias",
            "model.mm_projector.mlp.2.weight", "model.mm_projector.mlp.2.bias"}


def test_round_trip_under_their_names(tmp_path: Path) -> None:
    torch.manual_seed(1)
    ours = Projector(1024, 96)
    path = export_projector(ours, tmp_path / "mm_projector.bin")
    saved = torch.load(path, weights_only=True)
    assert set(saved) == VCF_KEYS
    assert saved["model.mm_projector.mlp.0.weight"].shape == (96, 1024)
    assert saved["model.mm_projector.mlp.2.weight"].shape == (96, 96)
    back = Projector(1024, 96)
    import_projector(back, path)
    for a, b in zip(ours.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.randn(3, 1024)
    assert torch.equal(ours(x), back(x))


def test_their_file_loads(tmp_path: Path) -> None:
    """What their stage 1 writes: the projector's tensors (bf16) in a dict saved with torch.save,
    here beside unrelated weights as in a full checkpoint (their get_w keeps only mm_projector)."""
    theirs = {"model.mm_projector.mlp.0.weight": torch.randn(32, 64).to(torch.bfloat16),
              "model.mm_projector.mlp.0.bias": torch.randn(32).to(torch.bfloat16),
              "model.mm_projector.mlp.2.weight": torch.randn(32, 32).to(torch.bfloat16),
              "model.mm_projector.mlp.2.bias": torch.randn(32).to(torch.bfloat16),
              "model.embed_tokens.weight": torch.randn(10, 32)}
    torch.save(theirs, tmp_path / "mm_projector.bin")
    ours = Projector(64, 32)
    import_projector(ours, tmp_path / "mm_projector.bin")
    assert torch.equal(ours.mlp[0].weight, theirs["model.mm_projector.mlp.0.weight"].float())
    assert torch.equal(ours.mlp[2].bias, theirs["model.mm_projector.mlp.2.bias"].float())


def test_wrong_shapes_or_keys_are_clear_errors(tmp_path: Path) -> None:
    export_projector(Projector(64, 32), tmp_path / "p.bin")
    with pytest.raises(ValueError, match="shape"):
        import_projector(Projector(64, 48), tmp_path / "p.bin")
    torch.save({"model.layers.0.weight": torch.zeros(1)}, tmp_path / "other.bin")
    with pytest.raises(ValueError, match="no mm_projector"):
        import_projector(Projector(64, 32), tmp_path / "other.bin")
