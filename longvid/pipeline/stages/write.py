"""The `write` stage: staged samples -> one shard, sample by sample, handing each over as it goes.

Samples are appended to the shard's partial tar (longvid.shards.appender); every few samples the
tar and its journal are made durable, and then each of those samples is handed over: its staged
mp4 is replaced by a marker naming where the shard holds it, and the fetched media of a video
all of whose samples are handed over is removed (unless kept). So at rest there is one copy of
every sample, and a killed write resumes from its journal. A shard whose stats name the same
keys is skipped.

When the plan of an earlier run named the same shard with other samples (the manifests
changed), the members the old shard or partial holds are first copied back into their staging
folders, so nothing another shard needs is lost when this one is replaced. A sample whose mp4
is nowhere (its staged file was removed by hand) becomes an error row, and its video's
result.json is dropped so that the next build redoes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from longvid.atomic import write_atomic
from longvid.layout import shard_dir
from longvid.pipeline import staging
from longvid.pipeline.stage import Stage
from longvid.records import ErrorRow, to_row
from longvid.run.resources import Resources
from longvid.shards.appender import ShardAppender, discard_partial, partial_path, read_journal, resumable, shard_lock
from longvid.shards.format import Sample, member_at
from longvid.shards.writer import read_stats, shard_done

SYNC_BYTES = 256 << 20  # make appended samples durable (and hand them over) at least this often
SYNC_SAMPLES = 64


@dataclass(frozen=True)
class ShardJob:
    """Everything one shard task needs (picklable): the shard's samples so far, all of them; a
    job that is not `final` makes them durable in the partial shard and leaves it open."""

    corpus: Path
    name: str
    samples: tuple[dict[str, Any], ...]  # key, bytes, json_bytes, folder, source, video_uid
    keep_media: bool = False
    final: bool = True

    @property
    def shard_dir(self) -> Path:
        return shard_dir(self.corpus)

    @property
    def keys_sha256(self) -> str:
        return keys_digest(s["key"] for s in self.samples)


def keys_digest(keys: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def sample_json_bytes(doc: dict[str, Any]) -> bytes:
    """The canonical bytes of a sample's .json member."""
    return (json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def staged_samples(samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each sample's entry in its video's result.json (its .json document and scores), one read
    per video: consecutive samples of a video share it."""
    folder, entries = None, {}
    for s in samples:
        if Path(s["folder"]) != folder:
            folder = Path(s["folder"])
            entries = {d["key"]: d for d in staging.read_result(folder)["samples"]}
        yield entries[s["key"]]


def staged_docs(samples: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each sample's .json document (see `staged_samples`)."""
    return (entry["json"] for entry in staged_samples(samples))


def is_current(job: ShardJob) -> bool:
    """True when the shard is finished and holds exactly this job's keys."""
    if not shard_done(job.shard_dir, job.name):
        return False
    return (read_stats(job.shard_dir, job.name) or {}).get("keys_sha256") == job.keys_sha256


def write_job(job: ShardJob) -> dict[str, Any]:
    """Write one shard, or the next part of it (skipped when already there); returns
    {"stats": ... (None while the shard is open), "errors": [...]}."""
    with shard_lock(job.shard_dir, job.name):
        if job.final and is_current(job):
            discard_partial(job.shard_dir, job.name)  # a journal left by a kill just after the finish
            return {"stats": read_stats(job.shard_dir, job.name), "errors": []}
        if not job.final and _finished_so_far(job):
            return {"stats": None, "errors": []}
        if shard_done(job.shard_dir, job.name):  # a shard of another plan: its samples go back first
            give_back(job.corpus, job.name, job.shard_dir / f"{job.name}.tar",
                      _index_rows(job.shard_dir / f"{job.name}.parquet"))
        keys = [s["key"] for s in job.samples]
        if not resumable(job.shard_dir, job.name, keys):  # a partial of another plan, if any
            give_back(job.corpus, job.name, partial_path(job.shard_dir, job.name), read_journal(job.shard_dir, job.name))
        appender = ShardAppender.open(job.shard_dir, job.name, keys)
        try:
            errors = _append_all(job, appender)
            if not job.final:
                appender.sync()
                appender.close()
                return {"stats": None, "errors": errors}
            stats = appender.finish({"keys_sha256": keys_digest(r["key"] for r in appender.rows)})
        except BaseException:
            appender.close()
            raise
    return {"stats": stats.to_json(), "errors": errors}


def _finished_so_far(job: ShardJob) -> bool:
    """True when a finished shard of this name (an earlier build's) begins with the job's samples."""
    if not shard_done(job.shard_dir, job.name):
        return False
    import pyarrow.parquet as pq

    keys = pq.read_table(job.shard_dir / f"{job.name}.parquet", columns=["key"]).column("key").to_pylist()
    return keys[: len(job.samples)] == [s["key"] for s in job.samples]


def _append_all(job: ShardJob, appender: ShardAppender) -> list[dict[str, Any]]:
    done = {r["key"]: r for r in appender.rows}  # journaled by a killed writer: hand them over (again)
    for s in job.samples:
        if s["key"] in done:
            _hand_over_row(job, s, done[s["key"]])
    pending: list[dict[str, Any]] = []
    pending_bytes, errors = 0, []
    for s, doc in zip(job.samples, staged_docs(job.samples)):
        if s["key"] in done:
            continue
        mp4 = staging.where(Path(s["folder"]), s["key"], s["bytes"], job.shard_dir)
        if mp4 is None:
            errors.append(_lost(job, s))
            continue
        appender.append(Sample(key=s["key"], members={"mp4": mp4, "json": sample_json_bytes(doc)},
                               duration=doc["duration"], source=s["source"], video_uid=s["video_uid"]))
        pending.append(s)
        pending_bytes += s["bytes"]
        if pending_bytes >= SYNC_BYTES or len(pending) >= SYNC_SAMPLES:
            _hand_over(job, appender, pending)
            pending, pending_bytes = [], 0
    _hand_over(job, appender, pending)
    return errors


def _hand_over(job: ShardJob, appender: ShardAppender, pending: list[dict[str, Any]]) -> None:
    """Make the appended samples durable, then drop their staged copies (and spent media)."""
    rows = {r["key"]: r for r in appender.sync()}
    for s in pending:
        _hand_over_row(job, s, rows[s["key"]])


def _hand_over_row(job: ShardJob, s: dict[str, Any], row: dict[str, Any]) -> None:
    folder = Path(s["folder"])
    staging.hand_over(folder, s["key"], job.name, row["header_offset"][row["member"].index("mp4")])
    if not job.keep_media:
        remove_spent_media(folder)


def remove_spent_media(folder: Path) -> None:
    """Delete the fetched media (CORPUS/media/...) of a video once every sample is handed over."""
    try:
        result = staging.read_result(folder)
    except (OSError, ValueError):
        return
    fetched = result.get("fetch") or {}
    if fetched.get("cached") and fetched.get("path") and staging.all_handed_over(folder, result):
        Path(fetched["path"]).unlink(missing_ok=True)


def _lost(job: ShardJob, s: dict[str, Any]) -> dict[str, Any]:
    folder = Path(s["folder"])
    (folder / staging.RESULT).unlink(missing_ok=True)  # the next build redoes this video
    return to_row(ErrorRow(source=s["source"], stage="write", cause="member_lost", locator=s["key"],
                           detail=f"{s['key']}.mp4 is neither staged nor in a shard; the video is redone on the next build",
                           video_uid=s["video_uid"]))


def give_back(corpus: Path, shard: str, tar: Path, rows: list[dict[str, Any]]) -> None:
    """Copy the mp4s that `tar` holds for other samples back into their staging folders (before
    `tar` is replaced), where a marker says that this shard holds them."""
    for row in rows:
        folder = staging.video_folder(corpus, row["video_uid"])
        held = staging.read_marker(folder, row["key"])
        i = row["member"].index("mp4")
        offset, size = row["offset"][i], row["size"][i]
        if (held is None or held["shard"] != shard or held["header_offset"] != row["header_offset"][i]
                or not member_at(tar, row["header_offset"][i], f"{row['key']}.mp4", size)):
            continue
        dest = staging.staged_member(folder, row["key"])
        write_atomic(dest, lambda tmp: _copy_range(tar, offset, size, tmp))
        staging.marker(folder, row["key"]).unlink(missing_ok=True)


def _copy_range(src: Path, offset: int, size: int, dest: Path) -> None:
    with open(src, "rb") as f, open(dest, "wb") as out:
        f.seek(offset)
        left = size
        while left:
            block = f.read(min(left, 4 << 20))
            if not block:
                raise ValueError(f"{src} ends before {offset + size}")
            out.write(block)
            left -= len(block)


def _index_rows(index: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(index).to_pylist()


def remove_stale(corpus: Path, prefix: str, keep: set[str]) -> list[Path]:
    """Delete shards (finished or partial) of this prefix that the current plan does not name,
    after giving the samples they hold back to their staging folders (a `--select` that leaves a
    sample out keeps its bytes, so selecting it again recomputes nothing)."""
    shards = shard_dir(corpus)
    removed = []
    for stats in sorted(shards.glob(f"{prefix}-*.stats.json")):
        name = stats.name.removesuffix(".stats.json")
        if name in keep:
            continue
        with shard_lock(shards, name):
            tar, index = shards / f"{name}.tar", shards / f"{name}.parquet"
            if tar.exists() and index.exists():
                give_back(corpus, name, tar, _index_rows(index))
            for path in (stats, tar, index):
                if path.exists():
                    path.unlink()
                    removed.append(path)
    for partial in sorted(shards.glob(f".{prefix}-*.tar.partial")):
        name = partial.name[1:].removesuffix(".tar.partial")
        if name not in keep:
            with shard_lock(shards, name):
                give_back(corpus, name, partial, read_journal(shards, name))
                discard_partial(shards, name)
            removed.append(partial)
    return removed


STAGE = Stage("write", write_job, "shard", needs=("samples",), gives=("shards",), resources=Resources(cpus=0.25),
              doc="append staged samples to a shard tar + index + stats")
