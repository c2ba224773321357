"""`longvid retry CORPUS --class transient,blocked`: fetch again the videos a build could not,
and add what they give to the corpus without rewriting a finished shard.

Which videos: those with a build error (fetch, probe, segment or align) of one of the classes
and no sample in the corpus. Their staged results (errors only) are dropped and they go through
the build's own per-video stages again, with the build's settings (kept in build.json; the
command line may override them). Their samples, in video order, fill **new shards appended after
the existing ones** (`longvid-000007`, ... when the build made 0..6): finished shards are not
touched, so a feature cache or a copy made from them stays valid. The catalog is then rewritten
around them: the retried videos' error and probe rows are replaced, `clips`, `shards` and
`wids.json` list every shard, and build.json gains a `retries` entry and a fresh `coverage`.

A retry is resumable like a build (one per corpus, the same locks, staging and shard journals):
killed and run again, it redoes only what its first run had not finished. A later
`longvid build` of the corpus plans shards from scratch in video order, so it rewrites the
shards whose samples move (the shards stay consistent either way).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq

from longvid.catalog.coverage import coverage
from longvid.catalog.ingest import update_build_json
from longvid.catalog.sql import query
from longvid.catalog.tables import TableWriter
from longvid.errors import UserError, parse_classes
from longvid.layout import table_dir
from longvid.pipeline import staging
from longvid.pipeline.build import (BuildConfig, clean_partial_files, task_recipe, video_chain, video_tasks,
                                    write_catalog, write_wids)
from longvid.pipeline.flow import Flow
from longvid.pipeline.lock import corpus_lock
from longvid.pipeline.progress import Progress
from longvid.pipeline.recipe import load_recipe
from longvid.pipeline.select import Selector, score_names
from longvid.pipeline.stages.write import ShardJob, remove_stale
from longvid.run import make_runner
from longvid.shards.plan import ShardPlanner
from longvid.shards.writer import clean_partial, read_stats

RETRIED_STAGES = ("fetch", "probe", "segment", "align")
OPTION_NAMES = ("media_root", "allow_local", "allow_private_hosts", "max_video_bytes", "keep_media", "media_budget",
                "cookies", "http_proxy", "select", "proxy")


@dataclass
class RetryConfig:
    """What to retry and how; a None option means the build's own (from build.json)."""

    corpus: Path
    classes: list[str] = field(default_factory=lambda: ["transient", "blocked"])
    runner: str = "ray"
    address: str | None = None
    workers: int | None = None
    options: dict[str, Any] = field(default_factory=dict)  # OPTION_NAMES given on the command line
    log: Callable[[str], None] = field(default=lambda message: None)


def build_options(config: BuildConfig) -> dict[str, Any]:
    """The build's settings a retry reuses, as JSON (kept in build.json under build.options)."""
    out = {}
    for name in OPTION_NAMES:
        value = getattr(config, name, None)
        if isinstance(value, (tuple, list)):
            value = [str(v) for v in value]
        elif isinstance(value, Path):
            value = str(value)
        out[name] = value
    return out


def videos_to_retry(corpus: Path, classes: list[str]) -> list[str]:
    """video_uids with a build error of `classes` and no sample in the corpus, in video order."""
    stages = ", ".join(f"'{s}'" for s in RETRIED_STAGES)
    wanted = ", ".join(f"'{c}'" for c in parse_classes(",".join(classes)))
    sql = (f'SELECT DISTINCT video_uid FROM errors WHERE stage IN ({stages}) AND "class" IN ({wanted}) '
           "AND video_uid IS NOT NULL AND video_uid NOT IN (SELECT video_uid FROM clips) ORDER BY video_uid")
    return [row[0] for row in query(corpus, sql)[1]]


def retry(config: RetryConfig) -> dict[str, Any]:
    """Retry the failed videos of `config.classes`; returns the summary kept in build.json."""
    corpus = Path(config.corpus)
    done = _finished_build(corpus)
    options = {**(done.get("options") or {}), **{k: v for k, v in config.options.items() if v is not None}}
    build_config = BuildConfig(
        sources=list(done["sources"]), manifests=corpus, corpus=corpus, runner=config.runner,
        address=config.address, workers=config.workers, log=config.log,
        media_root=Path(options["media_root"]) if options.get("media_root") else None,
        allow_local=tuple(Path(p) for p in options.get("allow_local") or ()),
        allow_private_hosts=bool(options.get("allow_private_hosts")),
        max_video_bytes=options.get("max_video_bytes"), keep_media=bool(options.get("keep_media")),
        media_budget=options.get("media_budget"), cookies=Path(options["cookies"]) if options.get("cookies") else None,
        http_proxy=options.get("http_proxy"), select=options.get("select"), proxy=options.get("proxy"))
    recipe = task_recipe(build_config, _recipe(done))
    shard_dir = corpus / "shards"
    with corpus_lock(corpus):
        clean_partial_files(corpus)
        clean_partial(shard_dir)
        staging.clean_attempts(corpus / "staging")
        uids = videos_to_retry(corpus, config.classes)
        for uid in uids:
            _forget(corpus, uid)
        existing = [r[0] for r in query(corpus, "SELECT shard FROM shards ORDER BY shard")[1]]
        config.log(f"[retry] {len(uids)} videos failed in class {', '.join(config.classes)}; "
                   f"new shards go after the {len(existing)} there")
        got = _Results(Progress(total_videos=len(uids)))
        with contextlib.ExitStack() as stack:
            names, runner = existing, None
            if uids:
                runner = make_runner(config.runner, address=config.address, workers=config.workers)
                stack.callback(runner.close)
                names = _requeue(build_config, recipe, runner, uids, existing, got, stack)
            remove_stale(corpus, recipe.shard_prefix, set(names))
            for table, rows in (("errors", got.errors), ("probes", got.probes), ("filtered", got.filtered)):
                _replace_rows(corpus, table, set(uids), rows)
            stats = {name: got.stats.get(name) or read_stats(shard_dir, name) for name in names}
            write_wids(shard_dir, names)
            write_catalog(corpus, names, stats)
            summary = {**got.progress.summary(), "classes": list(config.classes), "retried": len(uids),
                       "new_shards": [n for n in names if n not in existing],
                       "recovered": len(set(_sampled(corpus)) & set(uids))}
            if runner is not None and build_config.proxy:  # the build made proxy shards: the new shards get theirs
                from longvid.pipeline.proxies import make_proxies

                summary["proxies"] = make_proxies(corpus, int(build_config.proxy), runner, log=config.log)
        got.progress.print_summary(got.progress.summary())
        _record(corpus, summary)
    return summary


@dataclass
class _Results:
    """What the re-queued videos and their shard writes gave."""

    progress: Progress
    errors: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    filtered: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _requeue(build_config: BuildConfig, recipe: Any, runner: Any, uids: list[str], existing: list[str],
             got: _Results, stack: contextlib.ExitStack) -> list[str]:
    """The videos through the build's chain and flow, new shards named after `existing`; returns every shard name."""
    corpus = Path(build_config.corpus)
    write = recipe.steps("shard")[0]
    flow = Flow(runner=runner, video_links=video_chain(build_config, corpus, recipe).links(),
                write=write.run, write_resources=write.resources,
                make_job=lambda name, samples, final: ShardJob(corpus, name, tuple(samples), build_config.keep_media,
                                                               final),
                prefix=recipe.shard_prefix, planner=ShardPlanner(recipe.max_shard_bytes, recipe.max_shard_samples),
                jobs=list(existing))
    selector = Selector(build_config.select, score_names(recipe.steps("video"))) if build_config.select else None
    if selector is not None:
        stack.callback(selector.close)

    def on_video(result: dict[str, Any], resumed: bool) -> list[dict[str, Any]]:
        kept, dropped = selector.split(result["samples"]) if selector else (result["samples"], [])
        got.progress.video(result, resumed, kept=len(kept))
        got.errors.extend(result["errors"])
        got.probes.append(result["probe"])
        got.filtered.extend([*(result.get("filtered") or []), *dropped])
        for sample in kept:
            sample.pop("row", None)
        return kept

    def on_write(name: str, outcome: dict[str, Any]) -> None:
        got.errors.extend(outcome["errors"])
        if outcome["stats"] is not None:
            got.stats[name] = outcome["stats"]
            got.progress.shard(len(flow.jobs) - len(existing))

    wanted = set(uids)
    flow.run((item for item in video_tasks(corpus, list(build_config.sources)) if item[0]["video_uid"] in wanted),
             on_video, on_write)
    return flow.jobs


def _finished_build(corpus: Path) -> dict[str, Any]:
    path = corpus / "build.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{corpus} holds no corpus (no build.json): run `longvid build` first") from None
    done = data.get("build")
    if not isinstance(done, dict) or "summary" not in done:
        raise UserError(f"{corpus} has no finished build to retry: run `longvid build` first")
    return done


def _recipe(done: dict[str, Any]):
    """The recipe the build ran, from the text build.json keeps."""
    with tempfile.TemporaryDirectory(prefix="longvid-retry-") as tmp:
        path = Path(tmp) / f"{done.get('recipe') or 'longvid'}.yaml"
        path.write_text(done.get("recipe_text") or "", encoding="utf-8")
        return load_recipe(path if done.get("recipe_text") else None)


def _forget(corpus: Path, uid: str) -> None:
    """Drop a failed video's staged result (errors only), so its stages run again. A result with
    samples (committed by an earlier, killed retry) is kept: the flow trusts and reuses it."""
    folder = staging.video_folder(corpus, uid)
    try:
        result = staging.read_result(folder)
    except (OSError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        return
    if not result.get("samples"):
        shutil.rmtree(folder, ignore_errors=True)


def _replace_rows(corpus: Path, table: str, uids: set[str], rows: list[dict[str, Any]]) -> None:
    """Rewrite `<table>/build.parquet`: its rows of other videos as they were, then `rows`
    (streamed in batches: the old file is read while the new one is written beside it)."""
    old = table_dir(corpus, table) / "build.parquet"
    with TableWriter(corpus, table, "build") as writer:
        if old.is_file():
            for batch in pq.ParquetFile(old).iter_batches(batch_size=10_000):
                writer.write_all(r for r in batch.to_pylist() if r.get("video_uid") not in uids)
        writer.write_all(rows)


def _sampled(corpus: Path) -> list[str]:
    return [r[0] for r in query(corpus, "SELECT DISTINCT video_uid FROM clips")[1]]


def _record(corpus: Path, summary: dict[str, Any]) -> None:
    """build.json: this retry appended to `retries`, and the coverage now."""
    data = json.loads((corpus / "build.json").read_text(encoding="utf-8"))
    retries = data.get("retries") if isinstance(data.get("retries"), dict) else {"runs": []}
    retries["runs"] = [*retries.get("runs", []), summary]
    update_build_json(corpus, "retries", retries)
    update_build_json(corpus, "coverage", coverage(corpus))
