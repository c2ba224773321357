"""A build over a site that fails 20% of requests in each way (404, 429 with Retry-After, 500,
stalls, dropped connections, truncated bodies, bytes that are not video, pages without a video):
every sample that could be fetched lands, every other video is in `errors` with its class, none
is lost or duplicated; with the faults off, `longvid retry` completes the corpus, without
rewriting a finished shard, to exactly the samples an undisturbed build makes.

The site (tests/support/crawl_site.py) serves WebVid rows pointing at files and at pages that
embed them (yt-dlp's generic extractor), and MiraData rows whose pages give the duration in
JSON-LD, so only the two clip spans of each 12-s video are downloaded (span-only).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from longvid.catalog.sql import query
from longvid.cli.main import app
from longvid.pipeline.build import BuildConfig, build
from tests.pipeline.conftest import build_errors, check_shards_finished, clip_keys, offline, read_webdataset, write_recipe
from tests.support.crawl_site import EXPECTED_CLASSES, KINDS, SPANS, FaultySite, make_site

SOURCES = ["webvid", "miradata"]


def name_of(uid: str) -> str:
    """The site's file name of a video: webvid/1003 -> w1003, webvid/2001 -> p2001, miradata/pexels-3000 -> m3000."""
    source, native = uid.split("/", 1)
    if source == "miradata":
        return "m" + native.removeprefix("pexels-")
    return ("w" if native.startswith("1") else "p") + native


def landed(corpus) -> set[str]:
    return {r[0] for r in query(corpus, "SELECT DISTINCT video_uid FROM clips")[1]}


def members(corpus) -> dict[str, str]:
    """key -> sha256 of its mp4, read from the shards with webdataset (duplicates would collide)."""
    samples = read_webdataset(corpus)
    out = {s["__key__"]: hashlib.sha256(s["mp4"]).hexdigest() for s in samples}
    assert len(out) == len(samples)
    return out


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    root = tmp_path_factory.mktemp("crawl")
    recipe = write_recipe(root / "recipe.yaml", fetch={"timeout": 1, "retries": 1, "backoff": 0.01},
                          shards={"max_samples": 4})
    with FaultySite(root / "site", stall_s=5) as site:
        uids = make_site(root / "site", site.base_url, direct=10, pages=6, spans=4)

        def run(corpus, **more):
            with offline():
                return build(BuildConfig(sources=SOURCES, manifests=root / "site" / "manifests", corpus=corpus,
                                         recipe=recipe, runner="local", workers=2, allow_private_hosts=True, **more))

        summary = run(root / "faulty", proxy=32)  # with proxy shards (tiny), which a retry must make for its shards
        faulty_log = list(site.log)
        site.faults = False
        run(root / "clean")
        yield {"site": site, "uids": uids, "faulty": root / "faulty", "clean": root / "clean", "summary": summary,
               "log": faulty_log}


def test_every_fetchable_sample_lands_and_every_failure_has_its_class(crawl):
    corpus, site, log = crawl["faulty"], crawl["site"], crawl["log"]
    everything = {uid for group in crawl["uids"].values() for uid in group}
    served = [kind for _, _, kind in log]
    assert set(KINDS) <= set(served) and served.count("ok") == len(served) - len(served) // 5  # 20% of requests
    errors = build_errors(corpus)
    failed = {e["video_uid"] for e in errors}
    got = landed(corpus)
    assert got | failed == everything and not got & failed  # none lost: each video landed or failed
    faults = {uid: [k for _, p, k in log if k != "ok" and f"/{name_of(uid)}." in p] for uid in everything}
    for uid in failed:
        assert faults[uid], f"{uid} failed without a fault"
        classes = {e["class"] for e in errors if e["video_uid"] == uid}
        assert classes <= EXPECTED_CLASSES[faults[uid][-1]], (uid, faults[uid], classes)
    assert all(uid in got for uid in everything if not faults[uid])
    keys = clip_keys(corpus)
    assert len(keys) == len(set(keys)) and sorted(members(corpus)) == keys  # none duplicated
    assert sum(crawl["summary"]["failures"].values()) == len(errors)
    check_shards_finished(corpus)
    # coverage (build.json and longvid stats): listed, fetched, with samples, failed videos by class
    cover = json.loads((corpus / "build.json").read_text())["coverage"]
    total = cover["total"]
    assert total["videos"] == total["tried"] == len(everything) and total["with_samples"] == len(got)
    by_class = {c: len({e["video_uid"] for e in errors if e["class"] == c}) for c in cover["classes"]}
    assert sum(total[c] for c in cover["classes"]) == len(failed)
    assert all(total[c] <= by_class[c] for c in cover["classes"])
    assert total["recoverable"] == total["transient"] + total["blocked"]
    assert cover["sources"]["miradata"]["videos"] == len(crawl["uids"]["span"])
    out = CliRunner().invoke(app, ["stats", str(corpus)])
    assert out.exit_code == 0 and "== coverage per source" in out.output and "recoverable" in out.output


def test_span_only_downloads_keep_the_spans(crawl):
    corpus = crawl["clean"]
    rows = query(corpus, "SELECT video_uid, requested_start, requested_end, start, duration FROM clips "
                         "WHERE source = 'miradata' ORDER BY video_uid, requested_start")[1]
    assert len(rows) == 2 * len(crawl["uids"]["span"])
    for _, req_start, req_end, start, duration in rows:
        assert (req_start, req_end) in SPANS and abs(start - req_start) < 1e-6
        assert abs(duration - (req_end - req_start)) <= 3 / 25  # a keyframe at each span's start: 3 frames at most
    sizes = query(corpus, "SELECT bytes FROM probes WHERE source = 'miradata'")[1]
    full = (crawl["site"].root / "bases" / "l12.mp4").stat().st_size
    assert all(b < full * 0.9 for (b,) in sizes)  # only the range came over the network


def test_retry_completes_the_corpus_without_rewriting_shards(crawl):
    corpus, clean = crawl["faulty"], crawl["clean"]
    errors = build_errors(corpus)
    if not errors:
        pytest.skip("no video failed")  # cannot happen with this site: each kind is served
    shard_dir = corpus / "shards"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shard_dir.iterdir()
              if p.is_file() and p.name != "wids.json"}
    first = {e["video_uid"] for e in errors if e["class"] in ("transient", "blocked")}
    rest = {e["video_uid"] for e in errors} - first

    runner = CliRunner()
    out = runner.invoke(app, ["retry", str(corpus), "--class", "transient,blocked", "--runner", "local",
                              "--workers", "2"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout[out.stdout.index("{"):])
    assert summary["retried"] == len(first) and summary["recovered"] == len(first)
    assert {e["video_uid"] for e in build_errors(corpus)} == rest  # only those were re-queued
    assert landed(corpus) >= first
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in shard_dir.iterdir()
             if p.is_file() and p.name != "wids.json"}
    assert {k: after[k] for k in before} == before  # finished shards untouched, new ones appended
    assert all(name > max(before) for name in set(after) - set(before))

    out = runner.invoke(app, ["retry", str(corpus), "--class", "all", "--runner", "local", "--workers", "2"])
    assert out.exit_code == 0, out.output
    assert not build_errors(corpus)
    assert members(corpus) == members(clean)  # exactly the undisturbed build's samples, byte for byte
    assert clip_keys(corpus) == clip_keys(clean)
    check_shards_finished(corpus)
    wids = json.loads((shard_dir / "wids.json").read_text())
    assert len(wids["shardlist"]) == len(list(shard_dir.glob("*.tar")))
    cover = json.loads((corpus / "build.json").read_text())["coverage"]["total"]
    assert cover["with_samples"] == cover["videos"] and cover["recoverable"] == 0
    assert len(json.loads((corpus / "build.json").read_text())["retries"]["runs"]) == 2

    proxies = sorted(p.name for p in (corpus / "proxies" / "32").glob("*.tar"))
    assert proxies == sorted(p.name for p in shard_dir.glob("*.tar"))  # the appended shards got theirs too

    again = runner.invoke(app, ["retry", str(corpus), "--runner", "local"])  # nothing left: nothing changes
    assert again.exit_code == 0 and json.loads(again.stdout[again.stdout.index("{"):])["retried"] == 0


def test_retry_needs_a_finished_build(tmp_path):
    out = CliRunner().invoke(app, ["retry", str(tmp_path / "nothing"), "--runner", "local"])
    assert out.exit_code == 2 and out.output.startswith("error: ") and "longvid build" in out.output
    out = CliRunner().invoke(app, ["retry", str(tmp_path), "--class", "flaky"])
    assert out.exit_code == 2 and "unknown error class" in out.output
