"""What a pipeline stage is: a declared step (scope, fields it needs and gives, resources) and a
function; a filter is a stage that keeps or drops each sample with a reason.

A video-scope stage runs in each video's chain over a `VideoWork`; a shard-scope stage runs once
the shards are written (`write`, or a pass over finished shards: longvid.pipeline.shard_pass).
Stages live one per file in longvid/pipeline/stages/ (or anywhere, named in a recipe by a dotted
path), so a new stage or filter is one file and one recipe line. Nothing here imports Ray.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

from longvid.media.errors import MediaError
from longvid.media.locations import LocationPolicy
from longvid.records import ErrorRow, to_row
from longvid.run.resources import Resources

SCOPES = ("video", "shard")
# What a video's chain starts with; stages add to it (fetch gives "media", probe "probe", ...).
GIVEN_AT_START = frozenset({"video", "spans"})

@dataclass(frozen=True)
class Stage:
    """A named step: where it runs, what it needs and gives, what it asks of the cluster."""

    name: str
    run: Callable[..., Any]
    scope: str = "video"
    needs: tuple[str, ...] = ()
    gives: tuple[str, ...] = ()
    resources: Resources = Resources()
    doc: str = ""
    drops: bool = False  # a filter: may drop samples (counted per reason)
    params: tuple[str, ...] | None = None  # the recipe parameters it takes (None: not checked)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"stage {self.name!r}: scope {self.scope!r} is not one of {SCOPES}")

    def with_resources(self, spec: dict[str, Any] | None) -> Stage:
        """This stage with the recipe's `resources:` over its declared ones."""
        if not spec:
            return self
        unknown = set(spec) - {"cpus", "gpus", "memory_mb", "custom"}
        if unknown:
            raise ValueError(f"stage {self.name!r}: unknown resources {sorted(unknown)}; known: cpus, gpus, memory_mb, custom")
        return replace(self, resources=replace(self.resources, **spec))


def Filter(name: str, keep: Callable[..., Any], *, needs: tuple[str, ...] = ("samples",),
           resources: Resources = Resources(cpus=0.25), doc: str = "") -> Stage:
    """A stage that asks `keep(sample, **params)` of each sample (`sample` is its .json document
    with `bytes` and `scores` added; `params` the recipe line's other keys) and drops those it
    answers `(False, reason)` for."""
    takes = tuple(list(inspect.signature(keep).parameters)[1:])
    return Stage(name, partial(apply_filter, name, keep), "video", needs, (), resources, doc or (keep.__doc__ or ""),
                 drops=True, params=takes)


@dataclass
class VideoWork:
    """One video travelling through the stages: its catalog row and spans, and what each stage
    found. `samples`, `filtered` and `errors` become the video's staged result."""

    video: dict[str, Any]
    spans: list[dict[str, Any]]
    staging: Path  # this attempt's folder under CORPUS/staging/<source>/
    policy: LocationPolicy  # what the manifest may make us read (--media-root, --allow-local, ...)
    media_cache: Path  # CORPUS/media/<source>/
    recipe_name: str
    params: dict[str, dict[str, Any]]  # stage name -> recipe parameters
    segment_mode: tuple[str, dict[str, Any], list[str] | None]
    path: Path | None = None
    fetch: dict[str, Any] = field(default_factory=dict)
    probe: Any = None
    cuts: list[dict[str, Any]] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)  # key, json, bytes, source, video_uid, scores
    filtered: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {in, out, dropped: {reason: n}}
    failed: bool = False  # a stage failed: the rest of the chain is skipped

    def error(self, stage: str, cause: str, detail: str, locator: str = "") -> None:
        row = ErrorRow(source=self.video["source"], stage=stage, cause=cause, detail=detail,
                       locator=locator or self.video["video_uid"], video_uid=self.video["video_uid"])
        self.errors.append(to_row(row))

    def sample_path(self, sample: dict[str, Any]) -> Path:
        """The staged .mp4 of one of this video's samples."""
        return self.staging / f"{sample['key']}.mp4"


def apply_filter(name: str, keep: Callable[..., Any], work: VideoWork) -> None:
    """Run one filter over the video's samples: the dropped ones go to `work.filtered` (with the
    reason and their scores) and their staged files are removed."""
    params = {k: v for k, v in work.params.get(name, {}).items() if k != "resources"}
    kept = []
    for s in work.samples:
        verdict = keep({**s["json"], "bytes": s["bytes"], "scores": dict(s.get("scores", {}))}, **params)
        ok, reason = (verdict, "") if isinstance(verdict, bool) else (bool(verdict[0]), str(verdict[1]))
        if ok:
            kept.append(s)
            continue
        work.filtered.append(filtered_row(s, name, reason or "dropped"))
        work.sample_path(s).unlink(missing_ok=True)
    work.samples = kept


def filtered_row(sample: dict[str, Any], stage: str, reason: str) -> dict[str, Any]:
    """The `filtered` table's row of a dropped sample."""
    doc = sample["json"]
    return {"key": sample["key"], "video_uid": sample["video_uid"], "source": sample["source"], "stage": stage,
            "reason": reason, "start": doc["start"], "end": doc["end"], "duration": doc["duration"],
            "scores": sorted((k, float(v)) for k, v in (sample.get("scores") or {}).items())}


def run_stages(work: VideoWork, stages: list[Stage]) -> VideoWork:
    """Run video-scope stages in order, each timed and counted; the first failure becomes an error
    row with the stage's name and ends the chain (the later stages, in this task or the next, skip)."""
    for step in stages:
        if work.failed:
            break
        before = len(work.samples) if "samples" in step.needs else None
        filtered_before = len(work.filtered)
        started = time.perf_counter()
        try:
            step.run(work)
        except MediaError as e:
            work.error(step.name, e.cause, e.detail, locator=work.fetch.get("location", "") or work.video["video_uid"])
            work.failed = True
        except Exception as e:  # noqa: BLE001 - one video's bug must not stop the build
            work.error(step.name, "stage_error", f"{type(e).__name__}: {e}")
            work.failed = True
        finally:
            work.seconds[step.name] = work.seconds.get(step.name, 0.0) + time.perf_counter() - started
        work.counts[step.name] = _count(work, step, before, filtered_before)
    return work


def _count(work: VideoWork, step: Stage, before: int | None, filtered_before: int) -> dict[str, Any]:
    """in/out of one stage for this video: samples for stages over samples, else the video."""
    dropped: dict[str, int] = {}
    for row in work.filtered[filtered_before:]:
        dropped[row["reason"]] = dropped.get(row["reason"], 0) + 1
    if before is None:
        return {"in": 1, "out": 0 if work.failed else 1, "unit": "videos", "dropped": dropped}
    return {"in": before, "out": len(work.samples), "unit": "samples", "dropped": dropped}


def check_order(stages: list[Stage], recipe: str) -> None:
    """Every stage's needs given by an earlier stage, video-scope stages before shard-scope ones."""
    have = set(GIVEN_AT_START)
    shard_seen = False
    for step in stages:
        if step.scope == "video" and shard_seen:
            raise ValueError(f"recipe {recipe}: video stage {step.name!r} comes after a shard stage")
        shard_seen = shard_seen or step.scope == "shard"
        missing = [n for n in step.needs if n not in have]
        if missing:
            raise ValueError(f"recipe {recipe}: stage {step.name!r} needs {missing}, which no earlier stage gives")
        have.update(step.gives)
