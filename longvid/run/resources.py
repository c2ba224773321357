"""What a unit of work needs: the small value object stages declare (like NeMo Curator's)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int = 0  # 0: no reservation

    def ray_options(self) -> dict[str, float | int]:
        """The same needs as Ray task options."""
        options: dict[str, float | int] = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory_mb:
            options["memory"] = self.memory_mb * 2**20
        return options
