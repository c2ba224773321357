"""Pipeline recipes: YAML files in pipelines/ that name the stages and their parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RECIPE = "longvid.yaml"  # in pipelines/, shipped as the package longvid.pipelines
PER_VIDEO_STAGES = ("fetch", "probe", "segment", "align")


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: stage parameters by stage name, in the order listed."""

    name: str
    stages: dict[str, dict[str, Any]]
    shard_prefix: str = "longvid"
    max_shard_bytes: int = 1 << 30
    max_shard_samples: int = 1000
    text: str = field(default="", repr=False)

    def stage(self, name: str) -> dict[str, Any]:
        return self.stages.get(name, {})

    def segment_mode(self, source: str) -> tuple[str, dict[str, Any], list[str] | None]:
        """(mode, mode params, caption kinds or None for all) for one source."""
        modes = self.stage("segment").get("modes", {})
        spec = dict(modes.get(source) or modes.get("default") or {"mode": "whole"})
        mode = spec.pop("mode")
        kinds = spec.pop("caption_kinds", None)
        return mode, spec, kinds


def load_recipe(path: Path | None = None) -> Recipe:
    """Read and check a recipe (the default LongVid one when `path` is None)."""
    from longvid import registry

    if path is None:
        path = Path(DEFAULT_RECIPE)
        text = resources.files("longvid.pipelines").joinpath(DEFAULT_RECIPE).read_text(encoding="utf-8")
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"recipe {path} not found")
        text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    stages: dict[str, dict[str, Any]] = {}
    for entry in data.get("stages", []):
        name = entry.get("name") if isinstance(entry, dict) else entry
        if name not in registry.STAGES:
            raise ValueError(f"recipe {path.name}: unknown stage {name!r}; known: {', '.join(registry.STAGES)}")
        stages[name] = {k: v for k, v in entry.items() if k != "name"} if isinstance(entry, dict) else {}
    missing = [s for s in (*PER_VIDEO_STAGES, "write") if s not in stages]
    if missing:
        raise ValueError(f"recipe {path.name}: stages {missing} are required")
    shards = data.get("shards", {})
    return Recipe(name=data.get("name", path.stem), stages=stages, shard_prefix=shards.get("prefix", "longvid"),
                  max_shard_bytes=int(shards.get("max_bytes", 1 << 30)),
                  max_shard_samples=int(shards.get("max_samples", 1000)), text=text)
