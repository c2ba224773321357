"""The `write` stage: staged samples -> shard tars, and the catalog's clips and shards rows.

Samples are sorted by key and packed greedily by bytes and count, so the same staged set
always gives the same shards. A shard whose stats file exists and names the same keys is
skipped on rerun; anything else is (re)written atomically by longvid.shards.writer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from longvid.build.stages import Stage
from longvid.run.resources import Resources
from longvid.shards.plan import plan_shards, shard_name
from longvid.shards.writer import Sample, read_stats, shard_done, write_shard


@dataclass(frozen=True)
class ShardJob:
    """Everything one shard task needs (picklable)."""

    shard_dir: Path
    name: str
    samples: tuple[dict[str, Any], ...]  # staged samples: key, bytes, json_bytes, path, source, video_uid

    @property
    def keys_sha256(self) -> str:
        return hashlib.sha256("\n".join(s["key"] for s in self.samples).encode()).hexdigest()


def sample_json_bytes(doc: dict[str, Any]) -> bytes:
    """The canonical bytes of a sample's .json member."""
    return (json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def plan(samples: list[dict[str, Any]], shard_dir: Path, prefix: str, max_bytes: int, max_count: int) -> list[ShardJob]:
    """Shard jobs for every staged sample, in key order."""
    ordered = sorted(samples, key=lambda s: s["key"])
    by_key = {s["key"]: s for s in ordered}
    if len(by_key) != len(ordered):
        raise RuntimeError("duplicate sample keys across videos; keys must be unique")
    sizes = [(s["key"], s["bytes"] + s["json_bytes"]) for s in ordered]
    groups = plan_shards(sizes, max_bytes, max_count)
    return [ShardJob(shard_dir, shard_name(prefix, i), tuple(by_key[k] for k in keys)) for i, keys in enumerate(groups)]


def staged_docs(samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each sample's .json document, read back from its video's staged result.json (one read
    per video, consecutive samples of a video share it)."""
    folder, docs = None, {}
    for s in samples:
        if Path(s["path"]).parent != folder:
            folder = Path(s["path"]).parent
            result = json.loads((folder / "result.json").read_text())
            docs = {d["key"]: d["json"] for d in result["samples"]}
        yield docs[s["key"]]


def is_current(job: ShardJob) -> bool:
    """True when the shard is finished and holds exactly this job's keys."""
    if not shard_done(job.shard_dir, job.name):
        return False
    stats = read_stats(job.shard_dir, job.name) or {}
    return stats.get("keys_sha256") == job.keys_sha256


def write_job(job: ShardJob) -> dict[str, Any]:
    """Write one shard (skipped when current); returns its stats."""
    if not is_current(job):
        members = (Sample(key=s["key"], members={"mp4": Path(s["path"]), "json": sample_json_bytes(doc)},
                          duration=doc["duration"], source=s["source"], video_uid=s["video_uid"])
                   for s, doc in zip(job.samples, staged_docs(job.samples)))
        write_shard(job.shard_dir, job.name, members, extra_stats={"keys_sha256": job.keys_sha256})
    return read_stats(job.shard_dir, job.name) or {}


def remove_stale(shard_dir: Path, prefix: str, keep: set[str]) -> list[Path]:
    """Delete shards of this prefix that the current plan does not name (a rebuild with fewer)."""
    removed = []
    for stats in sorted(shard_dir.glob(f"{prefix}-*.stats.json")):
        name = stats.name.removesuffix(".stats.json")
        if name not in keep:
            for suffix in (".stats.json", ".tar", ".parquet"):
                path = shard_dir / f"{name}{suffix}"
                if path.exists():
                    path.unlink()
                    removed.append(path)
    return removed


WRITE = Stage("write", write_job, Resources(cpus=1), "pack staged samples into a shard tar + index + stats")
