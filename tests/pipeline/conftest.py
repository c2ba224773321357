"""Fixtures shared by the build tests: one self-made sample with its HTTP rows served, one
reference build of it (local runner), one Ray for the whole session, and helpers to run the
`longvid build` CLI in a child process and to read a corpus back.

Everything is session-scoped and made once: the sample (~5 s), the reference build (~2 s) and
the Ray (~5-10 s to start) are shared by every test module in tests/pipeline/.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from longvid.pipeline.build import BuildConfig, build
from longvid.catalog.sql import query
from longvid.sample.make import make_sample
from longvid.sample.server import serve

SOURCES = ["ego4d", "howto100m", "hdvila", "miradata", "webvid"]
REPO = Path(__file__).resolve().parents[2]
WORKERS = 2
SMALL_SHARDS = 5  # samples per shard in the test recipe: the small sample gives several shards


# Builds under test reach loopback only: every other URL goes to a dead proxy and fails at once
# ("cannot connect", http_error), so a sample row with a real CDN URL fails the same way on a
# machine with network as on one without (urllib honours these variables; Ray workers inherit them).
OFFLINE_ENV = {name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
OFFLINE_ENV.update({"no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"})


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """OFFLINE_ENV set in this process for the duration (for in-process builds and ray.init).

    urlopen's default opener reads the proxy variables once, when first built: it is dropped on
    the way in and out, so it is built from the environment of the moment each time."""
    saved = {name: os.environ.get(name) for name in OFFLINE_ENV}
    os.environ.update(OFFLINE_ENV)
    urllib.request.install_opener(None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        urllib.request.install_opener(None)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_recipe(path: Path, *, fetch: dict[str, Any] | None = None, shards: dict[str, Any] | None = None,
                 before_write: list[dict[str, Any]] | None = None) -> Path:
    """A copy of the default recipe (pipelines/longvid.yaml) with fetch and shard settings changed,
    and the recipe lines `before_write` added before the write stage."""
    data = yaml.safe_load(resources.files("longvid.pipelines").joinpath("longvid.yaml").read_text(encoding="utf-8"))
    data["name"] = "longvid"  # same recipe name as the default: it goes into every sample's .json
    data["shards"].update(shards or {})
    for stage in data["stages"]:
        if isinstance(stage, dict) and stage.get("name") == "fetch":
            stage.update(fetch or {})
    data["stages"][-1:-1] = before_write or []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class SampleInfo:
    """The self-made sample: its folder, sample.json, and the loopback URL serving its http/."""

    root: Path
    doc: dict[str, Any]
    base_url: str

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def media(self) -> Path:
        return self.root / "media"

    def missing(self) -> set[str]:
        """video_uids the sample has no media for (their fetch fails)."""
        return {f"{name}/{vid}" for name, src in self.doc["sources"].items() for vid in src["missing_media"]}

    def http_urls(self) -> set[str]:
        return {v["url"] for v in self.doc["videos"] if v["served"] == "http"}


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SampleInfo]:
    """The small sample, its URL-only videos served on the port written into its manifests."""
    root = tmp_path_factory.mktemp("sample")
    port = free_port()
    doc = make_sample(root, small=True, port=port)
    with serve(root / "http", port=port) as base_url:
        yield SampleInfo(root, doc, base_url)


@pytest.fixture(scope="session")
def recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default recipe with small shards and a short fetch timeout: a video whose URL is a real
    host (unreachable here, reachable on a machine with network) fails in seconds, not minutes."""
    return write_recipe(tmp_path_factory.mktemp("recipe") / "test.yaml",
                        fetch={"timeout": 5, "retries": 1, "backoff": 0.01}, shards={"max_samples": SMALL_SHARDS})


@dataclass(frozen=True)
class Built:
    corpus: Path
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def reference(sample: SampleInfo, recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """An uninterrupted build of the whole sample (local runner): what every other build must equal."""
    corpus = tmp_path_factory.mktemp("reference") / "corpus"
    with offline():
        summary = build(BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus,
                                    media_root=sample.media, recipe=recipe, runner="local", workers=WORKERS,
                                    allow_private_hosts=True))
    return Built(corpus, summary)


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """One local Ray (2 CPUs) for the whole session; yields its address for child drivers.
    A build in this process finds Ray initialised and uses it without shutting it down."""
    ray = pytest.importorskip("ray")
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), saved]))  # workers import tests.*
    with offline():  # Ray's processes keep this environment; this process gets its own back
        ray.init(address="local", num_cpus=WORKERS, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        os.environ.pop("PYTHONPATH") if saved is None else os.environ.update(PYTHONPATH=saved)


# ---- the CLI in a child process ---------------------------------------------------------------

def cli_args(sample: SampleInfo, corpus: Path, recipe: Path, *, runner: str = "local", address: str | None = None,
             force: bool = False) -> list[str]:
    args = [sys.executable, "-m", "longvid.cli.main", "build", "--sources", "all",
            "--manifests", str(sample.manifests), "--media-root", str(sample.media), "--out", str(corpus),
            "--recipe", str(recipe), "--runner", runner, "--workers", str(WORKERS), "--allow-private-hosts"]
    if address:
        args += ["--address", address]
    if force:
        args.append("--force")
    return args


def child_env() -> dict[str, str]:
    env = {**os.environ, **OFFLINE_ENV}
    env.pop("RAY_ADDRESS", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def start_build(args: list[str], log: Path) -> subprocess.Popen:
    """Start a build CLI child; stdout (the summary JSON) and stderr go to `log`(.out/.err)."""
    return subprocess.Popen(args, stdout=open(log.with_suffix(".out"), "wb"), stderr=open(log.with_suffix(".err"), "wb"),
                            env=child_env(), cwd=REPO)


def run_build(args: list[str], log: Path, timeout: float = 180) -> dict[str, Any]:
    """Run a build CLI child to completion; returns its summary (stdout JSON)."""
    proc = start_build(args, log)
    rc = proc.wait(timeout=timeout)
    err = log.with_suffix(".err").read_text(errors="replace")
    assert rc == 0, f"build exited {rc}:\n{err[-3000:]}"
    return json.loads(log.with_suffix(".out").read_text())


# ---- reading a corpus back ----------------------------------------------------------------------

def clip_keys(corpus: Path) -> list[str]:
    """The clips table's keys, as stored (not deduplicated), sorted."""
    return sorted(r[0] for r in query(corpus, "SELECT key FROM clips")[1])


def clips(corpus: Path) -> list[dict[str, Any]]:
    columns, rows = query(corpus, "SELECT * FROM clips ORDER BY key")
    return [dict(zip(columns, row)) for row in rows]


def build_errors(corpus: Path) -> list[dict[str, Any]]:
    columns, rows = query(corpus, "SELECT * FROM errors WHERE stage <> 'ingest' ORDER BY video_uid, stage, cause")
    return [dict(zip(columns, row)) for row in rows]


def shard_tars(corpus: Path) -> list[Path]:
    return sorted((Path(corpus) / "shards").glob("*.tar"))


def read_webdataset(corpus: Path) -> list[dict[str, Any]]:
    """Every sample of every shard, read with the `webdataset` library in shard order."""
    import webdataset as wds

    urls = [str(p) for p in shard_tars(corpus)]
    return list(wds.WebDataset(urls, shardshuffle=False)) if urls else []


def shard_digests(corpus: Path) -> dict[str, str]:
    """sha256 of every file in CORPUS/shards (tars, indexes, stats, wids.json)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((Path(corpus) / "shards").iterdir()) if p.is_file()}


def shard_mtimes(corpus: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted((Path(corpus) / "shards").iterdir())
            if p.is_file() and p.name != "wids.json"}


def decoded_duration(mp4: bytes) -> tuple[float, float]:
    """(decoded duration, frame duration) of an mp4's first video stream, decoding every frame:
    last frame time - first frame time + one frame."""
    import av

    with av.open(io.BytesIO(mp4)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        times = [frame.time for frame in container.decode(stream)]
    assert times, "no frame decoded"
    frame = 1.0 / float(rate)
    return max(times) - min(times) + frame, frame


def check_finished_shards_whole(corpus: Path) -> None:
    """No half-written shard looks finished: every stats file has its tar and index, the tar of
    the size and sha256 the stats record. (A killed build may leave unfinished files beside them.)"""
    shard_dir = Path(corpus) / "shards"
    for stats_path in sorted(shard_dir.glob("*.stats.json")):
        name = stats_path.name.removesuffix(".stats.json")
        tar, index = shard_dir / f"{name}.tar", shard_dir / f"{name}.parquet"
        assert tar.is_file() and index.is_file(), f"{name}: stats without its tar or index"
        stats = json.loads(stats_path.read_text())
        assert tar.stat().st_size == stats["bytes"], f"{name}: tar size differs from its stats"
        assert hashlib.sha256(tar.read_bytes()).hexdigest() == stats["sha256"], f"{name}: tar differs from its stats"


def check_shards_finished(corpus: Path) -> None:
    """After a completed build: every tar is a finished shard (stats, index, matching size and
    hash) and nothing temporary is left in the shard folder."""
    shard_dir = Path(corpus) / "shards"
    names = sorted(p.name for p in shard_dir.iterdir())
    assert not [n for n in names if ".tmp" in n or n.endswith(".part")], names
    check_finished_shards_whole(corpus)
    for tar in shard_tars(corpus):
        assert tar.with_name(tar.name.removesuffix(".tar") + ".stats.json").is_file(), f"{tar.name} has no stats"
