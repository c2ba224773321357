"""The shard format: plain USTAR tars of key-grouped members, and the index row of a sample.

Members are `{key}.{ext}`, all members of a key contiguous, extensions sorted within a key.
Headers are plain USTAR with fixed fields (mtime 0, uid/gid 0, empty user and group names, mode
0644), so the same input always gives the same bytes. USTAR rather than PAX or GNU: `wids`
indexes a tar by parsing the raw 512-byte headers (name field, octal size) and does not apply
PAX or GNU extensions, so every member must fit plain USTAR: a name of at most 100 bytes and a
size below 8 GiB; anything else is refused up front instead of written as a tar that some
readers misread.

The index has one row per sample (row order = sample order in the tar) with list columns, one
item per member in tar order: `member` (extension), `name`, `header_offset`, `offset` (where
the member's data starts) and `size`. Reading a sample by seek is one row:
`f.seek(offset[i]); f.read(size[i])` for each member i (see `reader.read_sample`).
"""

from __future__ import annotations

import os
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pyarrow as pa

from longvid.keys import is_safe_key

BLOCK = 512
MTIME = 0  # fixed, so tars are reproducible (webdataset's TarWriter takes an mtime for this)
MODE = 0o644
USTAR_NAME_MAX = 100  # bytes; our names have no "/", so USTAR's prefix field cannot help
USTAR_SIZE_MAX = 8**11 - 1  # 11 octal digits
EXT_PATTERN = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*")  # "mp4", "json", "hico.npy"

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


@dataclass(frozen=True, slots=True)
class FileRange:
    """`size` bytes of `path` from `offset`: a member copied out of another tar."""

    path: Path
    offset: int
    size: int


Member = Union[bytes, Path, FileRange]


@dataclass(slots=True)
class Sample:
    """One training sample: its key, its members (extension -> bytes, a file path or a range of
    a file) and the fields the index records. A file member is streamed into the tar, never
    loaded whole."""

    key: str
    members: dict[str, Member]
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


def checked_members(sample: Sample) -> list[tuple[str, Member, int]]:
    """Validate one sample; return (ext, value, size) sorted by extension."""
    key = sample.key
    if not isinstance(key, str) or not is_safe_key(key):
        raise ValueError(f"unsafe sample key {key!r} (see longvid.keys.is_safe_key)")
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
        elif isinstance(value, FileRange):
            size = value.size
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


def tar_header(name: str, size: int) -> bytes:
    """The 512-byte USTAR header of a regular member, with the fixed fields."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.type = size, MTIME, MODE, tarfile.REGTYPE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


def member_at(tar: Path, header_offset: int, name: str, size: int) -> bool:
    """True when `tar` has member `name` of `size` bytes with its header at `header_offset`
    (and its data is all there)."""
    try:
        with open(tar, "rb") as f:
            f.seek(header_offset)
            header = f.read(BLOCK)
            if len(header) != BLOCK:
                return False
            info = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")
            return (info.name == name and info.size == size
                    and os.fstat(f.fileno()).st_size >= header_offset + BLOCK + size)
    except (OSError, tarfile.TarError):
        return False


def copy_range(src: Path, offset: int, size: int, dest: Path) -> None:
    """Copy the `size` bytes at `offset` of `src` (a member's data in a tar) into the file `dest`."""
    with open(src, "rb") as f, open(dest, "wb") as out:
        f.seek(offset)
        left = size
        while left:
            block = f.read(min(left, 4 << 20))
            if not block:
                raise ValueError(f"{src} ends before {offset + size}")
            out.write(block)
            left -= len(block)
