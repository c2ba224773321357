"""Catalog tables, read-only SQL and stats."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longvid.catalog.sql import ReadOnlyError, check_read_only, query, render
from longvid.catalog.stats import render_stats
from longvid.catalog.tables import read_table, write_table
from longvid.cli.main import app
from longvid.records import ErrorRow, Span, Video, to_row


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    videos = [Video("ego4d", "v1", duration=3600.0, media_path="full_scale/v1.mp4", extra={"a": [1, 2]}),
              Video("webvid", "007", duration=None, url="http://127.0.0.1:1/x.mp4", title="it's, \"quoted\"")]
    spans = [Span("ego4d", "v1", 1.0, 1.0, "#C C opens a shelf", "narration", "narration_pass_1"),
             Span("webvid", "007", 0.0, None, "it's", "alt_text", "results_2M_val.csv")]
    errors = [ErrorRow("webvid", "ingest", "bad_time", "duration 'PTxx' is not ISO-8601", file="r.csv", line=3)]
    write_table(corpus, "videos", "ingest-test", (to_row(v) for v in videos))
    write_table(corpus, "spans", "ingest-test", (to_row(s) for s in spans))
    write_table(corpus, "errors", "ingest-test", (to_row(e) for e in errors))
    return corpus


def digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_tables_round_trip(corpus: Path) -> None:
    videos = read_table(corpus, "videos").to_pylist()
    assert [v["video_uid"] for v in videos] == ["ego4d/v1", "webvid/007"]
    assert videos[0]["extra"] == '{"a": [1, 2]}'


def test_sql_answers(corpus: Path) -> None:
    columns, rows = query(corpus, "SELECT source, count(*) AS n FROM spans GROUP BY source ORDER BY source")
    assert columns == ["source", "n"] and rows == [("ego4d", 1), ("webvid", 1)]
    _, rows = query(corpus, "SELECT sum(duration) FROM videos")
    assert rows == [(3600.0,)]
    assert "webvid" in render(*query(corpus, "SELECT * FROM errors"), "csv")


WRITES = [
    "COPY videos TO '{dir}/catalog/videos/evil.parquet'",
    "COPY (SELECT 1) TO '{dir}/catalog/errors/x.csv'",
    "CREATE TABLE t AS SELECT * FROM videos",
    "INSERT INTO videos SELECT * FROM videos",
    "DROP VIEW videos",
    "ATTACH '{dir}/x.duckdb' AS x",
    "SET enable_external_access = true",
    "EXPORT DATABASE '{dir}/export'",
    "SELECT 1; COPY videos TO '{dir}/catalog/videos/evil2.parquet'",
    "PRAGMA threads=1",
    "INSTALL httpfs",
    "UPDATE videos SET title = 'x'",
    "DELETE FROM videos",
]


@pytest.mark.parametrize("statement", WRITES)
def test_sql_cannot_modify_catalog(corpus: Path, statement: str) -> None:
    before = digest_tree(corpus)
    with pytest.raises((ReadOnlyError, ValueError)):
        query(corpus, statement.format(dir=corpus))
    assert digest_tree(corpus) == before


def test_sql_cannot_read_outside_corpus(corpus: Path) -> None:
    with pytest.raises(Exception, match="(?i)permission|disabled"):
        query(corpus, "SELECT * FROM read_csv('/etc/hostname')")


def test_read_only_check_allows_reads() -> None:
    for ok in ["SELECT 1", "WITH a AS (SELECT 1) SELECT * FROM a", "FROM videos", "EXPLAIN SELECT 1", "DESCRIBE videos"]:
        check_read_only(ok)


def test_cli_sql_and_stats(corpus: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["sql", str(corpus), "SELECT count(*) AS n FROM videos", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == '{"n": 2}'
    refused = runner.invoke(app, ["sql", str(corpus), f"COPY videos TO '{corpus}/v.csv'"])
    assert refused.exit_code == 2 and "read-only" in refused.output
    assert not (corpus / "v.csv").exists()
    stats = runner.invoke(app, ["stats", str(corpus)])
    assert stats.exit_code == 0 and "bad_time" in stats.stdout
    assert "ego4d" in render_stats(corpus)


def test_cli_missing_catalog_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["stats", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "no catalog" in result.output


@pytest.mark.parametrize(("sql", "says"), [
    ("SELECT nosuch FROM videos", 'column "nosuch" not found'),
    ("SELECT * FROM read_csv('/etc/hostname')", "Permission Error"),
    ("SELEC 1", "syntax error"),
    ("COPY videos TO 'v.csv'", "read-only"),
])
def test_sql_errors_are_one_line_from_the_console_script(corpus: Path, sql: str, says: str) -> None:
    """The installed `longvid sql` (its fast path, no typer) and the typer command say the same line."""
    script = subprocess.run([sys.executable, "-m", "longvid.cli.entry", "sql", str(corpus), sql],
                            capture_output=True, text=True, timeout=60)
    assert script.returncode == 2 and script.stdout == "", script.stderr
    assert script.stderr.count("\n") == 1 and script.stderr.startswith("error: ") and says in script.stderr
    assert "Traceback" not in script.stderr
    typed = CliRunner().invoke(app, ["sql", str(corpus), sql])
    assert typed.exit_code == 2 and typed.output == script.stderr


def test_console_script_fast_path_answers_like_the_typer_command(corpus: Path) -> None:
    sql = "SELECT source, count(*) AS n FROM videos GROUP BY source ORDER BY source"
    for fmt in ("table", "csv", "json"):
        script = subprocess.run([sys.executable, "-m", "longvid.cli.entry", "sql", str(corpus), sql, "--format", fmt],
                                capture_output=True, text=True, timeout=60, check=True)
        assert script.stdout == CliRunner().invoke(app, ["sql", str(corpus), sql, "--format", fmt]).stdout
    probe = subprocess.run([sys.executable, "-X", "importtime", "-m", "longvid.cli.entry", "sql", str(corpus), "SELECT 1"],
                           capture_output=True, text=True, timeout=60, check=True)
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if line.startswith("import time:")}
    assert not {"typer", "pyarrow", "pydantic", "torch", "ray"} & imported
