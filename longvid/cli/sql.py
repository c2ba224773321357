"""`longvid sql`: read-only SQL over the catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from longvid.cli.common import clear_errors


def sql(
    corpus: Path = typer.Argument(..., help="corpus folder"),
    query: str = typer.Argument(..., help="a SELECT statement over videos, spans, errors, clips, shards, features"),
    fmt: str = typer.Option("table", "--format", help="table, csv or json"),
) -> None:
    """Run a read-only SQL query over the catalog (DuckDB); writes are refused."""
    from longvid.catalog.sql import query as run_query
    from longvid.catalog.sql import render

    with clear_errors():
        columns, rows = run_query(corpus, query)
        typer.echo(render(columns, rows, fmt), nl=False)
