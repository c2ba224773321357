"""`longvid build --select "SQL predicate"`: which of the staged samples go into the shards.

The predicate is a DuckDB WHERE clause over a sample's `clips` columns (key, source, start, end,
duration, n_captions, bytes, ...), the size and rate of its video (width, height, fps) and the
scores its video's stages gave (each a column of its own, e.g. `motion > 0.02`). It runs in the
driver on each video's samples as they come back, so changing it rewrites the shards and
recomputes nothing upstream: a sample left out keeps its staged bytes, and a later build that
selects it again only writes it. External access (files, URLs) is off in the predicate.
"""

from __future__ import annotations

from typing import Any

from longvid.errors import UserError
from longvid.pipeline.stage import filtered_row

BASE_COLUMNS = {"key": "", "video_uid": "", "source": "", "native_id": "", "kind": "", "mode": "", "start": 0.0,
                "end": 0.0, "duration": 0.0, "requested_start": 0.0, "requested_end": 0.0, "n_captions": 0,
                "bytes": 0, "width": 0, "height": 0, "fps": 0.0}
REASON = "not selected"


class SelectError(UserError, ValueError):
    """A --select predicate that DuckDB cannot run."""


class Selector:
    """Splits a video's samples into those the predicate keeps and `filtered` rows for the others."""

    def __init__(self, predicate: str, score_names: set[str] = frozenset()):
        import duckdb

        self.predicate = predicate.strip()
        self._con = duckdb.connect(config={"enable_external_access": False})
        self._query = f"SELECT key FROM clips WHERE ({self.predicate})"
        self.check(score_names)

    def check(self, score_names: set[str]) -> None:
        """Run the predicate once on an empty table of the known columns: a typo fails here."""
        import pyarrow as pa

        columns = {**BASE_COLUMNS, **{name: 0.0 for name in score_names}}
        self._run(pa.Table.from_pylist([columns]).slice(0, 0))

    def split(self, samples: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(selected samples, `filtered` rows of the others); each sample carries its `row`."""
        import pyarrow as pa

        if not samples:
            return [], []
        names = list(dict.fromkeys(k for s in samples for k in s["row"]))
        table = pa.table({n: [s["row"].get(n) for s in samples] for n in names})
        keep = {r[0] for r in self._run(table)}
        kept = [s for s in samples if s["key"] in keep]
        dropped = [filtered_row(_as_sample(s), "select", REASON) for s in samples if s["key"] not in keep]
        return kept, dropped

    def _run(self, table: Any) -> list[tuple[Any, ...]]:
        import duckdb

        try:
            self._con.register("clips", table)
            return self._con.execute(self._query).fetchall()
        except duckdb.Error as e:
            raise SelectError(f"--select {self.predicate!r}: {str(e).splitlines()[0]}") from None
        finally:
            self._con.unregister("clips")

    def close(self) -> None:
        self._con.close()


def _as_sample(s: dict[str, Any]) -> dict[str, Any]:
    row = s["row"]
    scores = {k: v for k, v in row.items() if k not in BASE_COLUMNS and v is not None}
    return {"key": s["key"], "video_uid": s["video_uid"], "source": s["source"], "scores": scores,
            "json": {"start": row["start"], "end": row["end"], "duration": row["duration"]}}


def score_names(stages: list[Any]) -> set[str]:
    """The score columns the recipe's stages declare they give (`gives=("scores.motion",)`)."""
    return {g.split(".", 1)[1] for s in stages for g in s.gives if g.startswith("scores.")}
