"""Resume: `longvid build` killed with SIGKILL at several points, then rerun, ends exactly like an
uninterrupted build (same samples, no duplicates, byte-identical shards); a finished build rerun
repeats no work; --force rebuilds the same bytes.

Each kill point is found by polling the corpus folder while the CLI runs in a child process:
0.5 s after start, the first staged result.json, the first file in shards/, the first finished
shard (.stats.json), and the catalog's clips table being written. A kill point that the child
outran (it finished first) is retried on a fresh corpus.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from tests.pipeline.conftest import (
    build_errors,
    check_finished_shards_whole,
    check_shards_finished,
    clip_keys,
    clips,
    cli_args,
    read_webdataset,
    run_build,
    shard_digests,
    shard_mtimes,
    start_build,
)

# slow (Ray, child processes) but part of the default run: `-m "not slow"` leaves them out
pytestmark = pytest.mark.slow

Condition = Callable[[Path, float], bool]


def _any(folder: Path, pattern: str) -> bool:
    try:
        return any(folder.glob(pattern))
    except OSError:
        return False


KILL_POINTS: dict[str, Condition] = {
    "after_0.5s": lambda corpus, elapsed: elapsed >= 0.5,
    "first_result_json": lambda corpus, elapsed: _any(corpus / "staging", "*/[!.]*/result.json"),
    "first_shard_file": lambda corpus, elapsed: _any(corpus / "shards", "longvid-*"),
    "first_finished_shard": lambda corpus, elapsed: _any(corpus / "shards", "longvid-*.stats.json"),
    "catalog_writing": lambda corpus, elapsed: _any(corpus / "catalog" / "clips", "*build.parquet*"),
}


def kill_when(args: list[str], corpus: Path, condition: Condition, log: Path, timeout: float = 120) -> bool:
    """Run the build child and SIGKILL it as soon as `condition` holds; True if it was killed
    before finishing (False: it completed first)."""
    proc = start_build(args, log)
    started = time.monotonic()
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            assert elapsed < timeout, "build child never reached the kill point"
            if condition(corpus, elapsed):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc not in (0, -signal.SIGKILL):
        raise AssertionError(f"build child exited {rc}:\n{log.with_suffix('.err').read_text(errors='replace')[-3000:]}")
    return rc == -signal.SIGKILL


def leftovers(corpus: Path) -> list[str]:
    """Temporary files anywhere in the corpus, and staged video folders without a result."""
    found = [str(p.relative_to(corpus)) for p in corpus.rglob("*")
             if p.is_file() and (".tmp" in p.name or p.name.endswith(".part"))]
    found += [str(d.relative_to(corpus)) for d in corpus.glob("staging/*/*") if not (d / "result.json").is_file()]
    return sorted(found)


def finished_shard_mtimes(corpus: Path) -> dict[str, int]:
    """Modification times of the files of every shard that has its stats file."""
    if not (corpus / "shards").is_dir():
        return {}
    done = {p.name.removesuffix(".stats.json") for p in (corpus / "shards").glob("*.stats.json")}
    return {n: m for n, m in shard_mtimes(corpus).items() if n.split(".", 1)[0] in done}


def assert_same_as_reference(corpus: Path, reference: Path) -> None:
    keys = clip_keys(corpus)
    assert len(keys) == len(set(keys)), [k for k, n in Counter(keys).items() if n > 1]
    assert keys == clip_keys(reference)
    read = [s["__key__"] for s in read_webdataset(corpus)]
    assert len(read) == len(set(read)) and sorted(read) == keys
    check_shards_finished(corpus)
    assert shard_digests(corpus) == shard_digests(reference)
    assert clips(corpus) == clips(reference)
    strip = lambda rows: [(e["video_uid"], e["stage"], e["cause"]) for e in rows]  # noqa: E731
    assert strip(build_errors(corpus)) == strip(build_errors(reference))
    assert leftovers(corpus) == []


def settle(folder: Path, quiet: float = 1.0, limit: float = 15.0) -> None:
    """Wait until nothing under `folder` changes for `quiet` seconds (orphaned Ray tasks of a
    killed driver are stopped by Ray, not at once)."""
    def snapshot():
        try:
            return sorted((str(p), p.stat().st_size) for p in folder.rglob("*") if p.is_file())
        except OSError:
            return None
    deadline, last, since = time.monotonic() + limit, snapshot(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = snapshot()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_rerun_equals_an_uninterrupted_build(point, sample, recipe, reference, tmp_path):
    for attempt in range(3):
        corpus = tmp_path / f"corpus{attempt}"
        args = cli_args(sample, corpus, recipe)
        if kill_when(args, corpus, KILL_POINTS[point], tmp_path / f"killed{attempt}"):
            break
    else:
        pytest.fail(f"the build finished before reaching kill point {point} three times")
    check_finished_shards_whole(corpus)  # nothing half-written looks finished
    staged = len(list(corpus.glob("staging/*/[!.]*/result.json")))
    finished = finished_shard_mtimes(corpus)
    summary = run_build(args, tmp_path / "rerun")
    assert summary["videos"] == reference.summary["videos"]
    assert summary["samples"] == reference.summary["samples"]
    assert summary["resumed"] == staged  # every video staged before the kill is reused, no other
    if point in ("first_finished_shard", "catalog_writing"):
        assert finished
    after = shard_mtimes(corpus)
    assert {n: after[n] for n in finished} == finished  # finished shards are not written again
    assert_same_as_reference(corpus, reference.corpus)


def test_rerun_of_a_finished_build_repeats_nothing_and_force_rebuilds_the_same(sample, recipe, reference, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(reference.corpus, corpus)  # copy2: modification times kept
    before = shard_mtimes(corpus)
    summary = run_build(cli_args(sample, corpus, recipe), tmp_path / "again")
    assert summary["resumed"] == summary["videos"] == reference.summary["videos"]
    assert summary["samples"] == reference.summary["samples"]
    assert shard_mtimes(corpus) == before
    assert_same_as_reference(corpus, reference.corpus)

    summary = run_build(cli_args(sample, corpus, recipe, force=True), tmp_path / "force")
    assert summary["resumed"] == 0 and summary["videos"] == reference.summary["videos"]
    assert all(m != before[name] for name, m in shard_mtimes(corpus).items() if name.endswith(".tar"))
    assert_same_as_reference(corpus, reference.corpus)


def test_sigkill_on_ray_then_rerun(sample, recipe, reference, ray_address, tmp_path):
    """The same on Ray: the driver (connected to the session's Ray) killed once videos are done."""
    corpus = tmp_path / "corpus"
    args = cli_args(sample, corpus, recipe, runner="ray", address=ray_address)
    killed = kill_when(args, corpus, KILL_POINTS["first_result_json"], tmp_path / "killed")
    assert killed, "the Ray build finished before its first result.json was seen"
    settle(corpus)
    check_finished_shards_whole(corpus)
    staged = len(list(corpus.glob("staging/*/[!.]*/result.json")))
    summary = run_build(args, tmp_path / "rerun")
    assert summary["samples"] == reference.summary["samples"]
    assert 1 <= summary["resumed"] == staged < summary["videos"]
    assert_same_as_reference(corpus, reference.corpus)


def test_ten_random_sigkills_on_ray_each_followed_at_once_by_a_rerun(sample, recipe, reference, tmp_path):
    """Ten SIGKILLs of the driver at seeded random moments of builds on their own private Ray, each
    followed at once by the next run (the killed run's workers may still be finishing), then a
    run to the end: clips, errors and shards byte-identical to an undisturbed build's."""
    corpus = tmp_path / "corpus"
    args = cli_args(sample, corpus, recipe, runner="ray")
    started = time.monotonic()
    run_build(cli_args(sample, tmp_path / "undisturbed", recipe, runner="ray"), tmp_path / "undisturbed")
    span = time.monotonic() - started
    rng = random.Random(20261130)
    for i in range(10):
        proc = start_build(args, tmp_path / f"killed{i}")
        time.sleep(rng.uniform(0.2, span))
        proc.kill()
        proc.wait()
    summary = run_build(args, tmp_path / "final")
    assert summary["samples"] == reference.summary["samples"]
    assert_same_as_reference(corpus, reference.corpus)
    assert_same_as_reference(tmp_path / "undisturbed", reference.corpus)


def test_missing_or_short_staged_member_redoes_the_video(sample, recipe, reference, tmp_path):
    """A staged mp4 removed or cut short between runs: that video is redone, nothing else is."""
    def staged_mp4s(corpus: Path) -> list[Path]:
        return sorted(corpus.glob("staging/*/[!.]*/*.mp4"))

    for attempt in range(5):
        corpus = tmp_path / f"corpus{attempt}"
        args = cli_args(sample, corpus, recipe)
        killed = kill_when(args, corpus, lambda c, _: len(staged_mp4s(c)) >= 2 and _any(c / "staging", "*/[!.]*/result.json"),
                           tmp_path / f"killed{attempt}")
        mp4s = staged_mp4s(corpus)
        if killed and len({m.parent for m in mp4s}) >= 2:
            break
    else:
        pytest.fail("never caught two videos staged but not yet in a shard")
    first, second = mp4s[0], next(m for m in mp4s if m.parent != mp4s[0].parent)
    first.unlink()
    data = second.read_bytes()  # a new, shorter file: the staged one may be a hard link to the sample's media
    second.unlink()
    second.write_bytes(data[: len(data) // 2])
    staged = len(list(corpus.glob("staging/*/[!.]*/result.json")))
    summary = run_build(args, tmp_path / "rerun")
    assert summary["resumed"] == staged - 2  # the two damaged videos were redone
    assert_same_as_reference(corpus, reference.corpus)
