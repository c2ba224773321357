"""Name -> dotted path tables: the one place a new source, stage or encoder is plugged in.

Entries resolve lazily, so `longvid --help` imports neither torch nor Ray. Adding a sixth
source is one module in longvid/sources/ and one line in SOURCES; an encoder, one module and one
line in ENCODERS. Pipeline stages and filters need no line here: a module in
longvid/pipeline/stages/ is found by its name (see longvid.pipeline.stages).
"""

from __future__ import annotations

import importlib
from typing import Any

SOURCES: dict[str, str] = {
    "ego4d": "longvid.sources.ego4d",
    "howto100m": "longvid.sources.howto100m",
    "hdvila": "longvid.sources.hdvila",
    "miradata": "longvid.sources.miradata",
    "webvid": "longvid.sources.webvid",
}

# Feature encoders for `longvid precompress`: factories (name, weights, resolution, device, dtype)
# -> Encoder. `open_clip:<model>` stands for any open_clip ViT (`open_clip:ViT-B-16`).
ENCODERS: dict[str, str] = {
    "umt-l": "longvid.hico.encoders.umt:build_umt",
    "umt-tiny": "longvid.hico.encoders.umt:build_umt",
    "open_clip:tiny": "longvid.hico.encoders.open_clip_tower:build_open_clip",
    "open_clip:<model>": "longvid.hico.encoders.open_clip_tower:build_open_clip",
}


def resolve(table: dict[str, str], name: str, kind: str) -> Any:
    """Import and return what `name` points at (a module, or `module:attribute`)."""
    if name not in table:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}")
    target = table[name]
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute) if attribute else module


def source(name: str) -> Any:
    """The source module registered as `name` (exposes NAME, files(), read())."""
    return resolve(SOURCES, name, "source")


def stage(name: str, use: str | None = None) -> Any:
    """The pipeline stage named `name`: longvid/pipeline/stages/<name>.py's STAGE, or `use`
    ("module:ATTR") for one defined elsewhere."""
    from longvid.pipeline.stages import find

    return find(name, use)


def parse_source_list(text: str) -> list[str]:
    """`ego4d,howto100m` (or `all`) -> validated source names, in the order given."""
    names = list(SOURCES) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown or not names:
        raise ValueError(f"unknown source(s) {unknown or text!r}; known: {', '.join(SOURCES)} or 'all'")
    return names
