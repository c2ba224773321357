"""`longvid precompress` on a two-raylet Ray cluster on this machine (`ray start --head` plus
`ray start --address`, 2 CPUs each, in an isolated RAY_TMPDIR): a request no node can host exits at
once with one line naming what was asked and the largest node; a feasible one finishes, with its
encoder actors and its decode tasks spread over both nodes, and writes the same cache as a run in
this process.

(With 1-CPU raylets, two 1-CPU encoder actors would leave no CPU for decode tasks: the fit check
says so in one line too, tested below with 2-CPU actors.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from longvid.pipeline.build import BuildConfig, build
from tests.pipeline.conftest import SampleInfo, free_port, offline, write_recipe
from tests.pipeline.test_ray_address import ray_env, ray_processes, ray_root  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture
def two_nodes(ray_root: Path) -> Iterator[str]:  # noqa: F811
    """A head and a second raylet, 2 CPUs each, under `ray_root`; yields the head's address."""
    port = free_port()
    env = ray_env(ray_root)
    procs = [subprocess.Popen([RAY, "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
                               "--include-dashboard=false"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not (ray_root / "ray" / "ray_current_cluster").is_file():
            assert procs[0].poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        procs.append(subprocess.Popen([RAY, "start", "--block", f"--address={address}", "--num-cpus=2"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        probe = ("import ray, time; ray.init(address='%s', log_to_driver=False); t = time.time()\n"
                 "while sum(n['Alive'] for n in ray.nodes()) < 2 and time.time() - t < 120: time.sleep(0.5)\n"
                 "print(sum(n['Alive'] for n in ray.nodes()))" % address)
        alive = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180)
        assert alive.stdout.strip().endswith("2"), alive.stderr[-2000:]
        yield address
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        time.sleep(1)
        for cmd in ray_processes(str(ray_root)):
            pytest.fail(f"the test cluster left a process behind: {cmd[:200]}")


@pytest.fixture(scope="module")
def small_corpus(sample: SampleInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample's WebVid videos in shards of two samples (so both actors get shards)."""
    root = tmp_path_factory.mktemp("cluster")
    corpus, recipe = root / "corpus", write_recipe(root / "recipe.yaml", fetch={"timeout": 5, "retries": 1},
                                                   shards={"max_samples": 2})
    with offline():
        build(BuildConfig(sources=["webvid"], manifests=sample.manifests, corpus=corpus, media_root=sample.media,
                          recipe=recipe, runner="local", workers=2, allow_private_hosts=True))
    return corpus


def precompress_cli(corpus: Path, ray_root: Path, *extra: str, timeout: float = 400) -> subprocess.CompletedProcess:  # noqa: F811
    args = [sys.executable, "-m", "longvid.cli.main", "precompress", str(corpus), "--encoder", "umt-tiny",
            "--t-min", "4", "--t-max", "8", *extra]
    return subprocess.run(args, env=ray_env(ray_root), capture_output=True, text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr.strip().splitlines()[-1]


def test_infeasible_exits_at_once_and_feasible_spreads_over_both_nodes(two_nodes: str, small_corpus: Path,
                                                                       ray_root: Path, tmp_path: Path) -> None:  # noqa: F811
    started = time.monotonic()
    too_big = precompress_cli(small_corpus, ray_root, "--cpu-actors", "2", "--actor-cpus", "3", "--address", two_nodes)
    assert time.monotonic() - started < 60
    assert one_line_error(too_big) == ("error: no node of the Ray cluster can host a precompress encoder actor: each "
                                       "asks 3 CPUs, 0 GPUs; the largest node has 2 CPUs, 0 GPUs (2 node(s))")
    no_room = precompress_cli(small_corpus, ray_root, "--cpu-actors", "2", "--actor-cpus", "2", "--decode-cpus", "2",
                              "--address", two_nodes)
    assert one_line_error(no_room).startswith("error: --decode-cpus 2: only 0 CPU(s) are left for decode tasks once "
                                              "the 2 encoder worker(s) are placed")
    gpus = precompress_cli(small_corpus, ray_root, "--gpus", "1", "--address", two_nodes)
    assert "each asks 1 CPU, 1 GPU; the largest node has 2 CPUs, 0 GPUs" in one_line_error(gpus)
    assert not (small_corpus / "features").exists()

    done = precompress_cli(small_corpus, ray_root, "--cpu-actors", "2", "--address", two_nodes)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["samples"] > 0 and summary["failed"] == 0
    assert summary["decode"]["cpus"] == 2 and not summary["decode"]["in_workers"]
    assert len(summary["decode"]["nodes"]) == 2, summary["decode"]  # decode tasks ran on both raylets
    assert sum(summary["decode"]["nodes"].values()) == summary["samples"]
    assert "[precompress] shards " in done.stderr and "frames/s decoded | encoders waited" in done.stderr
