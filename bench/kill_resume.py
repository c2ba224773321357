"""Benchmark: `longvid build` on Ray SIGKILLed at seeded random moments, each kill followed at once
by the next run, then a run to the end, against an undisturbed build of the same sample.

The sample is the full self-made one (`longvid sample`, all five sources, its URL-only videos served
over loopback HTTP), larger than the tests' small one. Prints each kill's moment, the final run's
summary, and whether clips, errors and every file under shards/ are byte-identical to the
undisturbed build's.

    .venv/bin/python bench/kill_resume.py [--kills 10] [--seed 1] [--work /tmp/longvid-bench-kill] [--small]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from longvid.catalog.sql import query  # noqa: E402
from longvid.sample.make import make_sample  # noqa: E402
from longvid.sample.server import serve  # noqa: E402


def args_for(root: Path, corpus: Path) -> list[str]:
    return [sys.executable, "-m", "longvid.cli.main", "build", "--sources", "all", "--manifests",
            str(root / "manifests"), "--media-root", str(root / "media"), "--out", str(corpus), "--allow-private-hosts"]


def env() -> dict[str, str]:
    out = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    out.pop("RAY_ADDRESS", None)
    return out


def run(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run(args, env=env(), capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"build failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return time.perf_counter() - started, json.loads(done.stdout)


def fingerprint(corpus: Path) -> dict[str, object]:
    shards = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted((corpus / "shards").iterdir()) if p.is_file()}
    clips = query(corpus, "SELECT * FROM clips ORDER BY key")[1]
    errors = query(corpus, "SELECT video_uid, stage, cause FROM errors WHERE stage <> 'ingest' "
                           "ORDER BY video_uid, stage, cause")[1]
    return {"shards": shards, "clips": clips, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-kill"))
    parser.add_argument("--small", action="store_true", help="the tests' small sample instead of the full one")
    opts = parser.parse_args()
    shutil.rmtree(opts.work, ignore_errors=True)
    root = opts.work / "sample"
    with _served(root, opts.small):
        span, summary = run(args_for(root, opts.work / "undisturbed"))
        print(f"undisturbed build: {span:.1f} s, {summary['videos']} videos, {summary['samples']} samples, "
              f"{summary['shards']} shards")
        want = fingerprint(opts.work / "undisturbed")
        rng = random.Random(opts.seed)
        corpus = opts.work / "killed"
        for i in range(opts.kills):
            moment = rng.uniform(0.2, span)
            proc = subprocess.Popen(args_for(root, corpus), env=env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, cwd=REPO)
            time.sleep(moment)
            alive = proc.poll() is None
            if alive:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"run {i + 1}: SIGKILL at {moment:.2f} s" + ("" if alive else " (it had already finished)"))
        last, summary = run(args_for(root, corpus))
        print(f"final run: {last:.1f} s, {summary['resumed']} of {summary['videos']} videos resumed")
        got = fingerprint(corpus)
        for part in ("clips", "errors", "shards"):
            print(f"{part}: {'byte-identical' if got[part] == want[part] else 'DIFFERENT'} "
                  f"({len(want[part])} {'rows' if part != 'shards' else 'files'})")
        if got != want:
            raise SystemExit(1)


class _served:
    """Make the sample (its URL-only videos served on the port its manifests name) and serve it."""

    def __init__(self, root: Path, small: bool):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        started = time.perf_counter()
        make_sample(root, small=small, port=self.port)
        print(f"sample made in {time.perf_counter() - started:.1f} s ({'small' if small else 'full'})")
        self._serve = serve(root / "http", port=self.port)

    def __enter__(self):
        return self._serve.__enter__()

    def __exit__(self, *exc):
        return self._serve.__exit__(*exc)


if __name__ == "__main__":
    main()
