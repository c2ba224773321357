"""A build of the whole small sample (local runner) read back: the shards hold exactly the
catalog's clips, read with `webdataset` and with `wids`; every .mp4 decodes and lasts what
its .json says; every .json validates against schemas/sample.schema.json."""

from __future__ import annotations

import json
from collections import Counter

import jsonschema
import pytest

from longvid.catalog.schema import json_schema
from longvid.catalog.sql import query
from longvid.shards.reader import read_index, read_sample, wids_shardlist
from tests.pipeline.conftest import (
    SMALL_SHARDS,
    SOURCES,
    build_errors,
    check_shards_finished,
    clip_keys,
    clips,
    decoded_duration,
    read_webdataset,
    shard_tars,
)


@pytest.fixture(scope="module")
def samples(reference):
    """Every sample read from the reference build's shards with webdataset."""
    return read_webdataset(reference.corpus)


def test_summary_and_catalog_agree_with_the_sample(reference, sample):
    corpus, summary = reference.corpus, reference.summary
    videos = {r[0]: r[1] for r in query(corpus, "SELECT video_uid, url FROM videos")[1]}
    assert summary["videos"] == len(videos) == sum(s["videos"] for s in sample.doc["sources"].values())
    assert summary["resumed"] == 0
    keys = clip_keys(corpus)
    assert summary["samples"] == len(keys) > 0
    assert summary["shards"] == len(shard_tars(corpus)) == -(-len(keys) // SMALL_SHARDS)
    # every video with media lands; the ones the sample has no media for fail at fetch, one row each
    landed = {r[0] for r in query(corpus, "SELECT DISTINCT video_uid FROM clips")[1]}
    assert landed == set(videos) - sample.missing()
    errors = build_errors(corpus)
    assert sorted(e["video_uid"] for e in errors) == sorted(sample.missing())
    assert {(e["stage"], e["cause"]) for e in errors} <= {("fetch", "no_media"), ("fetch", "connection_failed"), ("fetch", "not_found")}
    assert sum(summary["failures"].values()) == len(errors)
    # the URL-only videos came over HTTP from the loopback server (the missing one's URL is there too, and 404s)
    http = {uid for uid, url in videos.items() if url and url.startswith(sample.base_url)} - sample.missing()
    assert len(http) == len(sample.http_urls()) and http <= landed
    assert {r[0] for r in query(corpus, "SELECT DISTINCT source FROM clips")[1]} == set(SOURCES)
    check_shards_finished(corpus)


def test_webdataset_reads_exactly_the_clips(reference, samples):
    keys = [s["__key__"] for s in samples]
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert sorted(keys) == clip_keys(reference.corpus)
    docs = [json.loads(s["json"]) for s in samples]
    order = [(d["video_uid"], d["requested_start"], d["requested_end"]) for d in docs]
    assert order == sorted(order)  # shards in name order, samples in video order, a video's in time order
    for s in samples:
        assert set(s) - {"__key__", "__url__", "__local_path__"} == {"mp4", "json"}


def test_clips_rows_point_at_their_bytes(reference, samples):
    """A clips row's shard, offset and size give the sample's mp4 bytes; its fields are the .json's."""
    corpus = reference.corpus
    by_key = {s["__key__"]: s for s in samples}
    rows = clips(corpus)
    for row in rows:
        tar = corpus / "shards" / f"{row['shard']}.tar"
        with open(tar, "rb") as f:
            f.seek(row["offset"])
            assert f.read(row["bytes"]) == by_key[row["key"]]["mp4"]
        doc = json.loads(by_key[row["key"]]["json"])
        for field in ("video_uid", "source", "native_id", "kind", "mode", "start", "end", "duration"):
            assert row[field] == doc[field], (row["key"], field)
        assert row["n_captions"] == len(doc["captions"])
    for tar in shard_tars(corpus):  # and the shard's own index reads the same
        for index_row in read_index(tar.with_suffix(".parquet")):
            got = read_sample(tar, index_row)
            assert got == {"mp4": by_key[index_row["key"]]["mp4"], "json": by_key[index_row["key"]]["json"]}


def test_build_writes_the_wids_index(reference):
    shard_dir = reference.corpus / "shards"
    doc = json.loads((shard_dir / "wids.json").read_text())
    assert doc == wids_shardlist(shard_dir)
    assert [e["url"] for e in doc["shardlist"]] == [p.name for p in shard_tars(reference.corpus)]
    assert sum(e["nsamples"] for e in doc["shardlist"]) == len(clip_keys(reference.corpus))


def test_wids_reads_the_same_samples(reference, samples, tmp_path):
    pytest.importorskip("torch", reason="wids 0.1.11 imports torch at module level; torch is not installed")
    import wids

    ds = wids.ShardListDataset(str(reference.corpus / "shards" / "wids.json"), cache_dir=str(tmp_path / "wids"),
                               transformations=[])
    try:
        got = []
        for i in range(len(ds)):
            s = ds[i]
            got.append({"__key__": s["__key__"], **{k[1:]: v.read() for k, v in s.items() if k.startswith(".")}})
    finally:
        ds.close()
    assert got == [{"__key__": s["__key__"], "mp4": s["mp4"], "json": s["json"]} for s in samples]


def test_every_mp4_decodes_and_lasts_its_json_duration(samples):
    assert samples
    for s in samples:
        doc = json.loads(s["json"])
        duration, frame = decoded_duration(s["mp4"])
        assert abs(duration - doc["duration"]) <= frame + 1e-6, (s["__key__"], duration, doc["duration"])
        assert abs(frame - 1 / doc["video"]["fps"]) < 1e-3


def test_every_json_validates_against_the_sample_schema(samples):
    validator = jsonschema.Draft202012Validator(json_schema("sample"))
    for s in samples:
        doc = json.loads(s["json"])
        validator.validate(doc)
        assert doc["key"] == s["__key__"]
        assert doc["end"] == pytest.approx(doc["start"] + doc["duration"], abs=1e-5)
        for caption in doc["captions"]:
            assert 0 <= caption["start"] <= caption["end"] <= doc["duration"] + 1e-3
