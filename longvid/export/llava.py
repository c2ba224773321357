"""`longvid export llava`: the corpus as LLaVA / VideoChat-Flash annotations, and a data-mix YAML.

One record per conversation (longvid.conversations: the captions of each sample in the shards,
then its checked LongVid QA pairs), in key order:

    {"id": "<key>-<n>", "video": ..., "conversations": [{"from": "human", "value": "<image>\\n..."},
     {"from": "gpt", "value": "..."}], "duration": <float seconds>, "data_source": "longvid_<source>"}

plus `timestamps` ([start, end] from the sample's start) and `qa_kind` on QA records. Where the
video is (`videos`):

- `samples` (default): each sample's .mp4 is copied out of its shard into VIDEOS_DIR as
  `<key>.mp4` (once; the catalog gives its byte range), `video` is that file name and `duration`
  the sample's length;
- `source`: `video` is the source video's path under --media-root as the dataset's downloader
  leaves it (longvid.media.fetch's table), with `start` and `end` (seconds into that video), for
  a trainer that cuts clips itself; `duration` is still the sample's length. Samples of videos
  that were fetched from a URL have no such file and are counted, not written.

Every record is checked (schemas/llava.schema.json and `check_record`) before the file is written
(then renamed into place). The data mix lists the file with absolute `json_path` and `data_root`
so that VideoChat-Flash's loader and `longvid train --data` read it from anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from longvid.atomic import atomic_write_text, write_atomic
from longvid.conversations import IMAGE, caption_conversations, qa_conversations
from longvid.layout import shard_dir
from longvid.shards.format import copy_range

__all__ = ["ExportConfig", "export_llava", "check_record", "records", "write_mix"]

VIDEO_MODES = ("samples", "source")


@dataclass
class ExportConfig:
    corpus: Path
    out: Path  # .json (a list) or .jsonl
    mix: Path | None = None  # the data-mix YAML (default: OUT with .yaml)
    videos: str = "samples"
    videos_dir: Path | None = None  # for `samples` (default: <OUT stem>_videos beside OUT)
    media_root: Path | None = None  # for `source`
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.out.suffix not in (".json", ".jsonl"):
            raise ValueError(f"export file must end in .json or .jsonl, got {self.out.name}")
        if self.videos not in VIDEO_MODES:
            raise ValueError(f"--videos must be one of {', '.join(VIDEO_MODES)}, got {self.videos!r}")
        if self.videos == "source" and self.media_root is None:
            raise ValueError("--videos source needs --media-root (where the datasets' videos are)")
        self.mix = Path(self.mix) if self.mix else self.out.with_suffix(".yaml")
        self.videos_dir = Path(self.videos_dir) if self.videos_dir else self.out.with_name(self.out.stem + "_videos")


def check_record(record: dict[str, Any]) -> None:
    """Raise ValueError unless `record` is a valid video sample of the format."""
    import jsonschema

    from longvid.catalog.schema import json_schema

    try:
        jsonschema.validate(record, json_schema("llava"))
    except jsonschema.ValidationError as e:
        raise ValueError(f"record {record.get('id')!r}: {e.message}") from None
    turns = record["conversations"]
    for i, turn in enumerate(turns):
        if turn["from"] != ("human" if i % 2 == 0 else "gpt"):
            raise ValueError(f"record {record['id']!r}: turn {i} is from {turn['from']!r}; roles must alternate human, gpt")
    placeholders = [turn["value"].count(IMAGE) for turn in turns]
    if placeholders[0] != 1 or not turns[0]["value"].startswith(IMAGE) or sum(placeholders) != 1:
        raise ValueError(f"record {record['id']!r}: needs exactly one {IMAGE}, at the front of the first human turn")
    if not isinstance(record["duration"], float):
        raise ValueError(f"record {record['id']!r}: duration must be a float")
    if "start" in record and not record["start"] < record["end"]:
        raise ValueError(f"record {record['id']!r}: start {record['start']} is not before end {record['end']}")


def _clips(corpus: Path) -> list[dict[str, Any]]:
    from longvid.catalog.sql import query

    columns, rows = query(corpus, """
        SELECT c.*, v.media_path AS media_path, v.native_id AS video_native_id
        FROM clips c LEFT JOIN (SELECT DISTINCT ON (video_uid) video_uid, media_path, native_id FROM videos) v
        USING (video_uid) ORDER BY c.key""")
    return [dict(zip(columns, row)) for row in rows]


def _source_path(clip: dict[str, Any], media_root: Path) -> str | None:
    """The source video's file `<media_root>/<source>/<media_path>` (where the build reads it),
    relative to `media_root`, if it is there."""
    if not clip.get("media_path"):
        return None
    found = (Path(media_root) / clip["source"] / clip["media_path"]).resolve()
    if not found.is_file() or Path(media_root).resolve() not in found.parents:
        return None
    return os.path.relpath(found, Path(media_root).resolve())


def records(config: ExportConfig) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(clip row, record) for every conversation of every sample in the shards."""
    for clip in _clips(config.corpus):
        made = caption_conversations(clip["kind"], clip["captions"] or [])
        qa = list(clip.get("qa") or [])
        made += qa_conversations(qa)
        if not made:
            config.counts["no_text"] = config.counts.get("no_text", 0) + 1
            continue
        base: dict[str, Any] = {"duration": float(clip["duration"]), "data_source": f"longvid_{clip['source']}"}
        if config.videos == "samples":
            base["video"] = f"{clip['key']}.mp4"
        else:
            path = _source_path(clip, Path(config.media_root))  # type: ignore[arg-type]
            if path is None:
                config.counts["no_source_file"] = config.counts.get("no_source_file", 0) + 1
                continue
            base.update({"video": path, "start": float(clip["start"]), "end": float(clip["end"])})
        first_qa = len(made) - len(qa)  # the QA conversations come last, one per pair
        for n, (turns, _) in enumerate(made):
            record = {"id": f"{clip['key']}-{n}", **base,
                      "conversations": [{"from": who, "value": value} for who, value in turns]}
            if n >= first_qa:
                pair = qa[n - first_qa]
                record.update({"timestamps": [float(pair["start"]), float(pair["end"])], "qa_kind": pair["kind"]})
            yield clip, record


def _copy_sample(corpus: Path, clip: dict[str, Any], dest: Path) -> None:
    """The sample's .mp4 member out of its shard (byte range from the catalog), once."""
    if dest.is_file() and dest.stat().st_size == clip["bytes"]:
        return
    tar = shard_dir(corpus) / f"{clip['shard']}.tar"

    write_atomic(dest, lambda tmp: copy_range(tar, int(clip["offset"]), int(clip["bytes"]), tmp))


def write_mix(mix: Path, json_path: Path, data_root: Path) -> None:
    """A VideoChat-Flash data-mix YAML listing one annotation file (absolute paths)."""
    import yaml

    doc = {"datasets": [{"json_path": str(Path(json_path).resolve()), "sampling_strategy": "all",
                         "data_root": str(Path(data_root).resolve()), "video_read_type": "decord"}]}
    atomic_write_text(mix, yaml.safe_dump(doc, sort_keys=False))


def export_llava(config: ExportConfig) -> dict[str, Any]:
    """Write the annotation file, the data mix and (for `samples`) the videos; returns counts."""
    corpus = Path(config.corpus)
    out: list[dict[str, Any]] = []
    copied: set[str] = set()
    if config.videos == "samples":
        config.videos_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
    for clip, record in records(config):
        check_record(record)
        out.append(record)
        if config.videos == "samples" and clip["key"] not in copied:
            _copy_sample(corpus, clip, config.videos_dir / record["video"])  # type: ignore[operator]
            copied.add(clip["key"])
    config.out.parent.mkdir(parents=True, exist_ok=True)
    if config.out.suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
    else:
        text = json.dumps(out, ensure_ascii=False, indent=1)
    atomic_write_text(config.out, text)
    data_root = config.videos_dir if config.videos == "samples" else config.media_root
    write_mix(config.mix, config.out, data_root)  # type: ignore[arg-type]
    return {"records": len(out), "samples": len({r["id"].rsplit("-", 1)[0] for r in out}),
            "videos_written": len(copied), "file": str(config.out), "mix": str(config.mix), "skipped": dict(config.counts)}
