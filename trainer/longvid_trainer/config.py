"""The run's configuration and VideoChat-Flash's stage presets (vcf-training.md §1).

A stage fixes what trains, the learning rate, the chat template, the maximum length, the global
and per-device batch, and the frame range (and, for stage 4, the resolution) the feature cache
must have. Without `--stage` the run is custom: projector and LLM train with the qwen_2 template
(learning rate 1e-3 for the tiny LLM, 1e-5 otherwise). Every preset value can be overridden.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PARTS = ("projector", "llm")


@dataclass(frozen=True)
class Stage:
    trainable: tuple[str, ...]
    lr: float
    template: str
    frames: tuple[int, int] | None  # (fewest, most) sampled frames per cached sample
    max_length: int
    global_batch: int
    batch_size: int
    resolution: int | None = None


# Stage 4 trains ViT + projector with the LLM frozen; with a cache the ViT is frozen too (a cache is
# exact only for a frozen encoder), so the projector is what trains. The ViT learning rate (2e-6)
# has nothing to apply to.
STAGES: dict[int, Stage] = {
    1: Stage(("projector",), 1e-3, "plain", (4, 4), 8192, 512, 16),
    2: Stage(("projector", "llm"), 1e-5, "qwen_2", (4, 8), 32768, 256, 1),
    3: Stage(("projector", "llm"), 1e-5, "qwen_2", (64, 512), 32768, 256, 1),
    4: Stage(("projector",), 1e-5, "qwen_2", (64, 512), 32768, 256, 1, 448),
}
CUSTOM = Stage(("projector", "llm"), 1e-5, "qwen_2", None, 32768, 4, 2)
TINY_LR = 1e-3


@dataclass(frozen=True)
class TrainConfig:
    corpus: Path
    out: Path
    llm: str = "tiny"  # "tiny" or a local Hugging Face model folder
    stage: int | None = None
    steps: int | None = None  # None: `epochs` passes over the data
    epochs: int = 1
    global_batch: int | None = None
    batch_size: int | None = None  # per device (micro-batch)
    lr: float | None = None
    template: str | None = None
    max_length: int | None = None
    trainable: tuple[str, ...] | None = None
    lora: int = 0  # LoRA rank on the LLM's linear layers (0: off)
    lora_alpha: int = 16
    data: Path | None = None  # a data-mix YAML (or .json/.jsonl) of the user's annotations
    captions: bool = True  # also train on conversations made from the corpus's captions
    tag: str | None = None  # feature cache (the only one when None)
    projector: Path | None = None  # an mm_projector.bin to start from
    seed: int = 0
    save_every: int = 0  # steps between checkpoints (0: only at the end)
    keep: int = 2  # checkpoints kept
    resume: bool = False
    gpus: int = 0  # GPUs per node (0: CPU)
    cpu_procs: int = 1  # with gpus == 0: CPU processes (gloo) or Ray workers
    fsdp: bool = False
    address: str | None = None  # Ray cluster: run through Ray Train's TorchTrainer
    nnodes: int = 1
    node_rank: int = 0
    rdzv_endpoint: str | None = None
    rdzv_id: str = "longvid-train"
    grad_checkpointing: bool = True
    shard_window: int = 8
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0

    @property
    def preset(self) -> Stage:
        if self.stage is None:
            return CUSTOM
        if self.stage not in STAGES:
            raise ValueError(f"unknown stage {self.stage}; known: {', '.join(map(str, STAGES))}")
        return STAGES[self.stage]

    def resolved(self) -> "TrainConfig":
        """Every preset value filled in and checked."""
        p = self.preset
        lr = self.lr if self.lr is not None else (TINY_LR if self.stage is None and self.llm == "tiny" else p.lr)
        done = dataclasses.replace(
            self, corpus=Path(self.corpus), out=Path(self.out), lr=lr, template=self.template or p.template,
            max_length=self.max_length or p.max_length, global_batch=self.global_batch or p.global_batch,
            batch_size=self.batch_size or p.batch_size, trainable=tuple(self.trainable or p.trainable))
        from longvid_trainer.conversation import TEMPLATES

        if done.template not in TEMPLATES:
            raise ValueError(f"unknown template {done.template!r}; known: {', '.join(TEMPLATES)}")
        bad = [t for t in done.trainable if t not in PARTS]
        if bad or not done.trainable:
            raise ValueError(f"trainable parts must be among {', '.join(PARTS)} (got {', '.join(done.trainable) or 'none'})")
        if done.lora and "llm" not in done.trainable:
            raise ValueError("--lora adapts the LLM: add llm to the trainable parts")
        for name in ("global_batch", "batch_size", "max_length", "epochs", "cpu_procs", "keep"):
            if getattr(done, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if done.steps is not None and done.steps < 1:
            raise ValueError("steps must be at least 1")
        return done

    def accumulation(self, world: int) -> int:
        """Micro-batches per device per optimizer step: global batch / (world × per-device batch)."""
        per_step = world * self.batch_size
        if self.global_batch % per_step:
            raise ValueError(f"global batch {self.global_batch} is not a multiple of {world} process(es) × "
                             f"per-device batch {self.batch_size}")
        return self.global_batch // per_step

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "TrainConfig":
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(doc) - set(fields)
        if unknown:
            raise ValueError(f"unknown training settings: {', '.join(sorted(unknown))}")
        out = dict(doc)
        for name in ("corpus", "out", "data", "projector"):
            if out.get(name) is not None:
                out[name] = Path(out[name])
        if out.get("trainable") is not None:
            out["trainable"] = tuple(out["trainable"])
        return cls(**out)

    def fingerprint(self) -> str:
        """What must not change between a run and its resume (the run shape, data, optimisation)."""
        ignore = {"resume", "address", "nnodes", "node_rank", "rdzv_endpoint", "rdzv_id", "save_every", "keep",
                  "gpus", "cpu_procs", "fsdp", "grad_checkpointing"}
        doc = {k: v for k, v in self.to_json().items() if k not in ignore}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
