"""Two CPU processes (torchrun, gloo) with the same global batch give the losses of one process:
DDP, and FSDP2 with --fsdp. One process accumulates the 2 micro-batches the two processes split."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.conftest import read_metrics, run_train, train_args

pytestmark = pytest.mark.slow
SAME_BATCH = ["--steps", "6", "--global-batch", "2", "--batch-size", "1"]


@pytest.fixture(scope="module")
def one_process(bare_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> list[float]:
    run = tmp_path_factory.mktemp("one") / "run"
    assert run_train(train_args(bare_corpus, run, *SAME_BATCH))["world"] == 1
    return [m["loss"] for m in read_metrics(run)]


@pytest.mark.parametrize("engine", [[], ["--fsdp"]], ids=["ddp", "fsdp2"])
def test_two_processes_match_one(engine: list[str], one_process: list[float], bare_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = run_train(train_args(bare_corpus, run, *SAME_BATCH, "--cpu-procs", "2", *engine))
    assert summary["world"] == 2
    metrics = read_metrics(run)
    assert [m["samples"] for m in metrics] == [2] * len(one_process)
    assert [m["loss"] for m in metrics] == pytest.approx(one_process, rel=1e-4, abs=1e-5)
    assert len(set(one_process)) > 1  # the model trains: losses move


@pytest.fixture(scope="module")
def ray_address() -> str:
    """A local Ray for this module (or the one this test session already started)."""
    ray = pytest.importorskip("ray")
    from tests.pipeline.conftest import offline

    started_here = not ray.is_initialized()
    if started_here:
        with offline():
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        if started_here:
            ray.shutdown()


def test_ray_train_runs_the_same_loop(ray_address: str, one_process: list[float], bare_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    summary = run_train(train_args(bare_corpus, run, *SAME_BATCH, "--address", ray_address))
    assert summary["world"] == 1 and (run / "ray").is_dir()
    assert [m["loss"] for m in read_metrics(run)] == pytest.approx(one_process, rel=1e-5)
