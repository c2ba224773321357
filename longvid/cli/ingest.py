"""`longvid ingest`: manifests -> catalog tables."""

from __future__ import annotations

from pathlib import Path

import typer

from longvid.cli.common import clear_errors, log


def ingest(
    sources: str = typer.Option(..., "--sources", help="comma-separated source names, or 'all'"),
    manifests: Path = typer.Option(..., "--manifests", help="folder holding <source>/ manifest folders"),
    out: Path = typer.Option(..., "--out", help="corpus folder (created if needed)"),
) -> None:
    """Read the manifests of SOURCES into CORPUS/catalog (videos, spans, errors) and build.json."""
    from longvid.catalog.ingest import ingest as run_ingest
    from longvid.registry import parse_source_list

    with clear_errors():
        run_ingest(parse_source_list(sources), manifests, out, log=log)
