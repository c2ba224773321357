"""Captions from a vision-language model behind an OpenAI-compatible chat endpoint.

`caption_request(frames)` is one chat request: the sample's sampled frames (longvid.enrich.frames,
the same decode the scorers share) as JPEG `image_url` parts in time order, then the prompt, in
the OpenAI vision message format that vLLM and SGLang accept for multi-image models. The reply's
text, with whitespace collapsed, is the caption (`caption_text`); a reply that says nothing is no
caption. Sending, retries, budget and the request cache are longvid.enrich.vlm_client's.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from longvid.enrich.frames import SampledFrames

__all__ = ["PROMPT", "jpeg_data_url", "caption_request", "caption_text"]

PROMPT = ("These images are frames of one video, in time order. Describe what happens in the video "
          "in one or two sentences.")


def jpeg_data_url(frame: np.ndarray, quality: int = 90) -> str:
    """A uint8 RGB frame [H, W, 3] as a `data:image/jpeg;base64,...` URL (deterministic bytes)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(frame), "RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def caption_request(frames: SampledFrames, prompt: str = PROMPT, max_images: int = 8) -> dict[str, Any]:
    """One chat request asking for a caption of these frames (at most `max_images`, evenly picked)."""
    n = len(frames.frames)
    picks = sorted({round(i * (n - 1) / max(1, max_images - 1)) for i in range(min(n, max_images))})
    parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": jpeg_data_url(frames.frames[i])}}
                                   for i in picks]
    parts.append({"type": "text", "text": prompt})
    return {"messages": [{"role": "user", "content": parts}]}


def caption_text(reply: str) -> str | None:
    """The caption in a reply: its text with whitespace collapsed (None when empty)."""
    text = " ".join(reply.split()).strip().strip('"')
    return text or None
