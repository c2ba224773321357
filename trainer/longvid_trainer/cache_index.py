"""What the feature cache holds, without opening a feature or a video: one row per cached sample.

Keys, frames, duration, token dim and the feature shard of each sample come from the finished
feature shards' stats files (`longvid.hico.dataset.feature_shards` names the shards); captions,
kind, the source video (id, URL, media path, probed duration) and the sample's range come from
the catalog (`clips` with its checked LongVid QA pairs, `videos`, `probes`). `CacheIndex.find(names, start, end)` matches an annotation to a cached sample by
video path or id and, when given, its start/end.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

# An annotation's start/end matches a cached sample's range within this many seconds: stream-copy
# cuts start at the keyframe at or before the wanted start (the requested range is kept too).
RANGE_TOLERANCE = 1.0


@dataclass(frozen=True)
class CachedSample:
    key: str
    shard: Path  # the feature tar
    frames: int
    duration: float
    dim: int
    kind: str
    source: str
    video_uid: str
    start: float
    end: float
    requested: tuple[float, float]
    captions: tuple[dict[str, Any], ...]
    video_duration: float | None = None  # the source video's probed duration
    names: frozenset[str] = field(default=frozenset())  # every name the source video is known by
    qa: tuple[dict[str, Any], ...] = ()  # checked LongVid QA pairs (longvid.enrich.longvid_qa)

    def whole_video(self) -> bool:
        return self.video_duration is not None and self.start <= RANGE_TOLERANCE \
            and self.end >= self.video_duration - RANGE_TOLERANCE


def video_names(*values: str | None) -> set[str]:
    """Names a video path or id is matched by: as given, its file name, its stem (lower-case)."""
    names = set()
    for value in values:
        if not value:
            continue
        text = str(value).strip().rstrip("/")
        path = PurePosixPath(text.split("?", 1)[0])
        names |= {text.lower(), path.name.lower(), path.stem.lower()}
    return {n for n in names if n}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= RANGE_TOLERANCE


class CacheIndex:
    """The samples of one feature cache, by key and by the names of their source videos."""

    def __init__(self, tag: str, samples: list[CachedSample], sampling: dict[str, Any]):
        self.tag, self.sampling = tag, sampling
        self.by_key = {s.key: s for s in samples}
        self._by_lower_key = {s.key.lower(): s for s in samples}
        self.by_name: dict[str, list[CachedSample]] = {}
        for s in samples:
            for name in s.names:
                self.by_name.setdefault(name, []).append(s)

    def __len__(self) -> int:
        return len(self.by_key)

    @property
    def shards(self) -> list[Path]:
        return sorted({s.shard for s in self.by_key.values()})

    def find(self, names: set[str], start: float | None, end: float | None) -> tuple[CachedSample | None, str]:
        """The cached sample an annotation refers to, or (None, reason). A name that is a sample's key
        (`<key>.mp4`, as `longvid export llava` writes) is that sample."""
        by_key = {self._by_lower_key[n].key: self._by_lower_key[n] for n in names if n in self._by_lower_key}
        if len(by_key) == 1:
            return next(iter(by_key.values())), "ok"
        candidates = {s.key: s for n in names for s in self.by_name.get(n, [])}
        if not candidates:
            return None, "no_cached_video"
        if start is not None and end is not None:
            hits = [s for s in candidates.values()
                    if (_close(s.start, start) and _close(s.end, end)) or (_close(s.requested[0], start) and _close(s.requested[1], end))]
        else:  # no range: the annotation is about the whole video
            hits = [s for s in candidates.values() if s.whole_video()]
        if not hits:
            return None, "no_cached_range"
        if len(hits) > 1:
            return None, "ambiguous"
        return hits[0], "ok"


def load_cache_index(corpus: Path, tag: str | None = None) -> CacheIndex:
    """Index the feature cache `tag` of `corpus` (the only one when None)."""
    from longvid.catalog.sql import query
    from longvid.hico.dataset import feature_shards
    from longvid.shards.writer import read_stats

    corpus = Path(corpus)
    shards = feature_shards(corpus, tag)
    if not shards:
        raise FileNotFoundError(f"no finished feature shards under {corpus / 'features'}: run `longvid precompress` first")
    tag = shards[0].parent.name
    rows, sampling = [], {}
    for shard in shards:
        stats = read_stats(shard.parent, shard.name.removesuffix(".tar")) or {}
        sampling = stats.get("sampling", sampling)
        rows += [{**row, "tar": shard} for row in stats.get("rows", [])]
    has_qa = "qa" in query(corpus, "SELECT * FROM clips LIMIT 0")[0]  # corpora built before LongVid QA lack it
    _, clip_rows = query(corpus, f"""
        SELECT c.key, c.kind, c.source, c.video_uid, c.native_id, c.start, c."end", c.requested_start, c.requested_end,
               to_json(c.captions), v.url, v.media_path, p.duration, {'to_json(c.qa)' if has_qa else 'NULL'}
        FROM clips c LEFT JOIN (SELECT DISTINCT ON (video_uid) * FROM videos) v USING (video_uid)
        LEFT JOIN (SELECT DISTINCT ON (video_uid) * FROM probes) p USING (video_uid)""")
    clips = {r[0]: r for r in clip_rows}
    samples = []
    for row in rows:
        clip = clips.get(row["key"])
        if clip is None:
            raise ValueError(f"cached sample {row['key']} is not in the catalog's clips table ({corpus})")
        _, kind, source, uid, native, start, end, req_start, req_end, captions, url, media_path, probed, qa = clip
        names = video_names(uid, native, url, media_path)
        samples.append(CachedSample(
            key=row["key"], shard=row["tar"], frames=int(row["frames"]), duration=float(row["duration"]),
            dim=int(row["dim"]), kind=kind, source=source, video_uid=uid, start=float(start), end=float(end),
            requested=(float(req_start), float(req_end) if not math.isnan(req_end) else float(end)),
            captions=tuple(json.loads(captions) if captions else ()), names=frozenset(names),
            qa=tuple(json.loads(qa) if qa and qa != "null" else ()),
            video_duration=float(probed) if probed is not None and not math.isnan(probed) else None))
    if not samples:
        raise ValueError(f"the feature cache {tag} holds no samples")
    return CacheIndex(tag, samples, sampling)
