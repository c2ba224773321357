"""One video's chain: its trusted staged result from an earlier run, or the recipe's video stages
run afresh in an attempt folder that is renamed into place when complete.

The chain is cut into links, each a run of consecutive stages declaring the same resources; each
link is one task with those resources (`links`), so a stage that asks for a GPU or a custom
resource gets it, and the stages around it do not hold it. Between links the `VideoWork`
travels as the task's result. What the driver gets back is `light`: sample keys and sizes, not
the samples' documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Union

from longvid.layout import media_cache, shard_dir
from longvid.media.locations import LocationPolicy
from longvid.pipeline import staging
from longvid.pipeline.recipe import Recipe
from longvid.pipeline.stage import Stage, VideoWork, run_stages
from longvid.pipeline.stages.write import sample_json_bytes
from longvid.run.resources import Resources

VideoItem = tuple[dict[str, Any], list[dict[str, Any]]]
Done = tuple[dict[str, Any], bool]  # (light result, resumed)
State = Union[VideoItem, VideoWork, Done]


@dataclass(frozen=True)
class VideoChain:
    """What every link of a build's video tasks needs (picklable: shipped to the workers)."""

    corpus: Path
    policy: LocationPolicy
    recipe: Recipe
    keep_media: bool = False

    def links(self) -> list[tuple[Callable[[State], State], Resources]]:
        """(task function, resources) per run of consecutive video stages with equal resources."""
        steps = self.recipe.steps("video")
        groups: list[list[Stage]] = []
        for step in steps:
            if groups and groups[-1][0].resources == step.resources:
                groups[-1].append(step)
            else:
                groups.append([step])
        last = len(groups) - 1
        return [(Link(self, tuple(group), i == 0, i == last), group[0].resources) for i, group in enumerate(groups)]

    def in_process(self) -> Callable[[VideoItem], Done]:
        """The whole chain as one function run in this process (the driver's warm start)."""
        links = [link for link, _ in self.links()]

        def run(item: VideoItem) -> Done:
            state: State = item
            for link in links:
                state = link(state)
            return state  # type: ignore[return-value]

        return run


@dataclass(frozen=True)
class Link:
    """One task of a video's chain: the stages `steps`, begun (first) and committed (last)."""

    chain: VideoChain
    steps: tuple[Stage, ...]
    first: bool
    last: bool

    def __call__(self, state: State) -> State:
        if self.first:
            state = begin(self.chain, state)  # type: ignore[arg-type]
        if isinstance(state, VideoWork):
            run_stages(state, list(self.steps))
            if self.last:
                state = end(self.chain, state)
        return state


def begin(chain: VideoChain, item: VideoItem) -> VideoWork | Done:
    """A trusted staged result (resumed), or a fresh attempt folder and its VideoWork."""
    video, spans = item
    corpus = Path(chain.corpus)
    final = staging.video_folder(corpus, video["video_uid"])
    result = staging.trusted(final, shard_dir(corpus))
    if result is not None:
        staging.sweep_temporaries(final)
        return light(result, final), True
    recipe = chain.recipe
    return VideoWork(video=video, spans=spans, staging=staging.new_attempt(final), policy=chain.policy,
                     media_cache=media_cache(corpus, video["source"]), recipe_name=recipe.name,
                     params={name: recipe.stage(name) for name in recipe.stages},
                     segment_mode=recipe.segment_mode(video["source"]))


def end(chain: VideoChain, work: VideoWork) -> Done:
    """Write the result into the attempt folder and rename it into place."""
    corpus = Path(chain.corpus)
    staging.write_result(work.staging, result_of(work))
    final = staging.video_folder(corpus, work.video["video_uid"])
    result = staging.commit(work.staging, final, shard_dir(corpus))
    fetched = result.get("fetch") or {}
    if not result["samples"] and fetched.get("cached") and not chain.keep_media:
        Path(fetched["path"]).unlink(missing_ok=True)  # nothing of it will be kept
    return light(result, final), False


def result_of(work: VideoWork) -> dict[str, Any]:
    """The video's staged result.json."""
    probe = work.probe
    return {
        "video_uid": work.video["video_uid"], "source": work.video["source"],
        "samples": work.samples, "filtered": work.filtered, "errors": work.errors, "fetch": work.fetch,
        "probe": None if probe is None else {"duration": probe.duration, "fps": probe.fps, "width": probe.width,
                                             "height": probe.height, "codec": probe.codec, "bytes": probe.bytes},
        "seconds": {k: round(v, 4) for k, v in work.seconds.items()},
        "counts": work.counts,
    }


def light(result: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What the driver gets of a video's result: sample keys, sizes and the columns `--select` may
    read (the samples' captions stay in the staged result.json, so the driver's memory stays
    small), the filtered samples, errors, the probes row and the stage counts."""
    probe = result.get("probe") or {}
    samples = [{"key": s["key"], "bytes": s["bytes"], "json_bytes": len(sample_json_bytes(s["json"])),
                "source": s["source"], "video_uid": s["video_uid"], "folder": str(folder),
                "duration": s["json"]["duration"], "row": select_row(s, probe)} for s in result["samples"]]
    return {"video_uid": result["video_uid"], "samples": samples, "filtered": result.get("filtered", []),
            "errors": result["errors"], "probe": probe_row(result), "seconds": result.get("seconds", {}),
            "counts": result.get("counts", {}), "duration": probe.get("duration")}


def select_row(sample: dict[str, Any], probe: dict[str, Any]) -> dict[str, Any]:
    """A sample's columns for `--select`: the clips table's scalar columns and its scores."""
    doc = sample["json"]
    row = {k: doc[k] for k in ("key", "video_uid", "source", "native_id", "kind", "mode", "start", "end",
                               "duration", "requested_start", "requested_end")}
    row.update(n_captions=len(doc["captions"]), bytes=sample["bytes"], width=probe.get("width"),
               height=probe.get("height"), fps=probe.get("fps"))
    row.update({k: float(v) for k, v in (sample.get("scores") or {}).items()})
    return row


def probe_row(result: dict[str, Any]) -> dict[str, Any]:
    """The `probes` row of one video's result."""
    probe, fetched = result.get("probe") or {}, result.get("fetch") or {}
    failures = [f"{e['stage']}:{e['cause']}" for e in result["errors"] if e["stage"] in ("fetch", "probe")]
    return {"video_uid": result["video_uid"], "source": result["source"], "status": failures[0] if failures else "ok",
            "duration": probe.get("duration"), "fps": probe.get("fps"), "width": probe.get("width"),
            "height": probe.get("height"), "codec": probe.get("codec"), "bytes": fetched.get("bytes"),
            "fetched_from": fetched.get("kind"), "samples": len(result["samples"])}
