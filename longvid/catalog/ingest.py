"""Manifests -> catalog tables `videos`, `spans`, `errors`, plus CORPUS/build.json.

Each source writes its own part files (`catalog/<table>/ingest-<source>.parquet`), so
ingesting one source again replaces only that source's rows, and a killed ingest leaves the
previous files in place (every file is renamed into place when complete).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longvid import __version__, registry
from longvid.atomic import atomic_write_text
from longvid.catalog.tables import TableWriter
from longvid.layout import build_json
from longvid.records import ErrorRow, Span, Video


@dataclass
class SourceCounts:
    """What one source's ingest produced."""

    videos: int = 0
    spans: int = 0
    errors: int = 0
    span_kinds: Counter = field(default_factory=Counter)
    error_causes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "videos": self.videos, "spans": self.spans, "errors": self.errors,
            "span_kinds": dict(sorted(self.span_kinds.items())),
            "error_causes": dict(sorted(self.error_causes.items())),
            "seconds": round(self.seconds, 3),
        }


def fingerprint(path: Path) -> dict[str, Any]:
    """Size, modification time and SHA-256 of an input file (streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    stat = path.stat()
    return {"path": str(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest.hexdigest()}


def check_sources(sources: list[str], manifests: Path) -> dict[str, list[Path]]:
    """Each source's input files; raises MissingManifest (one clear line) before any work."""
    if not Path(manifests).is_dir():
        raise FileNotFoundError(f"manifest folder {manifests} does not exist")
    found = {}
    for name in sources:
        folder = Path(manifests) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"{name}: expected its manifests in folder {folder}, not found")
        found[name] = registry.source(name).files(folder)
    return found


def ingest_source(name: str, folder: Path, corpus: Path) -> SourceCounts:
    """Stream one source's records into its part files of videos, spans and errors."""
    counts = SourceCounts()
    started = time.perf_counter()
    part = f"ingest-{name}"
    with TableWriter(corpus, "videos", part) as videos, TableWriter(corpus, "spans", part) as spans, \
            TableWriter(corpus, "errors", part) as errors:
        for record in registry.source(name).read(folder):
            if isinstance(record, Span):
                spans.write_record(record)
                counts.spans += 1
                counts.span_kinds[record.kind] += 1
            elif isinstance(record, Video):
                videos.write_record(record)
                counts.videos += 1
            elif isinstance(record, ErrorRow):
                errors.write_record(record)
                counts.errors += 1
                counts.error_causes[record.cause] += 1
            else:  # pragma: no cover - a reader bug
                raise TypeError(f"source {name} yielded {type(record).__name__}")
    counts.seconds = time.perf_counter() - started
    return counts


def ingest(sources: list[str], manifests: Path, corpus: Path, *, log: Any = None) -> dict[str, Any]:
    """Ingest `sources` from `manifests/<source>/` into the catalog of `corpus`; returns the
    `ingest` section written to CORPUS/build.json."""
    corpus = Path(corpus)
    inputs = check_sources(sources, Path(manifests))
    corpus.mkdir(parents=True, exist_ok=True)
    section: dict[str, Any] = {"sources": {}, "inputs": {}}
    for name in sources:
        counts = ingest_source(name, Path(manifests) / name, corpus)
        section["sources"][name] = counts.as_dict()
        section["inputs"][name] = [fingerprint(p) for p in inputs[name]]
        if log:
            log(f"ingest {name}: {counts.videos} videos, {counts.spans} spans, {counts.errors} errors "
                f"({counts.seconds:.1f} s)")
    update_build_json(corpus, "ingest", section)
    return section


def versions() -> dict[str, str]:
    """Versions of longvid and of the libraries whose behaviour shapes the output."""
    import duckdb
    import pyarrow

    return {"longvid": __version__, "python": platform.python_version(), "pyarrow": pyarrow.__version__,
            "duckdb": duckdb.__version__}


def update_build_json(corpus: Path, key: str, section: dict[str, Any]) -> Path:
    """Merge `section` under `key` into CORPUS/build.json (written atomically)."""
    path = build_json(corpus)
    data = json.loads(path.read_text()) if path.exists() else {}
    data["versions"] = versions()
    if key == "ingest" and isinstance(data.get("ingest"), dict):
        for part in ("sources", "inputs"):  # keep other sources' earlier results
            section[part] = {**data["ingest"].get(part, {}), **section[part]}
    data[key] = section
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path
