"""`train(config)`: run the loop in this process, under torchrun, or through Ray Train.

- `--gpus 0` (CPU) or `--gpus 1`, one node: in this process.
- `--gpus N` (N > 1), `--cpu-procs N` with `--gpus 0`, or `--nnodes M`: N processes per node started
  by `torchrun` (DDP; FSDP2 with `--fsdp`). One node uses `--standalone`; several use torchrun's
  c10d rendezvous: run the same command on every node with `--nnodes M --rdzv-endpoint HOST:PORT`
  (and the same `--rdzv-id`), HOST being any one of the nodes.
- `--address RAY_ADDRESS`: the same loop in Ray Train's TorchTrainer on that cluster, one worker
  per GPU (or `--cpu-procs` CPU workers).

Settings are checked here before any process starts, so a bad flag is one clear error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

from longvid_trainer.config import TrainConfig


class TrainingFailed(RuntimeError):
    """The training processes exited with an error (their own messages were printed above)."""


def preflight(config: TrainConfig, world: int) -> None:
    """Checks that need no model: settings, the cache, the stage's frame range, the batch split."""
    from longvid_trainer.cache_index import load_cache_index
    from longvid_trainer.setup import check_stage

    if config.llm != "tiny" and not (Path(config.llm) / "config.json").is_file():
        raise FileNotFoundError(f"--llm {config.llm}: not a Hugging Face model folder (no config.json); "
                                f"use --llm tiny or a local folder")
    if config.data is not None and not Path(config.data).is_file():
        raise FileNotFoundError(f"--data {config.data} not found")
    run = Path(config.out)
    if config.resume and not (run / "config.json").is_file():
        raise FileNotFoundError(f"--resume: {run} holds no run (no config.json)")
    if not config.resume and ((run / "metrics.jsonl").exists() or (run / "checkpoints").exists()):
        raise ValueError(f"{run} already holds a run: pass --resume to continue it, or another --out")
    config.accumulation(world)
    check_stage(config, load_cache_index(config.corpus, config.tag))


def torchrun_command(config: TrainConfig, config_file: Path) -> list[str]:
    per_node = config.gpus if config.gpus > 0 else config.cpu_procs
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={per_node}"]
    if config.nnodes > 1:
        if not config.rdzv_endpoint:
            raise ValueError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
        cmd += [f"--nnodes={config.nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={config.rdzv_endpoint}",
                f"--rdzv-id={config.rdzv_id}"]
    else:
        cmd += ["--standalone"]
    return cmd + ["-m", "longvid_trainer.worker", str(config_file)]


def train(config: TrainConfig, *, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Train as configured; returns the run's summary."""
    config = config.resolved()
    per_node = config.gpus if config.gpus > 0 else config.cpu_procs
    if config.address:
        preflight(config, per_node * config.nnodes if config.gpus else config.cpu_procs)
        from longvid_trainer.ray_train import run_ray

        return run_ray(config, log=log)
    preflight(config, per_node * config.nnodes)
    if per_node == 1 and config.nnodes == 1:
        from longvid_trainer.loop import run

        return run(config, log=log)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / "launch.json"
    config_file.write_text(json.dumps(config.to_json(), indent=1))
    cmd = torchrun_command(config, config_file)
    log(f"[train] {' '.join(cmd)}")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    rc = subprocess.run(cmd, env=env).returncode
    if rc != 0:
        raise TrainingFailed(f"torchrun exited {rc}; the processes' messages are above")
    return json.loads((out / "summary.json").read_text())
