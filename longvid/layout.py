"""Where everything lives under a corpus folder: the one place the layout is spelled out.

    CORPUS/build.json                 recipe, versions, input fingerprints, summary
    CORPUS/catalog/<table>/*.parquet  the catalog tables (DuckDB reads them)
    CORPUS/media/<source>/            fetched source videos (a cache)
    CORPUS/staging/<source>/<id>/     one video's staged work (longvid.pipeline.staging)
    CORPUS/shards/                    the shard tars, their indexes and stats, wids.json
    CORPUS/features/<tag>/            cached HiCo features, one tar per video shard
    CORPUS/proxies/<short side>/      proxy video shards (`longvid build --proxy`), one per video shard
"""

from __future__ import annotations

from pathlib import Path

CATALOG = "catalog"


def build_json(corpus: Path) -> Path:
    return Path(corpus) / "build.json"


def table_dir(corpus: Path, table: str) -> Path:
    return Path(corpus) / CATALOG / table


def shard_dir(corpus: Path) -> Path:
    return Path(corpus) / "shards"


def staging_root(corpus: Path) -> Path:
    return Path(corpus) / "staging"


def media_cache(corpus: Path, source: str) -> Path:
    return Path(corpus) / "media" / source


def features_root(corpus: Path) -> Path:
    return Path(corpus) / "features"


def lock_file(corpus: Path) -> Path:
    return Path(corpus) / ".lock"


def proxies_root(corpus: Path) -> Path:
    return Path(corpus) / "proxies"
