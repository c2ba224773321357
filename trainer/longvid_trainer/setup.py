"""Everything a training process builds before its first step: the LLM and tokenizer, the cache
index and its check against the stage, the items, the model with its trainable parts, the
optimizer and the schedule."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from longvid_trainer.cache_index import CacheIndex
from longvid_trainer.config import TrainConfig
from longvid_trainer.distributed import World, barrier
from longvid_trainer.items import Item

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def llm_folder(config: TrainConfig, world: World) -> Path:
    """`--llm tiny`: a tiny random Qwen2 written once into RUN/base-llm (so a resume reloads the same
    weights and tokenizer); otherwise the folder given."""
    from longvid_trainer.model import TINY, make_tiny_llm

    if config.llm != TINY:
        return Path(config.llm)
    folder = Path(config.out) / "base-llm"
    if world.main and not (folder / "config.json").is_file():
        make_tiny_llm(folder, seed=config.seed)
    barrier()
    return folder


def check_stage(config: TrainConfig, index: CacheIndex) -> None:
    """The cache must have the stage's frame range (and resolution): one clear error otherwise."""
    preset = config.preset
    if config.stage is None:
        return
    if preset.resolution and int(index.sampling.get("resolution", 0)) != preset.resolution:
        raise ValueError(f"stage {config.stage} needs features at {preset.resolution} px; the cache {index.tag} "
                         f"is at {index.sampling.get('resolution')} (precompress with --resolution {preset.resolution})")
    if preset.frames:
        low, high = preset.frames
        outside = sorted(s.key for s in index.by_key.values() if not low <= s.frames <= high)
        if outside:
            raise ValueError(f"stage {config.stage} needs {low}-{high} frames per sample; {len(outside)} of {len(index)} "
                             f"cached samples have other counts (e.g. {outside[0]}); precompress with "
                             f"--t-min {low} --t-max {high}")


def build_items(config: TrainConfig, index: CacheIndex) -> tuple[list[Item], list[dict[str, Any]]]:
    """Conversations from the corpus captions and/or the data mix; and what could not be used."""
    from longvid_trainer.annotations import annotation_items
    from longvid_trainer.items import corpus_items

    items: list[Item] = []
    skipped: list[dict[str, Any]] = []
    if config.captions:
        made, left = corpus_items(index)
        items += made
        skipped += left
    if config.data is not None:
        made, left = annotation_items(Path(config.data), index)
        items += made
        skipped += left
    if config.template == "plain":
        text_only = [i for i in items if i.key is None]
        items = [i for i in items if i.key is not None]
        skipped += [{"origin": i.origin, "reason": "text_only_in_plain"} for i in text_only]
        multi = [i for i in items if len(i.turns) != 2]
        items = [i for i in items if len(i.turns) == 2]
        skipped += [{"origin": i.origin, "key": i.key, "reason": "multi_turn_in_plain"} for i in multi]
    if not items:
        raise ValueError("no training items: the cache has no captioned samples and no annotation matched")
    return items, skipped


@dataclass
class Built:
    model: Any  # VideoLLM (unwrapped)
    tokenizer: Any


def build_model(config: TrainConfig, index: CacheIndex, world: World) -> Built:
    """The VideoLLM with the stage's trainable parts (LoRA on the LLM when asked)."""
    from longvid_trainer.model import VideoLLM, base_lm, load_llm
    from longvid_trainer.projector_io import import_projector

    llm, tokenizer = load_llm(llm_folder(config, world))
    dims = {s.dim for s in index.by_key.values()}
    if len(dims) != 1:
        raise ValueError(f"the cache {index.tag} mixes token dims {sorted(dims)}")
    train_llm = "llm" in config.trainable
    for p in llm.parameters():
        p.requires_grad_(train_llm and not config.lora)
    if config.lora:
        from peft import LoraConfig, get_peft_model

        llm = get_peft_model(llm, LoraConfig(r=config.lora, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                                             target_modules=LORA_TARGETS))
    with torch.random.fork_rng():
        torch.manual_seed(config.seed)
        model = VideoLLM(llm, dims.pop())
    if config.projector is not None:
        import_projector(model.projector, config.projector)
    model.projector.requires_grad_("projector" in config.trainable)
    if config.grad_checkpointing:
        base_lm(llm).activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.to(world.device).train()
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("nothing to train")
    return Built(model, tokenizer)


def optimizer_and_schedule(config: TrainConfig, params: list[torch.nn.Parameter], total_steps: int) -> tuple[Any, Any]:
    """AdamW (weight decay 0 by default) and the cosine schedule with ⌈3%⌉ warm-up steps."""
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup = math.ceil(config.warmup_ratio * total_steps)
    return optimizer, get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)


def write_json(path: Path, doc: Any) -> None:
    from longvid.atomic import atomic_write_text

    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")
