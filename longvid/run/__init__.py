"""Runners: how per-video and per-shard work is spread. Both share one interface,
`Runner.map(fn, items, resources) -> iterator of (item, result)` (results as they finish).

  local   in this process (threads), for unit tests and tiny builds
  ray     Ray tasks on a local Ray or a cluster (`--address` / RAY_ADDRESS); the only module
          that imports `ray`
"""

from __future__ import annotations

from typing import Any


def make_runner(kind: str, *, address: str | None = None, workers: int | None = None) -> Any:
    """The runner named `kind` ("ray" or "local")."""
    if kind == "ray":
        from longvid.run.ray import RayRunner

        return RayRunner(address=address, workers=workers)
    if kind == "local":
        from longvid.run.local import LocalRunner

        return LocalRunner(workers=workers)
    raise ValueError(f"unknown runner {kind!r}: use ray or local")
