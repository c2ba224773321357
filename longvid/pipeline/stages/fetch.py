"""`fetch`: the video's media, a local file under --media-root (as the dataset's downloader left
it) or the URL: streamed to CORPUS/media/ with timeouts, retries and a byte cap, or through
yt-dlp for YouTube links and web pages, span-only when that pays (longvid.pipeline.fetching)."""

from __future__ import annotations

from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


def fetch(work: VideoWork) -> None:
    """Local media under --media-root as the dataset's downloader left it, else the URL
    (longvid.pipeline.fetching: direct download, yt-dlp, politeness, media budget)."""
    from longvid.pipeline.fetching import fetch_stage

    fetch_stage(work)


STAGE = Stage("fetch", fetch, "video", needs=("video",), gives=("media",), resources=Resources(cpus=0.75),
              doc="local file, streamed HTTP download, or yt-dlp (YouTube, web pages; span-only)")
