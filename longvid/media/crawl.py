"""One entry point for getting a source video, whatever the manifest gives: a local path or
`file://` URL (read in place), a direct `http(s)://` file (streamed by longvid.media.fetch), a
YouTube link, or a URL that answers with a web page (both through yt-dlp, longvid.media.ytdlp).

Every HTTP request waits its turn at the per-domain gate (longvid.media.politeness); the location
rules (longvid.media.locations) hold on every path.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from longvid.media.fetch import MAX_VIDEO_BYTES, FetchResult, WebPage, fetch, is_youtube
from longvid.media.locations import LocationPolicy
from longvid.media.politeness import Politeness
from longvid.media.ytdlp import SectionChooser, YtdlpOptions, download

__all__ = ["FetchOptions", "fetch_video", "media_suffix"]

_SUFFIXES = {".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi"}


@dataclass(frozen=True)
class FetchOptions:
    """The fetch stage's settings (the recipe's `fetch:` entry, with the command line's over it)."""

    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    max_bytes: int = MAX_VIDEO_BYTES
    max_height: int = 720
    container: str = "mp4"
    cookies: Path | None = None
    proxy: str | None = None
    domains: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per-domain limits (politeness)
    media_budget: int | None = None  # bytes the media cache may hold (longvid.pipeline.media_budget)
    sections: bool = True  # download only the wanted range of a long video (yt-dlp) when it pays
    section_fraction: float = 0.5  # ... when that range is at most this share of the video
    section_margin: float = 0.0  # seconds added on each side of the range

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "FetchOptions":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(params) - known - {"max_bytes"}
        if unknown:
            raise ValueError(f"unknown fetch parameter(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
        p = dict(params)
        return cls(
            timeout=float(p.get("timeout", cls.timeout)), retries=int(p.get("retries", cls.retries)),
            backoff=float(p.get("backoff", cls.backoff)), max_bytes=int(p.get("max_bytes", cls.max_bytes)),
            max_height=int(p.get("max_height", cls.max_height)), container=str(p.get("container", cls.container)),
            cookies=Path(p["cookies"]) if p.get("cookies") else None, proxy=p.get("proxy") or None,
            domains=dict(p.get("domains") or {}),
            media_budget=int(p["media_budget"]) if p.get("media_budget") is not None else None,
            sections=bool(p.get("sections", cls.sections)),
            section_fraction=float(p.get("section_fraction", cls.section_fraction)),
            section_margin=float(p.get("section_margin", cls.section_margin)))

    @property
    def ytdlp(self) -> YtdlpOptions:
        return YtdlpOptions(max_height=self.max_height, container=self.container, cookies=self.cookies,
                            proxy=self.proxy, timeout=self.timeout, retries=self.retries, backoff=self.backoff,
                            max_bytes=self.max_bytes)


def media_suffix(url: str) -> str:
    """The file suffix a direct download keeps: the URL's, if it is a video container, else .mp4."""
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix in _SUFFIXES else ".mp4"


def fetch_video(location: str, folder: Path, stem: str, *, options: FetchOptions = FetchOptions(),
                policy: LocationPolicy = LocationPolicy(), gate: Politeness = Politeness(None),
                choose_section: SectionChooser | None = None) -> FetchResult:
    """`location` as a local file: read in place, or downloaded to `folder/<stem>.<ext>`.
    `choose_section` (yt-dlp paths only) may ask for one range of the video. Raises MediaError."""
    is_http = re.match(r"(?i)https?://", location) is not None
    if is_http and is_youtube(location):
        return download(location, folder, stem, options=options.ytdlp, policy=policy, gate=gate,
                        choose_section=choose_section if options.sections else None)
    try:
        return fetch(location, Path(folder) / f"{stem}{media_suffix(location)}", policy=policy,
                     timeout=options.timeout, retries=options.retries, backoff=options.backoff,
                     max_bytes=options.max_bytes, gate=gate, pages=is_http)
    except WebPage as page:  # a page in place of the file: let yt-dlp find the video in it
        return download(page.url, folder, stem, options=options.ytdlp, policy=policy, gate=gate,
                        choose_section=choose_section if options.sections else None)
