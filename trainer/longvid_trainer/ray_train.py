"""`--address`: the same training loop, launched on a Ray cluster by Ray Train's TorchTrainer.

Ray Train starts one worker per GPU (or `--cpu-procs` CPU workers), sets up the torch process
group (NCCL or gloo) and calls `worker_loop` in each; the loop itself is `loop.run`, unchanged.
RUN must be on storage every worker sees (rank 0 writes metrics and checkpoints there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from longvid_trainer.config import TrainConfig


def worker_loop(cfg: dict[str, Any]) -> None:
    """Runs inside each Ray Train worker."""
    import torch
    from ray.train.torch import get_device

    from longvid_trainer.loop import run

    config = TrainConfig.from_json(cfg["config"])
    run(config, device=get_device() if config.gpus > 0 else torch.device("cpu"))


def run_ray(config: TrainConfig, *, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Fit on the cluster at `config.address`; returns the run's summary."""
    import json

    import ray
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from longvid_trainer.launch import TrainingFailed

    out = Path(config.out).resolve()
    workers = config.gpus * config.nnodes if config.gpus > 0 else config.cpu_procs
    connected_here = not ray.is_initialized()
    if connected_here:
        ray.init(address=config.address, log_to_driver=True, configure_logging=False)
    log(f"[train] Ray Train: {workers} worker(s) ({'GPU' if config.gpus else 'CPU'}) on {config.address}")
    try:
        trainer = TorchTrainer(worker_loop, train_loop_config={"config": config.to_json()},
                               scaling_config=ScalingConfig(num_workers=workers, use_gpu=config.gpus > 0),
                               run_config=RunConfig(name="longvid-train", storage_path=str(out / "ray")))
        try:
            trainer.fit()
        except Exception as e:  # Ray wraps the workers' errors in its own exception types
            raise TrainingFailed(f"Ray Train failed: {e}") from e
    finally:
        if connected_here:
            ray.shutdown()
    return json.loads((out / "summary.json").read_text())
