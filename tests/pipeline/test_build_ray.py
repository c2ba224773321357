"""End to end on a real local Ray (the default runner): the small sample, its URL-only videos
served over loopback HTTP, samples from all five sources, and `longvid stats` reporting them.

The Ray is the session's (tests/pipeline/conftest.py: started once); the build finds it running
and uses it, as it would a cluster given with --address.
"""

from __future__ import annotations

from collections import Counter

import pytest
from typer.testing import CliRunner

from longvid.pipeline.build import BuildConfig, build
from longvid.catalog.sql import query
from longvid.catalog.stats import stats
from longvid.cli.main import app
from tests.pipeline.conftest import (
    SOURCES,
    WORKERS,
    build_errors,
    check_shards_finished,
    clip_keys,
    offline,
    read_webdataset,
    write_recipe,
)

# slow (Ray, child processes) but part of the default run: `-m "not slow"` leaves them out
pytestmark = pytest.mark.slow


def test_build_on_local_ray_end_to_end(sample, ray_address, reference, tmp_path):
    # the default recipe (one shard for the small sample), with a short fetch timeout only
    recipe = write_recipe(tmp_path / "recipe.yaml", fetch={"timeout": 5, "retries": 1, "backoff": 0.01})
    corpus = tmp_path / "corpus"
    config = BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus, media_root=sample.media,
                         recipe=recipe, workers=WORKERS, allow_private_hosts=True)
    assert config.runner == "ray"
    with offline():
        summary = build(config)

    keys = clip_keys(corpus)
    assert summary["samples"] == len(keys) and summary["resumed"] == 0
    assert keys == clip_keys(reference.corpus)  # the same samples as the local runner's build
    assert sorted(s["__key__"] for s in read_webdataset(corpus)) == keys
    check_shards_finished(corpus)
    per_source = Counter(r[0] for r in query(corpus, "SELECT source FROM clips")[1])
    assert set(per_source) == set(SOURCES)
    urls = {r[0] for r in query(corpus, "SELECT v.url FROM clips c JOIN videos v USING (video_uid)")[1]}
    assert {u for u in urls if u and u.startswith(sample.base_url)}  # HTTP-fetched samples landed
    assert len({u for u in urls if u and u.startswith(sample.base_url)}) == len(sample.http_urls())
    errors = build_errors(corpus)
    assert sorted(e["video_uid"] for e in errors) == sorted(sample.missing())
    assert set(summary["stage_videos_per_second"]) == {"fetch", "probe", "segment", "align"}

    # `longvid stats`: samples, hours and bytes per source; failures by cause
    reports = {title: (columns, rows) for title, columns, rows in stats(corpus)}
    columns, rows = reports["samples per source"]
    assert columns == ["source", "kind", "samples", "hours", "mbytes"]
    got = Counter()
    for source, _kind, n, hours, mbytes in rows:
        got[source] += n
        assert hours > 0 and mbytes > 0
    assert got == per_source
    columns, rows = reports["errors by source, stage and cause"]
    failures = Counter()
    for source, stage, cause, n, _dropped in rows:
        if stage != "ingest":
            failures[f"{stage}:{cause}"] += n
    assert failures == Counter(summary["failures"]) and sum(failures.values()) == len(sample.missing())

    result = CliRunner().invoke(app, ["stats", str(corpus)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "== samples per source" in text and "== errors by source, stage and cause" in text
    samples_section = text.split("== samples per source", 1)[1].split("==", 1)[0]
    for source in SOURCES:
        assert source in samples_section
    assert "no_media" in text
