"""`min_resolution`: drop samples whose video is smaller than the recipe's bounds, or whose aspect
ratio (width / height) lies outside them.

    - name: min_resolution
      short_side: 240         # smallest kept short side, pixels
      aspect: [0.5, 2.5]      # kept width/height range (optional)
"""

from __future__ import annotations

from typing import Any

from longvid.pipeline.stage import Filter


def keep(sample: dict[str, Any], short_side: int = 0, aspect: list[float] | None = None) -> bool | tuple[bool, str]:
    """Keep a sample whose video's short side and aspect ratio are within bounds."""
    width, height = sample["video"]["width"], sample["video"]["height"]
    if min(width, height) < int(short_side):
        return False, f"short side under {int(short_side)} px"
    if aspect is not None and not float(aspect[0]) <= width / max(height, 1) <= float(aspect[1]):
        return False, f"aspect outside {float(aspect[0]):g}-{float(aspect[1]):g}"
    return True


STAGE = Filter("min_resolution", keep)
