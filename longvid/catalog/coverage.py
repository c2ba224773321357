"""Coverage: how much of each source's dataset the corpus holds, and why the rest is missing.

Per source: the videos and hours the manifests list (hours where the manifest gives a duration),
how many videos the build tried, fetched and got samples from, and how many failed in each error
class (longvid.errors.CLASSES), each failed video counted once, in the class of its earliest
failure (fetch before probe before segment ...); plus the manifest rows that could not be used.
`recoverable` (transient + blocked) is what `longvid retry` may still add. One SQL query over
the catalog, shown by `longvid stats` and kept in build.json under `coverage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from longvid.errors import CLASSES

_CLASS_COLUMNS = ",\n".join(
    f"       count(*) FILTER (WHERE f.\"class\" = '{c}') AS {c}" for c in CLASSES)

COVERAGE_SQL = f"""
WITH listed AS (
    SELECT source, count(*) AS videos, round(sum(duration) / 3600, 3) AS hours
    FROM videos GROUP BY source),
tried AS (
    SELECT source, count(*) AS tried,
           count(*) FILTER (WHERE NOT starts_with(status, 'fetch:')) AS fetched,
           round(sum(duration) FILTER (WHERE NOT starts_with(status, 'fetch:')) / 3600, 3) AS fetched_hours
    FROM probes GROUP BY source),
sampled AS (
    SELECT source, count(DISTINCT video_uid) AS with_samples, count(*) AS samples,
           round(sum(duration) / 3600, 3) AS sample_hours
    FROM clips GROUP BY source),
failed AS (
    SELECT e.source, e.video_uid,
           arg_min(e."class", CASE e.stage WHEN 'fetch' THEN 0 WHEN 'probe' THEN 1 WHEN 'segment' THEN 2
                                            WHEN 'align' THEN 3 ELSE 4 END) AS "class"
    FROM errors e
    WHERE e.stage NOT IN ('ingest', 'precompress') AND e.video_uid IS NOT NULL
      AND e.video_uid NOT IN (SELECT video_uid FROM clips)
    GROUP BY e.source, e.video_uid),
failed_counts AS (
    SELECT f.source,
{_CLASS_COLUMNS}
    FROM failed f GROUP BY f.source),
bad_rows AS (
    SELECT source, count(*) AS bad_rows FROM errors WHERE stage = 'ingest' AND dropped GROUP BY source)
SELECT l.source, l.videos, l.hours,
       coalesce(t.tried, 0) AS tried, coalesce(t.fetched, 0) AS fetched, coalesce(t.fetched_hours, 0) AS fetched_hours,
       coalesce(s.with_samples, 0) AS with_samples, coalesce(s.samples, 0) AS samples,
       coalesce(s.sample_hours, 0) AS sample_hours,
       {", ".join(f"coalesce(fc.{c}, 0) AS {c}" for c in CLASSES)},
       coalesce(fc.transient, 0) + coalesce(fc.blocked, 0) AS recoverable,
       coalesce(b.bad_rows, 0) AS bad_rows
FROM listed l
LEFT JOIN tried t USING (source)
LEFT JOIN sampled s USING (source)
LEFT JOIN failed_counts fc USING (source)
LEFT JOIN bad_rows b USING (source)
ORDER BY l.source"""


def coverage(corpus: Path) -> dict[str, Any]:
    """{"sources": {source: {videos, hours, tried, fetched, ..., <class>: n, recoverable, bad_rows}},
    "total": the same summed}; what build.json keeps under `coverage`."""
    from longvid.catalog.sql import query

    columns, rows = query(corpus, COVERAGE_SQL)
    sources = {row[0]: dict(zip(columns[1:], row[1:])) for row in rows}
    total: dict[str, Any] = {}
    for counts in sources.values():
        for name, value in counts.items():
            total[name] = round(total.get(name, 0) + (value or 0), 3)
    return {"sources": sources, "total": total, "classes": dict(CLASSES)}
