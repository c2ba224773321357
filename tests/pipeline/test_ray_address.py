"""Which Ray a command runs on: its own private local Ray by default, whatever `ray start` cluster
runs on the machine or left its address file behind; `--address auto` joins that cluster; an
address that does not answer is one line, at once.

The `ray start` cluster of these tests lives under its own RAY_TMPDIR (Ray's root for
/tmp/ray/ray_current_cluster and its session folders, read by `ray start` and `ray.init` alike),
so the tests reproduce the machine-wide state without touching the machine's /tmp/ray, and
stop only the processes they started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.pipeline.conftest import child_env, cli_args, free_port

pytestmark = pytest.mark.slow


def ray_env(root: Path) -> dict[str, str]:
    return {**child_env(), "RAY_TMPDIR": str(root)}


def ray_processes(marker: str) -> list[str]:
    """Command lines of living processes that mention `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmd:
                found.append(cmd)
    return found


@pytest.fixture
def ray_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # short: Ray's socket paths live under it and must stay under 107 bytes
    root = Path(f"/tmp/lvt{os.getpid()}-{time.monotonic_ns() % 10**6}")
    root.mkdir()
    yield root
    subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.fixture
def head(ray_root: Path) -> Iterator[str]:
    """A `ray start --head --block` cluster (1 CPU) under `ray_root`; yields its address."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             f"--port={port}", "--num-cpus=1", "--include-dashboard=false"],
                            env=ray_env(ray_root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    address_file = ray_root / "ray" / "ray_current_cluster"
    deadline = time.monotonic() + 90
    while not address_file.is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "ray start did not come up"
        time.sleep(0.2)
    try:
        yield address_file.read_text().strip()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        time.sleep(1)
        for cmd in ray_processes(str(ray_root)):  # anything of that cluster still alive is a leak
            pytest.fail(f"ray start left a process behind: {cmd[:200]}")


def build_cli(sample, recipe, corpus: Path, ray_root: Path, *extra: str, timeout: float = 240) -> subprocess.CompletedProcess:
    args = cli_args(sample, corpus, recipe, runner="ray")
    args[args.index("--sources") + 1] = "webvid"
    return subprocess.run(args + list(extra), env=ray_env(ray_root), capture_output=True, text=True, timeout=timeout)


def test_default_build_runs_beside_a_live_ray_start_cluster_and_auto_joins_it(sample, recipe, head, ray_root, tmp_path):
    mine = build_cli(sample, recipe, tmp_path / "own", ray_root)
    assert mine.returncode == 0, mine.stderr[-2000:]
    assert "on a private local Ray (2 CPUs)" in mine.stderr  # --workers 2: not the cluster's 1 CPU

    joined = build_cli(sample, recipe, tmp_path / "joined", ray_root, "--address", "auto")
    assert joined.returncode == 0, joined.stderr[-2000:]
    assert f"on the Ray at {head} (1 CPUs, 1 node(s))" in joined.stderr
    assert (tmp_path / "joined" / "shards" / "wids.json").read_bytes() == (tmp_path / "own" / "shards" / "wids.json").read_bytes()


def test_stale_cluster_file_is_ignored_by_default_and_auto_fails_in_one_line(sample, recipe, ray_root, tmp_path):
    stale = ray_root / "ray" / "ray_current_cluster"
    stale.parent.mkdir(parents=True)
    port = free_port()
    stale.write_text(f"127.0.0.1:{port}")  # what a killed `ray start` leaves: nothing listens there

    mine = build_cli(sample, recipe, tmp_path / "own", ray_root)
    assert mine.returncode == 0, mine.stderr[-2000:]
    assert "on a private local Ray" in mine.stderr

    started = time.monotonic()
    joined = build_cli(sample, recipe, tmp_path / "joined", ray_root, "--address", "auto")
    assert time.monotonic() - started < 60
    assert joined.returncode == 2
    lines = joined.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot reach the Ray cluster at ") and f":{port} (--address auto" in lines[-1], lines
    assert not (tmp_path / "joined").exists()  # refused before any work
    assert "Traceback" not in joined.stderr


def test_unreachable_address_is_one_line_for_precompress_too(reference, ray_root):
    port = free_port()
    args = [sys.executable, "-m", "longvid.cli.main", "precompress", str(reference.corpus), "--cpu-actors", "1",
            "--encoder", "umt-tiny", "--address", f"127.0.0.1:{port}"]
    started = time.monotonic()
    result = subprocess.run(args, env=ray_env(ray_root), capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot reach the Ray cluster at ") and f"127.0.0.1:{port}" in last, last
    assert not (reference.corpus / "features").exists()


def running(pid: int, started: int) -> str:
    """The command line of `pid` if it is still the process that started at `started` and not a
    zombie, else ""."""
    from longvid.run.watchdog import _stat

    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, IndexError):
        return ""
    st = _stat(pid)
    return cmd[:200] if st is not None and st[2] == started and state != "Z" else ""


def test_sigkilled_driver_takes_its_private_ray_with_it(sample, recipe, tmp_path):
    from longvid.run.watchdog import descendants

    args = cli_args(sample, tmp_path / "corpus", recipe, runner="ray")
    proc = subprocess.Popen(args, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    seen: dict[int, tuple[int, int]] = {}
    def tasks_running() -> bool:  # Ray's workers are up and the flow has results
        workers = [pid for pid in seen if running(pid, seen[pid][1]).startswith("ray::")]
        return bool(workers) and any((tmp_path / "corpus" / "staging").glob("*/*/result.json"))

    while not tasks_running():
        assert proc.poll() is None and time.monotonic() < deadline, "the build never got going"
        seen.update(descendants(proc.pid))
        time.sleep(0.05)
    seen.update(descendants(proc.pid))
    temp_dirs = list(Path("/tmp").glob(f"lvray{proc.pid}-*"))
    assert len(temp_dirs) == 1 and any("raylet" in cmd for cmd in ray_processes(str(temp_dirs[0])))
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    alive = seen
    while alive and time.monotonic() < deadline:
        time.sleep(0.25)
        alive = {pid: cmd for pid, (_, started) in seen.items() if (cmd := running(pid, started))}
    assert not alive, alive
    assert not temp_dirs[0].exists()
