"""`scenes`: scene cuts of each video from FFmpeg's scene score (longvid.enrich.scenes), as spans of
kind `scene` (origin `ffmpeg-scene`, no text) that the `scenes` segmenting mode cuts samples from.
It runs for the sources whose segment mode is `scenes` and leaves the others alone.

    - name: scenes                   # between probe and segment
      threshold: 0.3                 # FFmpeg scene score (0..1) above which a frame starts a scene
      min_seconds: 1.0               # shorter scenes merge into the one before
      max_seconds: 60                # longer scenes are split into equal parts (0: never)
"""

from __future__ import annotations

from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


def find_scenes(work: VideoWork) -> None:
    from longvid.enrich.scenes import detect_cuts, scenes

    if work.segment_mode[0] != "scenes":
        return
    p = work.params.get("scenes", {})
    assert work.path is not None
    cuts = detect_cuts(work.path, float(p.get("threshold", 0.3)))
    uid = work.video["video_uid"]
    for start, end in scenes([c.time for c in cuts], work.probe.duration, min_seconds=float(p.get("min_seconds", 1.0)),
                             max_seconds=float(p.get("max_seconds", 0.0))):
        work.spans.append({"video_uid": uid, "start": round(start, 3), "end": round(end, 3), "text": "",
                           "kind": "scene", "origin": "ffmpeg-scene"})


STAGE = Stage("scenes", find_scenes, "video", needs=("media", "probe"), gives=("spans.scene",),
              resources=Resources(cpus=0.75), doc="scene cuts (FFmpeg scene score) as spans",
              params=("threshold", "min_seconds", "max_seconds"))
