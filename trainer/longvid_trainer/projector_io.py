"""`mm_projector.bin` under VideoChat-Flash's key names (vcf-training.md §5).

Their projector `tome16_mlp_hd64` keeps its MLP as `self.mlp`, inside `model.mm_projector`, so
stage 1 saves `model.mm_projector.mlp.0.{weight,bias}` and `model.mm_projector.mlp.2.{weight,bias}`
with torch.save. Loading takes every key containing `mm_projector.` and keeps what follows (their
`get_w`), so a projector saved by either side loads into the other.
"""

from __future__ import annotations

from pathlib import Path

import torch

from longvid_trainer.model import Projector

PREFIX = "model.mm_projector."


def vcf_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A projector state dict (`mlp.0.weight`, ...) under VideoChat-Flash's names, on the CPU."""
    return {PREFIX + name: t.detach().cpu().clone() for name, t in state.items()}


def projector_state(projector: Projector) -> dict[str, torch.Tensor]:
    """The projector's tensors under VideoChat-Flash's names (on the CPU, detached)."""
    return vcf_names(projector.state_dict())


def export_projector(projector: Projector, path: Path) -> Path:
    """Write `mm_projector.bin` (torch.save of the named tensors)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(projector_state(projector), path)
    return path


def import_projector(projector: Projector, path: Path) -> None:
    """Load an `mm_projector.bin` (theirs or ours) into `projector`; shapes and names must match."""
    weights = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(weights, dict):
        raise ValueError(f"{path} does not hold a dict of tensors")
    own = {k.split("mm_projector.", 1)[1]: v for k, v in weights.items() if "mm_projector." in k}
    if not own:
        raise ValueError(f"{path} has no mm_projector.* tensors (keys: {', '.join(sorted(weights)[:5])})")
    expected = projector.state_dict()
    if set(own) != set(expected):
        raise ValueError(f"{path}: projector keys {sorted(own)} do not match {sorted(expected)}")
    for name, tensor in own.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(f"{path}: {name} has shape {tuple(tensor.shape)}, the model needs {tuple(expected[name].shape)}")
    projector.load_state_dict({k: v.to(expected[k].dtype) for k, v in own.items()})
