"""The media cache's budget: media of videos already in shards are evicted, oldest first; media
of videos in flight never are."""

from __future__ import annotations

import json
import os
from pathlib import Path

from longvid.pipeline.build import BuildConfig, build
from longvid.pipeline.media_budget import cache_files, make_room
from tests.pipeline.conftest import SOURCES, WORKERS, clip_keys, offline


def _video(corpus: Path, stem: str, size: int, age: int, *, sharded: bool | None) -> Path:
    """A cached media file and, unless `sharded` is None (in flight), its committed staged result."""
    media = corpus / "media" / "webvid" / f"{stem}.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"x" * size)
    os.utime(media, (1_000_000 + age, 1_000_000 + age))
    if sharded is not None:
        folder = corpus / "staging" / "webvid" / stem
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(json.dumps({"samples": [{"key": "k", "bytes": 1}]}))
        (folder / ("k.mp4.held" if sharded else "k.mp4")).write_text("{}")
    return media


def test_make_room_evicts_sharded_media_oldest_first(tmp_path):
    old = _video(tmp_path, "a" * 20, 100, 1, sharded=True)
    newer = _video(tmp_path, "b" * 20, 100, 2, sharded=True)
    staged = _video(tmp_path, "c" * 20, 100, 0, sharded=False)  # its sample is not in a shard yet
    flying = _video(tmp_path, "d" * 20, 100, 0, sharded=None)  # no committed result: in flight
    assert make_room(tmp_path, 300) == 100  # 400 bytes cached: the oldest sharded one goes
    assert not old.exists() and newer.exists() and staged.exists() and flying.exists()
    assert make_room(tmp_path, 0, keep=newer) == 0 and newer.exists()
    assert make_room(tmp_path, 0) == 100 and not newer.exists()
    assert sorted(p.name for _, _, p in cache_files(tmp_path)) == [staged.name, flying.name]


def test_a_build_with_kept_media_stays_near_its_budget(sample, recipe, tmp_path):
    def run(corpus, budget):
        with offline():
            build(BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus, media_root=sample.media,
                              recipe=recipe, runner="local", workers=WORKERS, allow_private_hosts=True, keep_media=True,
                              media_budget=budget))
        return [p for p in (corpus / "media").rglob("*") if p.is_file()]

    unbounded = run(tmp_path / "kept", None)
    bounded = run(tmp_path / "budget", 1)
    assert len(unbounded) == len(sample.http_urls()) > 2
    assert bounded == []  # evicted as the build went, and the rest once every video was in its shards
    assert clip_keys(tmp_path / "budget") == clip_keys(tmp_path / "kept")
