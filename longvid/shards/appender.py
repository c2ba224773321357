"""Append samples to one shard and resume after a kill: the incremental side of the shard writer.

While a shard is being written its tar grows as `.<name>.tar.partial`, and a journal,
`.<name>.journal`, gets one JSON line (the sample's index row and where it ends) for every
sample made durable by `sync()`: the tar is fsynced first, then the journal. A writer killed at
any moment leaves a tar whose journaled prefix is complete; `ShardAppender.open` truncates the
tar to that prefix and goes on, so a resumed shard has the same bytes as an uninterrupted one
(USTAR headers with fixed fields, as `longvid.shards.writer`); reopening costs nothing but the
journal read, so a shard can be written in several sittings, even by several processes in turn.
`finish()` closes the archive (two zero blocks, padded to tar's 10 KiB record), hashes it in one
read, writes the index, renames the tar into place and writes the stats last.

Two writers of one shard never run at once: `shard_lock` is an exclusive flock held while
writing (a stale writer of a killed build holds it until it dies). `member_at` checks that a
tar, finished or partial, holds a given member at a given offset (by reading its header), so a
copy that was handed over to a shard can be found again without trusting any other state.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from longvid.atomic import atomic_write_text, commit, fsync_path, write_atomic
from longvid.shards.format import BLOCK, INDEX_SCHEMA, FileRange, Member, Sample, ShardStats, checked_members, member_at, tar_header

RECORD = 20 * BLOCK  # tar pads the archive to a multiple of this (as tarfile.TarFile.close does)
COPY_CHUNK = 4 << 20
_MEMBER_COLS = ("member", "name", "header_offset", "offset", "size")


def partial_path(shard_dir: Path, name: str) -> Path:
    return Path(shard_dir) / f".{name}.tar.partial"


def journal_path(shard_dir: Path, name: str) -> Path:
    return Path(shard_dir) / f".{name}.journal"


@contextlib.contextmanager
def shard_lock(shard_dir: Path, name: str) -> Iterator[None]:
    """Hold the exclusive lock of shard `name` (blocks while another process holds it)."""
    folder = Path(shard_dir) / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def holder_of(shard_dir: Path, shard: str, header_offset: int, name: str, size: int) -> Path | None:
    """The tar of `shard` (finished, else partial) that holds member `name` at `header_offset`."""
    for tar in (Path(shard_dir) / f"{shard}.tar", partial_path(shard_dir, shard)):
        if member_at(tar, header_offset, name, size):
            return tar
    return None


class ShardAppender:
    """Write shard `name` sample by sample; resumable (see the module docstring)."""

    def __init__(self, shard_dir: Path, name: str, rows: list[dict[str, Any]], out: BinaryIO, pos: int):
        self.shard_dir, self.name = Path(shard_dir), name
        self.rows = rows  # durable (journaled) rows, then appended ones not yet synced
        self._durable = len(rows)
        self._out, self.pos = out, pos
        self._keys = {r["key"] for r in rows}
        self._journal = open(journal_path(shard_dir, name), "ab")

    @classmethod
    def open(cls, shard_dir: Path, name: str, keys: list[str]) -> ShardAppender:
        """Resume the partial shard if its journaled samples are the first of `keys`, else start
        it afresh (see `resumable`)."""
        shard_dir = Path(shard_dir)
        rows = resumable(shard_dir, name, keys)
        if not rows:
            return cls.fresh(shard_dir, name)
        end = rows[-1]["end"]
        out = open(partial_path(shard_dir, name), "r+b")
        out.truncate(end)
        out.seek(end)
        _rewrite_journal(shard_dir, name, rows)
        return cls(shard_dir, name, rows, out, end)

    @classmethod
    def fresh(cls, shard_dir: Path, name: str) -> ShardAppender:
        """Start shard `name` from nothing (an earlier partial of it is thrown away)."""
        Path(shard_dir).mkdir(parents=True, exist_ok=True)
        journal_path(shard_dir, name).unlink(missing_ok=True)
        out = open(partial_path(shard_dir, name), "w+b")
        return cls(shard_dir, name, [], out, 0)

    def append(self, sample: Sample) -> dict[str, Any]:
        """Write one sample's members (not yet durable: see `sync`); returns its index row."""
        if sample.key in self._keys:
            raise ValueError(f"duplicate sample key {sample.key!r}")
        members = checked_members(sample)
        self._keys.add(sample.key)
        row: dict[str, Any] = {"shard": self.name, "sample_index": len(self.rows), "key": sample.key,
                               "video_uid": sample.video_uid, "source": sample.source,
                               "duration": float(sample.duration), **{c: [] for c in _MEMBER_COLS}}
        for ext, value, size in members:
            member = f"{sample.key}.{ext}"
            header_offset = self.pos
            self._write(tar_header(member, size))
            self._copy(value, size)
            self._write(bytes(-size % BLOCK))
            for col, v in zip(_MEMBER_COLS, (ext, member, header_offset, header_offset + BLOCK, size)):
                row[col].append(v)
        row["end"] = self.pos
        self.rows.append(row)
        return row

    def sync(self) -> list[dict[str, Any]]:
        """Make every appended sample durable (tar fsync, then journal); returns those rows."""
        fresh = self.rows[self._durable:]
        if not fresh:
            return []
        self._out.flush()
        os.fsync(self._out.fileno())
        self._journal.write(b"".join(_journal_line(r) for r in fresh))
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._durable = len(self.rows)
        return fresh

    def finish(self, extra_stats: dict[str, Any] | None = None) -> ShardStats:
        """Close the archive; write `<name>.tar`, `<name>.parquet`, then `<name>.stats.json`."""
        self.sync()
        self._write(bytes(2 * BLOCK))
        self._write(bytes(-self.pos % RECORD))
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.seek(0)
        sha = hashlib.sha256()
        while block := self._out.read(COPY_CHUNK):
            sha.update(block)
        self._out.close()
        self._journal.close()
        rows = [{k: v for k, v in r.items() if k != "end"} for r in self.rows]
        stats = ShardStats(shard=self.name, samples=len(rows), members=sum(len(r["member"]) for r in rows),
                           bytes=self.pos, sha256=sha.hexdigest(),
                           duration=math.fsum(r["duration"] for r in rows),
                           sources=dict(Counter(r["source"] for r in rows)), extra=dict(extra_stats or {}))
        text = json.dumps(stats.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        final = self.shard_dir / f"{self.name}"
        (self.shard_dir / f"{self.name}.stats.json").unlink(missing_ok=True)  # never "done" half-replaced
        write_atomic(final.with_name(f"{self.name}.parquet"),
                     lambda tmp: pq.write_table(pa.Table.from_pylist(rows, schema=INDEX_SCHEMA), tmp))
        commit(partial_path(self.shard_dir, self.name), final.with_name(f"{self.name}.tar"))
        atomic_write_text(final.with_name(f"{self.name}.stats.json"), text)
        journal_path(self.shard_dir, self.name).unlink(missing_ok=True)
        fsync_path(self.shard_dir)
        return stats

    def close(self) -> None:
        """Stop without finishing (the partial and its journal stay, for a later resume)."""
        self._out.close()
        self._journal.close()

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self.pos += len(data)

    def _copy(self, value: Member, size: int) -> None:
        """Append `size` bytes of a member: in the kernel (copy_file_range) when it can, else
        through a buffer."""
        if isinstance(value, bytes):
            self._write(value)
            return
        path, offset = (value.path, value.offset) if isinstance(value, FileRange) else (value, 0)
        with open(path, "rb") as f:
            self._out.flush()
            copied = _kernel_copy(f.fileno(), self._out.fileno(), offset, size, self.pos)
            self.pos += copied
            self._out.seek(self.pos)
            left = size - copied
            f.seek(offset + copied)
            buf = bytearray(min(COPY_CHUNK, max(left, 1)))
            view = memoryview(buf)
            while left:
                n = f.readinto(view[: min(len(buf), left)])
                if not n:
                    raise ValueError(f"{path} ended {left} bytes early while it was written into shard {self.name}")
                self._write(view[:n])
                left -= n


def _kernel_copy(src: int, dst: int, offset: int, size: int, at: int) -> int:
    """Copy up to `size` bytes from `src` at `offset` to `dst` at `at` without passing them through
    Python; returns how many were copied (0 where the kernel cannot: the caller copies the rest)."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src, dst, size - done, offset + done, at + done)
            if n == 0:
                break
            done += n
    except (AttributeError, OSError):
        pass
    return done


def resumable(shard_dir: Path, name: str, keys: list[str]) -> list[dict[str, Any]]:
    """The journaled rows of the partial shard whose data is all in its tar, if they are the
    first of `keys`; else [] (the partial belongs to another plan)."""
    tar = partial_path(shard_dir, name)
    size = tar.stat().st_size if tar.is_file() else 0
    rows = [r for r in read_journal(shard_dir, name) if r["end"] <= size]
    return rows if [r["key"] for r in rows] == keys[: len(rows)] else []


def read_journal(shard_dir: Path, name: str) -> list[dict[str, Any]]:
    """The journaled rows of a partial shard (a torn last line, from a kill mid-write, is dropped)."""
    rows: list[dict[str, Any]] = []
    try:
        lines = journal_path(shard_dir, name).read_bytes().split(b"\n")
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            break
        if not isinstance(row, dict) or row.get("sample_index") != len(rows):
            break
        rows.append(row)
    return rows


def discard_partial(shard_dir: Path, name: str) -> None:
    """Remove a partial shard and its journal."""
    partial_path(shard_dir, name).unlink(missing_ok=True)
    journal_path(shard_dir, name).unlink(missing_ok=True)


def _journal_line(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _rewrite_journal(shard_dir: Path, name: str, rows: list[dict[str, Any]]) -> None:
    write_atomic(journal_path(shard_dir, name), lambda tmp: tmp.write_bytes(b"".join(_journal_line(r) for r in rows)))
