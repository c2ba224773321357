"""The stages a recipe can name, one module each: a module `<name>.py` here exposes `STAGE`.

A recipe line names a stage by its module name (`- name: fetch`), or a stage anywhere by a dotted
path (`- name: mine` with `use: mypackage.filters:TOO_DARK`). See longvid.pipeline.stage.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def known() -> list[str]:
    """The stage names this folder holds (without importing them)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if NAME.match(m.name))


def find(name: str, use: str | None = None) -> Any:
    """The Stage named `name`: this folder's module of that name, or the `module:ATTR` in `use`."""
    if use is not None:
        module_name, _, attribute = use.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"stage {name!r}: use must be 'module:ATTRIBUTE', not {use!r}")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"stage {name!r}: cannot load {use!r}: {e}") from None
    else:
        if not NAME.match(name) or name not in known():
            raise ValueError(f"unknown stage {name!r}; known: {', '.join(known())} (or give `use: module:ATTR`)")
        target = importlib.import_module(f"{__name__}.{name}").STAGE
    from longvid.pipeline.stage import Stage

    if not isinstance(target, Stage):
        raise ValueError(f"stage {name!r}: {use or name} is not a longvid.pipeline.stage.Stage")
    return target
