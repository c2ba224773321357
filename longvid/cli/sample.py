"""`longvid sample`: make the self-made sample (videos + manifests of all five sources)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from longvid.cli.common import clear_errors, log


def sample(
    out: Path = typer.Argument(..., help="folder to create the sample in"),
    seed: int = typer.Option(0, help="seed: the same seed gives the same sample"),
    small: bool = typer.Option(False, "--small", help="a few videos per source (seconds to make)"),
    port: int = typer.Option(8642, help="loopback port written into the HTTP-served rows' URLs"),
) -> None:
    """Make FFmpeg videos and the five sources' manifests in their real on-disk formats."""
    from longvid.sample.make import make_sample

    with clear_errors():
        info = make_sample(out, seed=seed, small=small, port=port)
    log(f"sample written to {out}")
    typer.echo(json.dumps({k: v for k, v in info.items() if k != "videos"}, indent=1, default=str))
