"""`longvid demo`: the main job on a self-made sample."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def demo(
    out: Path = typer.Argument(Path("demo"), help="folder for the sample and the corpus (replaced)"),
    full: bool = typer.Option(False, "--full", help="the full sample instead of the small one"),
    runner: str = typer.Option("ray", "--runner", help="ray or local"),
    workers: Optional[int] = typer.Option(None, "--workers"),
) -> None:
    """Make a sample of all five sources, build it on a local Ray, print stats and SQL answers."""
    from longvid.demo import run_demo

    with clear_errors():
        run_demo(out, small=not full, runner=runner, workers=workers, log=log, show=typer.echo)
