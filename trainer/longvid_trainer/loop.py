"""The training loop one process runs (alone, under torchrun, or as a Ray Train worker).

Per optimizer step: this rank's micro-batches of the step (see batches.DataPlan), each loss
divided by the accumulation count and back-propagated (DDP syncs on the last one), gradients
clipped to 1.0, AdamW and the cosine schedule stepped. The logged loss is the mean over all
micro-batches of the step of their token-mean loss, the same whatever the number of processes.
Rank 0 appends one JSON line per step to RUN/metrics.jsonl and writes checkpoints, the data
report and the summary. Batches for the next step are prepared in a thread while this one trains.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import torch

from longvid_trainer.config import TrainConfig


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Keep the metric lines of steps up to `last_step` (a killed run may have logged beyond its checkpoint)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (ValueError, KeyError):  # the half-written last line of a killed run
            continue
    path.write_text("".join(line + "\n" for line in kept))


def _start_state(config: TrainConfig, run: Path, main: bool) -> Path | None:
    """Check or record the run's configuration; the checkpoint to resume from (None: fresh)."""
    from longvid_trainer.checkpoint import latest_checkpoint
    from longvid_trainer.setup import write_json

    saved = run / "config.json"
    if config.resume:
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: {run} holds no run (no config.json)")
        before = TrainConfig.from_json(json.loads(saved.read_text()))
        if before.fingerprint() != config.fingerprint():
            changed = [k for k, v in config.to_json().items() if before.to_json().get(k) != v and k != "resume"]
            raise ValueError(f"--resume: the run in {run} was started with other settings ({', '.join(changed)})")
        return latest_checkpoint(run)
    if main:
        if (run / "metrics.jsonl").exists() or (run / "checkpoints").exists():
            raise ValueError(f"{run} already holds a run: pass --resume to continue it, or another --out")
        run.mkdir(parents=True, exist_ok=True)
        write_json(saved, config.to_json())
    return None


def run(config: TrainConfig, *, device: torch.device | None = None,
        log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Train; returns the summary (on every rank)."""
    from longvid_trainer import distributed as D
    from longvid_trainer.batches import DataPlan, collate, items_fingerprint
    from longvid_trainer.cache_index import load_cache_index
    from longvid_trainer.checkpoint import load_checkpoint, save_checkpoint
    from longvid_trainer.features import FeatureStore
    from longvid_trainer.setup import build_items, build_model, check_stage, optimizer_and_schedule, write_json

    config = config.resolved()
    world = D.setup(config.gpus, device)
    run_dir = Path(config.out)
    resume_from = _start_state(config, run_dir, True) if world.main else None
    D.barrier()  # rank 0 made the run folder (and checked it) first
    if not world.main:
        resume_from = _start_state(config, run_dir, False)
    torch.manual_seed(config.seed + world.rank)
    index = load_cache_index(config.corpus, config.tag)
    check_stage(config, index)
    items, skipped = build_items(config, index)
    accumulation = config.accumulation(world.size)
    plan = DataPlan(items, index, global_batch=config.global_batch, batch_size=config.batch_size,
                    window=config.shard_window, seed=config.seed)
    total = config.steps or plan.steps_per_epoch * config.epochs
    built = build_model(config, index, world)
    model = D.wrap(built.model, world, fsdp=config.fsdp)
    optimizer, scheduler = optimizer_and_schedule(config, [p for p in model.parameters() if p.requires_grad], total)
    fingerprint = items_fingerprint(items)
    start = 0
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, scheduler, world)
        if state["items"] != fingerprint:
            raise ValueError(f"--resume: the training items changed since {resume_from} (corpus or annotations)")
        start = state["step"]
    metrics_path = run_dir / "metrics.jsonl"
    if world.main:
        _truncate_metrics(metrics_path, start)
        write_json(run_dir / "data.json", {
            "cache": index.tag, "cached_samples": len(index), "items": len(items),
            "text_only_items": sum(i.key is None for i in items), "skipped": len(skipped),
            "skipped_by_reason": {r: sum(s["reason"] == r for s in skipped) for r in sorted({s["reason"] for s in skipped})},
            "steps_per_epoch": plan.steps_per_epoch, "steps": total, "world": world.size, "accumulation": accumulation})
        (run_dir / "unmatched.jsonl").write_text("".join(json.dumps(s, default=str) + "\n" for s in skipped))
        log(f"[train] {len(items)} items ({len(skipped)} skipped, see unmatched.jsonl) from cache {index.tag}; "
            f"{total} steps of {config.global_batch} on {world.size} process(es) × {accumulation} micro-batch(es)")
    store = FeatureStore({k: s.shard for k, s in index.by_key.items()}, capacity=config.shard_window or len(index.shards))
    dim = built.model.projector.mlp[0].in_features

    def batches(step: int) -> list[Any]:
        mine = plan.step(step)[world.rank::world.size]
        return [collate([items[i] for i in micro], store, built.tokenizer, template=config.template,
                        max_length=config.max_length, feature_dim=dim) for micro in mine]

    pool = ThreadPoolExecutor(1, thread_name_prefix="batches")
    ahead: Future | None = pool.submit(batches, start) if start < total else None
    truncated_total, started = 0, time.perf_counter()
    metrics = open(metrics_path, "a") if world.main else None
    last: dict[str, Any] = {}
    try:
        for step in range(start, total):
            assert ahead is not None
            prepared = ahead.result()
            ahead = pool.submit(batches, step + 1) if step + 1 < total else None
            t0 = time.perf_counter()
            loss_sum, counts = 0.0, [0, 0, 0, 0]
            for j, (batch, stats) in enumerate(prepared):
                with D.no_sync(model, skip=j < len(prepared) - 1), D.autocast(world):
                    loss, supervised = model(batch.to(world.device))
                    (loss / accumulation).backward()
                loss_sum += float(loss.detach()) / accumulation
                counts = [a + b for a, b in zip(counts, (stats.samples, int(supervised), stats.sequence_tokens, stats.truncated))]
            grad_norm = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.max_grad_norm)
            if hasattr(grad_norm, "full_tensor"):
                grad_norm = grad_norm.full_tensor()
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_mean = D.mean_over_world(loss_sum, world)
            samples, supervised_tokens, seq_tokens, truncated = D.sum_over_world(counts, world)
            truncated_total += truncated
            last = {"step": step + 1, "loss": loss_mean, "lr": lr, "grad_norm": float(grad_norm), "samples": samples,
                    "supervised_tokens": supervised_tokens, "sequence_tokens": seq_tokens, "truncated": truncated,
                    "epoch": step // plan.steps_per_epoch, "seconds": round(time.perf_counter() - t0, 4)}
            if metrics is not None:
                metrics.write(json.dumps(last) + "\n")
                metrics.flush()
            if config.save_every and (step + 1) % config.save_every == 0 and step + 1 < total:
                save_checkpoint(run_dir, step + 1, model, optimizer, scheduler, world,
                                {"items": fingerprint, "data": plan.position(step + 1)}, config.keep)
        if start < total:
            save_checkpoint(run_dir, total, model, optimizer, scheduler, world,
                            {"items": fingerprint, "data": plan.position(total)}, config.keep)
        from longvid_trainer.export import export_final

        export_final(model, built.tokenizer, run_dir / "final", world, config)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if metrics is not None:
            metrics.close()
    summary = {"steps": total, "resumed_from": start, "final_loss": last.get("loss"), "items": len(items),
               "skipped": len(skipped), "truncated_samples_this_run": truncated_total,
               "wall_seconds": round(time.perf_counter() - started, 3), "world": world.size,
               "out": str(run_dir), "projector": str(run_dir / "final" / "mm_projector.bin")}
    if world.main:
        write_json(run_dir / "summary.json", summary)
    D.barrier()
    return summary

