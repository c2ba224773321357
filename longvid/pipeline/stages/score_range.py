"""`score_range`: drop samples whose scores lie outside the recipe's bounds (a score a sample lacks
counts as outside, so nothing unscored slips through).

    - name: score_range
      min: {clip_sim: 0.2, motion: 0.002}
      max: {motion: 0.5}
"""

from __future__ import annotations

from typing import Any

from longvid.pipeline.stage import Filter


def keep(sample: dict[str, Any], min: dict[str, float] | None = None,  # noqa: A002 - the recipe's word
         max: dict[str, float] | None = None) -> bool | tuple[bool, str]:  # noqa: A002
    """Keep a sample whose every named score is within [min, max]."""
    scores = sample["scores"]
    for name, bound in (min or {}).items():
        if name not in scores:
            return False, f"no {name} score"
        if scores[name] < float(bound):
            return False, f"{name} below {float(bound):g}"
    for name, bound in (max or {}).items():
        if name not in scores:
            return False, f"no {name} score"
        if scores[name] > float(bound):
            return False, f"{name} above {float(bound):g}"
    return True


STAGE = Filter("score_range", keep)
