"""Download one range of a remote video with FFmpeg: the formats yt-dlp chose, read from their
URLs from the range's start (FFmpeg seeks with HTTP range requests where the server allows), cut
exactly and encoded as an exact cut is (H.264/AAC, deterministic flags), so only the range
crosses the network and the file starts at the range's start.

FFmpeg's own connections go through the given proxy (the GuardProxy of longvid.media.ytdlp, or
the user's); its failures are classified from its stderr with longvid.errors causes.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvid.media.errors import MediaError

__all__ = ["Section", "can_cut", "cut_local", "download_range", "ffmpeg_cause"]

_PROTOCOLS = {"http", "https", "m3u8", "m3u8_native"}


@dataclass(frozen=True)
class Section:
    """A source range [start, end) to download, and the source times where samples will start
    (`cuts`): the download has a keyframe at each, so a stream-copy cut starts exactly there."""

    start: float
    end: float
    cuts: tuple[float, ...] = ()


def _formats(info: dict[str, Any]) -> list[dict[str, Any]]:
    return list(info.get("requested_formats") or [info])


def can_cut(info: dict[str, Any], proxy: str | None) -> bool:
    """True when FFmpeg can read every chosen format itself (plain HTTP(S) or HLS, no SOCKS proxy)."""
    if proxy and not proxy.startswith("http://"):
        return False
    return all(f.get("url") and (f.get("protocol") or "https") in _PROTOCOLS for f in _formats(info))


def download_range(info: dict[str, Any], ydl: Any, section: Section, dest: Path, *, proxy: str | None,
                   timeout: float, max_bytes: int) -> Path:
    """Write source range `section` of the video to `dest` (renamed into place when complete),
    with keyframes at its cuts; raises MediaError."""
    inputs = []
    for fmt in _formats(info):
        url, args = fmt["url"], []
        headers = fmt.get("http_headers") or info.get("http_headers") or {}
        cookies = ydl.cookiejar.get_cookies_for_url(url)
        if cookies:
            args += ["-cookies", "".join(f"{c.name}={c.value}; path={c.path}; domain={c.domain};\r\n" for c in cookies)]
        if headers:
            args += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in headers.items())]
        if proxy:
            args += ["-http_proxy", proxy]
        inputs.append(([*args, "-rw_timeout", str(int(timeout * 1_000_000))], url))
    env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}  # FFmpeg would bypass the proxy
    if proxy:
        env["http_proxy"] = proxy
    return _encode(inputs, section, dest, env=env, limit=max(60.0, 20 * timeout + section.end - section.start),
                   max_bytes=max_bytes)


def cut_local(src: Path, section: Section, dest: Path, *, max_bytes: int) -> Path:
    """The same range cut from a whole downloaded file, encoded the same way (the same bytes as a
    range read when the file is the same)."""
    return _encode([([], str(src))], section, dest, env=None, limit=600.0 + 2 * (section.end - section.start),
                   max_bytes=max_bytes)


def _encode(inputs: list[tuple[list[str], str]], section: Section, dest: Path, *, env: dict[str, str] | None,
            limit: float, max_bytes: int) -> Path:
    from longvid.media.ffmpeg import ffmpeg_exe
    from longvid.media.probe import probe
    from longvid.media.segment import ENCODE_ARGS, determinism_flags

    start, end = section.start, section.end
    keys = sorted({0.0, *(round(c - start, 6) for c in section.cuts if start <= c < end)})
    args = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "warning", "-y"]
    for input_args, where in inputs:
        args += [*input_args, "-ss", f"{start:.6f}", "-t", f"{end - start:.6f}", "-i", where]
    args += ["-map", "0:v:0", "-map", f"{len(inputs) - 1}:a:0?", *ENCODE_ARGS,
             "-force_key_frames", ",".join(f"{k:.6f}" for k in keys), "-fs", str(max_bytes),
             *determinism_flags(dest)]
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        done = subprocess.run([*args, str(tmp)], capture_output=True, timeout=limit, env=env)
        text = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0:
            raise MediaError(ffmpeg_cause(text), f"FFmpeg reading {start:.3f}-{end:.3f} s: {text[-400:] or 'no message'}")
        if tmp.stat().st_size >= max_bytes:
            raise MediaError("too_large", f"the range is over --max-video-bytes {max_bytes} bytes")
        got = probe(tmp, scan=False).duration if tmp.stat().st_size else 0.0
        if got < end - start - 0.5:  # the input ended early (a cut-off transfer FFmpeg did not call an error)
            raise MediaError("truncated", f"FFmpeg read {got:.3f} of {end - start:.3f} s ({start:.3f}-{end:.3f} s): "
                                          f"{text[-300:] or 'no message'}")
        os.replace(tmp, dest)
    except subprocess.TimeoutExpired:
        raise MediaError("timeout", f"FFmpeg reading {start:.3f}-{end:.3f} s ran too long") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


_CAUSES: list[tuple[str, str]] = [  # FFmpeg's stderr, lower-cased -> cause; first match wins (HTTP first)
    (r"\b429\b|too many requests", "rate_limited"),
    (r"(?:http error|server returned) 40[13]\b|403 forbidden|401 unauthorized", "forbidden"),
    (r"(?:http error|server returned) 4(?:04|10)\b|404 not found", "not_found"),
    (r"(?:http error|server returned) 5\d\d\b|5xx server error", "server_error"),
    (r"timed out|timeout", "timeout"),
    (r"connection refused|connection reset|network is unreachable|failed to resolve|name or service|"
     r"broken pipe|end of file|i/o error|input/output error", "connection_failed"),
    (r"invalid data found|moov atom not found|could not find codec|no such stream|does not contain any stream|"
     r"stream map .* matches no streams", "not_video"),
]


def ffmpeg_cause(stderr: str) -> str:
    """The longvid.errors cause of an FFmpeg failure reading a remote input, from its stderr."""
    text = stderr.lower()
    for pattern, cause in _CAUSES:
        if re.search(pattern, text):
            return cause
    return "download_failed"
