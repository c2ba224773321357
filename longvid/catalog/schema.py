"""Arrow schemas of the catalog tables, read from schemas/<table>.arrow.json at run time.

A field type is a name (`string`, `float64`, `float32`, `int64`, `int32`, `bool`, `binary`),
`{"list": TYPE}`, `{"struct": [FIELD, ...]}` or `{"map": [KEY TYPE, VALUE TYPE]}`. The same spec gives the DuckDB type
(`duck_columns`), so `longvid sql` never imports pyarrow.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

_DUCKDB = {"string": "VARCHAR", "float64": "DOUBLE", "float32": "FLOAT", "int64": "BIGINT", "int32": "INTEGER",
           "bool": "BOOLEAN", "binary": "BLOB"}


def _arrow_type(spec: Any) -> pa.DataType:
    import pyarrow as pa

    if isinstance(spec, str):
        if spec not in _DUCKDB:
            raise ValueError(f"unknown field type {spec!r}")
        return {"string": pa.string(), "float64": pa.float64(), "float32": pa.float32(), "int64": pa.int64(),
                "int32": pa.int32(), "bool": pa.bool_(), "binary": pa.binary()}[spec]
    if isinstance(spec, dict) and "list" in spec:
        return pa.list_(_arrow_type(spec["list"]))
    if isinstance(spec, dict) and "struct" in spec:
        return pa.struct([_arrow_field(f) for f in spec["struct"]])
    if isinstance(spec, dict) and "map" in spec:
        return pa.map_(_arrow_type(spec["map"][0]), _arrow_type(spec["map"][1]))
    raise ValueError(f"unknown field type {spec!r}")


def _arrow_field(spec: dict[str, Any]) -> pa.Field:
    import pyarrow as pa

    metadata = {"doc": spec["doc"]} if "doc" in spec else None
    return pa.field(spec["name"], _arrow_type(spec["type"]), nullable=spec.get("nullable", True), metadata=metadata)


def schema_text(name: str) -> str:
    """The raw text of a file in schemas/ (shipped in the wheel as longvid.schemas)."""
    return resources.files("longvid.schemas").joinpath(name).read_text(encoding="utf-8")


def duck_type(spec: Any) -> str:
    """The DuckDB type of a field type spec."""
    if isinstance(spec, str):
        if spec not in _DUCKDB:
            raise ValueError(f"unknown field type {spec!r}")
        return _DUCKDB[spec]
    if isinstance(spec, dict) and "list" in spec:
        return duck_type(spec["list"]) + "[]"
    if isinstance(spec, dict) and "struct" in spec:
        return "STRUCT(" + ", ".join(f'"{f["name"]}" {duck_type(f["type"])}' for f in spec["struct"]) + ")"
    if isinstance(spec, dict) and "map" in spec:
        return f"MAP({duck_type(spec['map'][0])}, {duck_type(spec['map'][1])})"
    raise ValueError(f"unknown field type {spec!r}")


def duck_columns(table: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of catalog table `table`, in order."""
    return [(f["name"], duck_type(f["type"])) for f in json.loads(schema_text(f"{table}.arrow.json"))["fields"]]


@functools.lru_cache(maxsize=None)
def table_schema(table: str) -> pa.Schema:
    """The Arrow schema of catalog table `table`."""
    import pyarrow as pa

    spec = json.loads(schema_text(f"{table}.arrow.json"))
    return pa.schema([_arrow_field(f) for f in spec["fields"]], metadata={"table": table, "doc": spec.get("doc", "")})


@functools.lru_cache(maxsize=None)
def json_schema(name: str = "sample") -> dict[str, Any]:
    """A JSON Schema from schemas/<name>.schema.json (e.g. a sample's `.json` member)."""
    return json.loads(schema_text(f"{name}.schema.json"))


def table_names() -> list[str]:
    """Every catalog table that has a schema file."""
    files = resources.files("longvid.schemas").iterdir()
    return sorted(p.name.removesuffix(".arrow.json") for p in files if p.name.endswith(".arrow.json"))
