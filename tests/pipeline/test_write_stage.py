"""The write stage, killed at every step it takes: a rerun resumes and ends with the bytes of a write
that was never interrupted, with every sample handed over exactly once.

A "kill" here is an exception raised from inside one file operation of the writer (the n-th
write, fsync, rename or unlink), which leaves the files on disk as a SIGKILL at that moment
would: the writer has no clean-up that touches them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from longvid.pipeline import staging
from longvid.pipeline.stages.write import ShardJob, write_job
from longvid.shards.reader import iter_shard


class Killed(BaseException):
    """Raised where the process 'dies'."""


def make_corpus(root: Path, videos: int = 3, per_video: int = 3) -> list[dict]:
    """Staged videos with random-content 'mp4' members; returns the light samples of a shard job."""
    samples = []
    for v in range(videos):
        uid = f"webvid/{v}"
        folder = staging.video_folder(root, uid)
        folder.mkdir(parents=True)
        result = {"video_uid": uid, "source": "webvid", "errors": [], "fetch": {}, "probe": None, "samples": []}
        for i in range(per_video):
            key = f"webvid_{v}_{i}_0_0_{'%012d' % (v * 10 + i)}"
            data = hashlib.sha256(key.encode()).digest() * (200 + 37 * i)
            (folder / f"{key}.mp4").write_bytes(data)
            doc = {"key": key, "duration": 1.0 + i, "video_uid": uid}
            result["samples"].append({"key": key, "json": doc, "bytes": len(data), "source": "webvid", "video_uid": uid})
            samples.append({"key": key, "bytes": len(data), "json_bytes": 0, "folder": str(folder), "source": "webvid",
                            "video_uid": uid})
        staging.write_result(folder, result)
    return samples


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".locks" not in p.parts}


@pytest.fixture
def clean(tmp_path) -> tuple[dict[str, str], list[dict]]:
    root = tmp_path / "clean"
    samples = make_corpus(root)
    write_job(ShardJob(root, "longvid-000000", tuple(samples)))
    return snapshot(root), samples


class Killer:
    """Counts the writer's file operations and raises Killed at the n-th."""

    OPS = ("write", "fsync", "replace", "unlink", "truncate")

    def __init__(self, monkeypatch, at: int):
        self.at, self.seen = at, 0
        real_fsync, real_replace, real_unlink = os.fsync, os.replace, Path.unlink

        def step() -> None:
            self.seen += 1
            if self.seen == self.at:
                raise Killed()

        def fsync(fd):
            step()
            return real_fsync(fd)

        def replace(a, b):
            step()
            return real_replace(a, b)

        def unlink(self_path, missing_ok=False):
            step()
            return real_unlink(self_path, missing_ok=missing_ok)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(Path, "unlink", unlink)


def test_killed_at_every_step_resumes_to_the_same_bytes(tmp_path, monkeypatch, clean):
    want, _ = clean
    steps = 0
    for at in range(1, 200):
        root = tmp_path / f"k{at}"
        samples = make_corpus(root)
        job = ShardJob(root, "longvid-000000", tuple(samples))
        with monkeypatch.context() as m:
            killer = Killer(m, at)
            try:
                write_job(job)
                steps = killer.seen
                break  # `at` is past the last step: every step has been tried
            except Killed:
                pass
        write_job(job)
        assert snapshot(root) == want, f"killed at step {at}"
        tar = root / "shards" / "longvid-000000.tar"
        assert [s["__key__"] for s in iter_shard(tar)] == [s["key"] for s in samples]
    assert steps > 20  # the loop saw the whole write


def test_a_shard_of_another_plan_gives_its_samples_back_first(tmp_path):
    """The same shard name planned with other samples (the manifests changed): the members the old
    shard holds for samples now elsewhere are copied back to staging before it is replaced."""
    root = tmp_path / "c"
    samples = make_corpus(root)
    write_job(ShardJob(root, "longvid-000000", tuple(samples[:6])))
    write_job(ShardJob(root, "longvid-000001", tuple(samples[6:])))
    assert not list(root.glob("staging/*/*/*.mp4"))  # all handed over
    # a new plan: shard 0 now holds samples 3..8, shard 1 samples 0..2
    first = write_job(ShardJob(root, "longvid-000000", tuple(samples[3:])))
    second = write_job(ShardJob(root, "longvid-000001", tuple(samples[:3])))
    assert not first["errors"] and not second["errors"]
    got = {s["__key__"]: s["mp4"] for name in ("longvid-000000", "longvid-000001")
           for s in iter_shard(root / "shards" / f"{name}.tar")}
    for s in samples:
        key = s["key"]
        assert got[key] == hashlib.sha256(key.encode()).digest() * (len(got[key]) // 32)
        held = json.loads((Path(s["folder"]) / f"{key}.mp4.held").read_text())
        assert held["shard"] == ("longvid-000000" if s in samples[3:] else "longvid-000001")
    assert not list(root.glob("staging/*/*/*.mp4"))


def test_a_member_that_is_nowhere_is_an_error_row_and_its_video_is_redone_next_time(tmp_path):
    root = tmp_path / "c"
    samples = make_corpus(root)
    lost = samples[4]
    (Path(lost["folder"]) / f"{lost['key']}.mp4").unlink()
    done = write_job(ShardJob(root, "longvid-000000", tuple(samples)))
    assert [(e["stage"], e["cause"], e["locator"]) for e in done["errors"]] == [("write", "member_lost", lost["key"])]
    assert done["stats"]["samples"] == len(samples) - 1
    assert not (Path(lost["folder"]) / "result.json").exists()  # so the next build redoes the video


def test_a_shard_written_in_parts_equals_one_written_at_once(tmp_path, clean):
    """The build writes the open shard part by part while it fills (each part a new task, maybe in
    another process): the same bytes, every sample handed over as soon as its part is durable."""
    want, _ = clean
    root = tmp_path / "parts"
    samples = make_corpus(root)
    for upto in (2, 5, 5, 8):
        done = write_job(ShardJob(root, "longvid-000000", tuple(samples[:upto]), final=False))
        assert done["stats"] is None and not done["errors"]
        handed = {p.name.removesuffix(".mp4.held") for p in root.glob("staging/*/*/*.mp4.held")}
        assert handed == {s["key"] for s in samples[:upto]}
        assert not (root / "shards" / "longvid-000000.tar").exists()
    done = write_job(ShardJob(root, "longvid-000000", tuple(samples)))
    assert done["stats"]["samples"] == len(samples)
    assert snapshot(root) == want
