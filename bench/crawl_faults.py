"""Benchmark: a build over a site that fails 20% of requests, then `longvid retry` with the faults off.

The site (tests/support/crawl_site.py, loopback) serves WebVid rows pointing at video files and at
pages embedding them, and MiraData rows whose pages give the duration (span-only downloads);
every 5th request gets the next of: 404, 429 (Retry-After 1 s), 500, a stall, a dropped
connection, a truncated body, bytes that are not video, a page without a video. Prints the faults
served, the videos landed and failed by class, whether each failure matches the fault that ended
it and nothing is lost or duplicated; then retries (--class transient,blocked, then all) with the
faults off and compares the samples (keys and mp4 bytes) with an undisturbed build's.

    .venv/bin/python bench/crawl_faults.py [--direct 120] [--pages 50] [--spans 30] [--runner ray|local]
                                           [--work /tmp/longvid-bench-crawl]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from longvid.catalog.sql import query  # noqa: E402
from tests.support.crawl_site import EXPECTED_CLASSES, FaultySite, make_site  # noqa: E402

RECIPE = """name: longvid
shards: {prefix: longvid, max_bytes: 1073741824, max_samples: 50}
stages:
  - {name: fetch, timeout: 2, retries: 1, backoff: 0.05}
  - name: probe
  - name: segment
    cut: copy
    modes:
      miradata: {mode: spans, span_kind: clip}
      webvid: {mode: whole}
  - name: align
  - name: write
"""


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "ray_address")}
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return out


def longvid(*args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "longvid.cli.main", *args], env=env(), capture_output=True, text=True,
                          cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"longvid {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, json.loads(done.stdout[done.stdout.index("{"):])


def members(corpus: Path) -> dict[str, str]:
    import webdataset as wds

    out = {}
    for tar in sorted((corpus / "shards").glob("*.tar")):
        for sample in wds.WebDataset(str(tar), shardshuffle=False):
            assert sample["__key__"] not in out, f"duplicate {sample['__key__']}"
            out[sample["__key__"]] = hashlib.sha256(sample["mp4"]).hexdigest()
    return out


def name_of(uid: str) -> str:
    source, native = uid.split("/", 1)
    if source == "miradata":
        return "m" + native.removeprefix("pexels-")
    return ("w" if native.startswith("1") else "p") + native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--direct", type=int, default=120)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--spans", type=int, default=30)
    parser.add_argument("--runner", default="ray")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-crawl"))
    opts = parser.parse_args()
    shutil.rmtree(opts.work, ignore_errors=True)
    recipe = opts.work / "recipe.yaml"
    recipe.parent.mkdir(parents=True)
    recipe.write_text(RECIPE)
    with FaultySite(opts.work / "site", stall_s=10) as site:
        uids = make_site(opts.work / "site", site.base_url, direct=opts.direct, pages=opts.pages, spans=opts.spans)
        everything = {u for group in uids.values() for u in group}

        def build(corpus: Path) -> tuple[float, dict]:
            return longvid("build", "--sources", "webvid,miradata", "--manifests", str(opts.work / "site" / "manifests"),
                           "--out", str(corpus), "--recipe", str(recipe), "--runner", opts.runner, "--workers",
                           str(opts.workers), "--allow-private-hosts")

        seconds, summary = build(opts.work / "faulty")
        log = list(site.log)
        kinds = Counter(k for _, _, k in log)
        print(f"faulty build: {len(everything)} videos, {seconds:.1f} s, {len(log)} requests, "
              f"{len(log) - kinds['ok']} faulted ({(len(log) - kinds['ok']) / len(log):.1%}): "
              + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k != "ok"))
        corpus = opts.work / "faulty"
        rows = query(corpus, "SELECT video_uid, \"class\", cause FROM errors WHERE stage <> 'ingest'")[1]
        failed: dict[str, set[str]] = {}
        for uid, klass, _ in rows:
            failed.setdefault(uid, set()).add(klass)
        landed = {r[0] for r in query(corpus, "SELECT DISTINCT video_uid FROM clips")[1]}
        by_class = Counter(next(iter(c)) for c in failed.values())
        print(f"  landed {len(landed)} videos ({summary['samples']} samples); failed {len(failed)}: "
              + ", ".join(f"{k} {n}" for k, n in sorted(by_class.items())))
        print("  failures by cause: " + ", ".join(f"{k} {n}" for k, n in sorted(Counter(r[2] for r in rows).items())))
        faults = {u: [k for _, p, k in log if k != "ok" and f"/{name_of(u)}." in p] for u in everything}
        mismatched = [u for u, c in failed.items() if not faults[u] or not c <= EXPECTED_CLASSES[faults[u][-1]]]
        unexplained = [u for u in everything - landed - set(failed)]
        lost_clean = [u for u in everything if not faults[u] and u not in landed]
        keys = members(corpus)
        print(f"  each failure's class matches the fault that ended it: {not mismatched} {mismatched[:5]}; "
              f"videos neither landed nor failed: {len(unexplained)}; unfaulted videos not landed: {len(lost_clean)}; "
              f"samples in shards {len(keys)} = clips {summary['samples']}: {len(keys) == summary['samples']}")

        site.faults = False
        seconds, clean = build(opts.work / "clean")
        print(f"undisturbed build: {seconds:.1f} s, {clean['samples']} samples")
        before = {p.name: p.stat().st_mtime_ns for p in (corpus / "shards").glob("*.tar")}
        for classes in ("transient,blocked", "all"):
            seconds, done = longvid("retry", str(corpus), "--class", classes, "--runner", opts.runner,
                                    "--workers", str(opts.workers))
            print(f"retry --class {classes}: {seconds:.1f} s, {done['retried']} videos re-queued, {done['recovered']} "
                  f"recovered, new shards {done['new_shards']}")
        untouched = all((corpus / "shards" / n).stat().st_mtime_ns == t for n, t in before.items())
        same = members(corpus) == members(opts.work / "clean")
        cover = json.loads((corpus / "build.json").read_text())["coverage"]["total"]
        print(f"after the retries: finished shards untouched {untouched}; samples identical to the undisturbed "
              f"build's (keys and mp4 bytes): {same}; coverage {cover['with_samples']}/{cover['videos']} videos")


if __name__ == "__main__":
    main()
