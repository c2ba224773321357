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

from longvid.catalog.schema import table_names
from longvid.catalog.tables import CATALOG, table_dir

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class ReadOnlyError(PermissionError):
    """A statement that could change something was refused."""


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def connect(corpus: Path) -> duckdb.DuckDBPyConnection:
    """A locked-down DuckDB connection with a view per catalog table."""
    corpus = Path(corpus).resolve()
    if not (corpus / CATALOG).is_dir():
        raise FileNotFoundError(f"no catalog at {corpus / CATALOG}: run `longvid ingest` first")
    con = duckdb.connect(":memory:")
    for table in table_names():
        files = sorted(table_dir(corpus, table).glob("*.parquet"))
        if files:
            source = f"read_parquet({_quote(table_dir(corpus, table) / '*.parquet')}, union_by_name = true)"
        else:  # an empty view with the right columns, so queries over absent tables still run
            source = _empty_select(table)
        con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM {source}')
    con.execute(f"SET allowed_directories = [{_quote(corpus)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _empty_select(table: str) -> str:
    from longvid.catalog.schema import table_schema

    columns = ", ".join(f'CAST(NULL AS {_duck_type(f.type)}) AS "{f.name}"' for f in table_schema(table))
    return f"(SELECT {columns} WHERE false)"


def _duck_type(arrow_type: Any) -> str:
    import pyarrow as pa

    simple = {pa.string(): "VARCHAR", pa.float64(): "DOUBLE", pa.float32(): "FLOAT", pa.int64(): "BIGINT",
              pa.int32(): "INTEGER", pa.bool_(): "BOOLEAN", pa.binary(): "BLOB"}
    if arrow_type in simple:
        return simple[arrow_type]
    if pa.types.is_list(arrow_type):
        return _duck_type(arrow_type.value_type) + "[]"
    if pa.types.is_struct(arrow_type):
        inner = ", ".join(f'"{f.name}" {_duck_type(f.type)}' for f in arrow_type)
        return f"STRUCT({inner})"
    raise ValueError(f"no DuckDB type for {arrow_type}")


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
