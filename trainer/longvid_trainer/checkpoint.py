"""Checkpoints: RUN/checkpoints/step-NNNNNNN/ with the trainable weights, the optimizer, the scheduler,
every rank's random state and the data position; `latest` names the newest finished one.

A checkpoint is written under a temporary name and renamed when whole, then `latest` is replaced
atomically, so a run killed at any point resumes from a complete checkpoint. Weights and
optimizer state are gathered as full (unsharded) state dicts, so a run saved under FSDP, DDP or
one process resumes under any of them. Frozen weights are not saved: they come from --llm again.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from longvid_trainer.distributed import World, barrier, unwrap

LATEST = "latest"


def _options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def rng_state() -> dict[str, Any]:
    import numpy as np

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_names(model: torch.nn.Module) -> set[str]:
    return {name for name, p in unwrap(model).named_parameters() if p.requires_grad}


def save_checkpoint(run: Path, step: int, model: torch.nn.Module, optimizer: Any, scheduler: Any, world: World,
                    state: dict[str, Any], keep: int) -> Path | None:
    """Write checkpoint `step` (collective: every rank calls it); returns its folder on rank 0."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    from longvid.atomic import atomic_write_text

    root = Path(run) / "checkpoints"
    final, tmp = root / f"step-{step:07d}", root / f".step-{step:07d}.tmp"
    module = unwrap(model)
    weights = get_model_state_dict(module, options=_options(cpu_offload=True))
    optim = get_optimizer_state_dict(module, optimizer, options=_options(cpu_offload=True))
    if world.main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(rng_state(), tmp / f"rng-{world.rank}.pt")
    barrier()
    if not world.main:
        barrier()
        return None
    names = trainable_names(model)
    torch.save({k: v for k, v in weights.items() if k in names}, tmp / "trainable.pt")
    torch.save(optim, tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    atomic_write_text(root / LATEST, final.name + "\n")
    for old in sorted(root.glob("step-*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    barrier()
    return final


def latest_checkpoint(run: Path) -> Path | None:
    pointer = Path(run) / "checkpoints" / LATEST
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    return folder if (folder / "state.json").is_file() else None


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: Any, scheduler: Any, world: World) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and this rank's random state; returns the saved state."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    module = unwrap(model)
    weights = torch.load(folder / "trainable.pt", map_location="cpu", weights_only=True)
    missing = trainable_names(model) - set(weights)
    if missing:
        raise ValueError(f"checkpoint {folder} lacks trainable weights: {', '.join(sorted(missing)[:5])}")
    set_model_state_dict(module, weights, options=_options(strict=False))
    optim = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=False)
    set_optimizer_state_dict(module, optimizer, optim, options=_options())
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=False))
    rng = folder / f"rng-{world.rank}.pt"
    set_rng_state(torch.load(rng if rng.is_file() else folder / "rng-0.pt", weights_only=False))
    return json.loads((folder / "state.json").read_text())
