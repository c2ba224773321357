"""`precompress`: HiCo features of every finished shard, as a pass after `write` — what `longvid
precompress` does, with the recipe line's settings (longvid.hico.run: a shard pass, one encoder
per actor, resumed per shard; a shard whose features are current is skipped).

    - name: precompress              # after write
      encoder: umt-l
      weights: /models/umt-l.pth
      gpus: 8
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.pipeline.stage import Stage
from longvid.run.resources import Resources

PARAMS = ("encoder", "weights", "resolution", "t_min", "t_max", "sampler", "fps", "encoder_dtype", "merge_dtype",
          "gpus", "cpu_actors", "clips_per_batch", "decode_threads", "decode_cpus", "actor_cpus", "decoder", "proxy",
          "retry_failed")


def run(corpus: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Cache the features; returns the stage's counts (samples in, cached, failed by cause)."""
    from longvid.hico.precompress import PrecompressConfig
    from longvid.hico.run import precompress

    settings = dict(params)
    if settings.get("weights") is not None:
        settings["weights"] = Path(settings["weights"])
    summary = precompress(PrecompressConfig(corpus=Path(corpus), **settings))
    return {"in": summary["samples"] + summary["failed"], "out": summary["samples"], "unit": "samples",
            "dropped": summary["failures"]}


STAGE = Stage("precompress", run, "shard", needs=("shards",), gives=("features",), resources=Resources(cpus=1),
              doc="HiCo features of the finished shards (longvid.hico)", params=PARAMS)
