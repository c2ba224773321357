"""`longvid build`: manifests -> ingest -> per-video stages (on Ray) -> shards -> catalog.

Resume: every video's work ends with CORPUS/staging/<source>/<id>/result.json written last,
and every shard with its stats file written last; a rerun skips both, so a build killed at
any point (even SIGKILL) and rerun ends with the same samples and byte-identical shards.
`force=True` throws the staging area and shards away first. Once the shards are written,
`shards/wids.json` lists them for `wids.ShardListDataset`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from longvid import registry
from longvid.build.progress import Progress
from longvid.build.recipe import PER_VIDEO_STAGES, Recipe, load_recipe
from longvid.build.shard_stage import ShardJob, plan, remove_stale, sample_json_bytes, staged_docs, write_job
from longvid.build.stages import VideoWork, run_video
from longvid.catalog.ingest import ingest, update_build_json
from longvid.catalog.tables import TableWriter, table_dir, write_table
from longvid.run import make_runner
from longvid.shards.reader import write_wids_index
from longvid.shards.writer import clean_partial


@dataclass
class BuildConfig:
    sources: list[str]
    manifests: Path
    corpus: Path
    media_root: Path | None = None
    recipe: Path | None = None
    address: str | None = None
    runner: str = "ray"
    workers: int | None = None
    force: bool = False
    log: Callable[[str], None] = field(default=lambda message: None)


def staging_dir(corpus: Path, video_uid: str) -> Path:
    source = video_uid.split("/", 1)[0]
    return Path(corpus) / "staging" / source / hashlib.sha1(video_uid.encode()).hexdigest()[:20]


def video_tasks(corpus: Path, sources: list[str]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(video row, its spans) for every catalog video of `sources`, in video_uid order: a
    streaming merge of two sorted DuckDB queries, so memory stays flat however many spans."""
    from longvid.catalog.sql import connect

    wanted = _sql_list(sources)
    con = connect(corpus)
    try:
        videos = con.cursor().execute(
            f"SELECT * EXCLUDE (extra) FROM videos WHERE source IN ({wanted}) ORDER BY video_uid")
        spans = con.cursor().execute(
            'SELECT video_uid, start, "end", text, kind, origin FROM spans '
            f"WHERE source IN ({wanted}) ORDER BY video_uid, start, \"end\" NULLS LAST, kind, text")
        video_cols = [d[0] for d in videos.description]
        span_cols = [d[0] for d in spans.description]
        pending = _rows(spans, span_cols)
        span = next(pending, None)
        for video in _rows(videos, video_cols):
            uid, mine = video["video_uid"], []
            while span is not None and span["video_uid"] < uid:  # spans of videos not listed
                span = next(pending, None)
            while span is not None and span["video_uid"] == uid:
                mine.append(span)
                span = next(pending, None)
            yield video, mine
    finally:
        con.close()


def _rows(cursor: Any, columns: list[str], batch: int = 10_000) -> Iterator[dict[str, Any]]:
    while rows := cursor.fetchmany(batch):
        for row in rows:
            yield dict(zip(columns, row))


def _sql_list(names: list[str]) -> str:
    """`'a', 'b'` for a SQL IN list (quotes doubled)."""
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


def count_videos(corpus: Path, sources: list[str]) -> int:
    from longvid.catalog.sql import query

    wanted = _sql_list(sources)
    return query(corpus, f"SELECT count(*) FROM videos WHERE source IN ({wanted})")[1][0][0]


def light(result: dict[str, Any], corpus: Path) -> dict[str, Any]:
    """What the driver keeps of a video's result: sample keys and sizes, and its errors; the
    samples' .json stay in the staged result.json (so the driver's memory stays small)."""
    folder = staging_dir(corpus, result["video_uid"])
    samples = [{"key": s["key"], "bytes": s["bytes"], "json_bytes": len(sample_json_bytes(s["json"])),
                "source": s["source"], "video_uid": s["video_uid"], "path": str(folder / f"{s['key']}.mp4")}
               for s in result["samples"]]
    return {"video_uid": result["video_uid"], "samples": samples, "errors": result["errors"],
            "probe": probe_row(result)}


def probe_row(result: dict[str, Any]) -> dict[str, Any]:
    """The `probes` row of one video's result."""
    probe, fetched = result.get("probe") or {}, result.get("fetch") or {}
    failures = [f"{e['stage']}:{e['cause']}" for e in result["errors"] if e["stage"] in ("fetch", "probe")]
    return {"video_uid": result["video_uid"], "source": result["source"], "status": failures[0] if failures else "ok",
            "duration": probe.get("duration"), "fps": probe.get("fps"), "width": probe.get("width"),
            "height": probe.get("height"), "codec": probe.get("codec"), "bytes": fetched.get("bytes"),
            "fetched_from": fetched.get("kind"), "samples": len(result["samples"])}


def process(item: tuple[dict[str, Any], list[dict[str, Any]]], *, corpus: Path, media_root: Path | None,
            recipe: Recipe) -> tuple[dict[str, Any], bool]:
    """One video's stages (or its staged result from an earlier run); runs in a worker."""
    video, spans = item
    folder = staging_dir(corpus, video["video_uid"])
    done = folder / "result.json"
    if done.exists():
        return json.loads(done.read_text()), True
    if folder.exists():  # a killed earlier attempt: start this video afresh
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    work = VideoWork(video=video, spans=spans, staging=folder, media_root=media_root,
                     media_cache=Path(corpus) / "media" / video["source"], recipe_name=recipe.name,
                     params=recipe.stages, segment_mode=recipe.segment_mode(video["source"]))
    stages = [registry.stage(name) for name in recipe.stages if name in PER_VIDEO_STAGES]
    return run_video(work, stages), False


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the whole build; returns the summary also written to CORPUS/build.json."""
    corpus = Path(config.corpus)
    recipe = load_recipe(config.recipe)
    shard_dir = corpus / "shards"
    runner = make_runner(config.runner, address=config.address, workers=config.workers)  # fails fast: before any work
    try:
        return _build(config, corpus, recipe, shard_dir, runner)
    finally:
        runner.close()


def _build(config: BuildConfig, corpus: Path, recipe: Recipe, shard_dir: Path, runner: Any) -> dict[str, Any]:
    if config.force:
        for folder in (corpus / "staging", shard_dir):
            shutil.rmtree(folder, ignore_errors=True)
        clear_build_tables(corpus)
    clean_partial_files(corpus)
    ingest(config.sources, config.manifests, corpus, log=config.log)
    shard_dir.mkdir(parents=True, exist_ok=True)
    clean_partial(shard_dir)

    total = count_videos(corpus, config.sources)
    progress = Progress(total_videos=total)
    config.log(f"[build] {total} videos from {', '.join(config.sources)} on {runner.describe()}")
    results = []
    work = partial(process, corpus=corpus, media_root=config.media_root, recipe=recipe)
    tasks = video_tasks(corpus, config.sources)
    for _, (result, cached) in runner.map(work, tasks, registry.stage("segment").resources):
        progress.video(result, cached)
        results.append(light(result, corpus))
    staged = [s for r in results for s in r["samples"]]
    jobs = plan(staged, shard_dir, recipe.shard_prefix, recipe.max_shard_bytes, recipe.max_shard_samples)
    progress.shards_total = len(jobs)
    stats = {}
    for job, shard_stats in runner.map(write_job, jobs, registry.stage("write").resources):
        stats[job.name] = shard_stats
        progress.shard()
    remove_stale(shard_dir, recipe.shard_prefix, {job.name for job in jobs})
    write_wids(shard_dir, [job.name for job in jobs])
    write_catalog(corpus, jobs, stats, results)
    summary = progress.summary()
    progress.show(force=True)
    progress.print_summary(summary)
    update_build_json(corpus, "build", {"recipe": recipe.name, "recipe_text": recipe.text,
                                        "sources": config.sources, "summary": summary})
    return summary


def write_wids(shard_dir: Path, names: list[str]) -> None:
    """shards/wids.json listing exactly this build's shards (what `wids.ShardListDataset` reads);
    removed when there are none."""
    if not names:
        (shard_dir / "wids.json").unlink(missing_ok=True)
        return
    write_wids_index(shard_dir, names)


def write_catalog(corpus: Path, jobs: list[ShardJob], stats: dict[str, dict[str, Any]],
                  results: list[dict[str, Any]]) -> None:
    """The clips, shards and build-errors tables, from the shard indexes and staged results
    (streamed shard by shard into the Parquet writers)."""
    with TableWriter(corpus, "clips", "build") as clips, TableWriter(corpus, "shards", "build") as shards:
        for job in jobs:
            index = {row["key"]: row for row in pq.read_table(job.shard_dir / f"{job.name}.parquet").to_pylist()}
            for s, doc in zip(job.samples, staged_docs(job.samples)):
                row = index[s["key"]]
                mp4 = row["member"].index("mp4")
                clips.write({**{k: doc[k] for k in CLIP_FIELDS}, "n_captions": len(doc["captions"]),
                             "shard": job.name, "members": row["name"], "offset": row["offset"][mp4],
                             "bytes": row["size"][mp4]})
            st = stats[job.name]
            shards.write({"shard": job.name, "path": f"shards/{job.name}.tar", "samples": st["samples"],
                          "bytes": st["bytes"], "duration": st["duration"], "sha256": st["sha256"],
                          "sources": json.dumps(st["sources"], sort_keys=True)})
    ordered = sorted(results, key=lambda r: r["video_uid"])
    write_table(corpus, "errors", "build", (e for r in ordered for e in r["errors"]))
    write_table(corpus, "probes", "build", (r["probe"] for r in ordered))


CLIP_FIELDS = ("key", "video_uid", "source", "native_id", "kind", "mode", "start", "end", "duration",
               "requested_start", "requested_end", "captions")


def clean_partial_files(corpus: Path) -> None:
    """Remove the temporary files a killed run left behind: TableWriter's
    `catalog/<table>/.<part>.parquet.tmp-<pid>` and fetch's `media/<source>/.<name>.<random>.part`
    (both are renamed into place when complete)."""
    for pattern in ("catalog/*/.*.parquet.tmp-*", "media/*/.*.part"):
        for path in Path(corpus).glob(pattern):
            path.unlink(missing_ok=True)


def clear_build_tables(corpus: Path) -> None:
    """Remove the build's catalog files (used by --force)."""
    for table in ("clips", "shards", "probes"):
        shutil.rmtree(table_dir(corpus, table), ignore_errors=True)
    (table_dir(corpus, "errors") / "build.parquet").unlink(missing_ok=True)
