"""The `longvid` console script.

`longvid sql` answers in about DuckDB's own start-up time: its three arguments are read here with
argparse and only DuckDB is imported, since typer (which imports pydantic) takes longer to import
than a small query takes to run. `longvid sql --help` and every other command go through the
typer app (longvid.cli.main), whose `sql` command declares the same arguments for its help.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["sql"] and not {"-h", "--help"} & set(args):
        raise SystemExit(sql(args[1:]))
    from longvid.cli.main import app

    app(args=args, prog_name="longvid")


def sql(args: list[str]) -> int:
    """`longvid sql CORPUS QUERY [--format table|csv|json]`: rows on stdout, one error line on stderr."""
    import argparse

    from longvid.errors import USER_ERRORS, user_message

    parser = argparse.ArgumentParser(prog="longvid sql", add_help=False)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("query")
    parser.add_argument("--format", dest="fmt", default="table")
    known = parser.parse_args(args)
    try:
        from longvid.catalog.sql import query, render

        sys.stdout.write(render(*query(known.corpus, known.query), known.fmt))
    except USER_ERRORS as e:
        print(f"error: {user_message(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m longvid.cli.entry`, as the script runs it
    main()
