"""Write one shard: `<name>.tar`, then `<name>.parquet` (its index), then `<name>.stats.json`.

The tar follows WebDataset conventions: members `{key}.{ext}`, all members of a key contiguous,
keys in the order given, extensions sorted within a key. Headers are plain USTAR with fixed
fields (mtime 0, uid/gid 0, empty user and group names, mode 0644), so the same input always
gives the same bytes. USTAR rather than PAX or GNU: `wids` indexes a tar by parsing the raw
512-byte headers (name field, octal size) and does not apply PAX or GNU extensions, so every
member must fit plain USTAR: a name of at most 100 bytes and a size below 8 GiB; the writer
refuses anything else up front instead of writing a tar that some readers misread.

The index has one row per sample (row order = sample order in the tar) with list columns, one
item per member in tar order: `member` (extension), `name`, `header_offset`, `offset` (where
the member's data starts) and `size`. Reading a sample by seek is one row:
`f.seek(offset[i]); f.read(size[i])` for each member i (see `reader.read_sample`).

Every file is written to `<file>.tmp-<pid>` in the same folder, fsynced and renamed into place.
The stats file is written last: its existence (with a tar of the size it records) means the
shard is done, so a rerun skips it; `clean_partial` removes what a killed run left behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from longvid.keys import is_safe_key
from longvid.shards.plan import NAME_PATTERN

BLOCK = 512
MTIME = 0  # fixed, so tars are reproducible (webdataset's TarWriter takes an mtime for this)
MODE = 0o644
USTAR_NAME_MAX = 100  # bytes; our names have no "/", so USTAR's prefix field cannot help
USTAR_SIZE_MAX = 8**11 - 1  # 11 octal digits
EXT_PATTERN = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")  # "mp4", "json", "hico.npy"
TMP_PATTERN = re.compile(r"\.tmp-\d+$")
SUFFIXES = (".stats.json", ".parquet", ".tar")  # removal order: the "done" marker first
_MEMBER_COLS = ("member", "name", "header_offset", "offset", "size")

INDEX_SCHEMA = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),
        pa.field("sample_index", pa.int64(), nullable=False),  # position in the tar (= wids index)
        pa.field("key", pa.string(), nullable=False),
        pa.field("video_uid", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("duration", pa.float64(), nullable=False),
        pa.field("member", pa.list_(pa.string()), nullable=False),  # extensions, sorted
        pa.field("name", pa.list_(pa.string()), nullable=False),  # f"{key}.{member}"
        pa.field("header_offset", pa.list_(pa.int64()), nullable=False),
        pa.field("offset", pa.list_(pa.int64()), nullable=False),  # start of the member's data
        pa.field("size", pa.list_(pa.int64()), nullable=False),
    ],
    metadata={"table": "shard_index", "doc": "one row per sample of one shard tar"},
)


@dataclass(slots=True)
class Sample:
    """One training sample: its key, its members (extension -> bytes or a file path) and the
    fields the index records. A path member is streamed into the tar, never loaded whole."""

    key: str
    members: dict[str, bytes | Path]
    duration: float = 0.0
    source: str = ""
    video_uid: str = ""


@dataclass(slots=True)
class ShardStats:
    """What `<name>.stats.json` records; `extra` holds the caller's `extra_stats`."""

    shard: str
    samples: int
    members: int
    bytes: int
    sha256: str
    duration: float
    sources: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        core: dict[str, Any] = {
            "shard": self.shard,
            "tar": f"{self.shard}.tar",
            "index": f"{self.shard}.parquet",
            "samples": self.samples,
            "members": self.members,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "duration": self.duration,
            "sources": dict(sorted(self.sources.items())),
        }
        clash = sorted(set(core) & set(self.extra))
        if clash:
            raise ValueError(f"extra_stats may not override {clash}")
        return {**core, **self.extra}


def read_stats(shard_dir: Path, name: str) -> dict[str, Any] | None:
    """The parsed `<name>.stats.json`, or None when it is absent or unreadable."""
    try:
        stats = json.loads((Path(shard_dir) / f"{name}.stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stats if isinstance(stats, dict) else None


def shard_done(shard_dir: Path, name: str) -> bool:
    """True when the shard's stats exist and its tar and index are there, the tar at the
    size the stats record."""
    shard_dir = Path(shard_dir)
    stats = read_stats(shard_dir, name)
    tar, index = shard_dir / f"{name}.tar", shard_dir / f"{name}.parquet"
    if stats is None or not tar.is_file() or not index.is_file():
        return False
    return tar.stat().st_size == stats.get("bytes")


def clean_partial(shard_dir: Path) -> list[Path]:
    """Remove what a killed run left: `*.tmp-<pid>` files and every file of a shard that is not
    done (a tar or index without stats, or stats whose tar is missing or of another size).
    Call it before writing, never while another process writes into the same folder."""
    shard_dir = Path(shard_dir)
    if not shard_dir.is_dir():
        return []
    removed: list[Path] = []
    names: set[str] = set()
    for path in sorted(shard_dir.iterdir()):
        if not path.is_file():
            continue
        if TMP_PATTERN.search(path.name):
            path.unlink()
            removed.append(path)
            continue
        for suffix in SUFFIXES:
            stem = path.name[: -len(suffix)]
            if path.name.endswith(suffix) and NAME_PATTERN.fullmatch(stem):
                names.add(stem)
                break
    for name in sorted(names):
        if shard_done(shard_dir, name):
            continue
        for suffix in SUFFIXES:
            path = shard_dir / f"{name}{suffix}"
            if path.is_file():
                path.unlink()
                removed.append(path)
    return removed


def write_shard(
    shard_dir: Path, name: str, samples: Iterable[Sample], *, extra_stats: dict[str, Any] | None = None,
    allow_empty: bool = False,
) -> ShardStats | None:
    """Write shard `name` (tar, index, then stats) into `shard_dir` and return its stats.

    Returns None and writes nothing when `samples` is empty, unless `allow_empty` (then an
    empty tar and index with their stats: a finished shard of no samples, e.g. a feature shard
    whose every video failed, which a rerun must not redo). Raises ValueError for an unsafe or
    duplicate key, a bad extension or a member that does not fit a USTAR header, TypeError for
    a member that is neither bytes nor a path; no file of the shard is left behind then. An
    existing shard of the same name is replaced (its stats go first: never "done" half-written).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"shard name must match {NAME_PATTERN.pattern}, got {name!r}")
    extra = dict(extra_stats or {})
    ShardStats(name, 0, 0, 0, "", 0.0, {}, extra).to_json()  # refuse clashing keys up front
    json.dumps(extra)  # and values JSON cannot hold
    items = iter(samples)
    first = next(items, None)
    if first is None and not allow_empty:
        return None
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    (shard_dir / f"{name}.stats.json").unlink(missing_ok=True)
    try:
        with _atomic(shard_dir / f"{name}.tar") as tmp, open(tmp, "wb") as raw:
            out = _HashingWriter(raw)
            rows = _write_tar(out, name, items if first is None else chain([first], items))
        table = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA)
        with _atomic(shard_dir / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp)
    except BaseException:
        for suffix in (".parquet", ".tar"):
            (shard_dir / f"{name}{suffix}").unlink(missing_ok=True)
        raise
    stats = ShardStats(
        shard=name,
        samples=len(rows),
        members=sum(len(r["member"]) for r in rows),
        bytes=out.pos,
        sha256=out.sha.hexdigest(),
        duration=math.fsum(r["duration"] for r in rows),
        sources=dict(Counter(r["source"] for r in rows)),
        extra=extra,
    )
    text = json.dumps(stats.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    atomic_write_text(shard_dir / f"{name}.stats.json", text)
    _fsync(shard_dir)
    return stats


def _write_tar(out: _HashingWriter, shard: str, samples: Iterable[Sample]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    with tarfile.TarFile(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8") as tar:  # type: ignore[arg-type]
        for sample in samples:
            members = _checked_members(sample, seen)
            row: dict[str, Any] = {
                "shard": shard,
                "sample_index": len(rows),
                "key": sample.key,
                "video_uid": sample.video_uid,
                "source": sample.source,
                "duration": float(sample.duration),
                **{col: [] for col in _MEMBER_COLS},
            }
            for ext, value, size in members:
                member_name = f"{sample.key}.{ext}"
                header_offset = tar.offset
                _add_member(tar, member_name, value, size)
                if tar.offset != header_offset + BLOCK + -(-size // BLOCK) * BLOCK:
                    raise RuntimeError(f"unexpected tar layout at {member_name}")  # never with USTAR
                for col, v in zip(_MEMBER_COLS, (ext, member_name, header_offset, header_offset + BLOCK, size)):
                    row[col].append(v)
            rows.append(row)
    return rows


def _checked_members(sample: Sample, seen: set[str]) -> list[tuple[str, bytes | Path, int]]:
    """Validate one sample; return (ext, value, size) sorted by extension."""
    key = sample.key
    if not isinstance(key, str) or not is_safe_key(key):
        raise ValueError(f"unsafe sample key {key!r} (see longvid.keys.is_safe_key)")
    if key in seen:
        raise ValueError(f"duplicate sample key {key!r}")
    seen.add(key)
    if not sample.members:
        raise ValueError(f"sample {key!r} has no members")
    out = []
    for ext in sorted(sample.members):
        value = sample.members[ext]
        if not isinstance(ext, str) or not EXT_PATTERN.fullmatch(ext):
            raise ValueError(f"sample {key!r}: bad member extension {ext!r}")
        if len(f"{key}.{ext}".encode()) > USTAR_NAME_MAX:
            raise ValueError(f"member name {key}.{ext} is over {USTAR_NAME_MAX} bytes (USTAR limit)")
        if isinstance(value, bytes):
            size = len(value)
        elif isinstance(value, os.PathLike):
            value = Path(value)
            if not value.is_file():
                raise ValueError(f"sample {key!r}: member {ext!r} path {value} is not a file")
            size = value.stat().st_size
        else:
            raise TypeError(f"sample {key!r}: member {ext!r} must be bytes or a Path, got {type(value).__name__}")
        if size > USTAR_SIZE_MAX:
            raise ValueError(f"sample {key!r}: member {ext!r} is {size} bytes, over the USTAR limit")
        out.append((ext, value, size))
    return out


def _add_member(tar: tarfile.TarFile, name: str, value: bytes | Path, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, MTIME, MODE, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(value, bytes):
        tar.addfile(info, io.BytesIO(value))
        return
    with open(value, "rb") as f:
        tar.addfile(info, f)  # streamed in chunks; raises if the file shrank meanwhile
        if os.fstat(f.fileno()).st_size != size:
            raise ValueError(f"{value} changed size while it was written into the shard")


class _HashingWriter:
    """A write-only file that hashes and counts what passes through (what tarfile needs)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.pos = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self._raw.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield `<path>.tmp-<pid>` to write; on success fsync it and rename it to `path`."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    with _atomic(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _fsync(path: Path) -> None:
    """fsync a file or a folder (a folder, so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
