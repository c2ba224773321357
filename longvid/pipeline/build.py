"""`longvid build`: manifests -> ingest -> per-video stages and shard writes (on Ray) -> catalog.

One build per corpus (longvid.pipeline.lock). Every video is processed in an attempt folder of its
own and renamed into place when complete (longvid.pipeline.staging); samples are packed into
shards in video order while later videos are still processed (longvid.pipeline.flow), and each
shard takes over its samples' files as it writes them (longvid.pipeline.shard_stage), so at rest
there is one copy of everything. A build killed at any moment (SIGKILL included, with its
workers still finishing) and rerun repeats no finished work and ends with byte-identical shards.
`force=True` throws staged work and shards away first. `shards/wids.json` lists the shards.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from longvid import registry
from longvid.atomic import is_temporary
from longvid.pipeline import staging
from longvid.pipeline.disk import DiskMonitor, disk_bytes
from longvid.pipeline.flow import Flow
from longvid.pipeline.lock import corpus_lock
from longvid.pipeline.progress import Progress
from longvid.pipeline.recipe import PER_VIDEO_STAGES, Recipe, load_recipe
from longvid.pipeline.shard_stage import ShardJob, remove_stale, sample_json_bytes, staged_docs, write_job
from longvid.pipeline.stages import VideoWork, run_video
from longvid.catalog.ingest import ingest, update_build_json
from longvid.catalog.tables import TableWriter
from longvid.layout import table_dir
from longvid.media.locations import LocationPolicy
from longvid.run import make_runner
from longvid.shards.plan import ShardPlanner
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
    allow_local: tuple[Path, ...] = ()  # folders besides --media-root that manifests may point into
    allow_private_hosts: bool = False  # fetch from loopback / private addresses (the demo's server)
    max_video_bytes: int | None = None  # cap on one download (None: the recipe's, else 32 GiB)
    keep_media: bool = False  # keep fetched media after their samples are in shards
    media_budget: int | None = None  # bytes the media cache may hold (evicting videos already sharded)
    cookies: Path | None = None  # a cookies.txt for yt-dlp
    proxy: str | None = None  # a proxy for every download
    log: Callable[[str], None] = field(default=lambda message: None)

    @property
    def policy(self) -> LocationPolicy:
        return LocationPolicy(self.media_root, tuple(self.allow_local), self.allow_private_hosts)


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

    return query(corpus, f"SELECT count(*) FROM videos WHERE source IN ({_sql_list(sources)})")[1][0][0]


def light(result: dict[str, Any], folder: Path) -> dict[str, Any]:
    """What the driver gets of a video's result: sample keys and sizes (the samples' .json stay in
    the staged result.json, so the driver's memory stays small), errors and the probes row."""
    samples = [{"key": s["key"], "bytes": s["bytes"], "json_bytes": len(sample_json_bytes(s["json"])),
                "source": s["source"], "video_uid": s["video_uid"], "folder": str(folder),
                "duration": s["json"]["duration"]} for s in result["samples"]]
    return {"video_uid": result["video_uid"], "samples": samples, "errors": result["errors"],
            "probe": probe_row(result), "seconds": result.get("seconds", {}),
            "duration": (result.get("probe") or {}).get("duration")}


def probe_row(result: dict[str, Any]) -> dict[str, Any]:
    """The `probes` row of one video's result."""
    probe, fetched = result.get("probe") or {}, result.get("fetch") or {}
    failures = [f"{e['stage']}:{e['cause']}" for e in result["errors"] if e["stage"] in ("fetch", "probe")]
    return {"video_uid": result["video_uid"], "source": result["source"], "status": failures[0] if failures else "ok",
            "duration": probe.get("duration"), "fps": probe.get("fps"), "width": probe.get("width"),
            "height": probe.get("height"), "codec": probe.get("codec"), "bytes": fetched.get("bytes"),
            "fetched_from": fetched.get("kind"), "samples": len(result["samples"])}


def process(item: tuple[dict[str, Any], list[dict[str, Any]]], *, corpus: Path, policy: LocationPolicy,
            recipe: Recipe, keep_media: bool) -> tuple[dict[str, Any], bool]:
    """One video: its trusted staged result from an earlier run, or its stages run afresh in an
    attempt folder that is then renamed into place. Runs in a worker; returns (light, resumed)."""
    video, spans = item
    final = staging.video_folder(corpus, video["video_uid"])
    shard_dir = Path(corpus) / "shards"
    result = staging.trusted(final, shard_dir)
    if result is not None:
        staging.sweep_temporaries(final)
        return light(result, final), True
    attempt = staging.new_attempt(final)
    work = VideoWork(video=video, spans=spans, staging=attempt, policy=policy,
                     media_cache=Path(corpus) / "media" / video["source"], recipe_name=recipe.name,
                     params=recipe.stages, segment_mode=recipe.segment_mode(video["source"]))
    run_video(work, [registry.stage(name) for name in recipe.stages if name in PER_VIDEO_STAGES])
    result = staging.commit(attempt, final, shard_dir)
    fetched = result.get("fetch") or {}
    if not result["samples"] and fetched.get("cached") and not keep_media:
        Path(fetched["path"]).unlink(missing_ok=True)  # nothing of it will be kept
    return light(result, final), False


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the whole build; returns the summary also written to CORPUS/build.json."""
    corpus = Path(config.corpus)
    recipe = task_recipe(config, load_recipe(config.recipe))
    existed = corpus.exists()
    progress = Progress(total_videos=0)
    with corpus_lock(corpus), DiskMonitor(corpus) as disk, ThreadPoolExecutor(1) as helper:
        if config.runner == "ray" and not (config.address or os.environ.get("RAY_ADDRESS")):
            # a private Ray takes seconds to start: meanwhile, ingest and process the first videos here
            ray_up = threading.Event()
            prepared = helper.submit(prepare, config, corpus, recipe, ray_up)
            try:
                runner = make_runner(config.runner, workers=config.workers)
            finally:
                ray_up.set()
        else:  # a cluster is checked before any work
            runner = _start(config, corpus, existed)
            prepared = helper.submit(prepare, config, corpus, recipe, None)
        try:
            warmed = prepared.result()
            flow, stats = run_flow(config, corpus, recipe, runner, progress, warmed)
            finished = helper.submit(finish, corpus, recipe, flow.jobs, stats, progress)
        finally:
            runner.close()  # while the catalog is written
        summary = finished.result()
    summary["disk"] = disk_summary(corpus, disk.peak)
    from longvid.catalog.coverage import coverage
    from longvid.pipeline.retry import build_options

    update_build_json(corpus, "build", {"recipe": recipe.name, "recipe_text": recipe.text,
                                        "sources": config.sources, "summary": summary, "options": build_options(config)})
    update_build_json(corpus, "coverage", coverage(corpus))
    config.log(f"[build] disk: peak {summary['disk']['peak_bytes'] / 2**20:.1f} MiB, "
               f"{summary['disk']['peak_over_shards']:.2f}x the shards")
    return summary


def task_recipe(config: BuildConfig, recipe: Recipe) -> Recipe:
    """The recipe the video tasks get: the command line's settings over the file's."""
    given = {"max_bytes": config.max_video_bytes, "media_budget": config.media_budget, "proxy": config.proxy,
             "cookies": str(config.cookies) if config.cookies else None}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return recipe
    params = {**recipe.stages, "fetch": {**recipe.stage("fetch"), **given}}
    return Recipe(recipe.name, params, recipe.shard_prefix, recipe.max_shard_bytes, recipe.max_shard_samples, recipe.text)


def video_function(config: BuildConfig, corpus: Path, recipe: Recipe) -> Callable[..., tuple[dict[str, Any], bool]]:
    """What a video task runs (see `process`), bound to this build."""
    return partial(process, corpus=corpus, policy=config.policy, recipe=recipe, keep_media=config.keep_media)


def _start(config: BuildConfig, corpus: Path, existed: bool) -> Any:
    try:
        return make_runner(config.runner, address=config.address, workers=config.workers)
    except BaseException:
        if not existed:  # nothing was done: leave no corpus folder behind
            shutil.rmtree(corpus, ignore_errors=True)
        raise


def prepare(config: BuildConfig, corpus: Path, recipe: Recipe, until: threading.Event | None) -> set[str]:
    """Everything before the flow: --force, leftovers of killed runs, the ingest; then, until
    `until` is set (the private Ray is up), the first videos processed here as a worker would.
    Returns the video_uids processed so (their staged results are what the flow finds)."""
    shard_dir = corpus / "shards"
    if config.force:
        for folder in (corpus / "staging", shard_dir):
            shutil.rmtree(folder, ignore_errors=True)
        clear_build_tables(corpus)
    clean_partial_files(corpus)
    ingest(config.sources, config.manifests, corpus, log=config.log)
    shard_dir.mkdir(parents=True, exist_ok=True)
    clean_partial(shard_dir)
    staging.clean_attempts(corpus / "staging")
    warmed: set[str] = set()
    if until is not None:
        work = video_function(config, corpus, recipe)
        for item in video_tasks(corpus, config.sources):
            if until.is_set():
                break
            if not work(item)[1]:
                warmed.add(item[0]["video_uid"])
    return warmed


def run_flow(config: BuildConfig, corpus: Path, recipe: Recipe, runner: Any, progress: Progress,
             warmed: set[str]) -> tuple[Flow, dict[str, Any]]:
    """Every video through its stages and every shard written; the errors and probes tables."""
    progress.total_videos = count_videos(corpus, config.sources)
    config.log(f"[build] {progress.total_videos} videos from {', '.join(config.sources)} on {runner.describe()}"
               + (f" ({len(warmed)} done here while it started)" if warmed else ""))
    flow = Flow(runner=runner, process=video_function(config, corpus, recipe),
                write=write_job, video_resources=registry.stage("segment").resources,
                write_resources=registry.stage("write").resources,
                make_job=lambda name, samples, final: ShardJob(corpus, name, tuple(samples), config.keep_media, final),
                prefix=recipe.shard_prefix, planner=ShardPlanner(recipe.max_shard_bytes, recipe.max_shard_samples))
    write_errors: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    with TableWriter(corpus, "errors", "build") as errors, TableWriter(corpus, "probes", "build") as probes:
        def on_video(result: dict[str, Any], resumed: bool) -> None:
            progress.video(result, resumed and result["video_uid"] not in warmed)
            errors.write_all(result["errors"])
            probes.write(result["probe"])

        def on_write(name: str, done: dict[str, Any]) -> None:
            write_errors.extend(done["errors"])
            if done["stats"] is not None:
                stats[name] = done["stats"]
                progress.shard(len(flow.jobs))

        flow.run(video_tasks(corpus, config.sources), on_video, on_write)
        errors.write_all(sorted(write_errors, key=lambda e: e["locator"]))
    progress.failures.update(f"{e['stage']}:{e['cause']}" for e in write_errors)
    return flow, stats


def finish(corpus: Path, recipe: Recipe, names: list[str], stats: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """After the last shard: leftovers removed, wids.json, the clips and shards tables, the summary."""
    shard_dir = corpus / "shards"
    staging.clean_attempts(corpus / "staging")  # what workers of a killed run left, once they are gone
    remove_stale(shard_dir, recipe.shard_prefix, set(names))
    write_wids(shard_dir, names)
    write_catalog(corpus, names, stats)
    summary = progress.summary()
    progress.show(force=True)
    progress.print_summary(summary)
    return summary


def disk_summary(corpus: Path, peak: int) -> dict[str, Any]:
    """Peak bytes under the corpus during the build, against the finished shards' bytes."""
    shards = disk_bytes(corpus / "shards")
    return {"peak_bytes": peak, "shard_bytes": shards, "final_bytes": disk_bytes(corpus),
            "peak_over_shards": round(peak / shards, 4) if shards else 0.0}


def write_wids(shard_dir: Path, names: list[str]) -> None:
    """shards/wids.json listing exactly this build's shards (what `wids.ShardListDataset` reads);
    removed when there are none."""
    if not names:
        (shard_dir / "wids.json").unlink(missing_ok=True)
        return
    write_wids_index(shard_dir, names)


def write_catalog(corpus: Path, names: list[str], stats: dict[str, dict[str, Any]]) -> None:
    """The clips and shards tables, shard by shard from the shard indexes and staged results."""
    with TableWriter(corpus, "clips", "build") as clips, TableWriter(corpus, "shards", "build") as shards:
        for name in names:
            rows = pq.read_table(corpus / "shards" / f"{name}.parquet").to_pylist()
            samples = [{"key": r["key"], "folder": staging.video_folder(corpus, r["video_uid"])} for r in rows]
            for row, doc in zip(rows, staged_docs(samples)):
                mp4 = row["member"].index("mp4")
                clips.write({**{k: doc[k] for k in CLIP_FIELDS}, "n_captions": len(doc["captions"]),
                             "shard": name, "members": row["name"], "offset": row["offset"][mp4],
                             "bytes": row["size"][mp4]})
            st = stats[name]
            shards.write({"shard": name, "path": f"shards/{name}.tar", "samples": st["samples"],
                          "bytes": st["bytes"], "duration": st["duration"], "sha256": st["sha256"],
                          "sources": json.dumps(st["sources"], sort_keys=True)})


CLIP_FIELDS = ("key", "video_uid", "source", "native_id", "kind", "mode", "start", "end", "duration",
               "requested_start", "requested_end", "captions")


def clean_partial_files(corpus: Path) -> None:
    """Remove the temporary files a killed run left behind in the catalog and the media cache
    (each is renamed into place when complete)."""
    for path in [*Path(corpus).glob("catalog/*/*"), *Path(corpus).glob("media/*/.*.part")]:
        if path.name.endswith(".part") or is_temporary(path.name):
            path.unlink(missing_ok=True)


def clear_build_tables(corpus: Path) -> None:
    """Remove the build's catalog files (used by --force)."""
    for table in ("clips", "shards", "probes"):
        shutil.rmtree(table_dir(corpus, table), ignore_errors=True)
    (table_dir(corpus, "errors") / "build.parquet").unlink(missing_ok=True)
