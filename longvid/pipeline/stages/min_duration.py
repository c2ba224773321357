"""`min_duration`: drop samples shorter (or longer) than the recipe's bounds, in seconds.

    - name: min_duration
      seconds: 2.0        # shortest kept
      max_seconds: 600    # longest kept (optional)
"""

from __future__ import annotations

from typing import Any

from longvid.pipeline.stage import Filter


def keep(sample: dict[str, Any], seconds: float = 1.0, max_seconds: float | None = None) -> bool | tuple[bool, str]:
    """Keep a sample whose duration lies within [seconds, max_seconds]."""
    if sample["duration"] < float(seconds):
        return False, f"shorter than {float(seconds):g} s"
    if max_seconds is not None and sample["duration"] > float(max_seconds):
        return False, f"longer than {float(max_seconds):g} s"
    return True


STAGE = Filter("min_duration", keep)
