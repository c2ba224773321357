"""`fetch`: the video's media, a local file under --media-root (as the dataset's downloader left
it) or the URL streamed to CORPUS/media/ with timeouts, retries and a byte cap."""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path

from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources

def _remote_dest(work: VideoWork, url: str) -> Path:
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    suffix = suffix if suffix in {".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi"} else ".mp4"
    name = hashlib.sha1(work.video["video_uid"].encode()).hexdigest()[:20]
    return work.media_cache / f"{name}{suffix}"


def fetch(work: VideoWork) -> None:
    """Local media under --media-root as the dataset's downloader left it, else the URL,
    streamed to CORPUS/media/ with timeouts and retries."""
    from longvid.media.fetch import MAX_VIDEO_BYTES, resolve_location
    from longvid.media.fetch import fetch as fetch_media

    v, p = work.video, work.params.get("fetch", {})
    location = resolve_location(work.policy, v["source"], v.get("media_path"), v.get("url"))
    work.fetch = {"location": location}
    result = fetch_media(location, _remote_dest(work, location), policy=work.policy,
                         timeout=float(p.get("timeout", 30)), retries=int(p.get("retries", 3)),
                         backoff=float(p.get("backoff", 0.5)), max_bytes=int(p.get("max_bytes", MAX_VIDEO_BYTES)))
    work.path = result.path
    work.fetch.update({"bytes": result.bytes, "kind": result.source_kind, "attempts": result.attempts,
                       "sha256": result.sha256, "path": str(result.path), "cached": result.source_kind == "http"})


STAGE = Stage("fetch", fetch, "video", needs=("video",), gives=("media",), resources=Resources(cpus=0.75),
              doc="local file or streamed HTTP download")
