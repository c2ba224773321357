"""The wheel ships every package, the schemas and the recipes; the CLI stays light."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "longvid").rglob("__init__.py")}
    assert on_disk <= listed, f"add to pyproject packages: {sorted(on_disk - listed)}"


def test_schemas_and_recipes_load_as_package_data() -> None:
    from longvid.pipeline.recipe import load_recipe
    from longvid.catalog.schema import json_schema, table_names, table_schema

    assert {"videos", "spans", "errors", "clips", "shards"} <= set(table_names())
    assert table_schema("videos").field("video_uid").nullable is False
    assert json_schema("sample")["title"] == "longvid sample"
    assert load_recipe().name == "longvid"


def test_help_imports_neither_torch_nor_ray() -> None:
    code = ("import sys; from typer.testing import CliRunner; from longvid.cli.main import app; "
            "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0; "
            "print(sorted(m for m in ('torch', 'ray', 'av', 'duckdb') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_only_run_ray_imports_ray() -> None:
    importers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "longvid").rglob("*.py")
                 if any(line.strip().startswith(("import ray", "from ray")) for line in p.read_text().splitlines())]
    assert importers == ["longvid/run/ray.py"]
