"""What the model-based stages share: the frames every scorer reads (decoded once), the chat
client of a recipe line (one per process), the corpus a stage works in.

The frame scorers (`frames`, `clip_score`, `motion`, `coca_caption`, `vlm_caption`) declare the same
resources (FRAME_STAGES), so a video's chain runs them in one task, one process: `frames` decodes
each sample once into the process's cache (longvid.enrich.frames.shared_frames) with the recipe's
frame settings, and the scorers after it read the same frames. Giving one of them other resources
in the recipe still works, at the cost of a second decode in the other task.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from longvid.enrich.frames import FrameSpec, SampledFrames, shared_frames
from longvid.run.resources import Resources

FRAME_STAGES = Resources(cpus=1.0)
FRAME_PARAMS = ("count", "max_side")


def frame_spec(work: Any) -> FrameSpec:
    """The frames the recipe's `frames` line asks for (its defaults without one)."""
    p = work.params.get("frames", {})
    return FrameSpec(count=int(p.get("count", 8)), pairs=True, max_side=int(p.get("max_side", 256)))


def frames_of(work: Any, sample: dict[str, Any]) -> SampledFrames:
    """The sample's frames: from the process's cache, decoded there if `frames` did not run here."""
    return shared_frames().get(work.sample_path(sample), frame_spec(work))


def corpus_of(work: Any) -> Path:
    """The corpus folder a video's work belongs to (its media cache is CORPUS/media/<source>/)."""
    return Path(work.media_cache).parents[1]


def add_caption(sample: dict[str, Any], text: str, origin: str) -> None:
    """A generated caption of the whole sample, in its .json (kind `generated`)."""
    doc = sample["json"]
    doc["captions"] = sorted([*doc["captions"], {"start": 0.0, "end": round(float(doc["duration"]), 3), "text": text,
                                                 "kind": "generated", "origin": origin}],
                             key=lambda c: (c["start"], c["end"], c["kind"], c["text"]))


CHAT_PARAMS = ("endpoint", "model", "concurrency", "retries", "backoff", "timeout", "budget", "max_tokens",
               "temperature", "api_key_env")


def chat_client(work: Any, params: dict[str, Any]) -> Any:
    """The chat client of a recipe line: its endpoint and model, the corpus's request cache
    (CORPUS/cache/chat/) and budget file; one per process and settings."""
    if not params.get("endpoint") or not params.get("model"):
        raise ValueError("a chat stage needs `endpoint` (e.g. http://host:8000/v1) and `model` in the recipe")
    settings = tuple(sorted((k, params[k]) for k in CHAT_PARAMS if k in params))
    return _client(str(corpus_of(work) / "cache" / "chat"), settings)


@functools.lru_cache(maxsize=8)
def _client(cache: str, settings: tuple[tuple[str, Any], ...]) -> Any:
    from longvid.enrich.vlm_client import ChatClient, ChatConfig

    p = dict(settings)
    config = ChatConfig(str(p.pop("endpoint")), str(p.pop("model")), cache_dir=Path(cache),
                        budget_file=Path(cache) / "spent", **p)
    return ChatClient(config)
