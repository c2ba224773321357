"""The pipeline's seams, used as a user would: a filter added in one new file plus one recipe line
runs in a build and its drops land in `filtered`; a stage's declared resources reach Ray's task
options; a changed `--select` rewrites the shards and recomputes nothing upstream; a recipe with
an unknown or misplaced stage is refused before any work."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from longvid.catalog.sql import query
from longvid.pipeline.build import BuildConfig, build
from longvid.pipeline.recipe import load_recipe
from longvid.shards.reader import read_index
from tests.pipeline.conftest import (
    SOURCES,
    WORKERS,
    cli_args,
    clip_keys,
    offline,
    run_build,
    shard_digests,
    write_recipe,
)

FILTER_FILE = '''
"""Drop samples shorter than `seconds`."""
from longvid.pipeline.stage import Filter


def keep(sample, seconds=1.0):
    if sample["duration"] < seconds:
        return False, f"under {seconds} s"
    return True


STAGE = Filter("too_short", keep)
'''


def test_a_filter_in_one_file_and_one_recipe_line_runs_in_a_build(sample, tmp_path, reference, monkeypatch):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "my_filters.py").write_text(textwrap.dedent(FILTER_FILE), encoding="utf-8")
    durations = sorted(r[0] for r in query(reference.corpus, "SELECT duration FROM clips")[1])
    threshold = round(durations[len(durations) // 2], 3)  # about half the samples are shorter
    recipe = write_recipe(tmp_path / "recipe.yaml", fetch={"timeout": 5, "retries": 1},
                          shards={"max_samples": 5},
                          before_write=[{"name": "too_short", "use": "my_filters:STAGE", "seconds": threshold}])
    corpus = tmp_path / "corpus"
    monkeypatch.setenv("PYTHONPATH", str(plugins))  # for the driver and the private Ray's workers
    summary = run_build(cli_args(sample, corpus, recipe, runner="ray"), tmp_path / "log")

    kept = query(corpus, "SELECT key, duration FROM clips")[1]
    dropped = query(corpus, "SELECT key, stage, reason, duration FROM filtered")[1]
    assert kept and dropped
    assert all(d >= threshold for _, d in kept)
    assert {(stage, reason) for _, stage, reason, _ in dropped} == {("too_short", f"under {threshold} s")}
    assert all(d < threshold for *_, d in dropped)
    assert sorted([k for k, _ in kept] + [k for k, *_ in dropped]) == clip_keys(reference.corpus)  # none lost
    counts = summary["stages"]["too_short"]
    assert counts["in"] == len(kept) + len(dropped) and counts["out"] == len(kept)
    assert counts["dropped"] == {f"under {threshold} s": len(dropped)}
    assert summary["filtered"] == len(dropped)
    assert not list((corpus / "staging").rglob("*.mp4")), "a dropped sample's staged file is removed"


def test_declared_resources_reach_rays_task_options(sample, tmp_path, ray_address):
    """The test stage asks for 0.5 CPU and 64 MiB; the stages around it for 0.75 CPU. What Ray
    assigned to the task that ran it is in each sample's scores."""
    recipe = write_recipe(tmp_path / "recipe.yaml", fetch={"timeout": 5, "retries": 1},
                          before_write=[{"name": "assigned", "use": "tests.pipeline.plugins.assigned:STAGE"}])
    corpus = tmp_path / "corpus"
    with offline():
        build(BuildConfig(sources=["webvid", "hdvila"], manifests=sample.manifests, corpus=corpus,
                          media_root=sample.media, recipe=recipe, runner="ray", allow_private_hosts=True))
    rows = query(corpus, "SELECT scores['assigned_cpu'], scores['assigned_memory_mb'] FROM clips")[1]
    assert rows and set(rows) == {(0.5, 64.0)}


def test_resources_in_the_recipe_override_the_declared_ones(tmp_path):
    recipe = write_recipe(tmp_path / "recipe.yaml", before_write=[
        {"name": "min_duration", "seconds": 1, "resources": {"cpus": 2, "custom": {"nvdec": 1}}}])
    step = {s.name: s for s in load_recipe(recipe).steps()}["min_duration"]
    assert step.resources.ray_options() == {"num_cpus": 2, "num_gpus": 0.0, "resources": {"nvdec": 1.0}}


def test_a_changed_select_rewrites_shards_only(sample, recipe, tmp_path, reference):
    corpus = tmp_path / "corpus"
    empty = tmp_path / "no-media"
    empty.mkdir()

    def run(select: str | None, media_root: Path = sample.media) -> dict:
        with offline():
            return build(BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus, media_root=media_root,
                                     recipe=recipe, runner="local", workers=WORKERS, allow_private_hosts=True,
                                     select=select))

    run(None)
    everything, first_shards = clip_keys(corpus), shard_digests(corpus)
    assert everything == clip_keys(reference.corpus)
    # the rebuilds cannot fetch (no media root, and the HTTP rows' files are gone from CORPUS/media)
    summary = run("duration > 4 AND source <> 'webvid'", media_root=empty)
    selected = clip_keys(corpus)
    assert selected and len(selected) < len(everything)
    assert {k for k, in query(corpus, "SELECT key FROM filtered WHERE stage = 'select'")[1]} == set(everything) - set(selected)
    assert all(d > 4 for d, in query(corpus, "SELECT duration FROM clips")[1])
    assert summary["resumed"] == summary["videos"]
    assert not {"fetch", "probe", "segment", "align"} & set(summary["stages"])  # nothing upstream ran
    assert summary["stages"]["select"]["out"] == len(selected)
    assert shard_digests(corpus) != first_shards
    for tar in sorted((corpus / "shards").glob("*.tar")):  # each shard's index names what it holds
        assert all(row["key"] in selected for row in read_index(tar.with_suffix(".parquet")))

    summary = run(None, media_root=empty)  # selected again: every sample comes back, bytes and all
    assert summary["resumed"] == summary["videos"] and "fetch" not in summary["stages"]
    assert clip_keys(corpus) == everything
    assert shard_digests(corpus) == first_shards


def test_a_select_that_does_not_run_is_one_clear_error(sample, recipe, tmp_path):
    with pytest.raises(ValueError, match=r"--select 'duration >>> 3'"):
        build(BuildConfig(sources=["webvid"], manifests=sample.manifests, corpus=tmp_path / "c", recipe=recipe,
                          runner="local", select="duration >>> 3"))
    with pytest.raises(ValueError, match="no_such_column"):
        build(BuildConfig(sources=["webvid"], manifests=sample.manifests, corpus=tmp_path / "c", recipe=recipe,
                          runner="local", select="no_such_column > 3"))


@pytest.mark.parametrize("lines, message", [
    ([{"name": "no_such_stage"}], "unknown stage 'no_such_stage'"),
    ([{"name": "x", "use": "no_such_module:STAGE"}], "cannot load 'no_such_module:STAGE'"),
    ([{"name": "x", "use": "json:dumps"}], "is not a longvid.pipeline.stage.Stage"),
    ([{"name": "min_duration", "secs": 2}], "stage 'min_duration' takes no parameter secs"),
])
def test_a_recipe_naming_an_unknown_stage_is_refused(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        load_recipe(write_recipe(tmp_path / "recipe.yaml", before_write=lines))


def test_a_recipe_in_the_wrong_order_is_refused(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("stages: [fetch, probe, align, segment, write]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"stage 'align' needs \['cuts'\]"):
        load_recipe(path)
    path.write_text("stages: [fetch, probe, segment, align, write, min_duration]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="video stage 'min_duration' comes after a shard stage"):
        load_recipe(path)


def test_build_json_counts_every_stage(reference):
    summary = json.loads((reference.corpus / "build.json").read_text())["build"]["summary"]
    stages = summary["stages"]
    assert {"fetch", "probe", "segment", "align", "write"} <= set(stages)
    assert stages["fetch"]["in"] == summary["videos"] and stages["fetch"]["unit"] == "videos"
    assert stages["write"]["out"] == summary["samples"]
    assert all(c["seconds"] >= 0 and c["out"] <= c["in"] for c in stages.values())


def test_a_shard_stage_in_the_recipe_runs_after_write(sample, tmp_path):
    """`precompress` listed after `write`: the build ends with the HiCo cache of its shards, counted."""
    recipe = write_recipe(tmp_path / "recipe.yaml", fetch={"timeout": 5, "retries": 1}, shards={"max_samples": 4},
                          after_write=[{"name": "precompress", "encoder": "umt-tiny", "t_min": 8, "t_max": 16,
                                        "clips_per_batch": 4}])
    corpus = tmp_path / "corpus"
    with offline():
        summary = build(BuildConfig(sources=["webvid"], manifests=sample.manifests, corpus=corpus,
                                    media_root=sample.media, recipe=recipe, runner="local", workers=WORKERS,
                                    allow_private_hosts=True))
    clips = {k for k, in query(corpus, "SELECT key FROM clips")[1]}
    features = query(corpus, "SELECT key, tokens, frames FROM features")[1]
    assert clips and {k for k, *_ in features} == clips
    assert all(tokens == 16 * frames for _, tokens, frames in features)
    assert summary["stages"]["precompress"]["out"] == len(clips)


SOURCE_FILE = '''
"""A toy dataset: one line per video, `id<TAB>seconds<TAB>caption`."""
from longvid.records import Span, Video

NAME = "toyset"


def files(manifest_dir):
    return [manifest_dir / "videos.tsv"]


def read(manifest_dir):
    for line in (manifest_dir / "videos.tsv").read_text().splitlines():
        vid, seconds, text = line.split("\\t")
        yield Video(source=NAME, native_id=vid, media_path=f"{vid}.mp4", duration=float(seconds))
        yield Span(source=NAME, native_id=vid, start=0.0, end=float(seconds), text=text, kind="caption", origin="videos.tsv")
'''


def test_a_source_in_one_file_and_one_registry_line_is_built(sample, tmp_path, monkeypatch):
    """A sixth source: its module, and its line in registry.SOURCES; the build takes it whole."""
    from longvid import registry

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "toyset.py").write_text(textwrap.dedent(SOURCE_FILE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setitem(registry.SOURCES, "toyset", "toyset")  # the one line
    videos = sorted((sample.media / "webvid").rglob("*.mp4"))[:2]
    (tmp_path / "manifests" / "toyset").mkdir(parents=True)
    (tmp_path / "media" / "toyset").mkdir(parents=True)
    lines = []
    for i, video in enumerate(videos):
        (tmp_path / "media" / "toyset" / f"v{i}.mp4").symlink_to(video)
        lines.append(f"v{i}\t5\ta toy caption {i}")
    (tmp_path / "manifests" / "toyset" / "videos.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    summary = build(BuildConfig(sources=["toyset"], manifests=tmp_path / "manifests", corpus=corpus,
                                media_root=tmp_path / "media", recipe=write_recipe(tmp_path / "recipe.yaml"),
                                runner="local", workers=WORKERS))
    assert videos and summary["samples"] == len(videos)
    assert sorted(r[0] for r in query(corpus, "SELECT video_uid FROM clips")[1]) == [f"toyset/v{i}" for i in range(len(videos))]
