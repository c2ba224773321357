"""`coca_caption`: a caption of each sample from open_clip's CoCa (longvid.enrich.coca), added to its
captions (kind `generated`, origin `coca:<model>`).

    - name: coca_caption
      model: coca_ViT-B-32          # an open_clip CoCa name, or tiny (seeded random, for tests)
      weights: /models/coca.safetensors
      device: cpu
      max_tokens: 20
"""

from __future__ import annotations

from longvid.pipeline.enriching import FRAME_STAGES, add_caption, frames_of
from longvid.pipeline.stage import Stage, VideoWork


def caption(work: VideoWork) -> None:
    from longvid.enrich.coca import caption_frames, load_coca

    p = work.params.get("coca_caption", {})
    coca = load_coca(str(p.get("model", "tiny")), p.get("weights"), str(p.get("device", "cpu")))
    for sample in work.samples:
        text = caption_frames(coca, frames_of(work, sample), max_tokens=int(p.get("max_tokens", 20)))
        if text:
            add_caption(sample, text, f"coca:{coca.name}")


STAGE = Stage("coca_caption", caption, "video", needs=("samples", "frames"), gives=("captions.generated",),
              resources=FRAME_STAGES, doc="CoCa captions (open_clip, local weights)",
              params=("model", "weights", "device", "max_tokens"))
