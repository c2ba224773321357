"""Read-only SQL over the catalog on an embedded DuckDB.

`connect(corpus)` opens an in-memory DuckDB with one view per catalog table found under
CORPUS/catalog/<table>/*.parquet. Writes are refused two ways: only SELECT and EXPLAIN
statements are accepted, and file access is limited to the catalog folder with the
configuration locked, so nothing can switch it back.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import duckdb

from longvid.catalog.schema import duck_columns, table_names
from longvid.errors import UserError
from longvid.layout import CATALOG, table_dir

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class ReadOnlyError(PermissionError):
    """A statement that could change something was refused."""


class QueryError(UserError):
    """DuckDB refused or failed the query; the message is DuckDB's, on one line."""


def one_line(error: BaseException) -> str:
    """DuckDB's message without its multi-line source excerpt (`LINE 1: ...` and the caret)."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line for line in lines if line and not line.startswith("LINE ") and set(line) != {"^"}]
    return "; ".join(kept) or type(error).__name__


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(corpus: Path) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB connection with a view per catalog table."""
    corpus = Path(corpus).resolve()
    if not (corpus / CATALOG).is_dir():
        raise FileNotFoundError(f"no catalog at {corpus / CATALOG}: run `longvid ingest` first")
    con = duckdb.connect(":memory:")
    for table in table_names():
        folder = table_dir(corpus, table)
        if any(folder.glob("*.parquet")):
            source = f"read_parquet({_quote(folder / '*.parquet')}, union_by_name = true)"
        else:  # an empty view with the right columns, so queries over absent tables still run
            source = _empty_select(table)
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM {source}')
    con.execute(f"SET allowed_directories = [{_quote(corpus)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _empty_select(table: str) -> str:
    columns = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in duck_columns(table))
    return f"(SELECT {columns} WHERE false)"


def check_read_only(query: str) -> None:
    """Raise ReadOnlyError unless every statement in `query` only reads."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as e:
        raise ValueError(f"cannot parse SQL: {e}") from None
    if not statements:
        raise ValueError("empty SQL")
    for statement in statements:
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in ALLOWED_STATEMENTS:
            raise ReadOnlyError(f"refused: the catalog is read-only and this is a {kind} statement "
                                f"(only {', '.join(sorted(ALLOWED_STATEMENTS))} are allowed)")


def query(corpus: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run a read-only query; returns (column names, rows)."""
    check_read_only(sql)
    con = connect(corpus)
    try:
        result = con.execute(sql)
        columns = [d[0] for d in result.description or []]
        return columns, result.fetchall()
    except duckdb.Error as e:
        raise QueryError(one_line(e)) from None
    finally:
        con.close()


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: str = "table") -> str:
    """Rows as an aligned text table, CSV or JSON lines."""
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "json":
        return "".join(json.dumps(dict(zip(columns, row)), default=str, ensure_ascii=False) + "\n" for row in rows)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}: use table, csv or json")
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if _numeric(row[i]) else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
              for r, row in zip(cells, rows)]
    return "\n".join(lines) + "\n"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return f"{value:.1f}"  # 16.0, not 16: a float stays visibly a float
        return f"{value:.6g}" if abs(value) < 1e15 else str(value)
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
