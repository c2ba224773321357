"""`align`: the source's own text inside each sample's real range, times made relative; the
sample's .json (checked against schemas/sample.schema.json)."""

from __future__ import annotations

from longvid.pipeline import sections
from longvid import registry
from longvid.pipeline.captions import captions_for
from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


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
        if doc["source"] not in registry.SOURCES:
            raise ValueError(f"sample {c['key']}: source {doc['source']!r} is not registered in longvid.registry.SOURCES")
        work.samples.append({"key": c["key"], "json": doc, "bytes": c["bytes"], "source": v["source"],
                             "video_uid": v["video_uid"], "scores": {}})
    sections.to_source(work)  # a span-only download's samples back on the source's timeline


STAGE = Stage("align", align, "video", needs=("cuts",), gives=("samples",), resources=Resources(cpus=0.75),
              doc="captions per sample, the sample .json")
