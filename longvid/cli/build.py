"""`longvid build`: the product's main job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def build(
    sources: str = typer.Option(..., "--sources", help="comma-separated source names, or 'all'"),
    manifests: Path = typer.Option(..., "--manifests", help="folder holding <source>/ manifest folders"),
    out: Path = typer.Option(..., "--out", help="corpus folder"),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="already-downloaded media as DIR/<source>/..."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="pipeline recipe YAML (default: pipelines/longvid.yaml)"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS", help="Ray cluster address; default: a local Ray"),
    runner: str = typer.Option("ray", "--runner", help="ray, or local (threads in this process, for small runs)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="CPUs for the local Ray / threads for the local runner"),
    force: bool = typer.Option(False, "--force", help="throw away staged work and shards and rebuild"),
) -> None:
    """Ingest, fetch, probe, segment, align captions and write WebDataset shards; resumable."""
    from longvid.build.build import BuildConfig
    from longvid.build.build import build as run_build
    from longvid.registry import parse_source_list

    with clear_errors():
        summary = run_build(BuildConfig(
            sources=parse_source_list(sources), manifests=manifests, corpus=out, media_root=media_root,
            recipe=recipe, address=address, runner=runner, workers=workers, force=force, log=log))
    typer.echo(json.dumps(summary, indent=1))
