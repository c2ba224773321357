"""`longvid train`: train VideoChat-Flash's projector and LLM from the feature cache (the trainer/ package)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def train(
    corpus: Path = typer.Argument(..., help="corpus folder with a feature cache (longvid precompress)"),
    out: Path = typer.Option(..., "--out", help="run folder: metrics.jsonl, checkpoints/, final/"),
    llm: str = typer.Option("tiny", "--llm", help="local Hugging Face causal LM folder (Qwen2 family), or tiny"),
    stage: Optional[int] = typer.Option(None, "--stage", help="VideoChat-Flash stage preset 1..4 (default: custom)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="optimizer steps (default: --epochs passes)"),
    epochs: int = typer.Option(1, "--epochs", help="passes over the data when --steps is not given"),
    global_batch: Optional[int] = typer.Option(None, "--global-batch", help="samples per optimizer step"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="samples per device per micro-batch"),
    lr: Optional[float] = typer.Option(None, "--lr", help="learning rate (projector and LLM)"),
    template: Optional[str] = typer.Option(None, "--template", help="qwen_2 or plain"),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="tokens per sample after splicing"),
    trainable: Optional[str] = typer.Option(None, "--trainable", help="comma list of projector, llm"),
    lora: int = typer.Option(0, "--lora", help="LoRA rank on the LLM (0: full fine-tuning)"),
    data: Optional[Path] = typer.Option(None, "--data", help="data-mix YAML (or .json/.jsonl) of your annotations"),
    captions: bool = typer.Option(True, "--captions/--no-captions", help="also train on the corpus's own captions"),
    tag: Optional[str] = typer.Option(None, "--tag", help="feature cache tag (when the corpus has several)"),
    projector: Optional[Path] = typer.Option(None, "--projector", help="mm_projector.bin to start from"),
    seed: int = typer.Option(0, "--seed"),
    save_every: int = typer.Option(0, "--save-every", help="checkpoint every N steps (and always at the end)"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in --out from its latest checkpoint"),
    gpus: int = typer.Option(0, "--gpus", help="GPUs per node; 0 trains on the CPU"),
    cpu_procs: int = typer.Option(1, "--cpu-procs", help="with --gpus 0: CPU processes (gloo) or Ray CPU workers"),
    fsdp: bool = typer.Option(False, "--fsdp", help="FSDP2 instead of DDP"),
    nnodes: int = typer.Option(1, "--nnodes", help="nodes (torchrun c10d rendezvous)"),
    rdzv_endpoint: Optional[str] = typer.Option(None, "--rdzv-endpoint", help="HOST:PORT of the rendezvous (several nodes)"),
    rdzv_id: str = typer.Option("longvid-train", "--rdzv-id", help="rendezvous id, the same on every node"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS", help="Ray cluster address: run through Ray Train"),
    grad_checkpointing: bool = typer.Option(True, "--grad-checkpointing/--no-grad-checkpointing"),
    shard_window: int = typer.Option(8, "--shard-window", help="feature shards shuffled together (0: all)"),
) -> None:
    """Train the projector (and LLM) on cached HiCo features; no video is decoded."""
    try:
        from longvid_trainer.config import TrainConfig
        from longvid_trainer.launch import TrainingFailed, train as run_training
    except ImportError as e:
        typer.echo(f"error: the trainer is not installed ({e}); run `make setup` or `pip install -e trainer`", err=True)
        raise typer.Exit(code=2) from None
    with clear_errors():
        config = TrainConfig(
            corpus=corpus, out=out, llm=llm, stage=stage, steps=steps, epochs=epochs, global_batch=global_batch,
            batch_size=batch_size, lr=lr, template=template, max_length=max_length,
            trainable=tuple(t.strip() for t in trainable.split(",") if t.strip()) if trainable else None,
            lora=lora, data=data, captions=captions, tag=tag, projector=projector, seed=seed, save_every=save_every,
            resume=resume, gpus=gpus, cpu_procs=cpu_procs, fsdp=fsdp, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint,
            rdzv_id=rdzv_id, address=address, grad_checkpointing=grad_checkpointing, shard_window=shard_window)
        try:
            summary = run_training(config, log=log)
        except TrainingFailed as e:
            raise ValueError(str(e)) from None
    typer.echo(json.dumps(summary, indent=1))
