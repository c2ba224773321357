"""`clip_score`: CLIP similarity of each sample's frames to its captions (longvid.enrich.clip_score);
scores `clip_sim` (mean over captions) and `clip_sim_min`; the sample's image embedding and its
captions' text embeddings are kept for reuse (in its staged result, and in the `embeddings` table
for the samples in the shards; the near_dup stage reads them).

    - name: clip_score
      model: ViT-B-32                 # an open_clip CLIP name, or tiny (seeded random, for tests)
      weights: /models/clip-vit-b-32.safetensors   # local file; nothing is downloaded
      device: cpu                     # or cuda (give the stage `resources: {gpus: 1}` then)
"""

from __future__ import annotations

from longvid.pipeline.enriching import FRAME_STAGES, frames_of
from longvid.pipeline.stage import Stage, VideoWork


def score(work: VideoWork) -> None:
    from longvid.enrich.clip_score import load_clip, score_sample

    p = work.params.get("clip_score", {})
    clip = load_clip(str(p.get("model", "tiny")), p.get("weights"), str(p.get("device", "cpu")))
    for sample in work.samples:
        doc = sample["json"]
        result = score_sample(clip, frames_of(work, sample), doc["captions"], doc["duration"])
        sample["scores"].update({k: round(v, 6) for k, v in result.scores.items()})
        sample.setdefault("embeddings", {})["clip"] = {
            "model": f"clip:{clip.name}", "image": [round(float(x), 6) for x in result.image_embedding],
            "texts": [[round(float(x), 6) for x in row] for row in result.text_embeddings]}


STAGE = Stage("clip_score", score, "video", needs=("samples", "frames"),
              gives=("scores.clip_sim", "scores.clip_sim_min", "embeddings.clip"), resources=FRAME_STAGES,
              doc="CLIP text-video similarity (open_clip, local weights)", params=("model", "weights", "device"))
