"""`make_sample`: write the five sources' manifests, make their videos, describe it all.

Layout under OUT:
  manifests/<source>/...   each dataset's files under their distributed names
  media/<source>/...       local videos where each dataset's downloader leaves them
  http/...                 videos reachable only at `http://127.0.0.1:<port>/<path under http/>`
  sample.json              seed, sizes, per-source expected counts, and every video made
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import random
import shutil
from pathlib import Path
from typing import Any

from longvid.sample.manifests import SOURCES, SourceSample
from longvid.sample.videos import VideoSpec, make_videos

DEFAULT_PORT = 8642


def build_sources(*, seed: int = 0, small: bool = False, port: int = DEFAULT_PORT) -> list[SourceSample]:
    """Every source's manifests, videos and expectations, in memory (nothing written)."""
    parts = []
    for name in SOURCES:
        module = importlib.import_module(f"longvid.sample.{name}")
        parts.append(module.build(random.Random(f"longvid-sample:{seed}:{name}"), small=small, port=port))
    index = 0
    for part in parts:  # number every video across the sample; the number is drawn into it
        for i, spec in enumerate(part.videos):
            index += 1
            part.videos[i] = dataclasses.replace(spec, index=index)
    return parts


def _video_entry(spec: VideoSpec) -> dict[str, Any]:
    local = spec.served == "local"
    prefix = f"media/{spec.source}/"
    return {
        "source": spec.source, "native_id": spec.native_id, "path": spec.path,
        "media_path": spec.path[len(prefix):] if local else None, "served": spec.served, "url": spec.url,
        "duration": round(spec.duration, 6), "frames": spec.frames, "fps": round(float(spec.rate), 6),
        "fps_rational": spec.fps, "width": spec.width, "height": spec.height, "codec": spec.codec,
        "audio": spec.audio,
    }


def describe(parts: list[SourceSample], *, seed: int, small: bool, port: int) -> dict[str, Any]:
    """The sample.json document."""
    return {
        "seed": seed, "small": small, "port": port, "base_url": f"http://127.0.0.1:{port}",
        "sources": {p.name: {"manifests": sorted(p.files), **p.expect.to_json()} for p in parts},
        "videos": [_video_entry(s) for p in parts for s in p.videos],
    }


def make_sample(out: Path, *, seed: int = 0, small: bool = False, port: int = DEFAULT_PORT,
                workers: int = 2) -> dict[str, Any]:
    """Write the sample under `out` and return its description (also written to sample.json).

    Deterministic for (seed, small, port): manifests and videos come out byte-identical.
    The `manifests/`, `media/` and `http/` folders under `out` are replaced."""
    out = Path(out)
    parts = build_sources(seed=seed, small=small, port=port)
    for sub in ("manifests", "media", "http"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for part in parts:
        folder = out / "manifests" / part.name
        folder.mkdir(parents=True, exist_ok=True)
        (out / "media" / part.name).mkdir(parents=True, exist_ok=True)
        for name, data in part.files.items():
            (folder / name).write_bytes(data)
    make_videos(out, [s for p in parts for s in p.videos], workers=workers)
    doc = describe(parts, seed=seed, small=small, port=port)
    (out / "sample.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc
