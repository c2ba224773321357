"""Writing catalog tables: Parquet files under CORPUS/catalog/<table>/, validated by schema.

A TableWriter streams rows into one Parquet file in row groups, so memory stays flat, and
writes to a temporary name that is renamed on close: a killed run never leaves a file that
looks complete. Each writer owns one file (`<part>.parquet`); a table is every file in its
folder, so stages add files beside ingest's without rewriting them.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from longvid.atomic import commit, temporary_name
from longvid.catalog.schema import table_schema
from longvid.errors import error_class
from longvid.layout import table_dir
from longvid.records import columns as records_columns

class TableWriter:
    """Append rows (dicts keyed by column) to CORPUS/catalog/<table>/<part>.parquet."""

    def __init__(self, corpus: Path, table: str, part: str, *, batch_rows: int = 50_000):
        self.schema = table_schema(table)
        self.path = table_dir(corpus, table) / f"{part}.parquet"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = temporary_name(self.path)
        self._writer = pq.ParquetWriter(self._tmp, self.schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []
        self._records: list[Any] = []
        self._batch_rows = batch_rows
        self.count = 0

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        self.count += 1
        if len(self._rows) >= self._batch_rows:
            self._flush()

    def write_record(self, record: Any) -> None:
        """Append a Video, Span or ErrorRow (converted column-wise at flush time)."""
        self._records.append(record)
        self.count += 1
        if len(self._records) >= self._batch_rows:
            self._flush()

    def write_all(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)

    def _flush(self) -> None:
        if self._records:
            columns = records_columns(self._records, self.schema.names)
            self._writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))
            self._records.clear()
        if self._rows:
            columns = {name: [r.get(name) for r in self._rows] for name in self.schema.names}
            if "class" in columns:  # an error row's class follows from its cause
                columns["class"] = [c or error_class(r["cause"]) for c, r in zip(columns["class"], self._rows)]
            self._writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))
            self._rows.clear()

    def close(self) -> Path:
        """Flush, close and move the file into place; returns its path."""
        self._flush()
        self._writer.close()
        commit(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._writer.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def write_table(corpus: Path, table: str, part: str, rows: Iterable[dict[str, Any]]) -> Path:
    """Write all `rows` as one part file of `table`."""
    with TableWriter(corpus, table, part) as writer:
        writer.write_all(rows)
    return writer.path


def read_table(corpus: Path, table: str) -> pa.Table:
    """Every part file of `table` as one Arrow table (empty, with the schema, if none)."""
    files = sorted(table_dir(corpus, table).glob("*.parquet"))
    if not files:
        return table_schema(table).empty_table()
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
