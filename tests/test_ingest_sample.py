"""`longvid ingest` on the self-made sample: counts match what the sample says it wrote."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longvid.catalog.ingest import ingest
from longvid.catalog.sql import query
from longvid.cli.main import app
from longvid.registry import SOURCES
from longvid.sample.make import make_sample


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    info = make_sample(out, seed=3, small=True)
    return out, info


@pytest.fixture(scope="module")
def corpus(sample: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out, _ = sample
    corpus = tmp_path_factory.mktemp("corpus")
    ingest(list(SOURCES), out / "manifests", corpus)
    return corpus


@pytest.mark.parametrize("source", list(SOURCES))
def test_counts_match_the_sample(sample: tuple[Path, dict], corpus: Path, source: str) -> None:
    expected = sample[1]["sources"][source]
    _, rows = query(corpus, f"SELECT count(*) FROM videos WHERE source = '{source}'")
    assert rows[0][0] == expected["videos"]
    _, rows = query(corpus, f"SELECT kind, count(*) FROM spans WHERE source = '{source}' GROUP BY kind")
    assert dict(rows) == expected["spans"]
    _, rows = query(corpus, f"SELECT file, line, cause, dropped FROM errors WHERE source = '{source}'")
    want = Counter((b["file"], b["line"], b["cause"], b["dropped"]) for b in expected["bad_rows"])
    assert Counter(rows) == want


def test_build_json_records_inputs_and_counts(corpus: Path) -> None:
    data = json.loads((corpus / "build.json").read_text())
    assert set(data["ingest"]["sources"]) == set(SOURCES)
    for source, files in data["ingest"]["inputs"].items():
        assert files and all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in files), source
    assert data["versions"]["longvid"]


def test_reingest_is_stable(sample: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = sample
    ingest(["webvid", "hdvila"], out / "manifests", tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "catalog").rglob("*.parquet")}
    ingest(["webvid"], out / "manifests", tmp_path)
    second = {p.name: p.read_bytes() for p in (tmp_path / "catalog").rglob("*.parquet")}
    assert first.keys() == second.keys()
    _, rows = query(tmp_path, "SELECT source, count(*) FROM videos GROUP BY source ORDER BY source")
    assert [r[0] for r in rows] == ["hdvila", "webvid"]


def test_missing_source_folder_is_one_clear_line(sample: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = sample
    manifests = tmp_path / "m"
    (manifests / "webvid").mkdir(parents=True)
    result = CliRunner().invoke(app, ["ingest", "--sources", "ego4d", "--manifests", str(manifests), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "ego4d" in result.output and str(manifests / "ego4d") in result.output
    result = CliRunner().invoke(app, ["ingest", "--sources", "webvid", "--manifests", str(manifests), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "webvid" in result.output and "results_" in result.output


def test_unknown_source_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", "--sources", "ego4d,youku", "--manifests", str(tmp_path), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "youku" in result.output


def test_a_build_of_the_sample_never_leaves_this_machine(sample: tuple[Path, dict], corpus: Path) -> None:
    """Every video without a local file has a loopback or YouTube URL (fetch refuses YouTube),
    so building the sample sends no traffic anywhere but 127.0.0.1."""
    out, _ = sample
    _, rows = query(corpus, "SELECT source, media_path, url FROM videos")
    for source, media_path, url in rows:
        if media_path and (out / "media" / source / media_path).is_file():
            continue
        assert url is None or url.startswith("http://127.0.0.1:") or "youtube.com/watch" in url, (source, url)
