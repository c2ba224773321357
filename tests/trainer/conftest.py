"""Fixtures shared by the trainer tests: one small corpus with a tiny-UMT feature cache (made once per
session: the self-made sample, a local build of four sources, `precompress --encoder umt-tiny` on
the CPU at 4-8 frames), a copy of it without video shards, and helpers to run `longvid train` in a
child process with the video decoders made unimportable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.conftest import REPO, offline, write_recipe

DECODERS = ("decord", "av", "torchcodec", "cv2")

# A sitecustomize that makes every video decoder unimportable in the child it is put in front of.
BLOCK_DECODERS = f'''
import sys
class _BlockDecoders:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {DECODERS!r}:
            raise ImportError(f"{{name}} is blocked: training must not decode video")
        return None
sys.meta_path.insert(0, _BlockDecoders())
'''


@pytest.fixture(scope="session")
def feature_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus with video shards and one feature cache (tiny UMT, 4-8 frames per sample)."""
    from longvid.pipeline.build import BuildConfig, build
    from longvid.hico.precompress import PrecompressConfig
    from longvid.hico.run import precompress
    from longvid.sample.make import make_sample

    root = tmp_path_factory.mktemp("trainer-corpus")
    make_sample(root / "sample", small=True, seed=3)
    recipe = write_recipe(root / "recipe.yaml", fetch={"timeout": 5, "retries": 1, "backoff": 0.01},
                          shards={"max_samples": 6})
    with offline():
        build(BuildConfig(sources=["ego4d", "howto100m", "miradata", "webvid", "hdvila"], manifests=root / "sample" / "manifests",
                          corpus=root / "corpus", media_root=root / "sample" / "media", recipe=recipe, runner="local",
                          workers=2, allow_private_hosts=True))
    precompress(PrecompressConfig(corpus=root / "corpus", encoder="umt-tiny", t_min=4, t_max=8, clips_per_batch=8))
    return root / "corpus"


@pytest.fixture(scope="session")
def bare_corpus(feature_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same corpus with only its catalog and feature cache: no video shards, media or staging."""
    bare = tmp_path_factory.mktemp("bare") / "corpus"
    bare.mkdir()
    for part in ("catalog", "features", "build.json"):
        src = feature_corpus / part
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, bare / part)
    assert not list(bare.rglob("*.mp4"))
    return bare


@pytest.fixture(scope="session")
def no_decoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a child process in which decord, av, torchcodec and cv2 cannot be imported."""
    folder = tmp_path_factory.mktemp("no-decoders")
    (folder / "sitecustomize.py").write_text(BLOCK_DECODERS)
    env = {**child_env(), "PYTHONPATH": os.pathsep.join([str(folder), str(REPO)])}
    for name in DECODERS:
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], env=env, capture_output=True, text=True)
        assert probe.returncode != 0 and "blocked" in probe.stderr, f"{name} still importable"
    return env


def child_env() -> dict[str, str]:
    """This environment for a `longvid train` child, without RAY_ADDRESS (a session's Ray must not
    turn every run into a Ray Train run: `--address` reads it)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PYTHONPATH"] = str(REPO)
    return env


def train_args(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "longvid.cli.main", "train", str(corpus), "--llm", "tiny", "--gpus", "0",
            "--out", str(out), *extra]


def run_train(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
    """Run `longvid train` to completion in a child; its summary (stdout JSON)."""
    proc = subprocess.run(args, capture_output=True, text=True, env=env or child_env(),
                          timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"train exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


def read_metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
