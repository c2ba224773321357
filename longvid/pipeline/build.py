"""`longvid build`: manifests -> ingest -> per-video stages and shard writes (on Ray) -> catalog.

One build per corpus (longvid.pipeline.lock). Every video is processed in an attempt folder of its
own and renamed into place when complete (longvid.pipeline.staging); samples are packed into
shards in video order while later videos are still processed (longvid.pipeline.flow), and each
shard takes over its samples' files as it writes them (longvid.pipeline.stages.write), so at rest
there is one copy of everything. A build killed at any moment (SIGKILL included, with its
workers still finishing) and rerun repeats no finished work and ends with byte-identical shards.
`force=True` throws staged work and shards away first. `shards/wids.json` lists the shards.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pyarrow.parquet as pq

from longvid.atomic import is_temporary
from longvid.catalog.ingest import ingest, update_build_json
from longvid.catalog.tables import TableWriter
from longvid.layout import shard_dir as shards_of, staging_root, table_dir
from longvid.media.locations import LocationPolicy
from longvid.pipeline import staging
from longvid.pipeline.disk import DiskMonitor, disk_bytes
from longvid.pipeline.flow import Flow
from longvid.pipeline.lock import corpus_lock
from longvid.pipeline.progress import Progress
from longvid.pipeline.recipe import Recipe, load_recipe
from longvid.pipeline.select import REASON, Selector, score_names
from longvid.pipeline.stages.write import ShardJob, remove_stale, staged_samples
from longvid.pipeline.video import VideoChain
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
    select: str | None = None  # SQL predicate over clips columns and scores: what goes into the shards
    proxy: int | None = None  # also write proxy shards of this short side (longvid.pipeline.proxies)
    media_budget: int | None = None  # bytes the media cache may hold (evicting videos already sharded)
    cookies: Path | None = None  # a cookies.txt for yt-dlp
    http_proxy: str | None = None  # a proxy URL for every download
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


def build(config: BuildConfig) -> dict[str, Any]:
    """Run the whole build; returns the summary also written to CORPUS/build.json."""
    corpus = Path(config.corpus)
    recipe = task_recipe(config, load_recipe(config.recipe))
    if config.select:  # a predicate that cannot run fails here, before any work
        Selector(config.select, score_names(recipe.steps("video")), corpus).close()
    existed = corpus.exists()
    progress = Progress(total_videos=0)
    with corpus_lock(corpus), DiskMonitor(corpus) as disk, ThreadPoolExecutor(1) as helper:
        if config.runner == "ray" and not (config.address or os.environ.get("RAY_ADDRESS")) and warm_startable(recipe):
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
            if config.proxy:  # a shard pass over the final shards, on the same runner
                from longvid.pipeline.proxies import make_proxies

                finished.result()
                proxies = make_proxies(corpus, config.proxy, runner, log=config.log)
        finally:
            runner.close()  # while the catalog is written
        summary = finished.result()
        if config.proxy:
            summary["proxies"] = proxies
    summary["disk"] = disk_summary(corpus, disk.peak)
    from longvid.catalog.coverage import coverage
    from longvid.pipeline.media_budget import make_room
    from longvid.pipeline.retry import build_options

    if config.media_budget is not None:  # every video is in its shards now: the kept media fit the budget
        make_room(corpus, config.media_budget)

    update_build_json(corpus, "build", {"recipe": recipe.name, "recipe_text": recipe.text,
                                        "sources": config.sources, "summary": summary, "options": build_options(config)})
    update_build_json(corpus, "coverage", coverage(corpus))
    config.log(f"[build] disk: peak {summary['disk']['peak_bytes'] / 2**20:.1f} MiB, "
               f"{summary['disk']['peak_over_shards']:.2f}x the shards")
    return summary


def task_recipe(config: BuildConfig, recipe: Recipe) -> Recipe:
    """The recipe the video tasks get: the command line's settings over the file's."""
    given = {"max_bytes": config.max_video_bytes, "media_budget": config.media_budget, "proxy": config.http_proxy,
             "cookies": str(config.cookies) if config.cookies else None}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return recipe
    return recipe.with_params("fetch", **given)


def video_chain(config: BuildConfig, corpus: Path, recipe: Recipe) -> VideoChain:
    """What the video tasks run (longvid.pipeline.video), bound to this build."""
    return VideoChain(corpus=corpus, policy=config.policy, recipe=recipe, keep_media=config.keep_media)


def warm_startable(recipe: Recipe) -> bool:
    """True when the driver may run video stages itself while Ray starts: none asks for a GPU or a
    custom resource (those run only where Ray places them)."""
    return all(s.resources.gpus == 0 and not s.resources.custom for s in recipe.steps("video"))


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
    shard_dir = shards_of(corpus)
    if config.force:
        for folder in (staging_root(corpus), shard_dir):
            shutil.rmtree(folder, ignore_errors=True)
        clear_build_tables(corpus)
    clean_partial_files(corpus)
    ingest(config.sources, config.manifests, corpus, log=config.log)
    shard_dir.mkdir(parents=True, exist_ok=True)
    clean_partial(shard_dir)
    staging.clean_attempts(staging_root(corpus))
    warmed: set[str] = set()
    if until is not None:
        run_video = video_chain(config, corpus, recipe).in_process()
        for item in video_tasks(corpus, config.sources):
            if until.is_set():
                break
            if not run_video(item)[1]:
                warmed.add(item[0]["video_uid"])
    return warmed


def run_flow(config: BuildConfig, corpus: Path, recipe: Recipe, runner: Any, progress: Progress,
             warmed: set[str]) -> tuple[Flow, dict[str, Any]]:
    """Every video through its stages, the selection, every shard written; the errors, probes and
    filtered tables."""
    progress.total_videos = count_videos(corpus, config.sources)
    config.log(f"[build] {progress.total_videos} videos from {', '.join(config.sources)} on {runner.describe()}"
               + (f" ({len(warmed)} done here while it started)" if warmed else ""))
    write = recipe.steps("shard")[0]
    flow = Flow(runner=runner, video_links=video_chain(config, corpus, recipe).links(),
                write=write.run, write_resources=write.resources,
                make_job=lambda name, samples, final: ShardJob(corpus, name, tuple(samples), config.keep_media, final),
                prefix=recipe.shard_prefix,
                planner=ShardPlanner(recipe.max_shard_bytes, recipe.max_shard_samples))
    selector = Selector(config.select, score_names(recipe.steps("video")), corpus) if config.select else None
    write_errors: list[dict[str, Any]] = []
    stats: dict[str, dict[str, Any]] = {}
    with (TableWriter(corpus, "errors", "build") as errors, TableWriter(corpus, "probes", "build") as probes,
          TableWriter(corpus, "filtered", "build") as filtered):
        def on_video(result: dict[str, Any], resumed: bool) -> list[dict[str, Any]]:
            kept, dropped = selector.split(result["samples"]) if selector else (result["samples"], [])
            progress.video(result, resumed and result["video_uid"] not in warmed, kept=len(kept))
            errors.write_all(result["errors"])
            probes.write(result["probe"])
            filtered.write_all(result["filtered"])
            if selector is not None:
                progress.count("select", {"in": len(result["samples"]), "out": len(kept), "unit": "samples",
                                          "dropped": {REASON: len(dropped)} if dropped else {}})
                filtered.write_all(dropped)
            for sample in kept:
                sample.pop("row", None)  # the driver holds only what the write needs
            return kept

        def on_write(name: str, done: dict[str, Any]) -> None:
            write_errors.extend(done["errors"])
            if done["stats"] is not None:
                stats[name] = done["stats"]
                progress.shard(len(flow.jobs))

        try:
            flow.run(video_tasks(corpus, config.sources), on_video, on_write)
        finally:
            if selector is not None:
                selector.close()
        errors.write_all(sorted(write_errors, key=lambda e: e["locator"]))
    progress.failures.update(f"{e['stage']}:{e['cause']}" for e in write_errors)
    planned = sum(st["samples"] for st in stats.values())
    progress.count("write", {"in": planned + len(write_errors), "out": planned, "unit": "samples",
                             "dropped": dict(Counter(e["cause"] for e in write_errors))})
    return flow, stats


def finish(corpus: Path, recipe: Recipe, names: list[str], stats: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """After the last shard: leftovers removed, wids.json, the clips and shards tables, the summary."""
    shard_dir = shards_of(corpus)
    staging.clean_attempts(staging_root(corpus))  # what workers of a killed run left, once they are gone
    remove_stale(corpus, recipe.shard_prefix, set(names))
    write_wids(shard_dir, names)
    write_catalog(corpus, names, stats)
    run_passes(corpus, recipe, progress)
    summary = progress.summary()
    progress.show(force=True)
    progress.print_summary(summary)
    return summary


def run_passes(corpus: Path, recipe: Recipe, progress: Progress) -> None:
    """The shard-scope stages after `write` (near_dup, ...): each a pass over the finished corpus,
    `run(corpus, params) -> counts`, timed and counted like the others."""
    import time

    for step in recipe.steps("shard")[1:]:
        started = time.perf_counter()
        counts = step.run(corpus, recipe.stage(step.name))
        progress.count(step.name, counts, time.perf_counter() - started)


def disk_summary(corpus: Path, peak: int) -> dict[str, Any]:
    """Peak bytes under the corpus during the build, against the finished shards' bytes."""
    shards = disk_bytes(shards_of(corpus))
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
    """The clips, shards and embeddings tables, shard by shard from the shard indexes and staged results."""
    with (TableWriter(corpus, "clips", "build") as clips, TableWriter(corpus, "shards", "build") as shards,
          TableWriter(corpus, "embeddings", "build") as embeddings):
        for name in names:
            rows = pq.read_table(shards_of(corpus) / f"{name}.parquet").to_pylist()
            samples = [{"key": r["key"], "folder": staging.video_folder(corpus, r["video_uid"])} for r in rows]
            for row, entry in zip(rows, staged_samples(samples)):
                doc, mp4 = entry["json"], row["member"].index("mp4")
                clips.write({**{k: doc[k] for k in CLIP_FIELDS}, "n_captions": len(doc["captions"]), "qa": doc.get("qa"),
                             "shard": name, "members": row["name"], "offset": row["offset"][mp4],
                             "bytes": row["size"][mp4], "scores": sorted((entry.get("scores") or {}).items())})
                for model in (entry.get("embeddings") or {}).values():
                    embeddings.write({"key": doc["key"], "video_uid": doc["video_uid"], "source": doc["source"],
                                      "model": model["model"], "image": model["image"], "texts": model.get("texts", [])})
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
    for table in ("clips", "shards", "probes", "filtered", "embeddings", "duplicates"):
        shutil.rmtree(table_dir(corpus, table), ignore_errors=True)
    (table_dir(corpus, "errors") / "build.parquet").unlink(missing_ok=True)
