"""The per-video stages of a build: fetch -> probe -> segment -> align, one video at a time.

A stage is a small declared object (name, resources, one function over a VideoWork) registered
by name in longvid/registry.py, so a recipe can list it. A stage that fails raises MediaError;
`run_video` turns it into an error row with the stage's name and stops that video's chain.
Everything a video's stages write goes into its attempt folder (`VideoWork.staging`, see
longvid.pipeline.staging), except the fetched media (CORPUS/media/, a cache). Nothing here
imports Ray: the same code runs in a unit test, a thread or a Ray task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from longvid.pipeline import sections
from longvid.pipeline.align import captions_for
from longvid.pipeline.segmenting import segment
from longvid.pipeline.staging import write_result as write_result_file
from longvid.keys import sample_key
from longvid.media.errors import MediaError
from longvid.media.locations import LocationPolicy
from longvid.run.resources import Resources


@dataclass
class VideoWork:
    """One video travelling through the stages: its catalog row and spans, and what each
    stage found. `samples` and `errors` become the video's staged result."""

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
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def error(self, stage: str, cause: str, detail: str, locator: str = "") -> None:
        self.errors.append({"source": self.video["source"], "stage": stage, "cause": cause, "detail": detail,
                            "file": "", "line": None, "locator": locator or self.video["video_uid"], "raw": "",
                            "video_uid": self.video["video_uid"], "dropped": True})


@dataclass(frozen=True)
class Stage:
    """A named step with its declared needs and its function."""

    name: str
    run: Callable[[Any], Any]
    resources: Resources = Resources()
    doc: str = ""


def fetch(work: VideoWork) -> None:
    """Local media under --media-root as the dataset's downloader left it, else the URL: streamed
    to CORPUS/media/, or through yt-dlp for YouTube and web pages (longvid.pipeline.fetching)."""
    from longvid.pipeline.fetching import fetch_stage

    fetch_stage(work)


def probe(work: VideoWork) -> None:
    """Duration, fps, size, codec and keyframes of the fetched file (PyAV). A source whose videos
    are kept whole needs no keyframes: its headers are read, and the sample's decode check (both
    ends of the stream) stands in for the packet scan."""
    from longvid.media.probe import probe as probe_media

    assert work.path is not None
    mode, _, _ = work.segment_mode
    work.probe = probe_media(work.path, scan=mode != "whole")


def segment_stage(work: VideoWork) -> None:
    """Plan samples with the source's segmenting mode, then make each: the file as it is when a
    whole video needs no change, else an FFmpeg cut. Every sample must decode."""
    mode, params, _ = work.segment_mode
    specs, rejects = segment(work.probe.duration, work.spans, mode, params)
    for r in rejects:
        work.error("segment", r.cause, r.detail, locator=f"{work.video['video_uid']}@{r.span['start']}")
    v = work.video
    keys: set[str] = set()
    for spec in sorted(set(specs), key=lambda s: (s.start, s.end)):
        key = sample_key(v["source"], v["native_id"], spec.start, spec.end)
        if key in keys:  # two spans that agree to the millisecond are one sample
            continue
        keys.add(key)
        try:
            result, used = make_sample(work, spec, work.staging / f"{key}.mp4")
        except MediaError as e:
            work.error("segment", e.cause, e.detail, locator=f"{key} {spec.start:.3f}-{spec.end:.3f}")
            continue
        work.cuts.append({"key": key, "spec": spec, "start": result.start, "end": result.end,
                          "duration": result.duration, "bytes": result.bytes, "cut": used})


def make_sample(work: VideoWork, spec: Any, dst: Path) -> tuple[Any, str]:
    """(the written sample, how it was made: "as_is", "copy" or "reencode"); raises MediaError."""
    from longvid.media.probe import decodes
    from longvid.media.probe import probe as probe_media
    from longvid.media.segment import cut, place_as_is, usable_as_is

    info, cut_mode = work.probe, work.params.get("segment", {}).get("cut", "copy")
    whole = spec.start <= 0 and spec.end >= info.duration
    if whole and cut_mode == "copy" and usable_as_is(info, work.path):
        result, used = place_as_is(work.path, dst, info), "as_is"
    else:
        try:
            result, used = cut(work.path, dst, spec.start, spec.end, mode=cut_mode, keyframes=info.keyframes,
                               info=info), cut_mode
        except MediaError as e:
            if cut_mode != "copy" or e.cause != "segment_failed":
                raise
            # a codec the .mp4 container cannot hold: cut exactly and re-encode instead
            result, used = cut(work.path, dst, spec.start, spec.end, mode="reencode", info=info), "reencode"
    if not decodes(dst):
        dst.unlink(missing_ok=True)
        probe_media(work.path)  # a cut-off file says so (truncated); otherwise:
        raise MediaError("not_video", f"the sample's first or last frames do not decode ({used}): {work.path}")
    return result, used


def align(work: VideoWork) -> None:
    """The source's own text inside each sample's real range, times made relative; the
    sample's .json (checked against schemas/sample.schema.json)."""
    import jsonschema

    from longvid.catalog.schema import json_schema

    _, _, kinds = work.segment_mode
    v, info = work.video, work.probe
    validator = jsonschema.Draft202012Validator(json_schema("sample"))
    for c in work.cuts:
        spec = c["spec"]
        captions = captions_for(c["start"], c["end"], work.spans, kinds=kinds, video_end=info.duration)
        doc = {
            "key": c["key"], "source": v["source"], "video_uid": v["video_uid"], "native_id": v["native_id"],
            "kind": spec.kind, "mode": spec.mode, "start": round(c["start"], 6), "end": round(c["end"], 6),
            "duration": round(c["duration"], 6), "requested_start": round(spec.start, 6),
            "requested_end": round(spec.end, 6), "title": v.get("title"), "captions": captions,
            "video": {"fps": info.fps, "width": info.width, "height": info.height, "codec": info.codec,
                      "source_duration": round(info.duration, 6)},
            "recipe": work.recipe_name, "cut": c["cut"],
        }
        validator.validate(doc)
        work.samples.append({"key": c["key"], "json": doc, "bytes": c["bytes"], "source": v["source"],
                             "video_uid": v["video_uid"]})
    sections.to_source(work)  # a span-only download's samples back on the source's timeline


FETCH = Stage("fetch", fetch, Resources(cpus=0.5), "local file or streamed HTTP download")
PROBE = Stage("probe", probe, Resources(cpus=0.5), "PyAV probe: duration, fps, size, codec, keyframes")
SEGMENT = Stage("segment", segment_stage, Resources(cpus=0.75), "plan samples and cut them with FFmpeg")
ALIGN = Stage("align", align, Resources(cpus=0.25), "captions per sample, the sample .json")


def run_video(work: VideoWork, stages: list[Stage]) -> dict[str, Any]:
    """Run the stages in order; the first failure becomes an error row and ends the chain.
    Writes and returns the staged result."""
    import time

    for step in stages:
        started = time.perf_counter()
        try:
            step.run(work)
        except MediaError as e:
            work.error(step.name, e.cause, e.detail, locator=work.fetch.get("location", "") or work.video["video_uid"])
            break
        except Exception as e:  # noqa: BLE001 - one video's bug must not stop the build
            work.error(step.name, "stage_error", f"{type(e).__name__}: {e}")
            break
        finally:
            work.seconds[step.name] = time.perf_counter() - started
    return write_result(work)


def write_result(work: VideoWork) -> dict[str, Any]:
    """The video's result, written last into its attempt folder (see longvid.pipeline.staging)."""
    result = {
        "video_uid": work.video["video_uid"], "source": work.video["source"],
        "samples": work.samples, "errors": work.errors, "fetch": work.fetch,
        "probe": None if work.probe is None else {
            "duration": work.probe.duration, "fps": work.probe.fps, "width": work.probe.width,
            "height": work.probe.height, "codec": work.probe.codec, "bytes": work.probe.bytes},
        "seconds": {k: round(v, 4) for k, v in work.seconds.items()},
    }
    write_result_file(work.staging, result)
    return result
