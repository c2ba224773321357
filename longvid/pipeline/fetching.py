"""The fetch stage's work for one video: where its media is (local copy or URL), the download
(direct, or yt-dlp for YouTube and web pages, span-only when that pays), the per-domain gate and
the media cache's budget. The stage itself (longvid.pipeline.stages) calls `fetch_stage`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from longvid.media.crawl import FetchOptions, fetch_video
from longvid.media.fetch import resolve_location
from longvid.media.politeness import Politeness
from longvid.pipeline import sections
from longvid.pipeline.media_budget import make_room

DOMAINS_FOLDER = ".domains"  # under CORPUS/, beside .lock: the politeness gates' files (a few bytes per domain)


def media_stem(video_uid: str) -> str:
    """The media cache's name for a video: no manifest text in a path (as its staging folder's)."""
    return hashlib.sha1(video_uid.encode()).hexdigest()[:20]


def fetch_stage(work: Any) -> None:
    """Local media under --media-root as the dataset's downloader left it, else the URL: streamed
    to CORPUS/media/<source>/, or through yt-dlp for YouTube links and web pages. A span-only
    download moves the video's spans onto the downloaded range's timeline (see
    longvid.pipeline.sections; align puts the samples back)."""
    v = work.video
    options = FetchOptions.from_params(work.params.get("fetch", {}))
    location = resolve_location(work.policy, v["source"], v.get("media_path"), v.get("url"))
    work.fetch = {"location": location}
    media = Path(work.media_cache).parent
    corpus = media.parent
    if options.media_budget is not None:
        make_room(corpus, options.media_budget)
    mode, params, _ = work.segment_mode
    choose = sections.chooser(work.spans, mode, params, v.get("duration"), fraction=options.section_fraction,
                              margin=options.section_margin)
    result = fetch_video(location, Path(work.media_cache), media_stem(v["video_uid"]), options=options,
                         policy=work.policy, gate=Politeness(corpus / DOMAINS_FOLDER, options.domains),
                         choose_section=choose)
    work.path = result.path
    work.fetch.update({"bytes": result.bytes, "kind": result.source_kind, "attempts": result.attempts,
                       "sha256": result.sha256, "path": str(result.path),
                       "cached": result.source_kind in ("http", "ytdlp"),
                       "section": list(result.section) if result.section else None,
                       "source_duration": result.source_duration})
    if result.section:
        work.spans = sections.into_section(work.spans, result.section[0])
    if options.media_budget is not None:
        make_room(corpus, options.media_budget, keep=result.path)
