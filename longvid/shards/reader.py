"""Read shards back: a plain generator over a tar, random access through the Parquet index,
and the `wids.json` shard list for `wids.ShardListDataset`.

`wids.json` lists shards by URL relative to the folder that holds it (`<name>.tar`): wids
resolves a relative URL against the directory of the JSON file it was given
(`ShardListDataset("CORPUS/shards/wids.json")`), so the folder can move. wids copies each
shard into its cache directory before reading it (`cache_dir=`, default `/tmp/_wids_cache`);
pass `localname=lambda url: url` to read local shards in place.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from longvid.atomic import atomic_write_text
from longvid.shards.plan import NAME_PATTERN
from longvid.shards.writer import read_stats, shard_done

WIDS_KIND = "wids-shard-index-v1"


def split_name(name: str) -> tuple[str, str]:
    """`key.ext` -> (key, ext), split at the first dot of the base name as WebDataset does."""
    base = name.rsplit("/", 1)[-1]
    if "." not in base:
        raise ValueError(f"tar member {name!r} has no extension")
    key, ext = base.split(".", 1)
    return name[: len(name) - len(base)] + key, ext


def iter_shard(tar_path: Path) -> Iterator[dict[str, Any]]:
    """Yield `{"__key__": key, ext: bytes, ...}` per sample, in tar order.

    Streams the tar once. Raises ValueError when a key's members are not contiguous or a
    member repeats within a key (what a key-grouped shard never has); skips non-files.
    """
    seen: set[str] = set()
    current: dict[str, Any] | None = None
    with tarfile.open(tar_path, mode="r|") as tar:
        for info in tar:
            if not info.isfile():
                continue
            key, ext = split_name(info.name)
            if current is None or key != current["__key__"]:
                if current is not None:
                    yield current
                if key in seen:
                    raise ValueError(f"{tar_path}: members of key {key!r} are not contiguous")
                seen.add(key)
                current = {"__key__": key}
            if ext in current:
                raise ValueError(f"{tar_path}: member {info.name!r} appears twice")
            f = tar.extractfile(info)
            assert f is not None
            current[ext] = f.read()
    if current is not None:
        yield current


def read_index(index_path: Path) -> list[dict[str, Any]]:
    """The rows of a shard's Parquet index (one per sample, in tar order) as dicts."""
    return pq.read_table(index_path).to_pylist()


def read_sample(tar_path: Path, index_row: Mapping[str, Any]) -> dict[str, bytes]:
    """One sample's members `{ext: bytes}`, read by seeking to the offsets of its index row."""
    out: dict[str, bytes] = {}
    with open(tar_path, "rb") as f:
        for ext, offset, size in zip(index_row["member"], index_row["offset"], index_row["size"]):
            f.seek(offset)
            data = f.read(size)
            if len(data) != size:
                raise ValueError(f"{tar_path}: member {ext!r} of {index_row['key']!r} is truncated")
            out[ext] = data
    return out


def done_shards(shard_dir: Path) -> list[str]:
    """Names of the finished shards in `shard_dir`, sorted."""
    shard_dir = Path(shard_dir)
    names = [p.name[: -len(".stats.json")] for p in shard_dir.glob("*.stats.json")]
    return sorted(n for n in names if NAME_PATTERN.fullmatch(n) and shard_done(shard_dir, n))


def wids_shardlist(shard_dir: Path, names: list[str] | None = None, *, absolute: bool = False) -> dict[str, Any]:
    """A wids shard-index dict for the finished shards (all of them, or `names` in that order).

    URLs are `<name>.tar`, relative to `shard_dir` (where `write_wids_index` puts the JSON),
    or absolute paths with `absolute=True`. Sample counts and sizes come from the stats files;
    a named shard that is not finished raises ValueError.
    """
    shard_dir = Path(shard_dir)
    if names is None:
        names = done_shards(shard_dir)
    shardlist = []
    for name in names:
        stats = read_stats(shard_dir, name)
        if stats is None or not shard_done(shard_dir, name):
            raise ValueError(f"shard {name!r} in {shard_dir} is not finished")
        tar = shard_dir / f"{name}.tar"
        url = str(tar.resolve()) if absolute else tar.name
        shardlist.append({"url": url, "nsamples": stats["samples"], "filesize": stats["bytes"]})
    return {"__kind__": WIDS_KIND, "wids_version": 1, "shardlist": shardlist}


def write_wids_index(shard_dir: Path, names: list[str] | None = None) -> Path:
    """Write `shard_dir/wids.json` listing every finished shard, or `names` in that order
    (relative URLs); return its path. wids refuses a descriptor with no shards, so an empty
    list raises ValueError.
    """
    shard_dir = Path(shard_dir)
    desc = wids_shardlist(shard_dir, names)
    if not desc["shardlist"]:
        raise ValueError(f"no finished shards in {shard_dir}")
    path = shard_dir / "wids.json"
    atomic_write_text(path, json.dumps(desc, indent=2) + "\n")
    return path
