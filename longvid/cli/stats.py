"""`longvid stats`: the usual questions about a corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from longvid.cli.common import clear_errors


def stats(corpus: Path = typer.Argument(..., help="corpus folder")) -> None:
    """Per source: videos, spans, hours, samples, bytes; failures by cause."""
    from longvid.catalog.stats import render_stats

    with clear_errors():
        typer.echo(render_stats(corpus), nl=False)
