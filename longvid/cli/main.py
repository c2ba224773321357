"""longvid: long-video training corpora from public manifests, with cached HiCo features.

Each sub-command lives in its own module of longvid/cli/."""

from __future__ import annotations

import typer

from longvid.cli.build import build
from longvid.cli.demo import demo
from longvid.cli.export import export_app
from longvid.cli.ingest import ingest
from longvid.cli.precompress import precompress
from longvid.cli.retry import retry
from longvid.cli.sample import sample
from longvid.cli.sql import sql
from longvid.cli.stats import stats
from longvid.cli.train import train

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help=__doc__.splitlines()[0] if __doc__ else None)
app.command()(sample)
app.command()(ingest)
app.command()(sql)
app.command()(stats)
app.command()(build)
app.command()(retry)
app.command()(precompress)
app.command()(train)
app.command()(demo)
app.add_typer(export_app, name="export")

if __name__ == "__main__":  # pragma: no cover
    app()
