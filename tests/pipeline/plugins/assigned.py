"""A scoring stage for the tests: each sample's scores say what Ray assigned to the task that ran
it (so a test can see the stage's declared resources reach Ray's task options)."""

from __future__ import annotations

from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


def record(work: VideoWork) -> None:
    import ray

    assigned = ray.get_runtime_context().get_assigned_resources()
    for sample in work.samples:
        sample["scores"]["assigned_cpu"] = float(assigned.get("CPU", 0.0))
        sample["scores"]["assigned_memory_mb"] = float(assigned.get("memory", 0.0)) / 2**20


STAGE = Stage("assigned", record, "video", needs=("samples",), gives=("scores.assigned_cpu", "scores.assigned_memory_mb"),
              resources=Resources(cpus=0.5, memory_mb=64), doc="the resources Ray gave this stage's task")
