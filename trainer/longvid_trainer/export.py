"""What a finished run leaves in RUN/final/: `mm_projector.bin` under VideoChat-Flash's names, and,
when the LLM trained, the LLM (or its LoRA adapter) with the tokenizer, loadable by `--llm`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from longvid_trainer.config import TrainConfig
from longvid_trainer.distributed import World, unwrap
from longvid_trainer.projector_io import vcf_names


def full_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight, unsharded, on the CPU (collective under FSDP)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(unwrap(model), options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def export_final(model: torch.nn.Module, tokenizer: Any, out: Path, world: World, config: TrainConfig) -> None:
    weights = full_weights(model)
    if not world.main:
        return
    out.mkdir(parents=True, exist_ok=True)
    projector = vcf_names({k.removeprefix("projector."): v for k, v in weights.items() if k.startswith("projector.")})
    torch.save(projector, out / "mm_projector.bin")
    if "llm" in config.trainable:
        llm = unwrap(model).llm
        target = out / ("lora" if config.lora else "llm")
        llm.save_pretrained(target, state_dict={k.removeprefix("llm."): v for k, v in weights.items() if k.startswith("llm.")})
        tokenizer.save_pretrained(target)
