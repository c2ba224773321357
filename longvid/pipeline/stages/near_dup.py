"""`near_dup`: near-duplicate samples by their CLIP image embeddings (longvid.enrich.near_dup), within
a source and across sources, into the `duplicates` table: each duplicate points at the earlier kept
sample it duplicates (videos in video_uid order, a video's samples in time order).

A pass over the corpus after the shards are written, over every staged sample this build's videos
hold (selected by --select or not), so the table does not change when the selection does; a later
`longvid build --select "key NOT IN (SELECT key FROM duplicates)"` leaves the duplicates out without
recomputing anything.

    - name: near_dup                 # after write
      threshold: 0.95                # cosine similarity from which a sample is a duplicate
      same_video: false              # also count samples of one video (overlapping windows) as duplicates
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.pipeline.stage import Stage
from longvid.run.resources import Resources


def find(corpus: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Write catalog/duplicates/build.parquet; returns the stage's counts (it marks, it drops nothing)."""
    import numpy as np

    from longvid.catalog.sql import query
    from longvid.catalog.tables import write_table
    from longvid.enrich.near_dup import DupItem, find_duplicates
    from longvid.pipeline import staging

    _, rows = query(corpus, "SELECT DISTINCT video_uid FROM probes ORDER BY video_uid")
    items, models = [], set()
    for (uid,) in rows:
        folder = staging.video_folder(corpus, uid)
        if not (folder / "result.json").is_file():
            continue
        for s in staging.read_result(folder)["samples"]:
            clip = (s.get("embeddings") or {}).get("clip")
            if clip:
                models.add(clip["model"])
                items.append(DupItem(s["key"], s["source"], s["video_uid"], np.asarray(clip["image"], np.float32)))
    if len(models) > 1:
        raise ValueError(f"near_dup: samples embedded by different models {sorted(models)}: rebuild with --force")
    threshold = float(params.get("threshold", 0.95))
    found = find_duplicates(items, threshold, skip_same_video=not params.get("same_video", False))
    model = next(iter(models), "")
    by_key = {i.key: i for i in items}
    write_table(corpus, "duplicates", "build", (
        {"key": d.key, "duplicate_of": d.duplicate_of, "similarity": round(d.similarity, 6),
         "same_source": d.same_source, "same_video": d.same_video, "source": by_key[d.key].source,
         "video_uid": by_key[d.key].video_uid, "model": model} for d in found))
    return {"in": len(items), "out": len(items), "unit": "samples", "dropped": {}}  # marked, not dropped


STAGE = Stage("near_dup", find, "shard", needs=("embeddings.clip", "shards"), gives=("duplicates",),
              resources=Resources(cpus=1.0), doc="near-duplicates by CLIP image embedding, within and across sources",
              params=("threshold", "same_video"))
