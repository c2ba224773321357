"""`segment`: plan the samples with the source's segmenting mode and make each one (the file as it
is, or an FFmpeg cut); every sample must decode at both ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.keys import sample_key
from longvid.media.errors import MediaError
from longvid.pipeline.segmenting import segment
from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


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


STAGE = Stage("segment", segment_stage, "video", needs=("media", "probe"), gives=("cuts",),
              resources=Resources(cpus=0.75), doc="plan samples and cut them with FFmpeg")
