"""Pipeline recipes: YAML files in pipelines/ that name the stages, in order, with their parameters.

Each entry of `stages:` is a stage name (a module of longvid/pipeline/stages/) or a mapping with
`name`, optionally `use: module:ATTR` (a stage defined outside longvid), `resources:` (over the
stage's declared ones) and the stage's own parameters. Loading checks every name and the order
(each stage's needs given by an earlier one, video stages before shard stages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

DEFAULT_RECIPE = "longvid.yaml"  # in pipelines/, shipped as the package longvid.pipelines
RESERVED = ("name", "use", "resources")  # keys of a recipe line that are not the stage's parameters


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe: each stage's recipe line by stage name, in the order listed."""

    name: str
    stages: dict[str, dict[str, Any]]
    shard_prefix: str = "longvid"
    max_shard_bytes: int = 1 << 30
    max_shard_samples: int = 1000
    text: str = field(default="", repr=False)

    def stage(self, name: str) -> dict[str, Any]:
        """The parameters of stage `name` (its recipe line less name, use and resources)."""
        return {k: v for k, v in self.stages.get(name, {}).items() if k not in RESERVED}

    def steps(self, scope: str | None = None) -> list[Any]:
        """The recipe's Stage objects (with the recipe's resources), in order; `scope` keeps one kind."""
        from longvid.pipeline.stages import find

        found = [find(name, line.get("use")).with_resources(line.get("resources"))
                 for name, line in self.stages.items()]
        return [s for s in found if scope is None or s.scope == scope]

    def segment_mode(self, source: str) -> tuple[str, dict[str, Any], list[str] | None]:
        """(mode, mode params, caption kinds or None for all) for one source."""
        modes = self.stage("segment").get("modes", {})
        spec = dict(modes.get(source) or modes.get("default") or {"mode": "whole"})
        mode = spec.pop("mode")
        kinds = spec.pop("caption_kinds", None)
        return mode, spec, kinds

    def with_params(self, stage: str, **params: Any) -> Recipe:
        """This recipe with `params` set on one stage's line (the command line over the file)."""
        stages = {**self.stages, stage: {**self.stages.get(stage, {}), **params}}
        return Recipe(self.name, stages, self.shard_prefix, self.max_shard_bytes, self.max_shard_samples, self.text)


def load_recipe(path: Path | None = None) -> Recipe:
    """Read and check a recipe (the default LongVid one when `path` is None)."""
    if path is None:
        path = Path(DEFAULT_RECIPE)
        text = resources.files("longvid.pipelines").joinpath(DEFAULT_RECIPE).read_text(encoding="utf-8")
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"recipe {path} not found")
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"recipe {path.name} is not valid YAML: {str(e).splitlines()[0]}") from None
    stages: dict[str, dict[str, Any]] = {}
    for entry in data.get("stages", []):
        line = dict(entry) if isinstance(entry, dict) else {"name": entry}
        name = line.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"recipe {path.name}: a stage line without a name: {entry!r}")
        if name in stages:
            raise ValueError(f"recipe {path.name}: stage {name!r} is listed twice")
        stages[name] = line
    shards = data.get("shards", {})
    recipe = Recipe(name=data.get("name", path.stem), stages=stages, shard_prefix=shards.get("prefix", "longvid"),
                    max_shard_bytes=int(shards.get("max_bytes", 1 << 30)),
                    max_shard_samples=int(shards.get("max_samples", 1000)), text=text)
    check(recipe, path.name)
    return recipe


def check(recipe: Recipe, where: str) -> None:
    """Every stage known, in an order where each one's needs come first; a `write` stage."""
    from longvid.pipeline.stage import check_order

    try:
        steps = recipe.steps()
    except (ValueError, TypeError) as e:
        raise ValueError(f"recipe {where}: {e}") from None
    check_order(steps, where)
    for step in steps:
        unknown = sorted(set(recipe.stage(step.name)) - set(step.params)) if step.params is not None else []
        if unknown:
            raise ValueError(f"recipe {where}: stage {step.name!r} takes no parameter {', '.join(unknown)} "
                             f"(it takes: {', '.join(step.params) or 'none'})")
    if "write" not in recipe.stages:
        raise ValueError(f"recipe {where}: a `write` stage is required (it makes the shards)")
