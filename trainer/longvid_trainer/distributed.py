"""Process group, device and model wrapping (DDP, or FSDP2 with `--fsdp`).

torchrun (and Ray Train, which sets up the group itself) describe the process through RANK,
WORLD_SIZE and LOCAL_RANK; a plain process is rank 0 of 1. GPUs use NCCL, CPUs gloo.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(gpus: int, device: torch.device | None = None) -> World:
    """Join the process group when there is one (or the environment describes one)."""
    size = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device is None:
        if gpus > 0:
            if not torch.cuda.is_available():
                raise ValueError("--gpus asks for GPUs but torch sees none (use --gpus 0 for the CPU)")
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        else:
            device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:  # as torchrun does: one intra-op thread per process unless OMP_NUM_THREADS says otherwise
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), local_rank, device)
    return World(0, 1, 0, device)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def mean_over_world(value: float, world: World) -> float:
    """The mean of one float across processes (float64 on the wire)."""
    if world.size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=world.device if world.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / world.size


def sum_over_world(values: list[int], world: World) -> list[int]:
    if world.size == 1:
        return values
    t = torch.tensor(values, dtype=torch.int64, device=world.device if world.device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return [int(v) for v in t.tolist()]


def wrap(model: torch.nn.Module, world: World, *, fsdp: bool) -> torch.nn.Module:
    """DDP for several processes, FSDP2 (`fully_shard` per decoder layer, then the whole) with fsdp."""
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        if not dist.is_initialized():  # one process: FSDP still needs a (one-member) group
            dist.init_process_group("nccl" if world.device.type == "cuda" else "gloo", store=dist.HashStore(),
                                    rank=0, world_size=1)
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) \
            if world.device.type == "cuda" else MixedPrecisionPolicy()
        for layer in model.decoder.layers:
            fully_shard(layer, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[world.device.index] if world.device.type == "cuda" else None)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


@contextlib.contextmanager
def no_sync(model: torch.nn.Module, skip: bool) -> Iterator[None]:
    """Skip DDP's gradient all-reduce on all but the last micro-batch of a step."""
    if skip and hasattr(model, "no_sync"):
        with model.no_sync():
            yield
    else:
        yield


def autocast(world: World) -> Any:
    """bf16 autocast on a GPU (fp32 weights and optimizer state); nothing on the CPU."""
    if world.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
