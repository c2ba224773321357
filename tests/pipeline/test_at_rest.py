"""One copy at rest, one build per corpus, and the disk figure in build.json."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from longvid.pipeline.build import BuildConfig, build
from longvid.pipeline.disk import disk_bytes
from tests.pipeline.conftest import SOURCES, WORKERS, child_env, cli_args, clip_keys, offline, start_build

pytestmark = pytest.mark.slow


def test_a_finished_build_keeps_one_copy(reference):
    corpus = reference.corpus
    assert not list(corpus.glob("staging/**/*.mp4"))  # every staged sample was handed over to its shard
    held = list(corpus.glob("staging/*/*/*.mp4.held"))
    assert len(held) == len(clip_keys(corpus))
    assert not [p for p in (corpus / "media").rglob("*") if p.is_file()]  # fetched media removed once sharded
    disk = json.loads((corpus / "build.json").read_text())["build"]["summary"]["disk"]
    shards = disk_bytes(corpus / "shards")
    assert disk["shard_bytes"] == shards and disk["peak_bytes"] >= shards
    assert disk["peak_over_shards"] == round(disk["peak_bytes"] / shards, 4) < 2


def test_keep_media_keeps_the_fetched_videos(sample, recipe, reference, tmp_path):
    corpus = tmp_path / "corpus"
    with offline():
        build(BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus, media_root=sample.media,
                          recipe=recipe, runner="local", workers=WORKERS, allow_private_hosts=True, keep_media=True))
    fetched = [p for p in (corpus / "media").rglob("*") if p.is_file()]
    assert len(fetched) == len(sample.http_urls())
    assert clip_keys(corpus) == clip_keys(reference.corpus)


def test_a_second_build_of_the_same_corpus_exits_at_once_naming_the_first(sample, recipe, tmp_path):
    corpus = tmp_path / "corpus"
    first = start_build(cli_args(sample, corpus, recipe), tmp_path / "first")
    try:
        deadline = time.monotonic() + 60
        while "pid" not in ((corpus / ".lock").read_text() if (corpus / ".lock").exists() else ""):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        second = subprocess.run(cli_args(sample, corpus, recipe), env=child_env(), capture_output=True, text=True,
                                timeout=60)
        assert time.monotonic() - started < 10
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip().splitlines()[-1]
        assert line.startswith("error: ") and f"pid {first.pid}" in line and "being built" in line
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0
