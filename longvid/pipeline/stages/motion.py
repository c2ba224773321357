"""`motion`: how much the picture moves, from next-frame differences (longvid.enrich.motion);
scores `motion` (mean over the sampled frames) and `motion_max`. Takes no parameters."""

from __future__ import annotations

from longvid.pipeline.enriching import FRAME_STAGES, frames_of
from longvid.pipeline.stage import Stage, VideoWork


def score(work: VideoWork) -> None:
    from longvid.enrich.motion import motion_scores

    for sample in work.samples:
        sample["scores"].update({k: round(v, 6) for k, v in motion_scores(frames_of(work, sample)).items()})


STAGE = Stage("motion", score, "video", needs=("samples", "frames"), gives=("scores.motion", "scores.motion_max"),
              resources=FRAME_STAGES, doc="next-frame luma differences", params=())
