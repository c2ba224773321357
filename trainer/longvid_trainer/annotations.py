"""The user's own annotations: VideoChat-Flash's data-mix YAML (or one JSON / JSONL file).

```yaml
datasets:
  - json_path: qa.json              # a JSON list or JSONL of LLaVA-style samples; relative to the YAML
    sampling_strategy: first:25%    # all | first:N | first:N% | end:N | end:N% | first2:N ...
    data_root: /data/videos         # joined to each sample's video path
```

A sample with `video` is matched to a cached sample by its video path (file name or stem) or, failing
that, its `id`, and by `start`/`end` when it has them; one without `video` or `image` is text only.
Every sample that cannot be used is returned with a reason (`no_cached_video`, `no_cached_range`,
`ambiguous`, `image_not_cached`, `bad_record`), never dropped silently.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

from longvid_trainer.cache_index import CacheIndex, video_names
from longvid_trainer.items import Item

_STRATEGY = re.compile(r"^(first|first[2-9]|end):(\d+)(%?)$")


def apply_sampling(records: list[Any], strategy: str) -> list[Any]:
    """`sampling_strategy` as their loader applies it (a percentage rounds up)."""
    strategy = (strategy or "all").strip()
    if strategy == "all":
        return records
    m = _STRATEGY.match(strategy)
    if not m:
        raise ValueError(f"unknown sampling_strategy {strategy!r}: use all, first:N, first:N%, end:N or end:N%")
    how, number, percent = m.groups()
    n = math.ceil(int(number) * len(records) / 100) if percent else int(number)
    if how == "end":
        return records[-n:] if n else []
    part = 1 if how == "first" else int(how[5:])
    return records[n * (part - 1): n * part]


def read_records(path: Path) -> list[Any]:
    """A JSON list or a JSONL file of samples."""
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if path.suffix == ".json":
        data = json.loads(text)
        if not isinstance(data, list):
            raise ValueError(f"{path} must hold a JSON list of samples")
        return data
    raise ValueError(f"{path}: annotation files are .json or .jsonl")


def read_mix(path: Path) -> list[dict[str, Any]]:
    """The datasets of a data-mix YAML (or one .json/.jsonl file as a single dataset)."""
    import yaml

    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        return [{"json_path": str(path), "sampling_strategy": "all", "data_root": ""}]
    if not path.is_file():
        raise FileNotFoundError(f"data-mix file {path} not found")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    datasets = doc.get("datasets") if isinstance(doc, dict) else None
    if not isinstance(datasets, list) or not all(isinstance(d, dict) and d.get("json_path") for d in datasets):
        raise ValueError(f"{path}: expected `datasets:` as a list of entries with a json_path")
    out = []
    for d in datasets:
        json_path = Path(os.path.expanduser(str(d["json_path"])))
        out.append({**d, "json_path": str(json_path if json_path.is_absolute() else path.parent / json_path)})
    return out


def _valid_conversation(record: Any) -> bool:
    turns = record.get("conversations") if isinstance(record, dict) else None
    return bool(turns) and all(isinstance(t, dict) and isinstance(t.get("value"), str) and t.get("from") for t in turns) \
        and any(t["value"].split() for t in turns)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def match_record(record: dict[str, Any], data_root: str, index: CacheIndex) -> tuple[str | None, str]:
    """(key of the cached sample, "ok") for a video sample, or (None, reason)."""
    video = record["video"]
    if isinstance(video, list):  # a list of frame files: the folder is the video
        video = str(Path(video[0]).parent) if video else ""
    start, end = _float(record.get("start")), _float(record.get("end"))
    found, reason = index.find(video_names(os.path.join(data_root, str(video))), start, end)
    if found is None and reason == "no_cached_video" and record.get("id") is not None:
        found, reason = index.find(video_names(str(record["id"])), start, end)
    return (found.key if found else None), reason


def annotation_items(mix: Path, index: CacheIndex) -> tuple[list[Item], list[dict[str, Any]]]:
    """Items from every dataset of the mix, and the samples that could not be used (with reasons)."""
    items, unmatched = [], []
    for dataset in read_mix(mix):
        json_path = Path(dataset["json_path"])
        records = apply_sampling(read_records(json_path), str(dataset.get("sampling_strategy", "all")))
        data_root = str(dataset.get("data_root") or "")
        for i, record in enumerate(records):
            where = {"json_path": str(json_path), "index": i, "id": record.get("id") if isinstance(record, dict) else None}
            if not _valid_conversation(record):
                unmatched.append({**where, "reason": "bad_record"})
                continue
            turns = tuple((t["from"], t["value"]) for t in record["conversations"])
            if "image" in record:
                unmatched.append({**where, "image": record["image"], "reason": "image_not_cached"})
                continue
            if "video" not in record:
                items.append(Item(turns, None, f"{json_path.name}:{i}"))
                continue
            key, reason = match_record(record, data_root, index)
            if key is None:
                unmatched.append({**where, "video": record["video"], "start": record.get("start"),
                                  "end": record.get("end"), "reason": reason})
                continue
            items.append(Item(turns, key, f"{json_path.name}:{i}"))
    return items, unmatched
