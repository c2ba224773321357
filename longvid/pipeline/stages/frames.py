"""`frames`: decode each sample's frames once, for every scorer after it (longvid.enrich.frames).

    - name: frames
      count: 8          # anchor frames per sample (middle of equal bins), each with the frame after it
      max_side: 256     # longer side after scaling, pixels
"""

from __future__ import annotations

from longvid.pipeline.enriching import FRAME_PARAMS, FRAME_STAGES, frames_of
from longvid.pipeline.stage import Stage, VideoWork


def decode(work: VideoWork) -> None:
    """Every sample's frames into this process's cache."""
    for sample in work.samples:
        frames_of(work, sample)


STAGE = Stage("frames", decode, "video", needs=("samples",), gives=("frames",), resources=FRAME_STAGES,
              doc="sampled frames decoded once, shared by the scorers", params=FRAME_PARAMS)
