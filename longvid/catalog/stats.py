"""The usual questions about a corpus, answered in SQL over the read-only catalog.

Each report is a titled query; a report over a table that has no files yet is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.catalog.coverage import COVERAGE_SQL
from longvid.catalog.sql import connect, render
from longvid.layout import table_dir

REPORTS: list[tuple[str, str, str]] = [
    ("videos and spans per source", "videos", """
        SELECT v.source,
               count(*) AS videos,
               round(sum(v.duration) / 3600, 3) AS manifest_hours,
               coalesce(max(s.spans), 0) AS spans,
               coalesce(max(s.kinds), '') AS span_kinds
        FROM videos v
        LEFT JOIN (
            SELECT source, sum(n) AS spans, string_agg(kind || ':' || n, ' ' ORDER BY kind) AS kinds
            FROM (SELECT source, kind, count(*) AS n FROM spans GROUP BY ALL) GROUP BY source
        ) s USING (source)
        GROUP BY v.source ORDER BY v.source"""),
    ("errors by source, stage and cause", "errors", """
        SELECT source, stage, cause, count(*) AS rows, sum(CASE WHEN dropped THEN 1 ELSE 0 END) AS dropped
        FROM errors GROUP BY ALL ORDER BY source, stage, rows DESC, cause"""),
    ("coverage per source: listed, fetched, with samples, failed videos by class (longvid retry --class)", "probes",
     COVERAGE_SQL),
    ("videos fetched and probed per source", "probes", """
        SELECT source, count(*) AS videos, sum(CASE WHEN status = 'ok' THEN 1 ELSE 0 END) AS probed,
               round(sum(duration) / 3600, 3) AS hours, round(sum(bytes) / 1e6, 2) AS mbytes,
               sum(samples) AS samples
        FROM probes GROUP BY source ORDER BY source"""),
    ("samples per source", "clips", """
        SELECT source, kind, count(*) AS samples, round(sum("end" - start) / 3600, 3) AS hours,
               round(sum(bytes) / 1e6, 2) AS mbytes
        FROM clips GROUP BY ALL ORDER BY source, kind"""),
    ("samples filtered out, by stage and reason", "filtered", """
        SELECT source, stage, reason, count(*) AS samples, round(sum(duration) / 3600, 3) AS hours
        FROM filtered GROUP BY ALL ORDER BY source, samples DESC, stage, reason"""),
    ("shards", "shards", """
        SELECT count(*) AS shards, sum(samples) AS samples, round(sum(bytes) / 1e6, 2) AS mbytes,
               round(sum(duration) / 3600, 3) AS hours
        FROM shards"""),
    ("features per encoder", "features", """
        SELECT encoder_tag, sampler, sample_fps, merge_dtype, count(*) AS samples, sum(frames) AS frames,
               sum(tokens) AS tokens,
               round(sum(tokens) / sum(frames), 2) AS tokens_per_frame, round(sum(bytes) / 1e6, 2) AS mbytes
        FROM features GROUP BY ALL ORDER BY encoder_tag"""),
]


def stats(corpus: Path) -> list[tuple[str, list[str], list[tuple[Any, ...]]]]:
    """(title, columns, rows) for every report whose table has data."""
    con = connect(corpus)
    out = []
    try:
        for title, table, sql in REPORTS:
            if not any(table_dir(corpus, table).glob("*.parquet")):
                continue
            result = con.execute(sql)
            out.append((title, [d[0] for d in result.description], result.fetchall()))
    finally:
        con.close()
    return out


def render_stats(corpus: Path) -> str:
    """All reports as text."""
    parts = [f"== {title}\n{render(columns, rows)}" for title, columns, rows in stats(corpus)]
    return "\n".join(parts) if parts else "catalog is empty\n"
