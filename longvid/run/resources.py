"""What a unit of work needs: the small value object stages declare (like NeMo Curator's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int = 0  # 0: no reservation
    custom: tuple[tuple[str, float], ...] = field(default=())  # Ray custom resources, e.g. (("nvdec", 1),)

    def __post_init__(self) -> None:
        if isinstance(self.custom, dict):  # from a recipe's `resources: {custom: {name: amount}}`
            object.__setattr__(self, "custom", tuple(sorted((str(k), float(v)) for k, v in self.custom.items())))
        if self.cpus < 0 or self.gpus < 0 or self.memory_mb < 0:
            raise ValueError(f"resources must not be negative: {self}")

    def ray_options(self) -> dict[str, Any]:
        """The same needs as Ray task or actor options."""
        options: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": self.gpus}
        if self.memory_mb:
            options["memory"] = self.memory_mb * 2**20
        if self.custom:
            options["resources"] = dict(self.custom)
        return options

    def describe(self) -> str:
        parts = [f"{self.cpus:g} CPU"] + ([f"{self.gpus:g} GPU"] if self.gpus else [])
        parts += [f"{self.memory_mb} MiB"] if self.memory_mb else []
        return ", ".join(parts + [f"{v:g} {k}" for k, v in self.custom])
