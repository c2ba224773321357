"""Faults over a loopback HTTP server: every good sample lands and every failure is exactly one
row in `errors` with its cause and stage.

A WebVid `results_2M_val.csv` in the real format (videoid,contentUrl,duration,page_dir,name)
whose contentUrls point at tests/support/fault_server.py: good files, a 500 that recovers on the
retry, 404, 500, a stall, a truncated body, an empty body and a non-video file; and an HD-VILA
jsonl whose video (a local file) has one clip span inside it and one after its end. The recipe
is the default one with fetch timeout 1 s, one retry and a 0.01 s backoff.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter

import pytest

from longvid.pipeline.build import BuildConfig, build
from longvid.catalog.sql import query
from tests.pipeline.conftest import (
    WORKERS,
    build_errors,
    check_shards_finished,
    clip_keys,
    offline,
    read_webdataset,
    write_recipe,
)
from tests.support import make_media
from tests.support.fault_server import fault_server

# videoid -> (path on the fault server, expected (stage, cause) or None for a good video)
WEBVID = {
    "1000000001": ("files/av.mp4", None),
    "1000000002": ("files/noaudio.mp4", None),
    "1000000003": ("flaky500/1/files/av.mp4", None),  # 500 once, then the file on the retry
    "1000000004": ("404/files/av.mp4", ("fetch", "not_found")),
    "1000000005": ("500/files/av.mp4", ("fetch", "server_error")),
    "1000000006": ("stall/files/av.mp4", ("fetch", "timeout")),
    "1000000007": ("truncate/files/av.mp4", ("fetch", "truncated")),
    "1000000008": ("empty/files/av.mp4", ("fetch", "empty_file")),
    "1000000009": ("files/corrupt.mp4", ("probe", "not_video")),
}
HDVILA_ID = "outsideSpan"  # 11 characters, like a YouTube id
HDVILA_SPANS = [("00:00:00.500", "00:00:02.500"), ("00:00:10.000", "00:00:12.000")]  # the video lasts 4 s


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    """(corpus, server, summary) of one build over the fault manifests."""
    root = tmp_path_factory.mktemp("faults")
    files = make_media(root / "served" / "files")
    manifests, media = root / "manifests", root / "media"
    recipe = write_recipe(root / "recipe.yaml", fetch={"timeout": 1, "retries": 1, "backoff": 0.01})
    with fault_server(root / "served", stall_s=5) as server:
        (manifests / "webvid").mkdir(parents=True)
        with open(manifests / "webvid" / "results_2M_val.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["videoid", "contentUrl", "duration", "page_dir", "name"])
            for videoid, (path, _) in WEBVID.items():
                writer.writerow([videoid, server.url(path), "PT00H00M04S", "", f"Stock footage {videoid}"])
        (manifests / "hdvila").mkdir(parents=True)
        line = {"video_id": HDVILA_ID, "url": f"https://www.youtube.com/watch?v={HDVILA_ID}",
                "clip": [{"clip_id": f"{HDVILA_ID}.{i}.mp4", "span": list(span)} for i, span in enumerate(HDVILA_SPANS)]}
        (manifests / "hdvila" / "hdvila_part0.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
        local = media / "hdvila" / "download_videos" / f"{HDVILA_ID}.mp4"
        local.parent.mkdir(parents=True)
        local.write_bytes(files["av.mp4"].read_bytes())
        assert files["corrupt.mp4"].read_bytes()[:4] == random.Random(0).randbytes(4)  # random bytes, not a video
        with offline():
            summary = build(BuildConfig(sources=["webvid", "hdvila"], manifests=manifests, corpus=root / "corpus",
                                        media_root=media, recipe=recipe, runner="local", workers=WORKERS,
                                        allow_private_hosts=True))
        yield root / "corpus", server, summary


def test_every_failure_is_one_error_row_with_its_cause_and_stage(faulty):
    corpus, server, summary = faulty
    ingest = query(corpus, "SELECT count(*) FROM errors WHERE stage = 'ingest'")[1][0][0]
    assert ingest == 0
    errors = build_errors(corpus)
    got = {e["video_uid"]: (e["stage"], e["cause"]) for e in errors}
    assert len(got) == len(errors)  # one row per failing video
    want = {f"webvid/{vid}": expected for vid, (_, expected) in WEBVID.items() if expected}
    want[f"hdvila/{HDVILA_ID}"] = ("segment", "span_outside_video")
    assert got == want
    for e in errors:
        assert e["source"] == e["video_uid"].split("/")[0] and e["dropped"] and e["detail"]
        if e["stage"] == "fetch":  # the row says which URL failed
            path = WEBVID[e["video_uid"].split("/", 1)[1]][0]
            assert server.url(path) in e["locator"] + e["detail"]
    outside = next(e for e in errors if e["cause"] == "span_outside_video")
    assert "10.000" in outside["locator"] + outside["detail"]
    assert summary["failures"] == {f"{stage}:{cause}": n for (stage, cause), n in Counter(want.values()).items()}


def test_every_good_sample_lands(faulty):
    corpus, _, summary = faulty
    good = {f"webvid/{vid}" for vid, (_, expected) in WEBVID.items() if expected is None} | {f"hdvila/{HDVILA_ID}"}
    rows = query(corpus, "SELECT video_uid, requested_start, requested_end FROM clips ORDER BY key")[1]
    assert {r[0] for r in rows} == good
    assert len(rows) == len(good)  # one sample per good webvid video, one for the span inside the HD-VILA video
    assert [r[1:] for r in rows if r[0].startswith("hdvila/")] == [(0.5, 2.5)]
    keys = clip_keys(corpus)
    assert summary["samples"] == len(keys)
    assert sorted(s["__key__"] for s in read_webdataset(corpus)) == keys
    check_shards_finished(corpus)


def test_retries_follow_the_recipe(faulty):
    _, server, _ = faulty
    assert server.hits("flaky500/1/files/av.mp4") == 2  # failed once, fetched on the retry
    assert server.hits("404/files/av.mp4") == 1  # a 404 is final: not retried
    for path in ("500/files/av.mp4", "stall/files/av.mp4", "truncate/files/av.mp4"):
        assert server.hits(path) == 2, path  # transient: one retry (retries: 1), then the error
