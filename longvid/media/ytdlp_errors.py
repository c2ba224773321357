"""What a failed yt-dlp (or FFmpeg) download means, as a longvid.errors cause.

yt-dlp raises DownloadError wrapping the real exception (ExtractorError with an HTTP error as its
cause, UnsupportedError for a page without a video, GeoRestrictedError, networking errors); its
messages say the rest ("Video unavailable", "Private video", "Sign in to confirm you're not a
bot", ...). An HTTP status found in the chain decides first (with its Retry-After), then the
exception's type, then the message, matched against a table of phrases; what matches nothing is
`download_failed` (class transient: retried).
"""

from __future__ import annotations

import re
from typing import Any

from longvid.media.errors import MediaError
from longvid.media.fetch import retry_after_seconds, status_cause
from longvid.media.locations import refuse

__all__ = ["RETRIED", "TooLarge", "classify"]

# causes a download is tried again for (within one fetch); the others are final
RETRIED = {"server_error", "connection_failed", "timeout", "truncated", "download_failed", "rate_limited"}


class TooLarge(Exception):
    """Raised by the progress hook when a download passes the byte cap."""


_MESSAGES: list[tuple[str, str]] = [  # (regular expression over the lower-cased message, cause), first match wins
    (r"not a bot", "bot_wall"),
    (r"private video|video is private|members[- ]only|join this channel", "video_private"),
    (r"confirm your age|age[- ]restricted|inappropriate for some users|sign in|log ?in required|login required|"
     r"requires authentication", "sign_in_required"),
    (r"not available (?:in|from) your (?:country|location)|geo[- ]?restrict", "geo_blocked"),
    (r"http error 429|too many requests", "rate_limited"),
    (r"http error 40[13]", "forbidden"),
    (r"http error 4(?:04|10)", "not_found"),
    (r"http error 5\d\d", "server_error"),
    (r"video unavailable|has been removed|no longer available|account .* terminated|does not exist|"
     r"this video is unavailable|not available", "video_unavailable"),
    (r"unsupported url|no video formats found|no video could be found|requested format is not available", "no_video_in_page"),
    (r"timed? ?out", "timeout"),
    (r"content too short|incomplete ?read|did not get any data|fewer bytes|more expected|truncat", "truncated"),
    (r"connection (?:reset|refused|aborted)|remote end closed|name or service not known|name resolution|"
     r"unable to connect|network is unreachable|connection error|transporterror|bad ?status ?line", "connection_failed"),
]


def classify(exc: BaseException, lines: list[str], refusals: list[str]) -> tuple[MediaError, float | None]:
    """(MediaError with a longvid.errors cause, Retry-After seconds or None) for a yt-dlp failure."""
    if refusals:
        return refuse(refusals[0]), None
    chain = _chain(exc)
    if any(isinstance(e, TooLarge) for e in chain):
        return MediaError("too_large", str(next(e for e in chain if isinstance(e, TooLarge)))), None
    if any(isinstance(e, MediaError) for e in chain):
        return next(e for e in chain if isinstance(e, MediaError)), None
    message = " ".join(dict.fromkeys([*(str(e) for e in chain), *lines[-3:]]))
    detail = _clean(message)
    names = {type(e).__name__ for e in chain}
    for e in chain:  # an HTTP status says most
        status = getattr(e, "status", None)
        if isinstance(status, int) and status >= 400:
            headers = getattr(getattr(e, "response", None), "headers", None) or {}
            return MediaError(_status_cause(status, message), detail), _retry_after(headers)
    if "GeoRestrictedError" in names:
        return MediaError("geo_blocked", detail), None
    if "UnsupportedError" in names:
        return MediaError("no_video_in_page", detail), None
    if names & {"ContentTooShortError", "IncompleteRead"}:
        return MediaError("truncated", detail), None
    lowered = message.lower()
    for pattern, cause in _MESSAGES:
        if re.search(pattern, lowered):
            return MediaError(cause, detail), None
    if names & {"TimeoutError", "ReadTimeout", "socket.timeout"}:
        return MediaError("timeout", detail), None
    if names & {"TransportError", "ConnectionError", "ConnectionResetError", "IncompleteRead", "ProxyError"}:
        return MediaError("connection_failed", detail), None
    return MediaError("download_failed", detail), None


def _status_cause(status: int, message: str) -> str:
    """A page's 403 behind a bot wall is the wall; otherwise the status decides."""
    if status == 403 and "not a bot" in message.lower():
        return "bot_wall"
    return status_cause(status)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what yt-dlp wrapped (DownloadError.exc_info, ExtractorError.cause) and its causes."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or any(e is seen for seen in out) or len(out) > 10:
            continue
        out.append(e)
        info = getattr(e, "exc_info", None)
        todo += [info[1] if isinstance(info, tuple) and len(info) > 1 else None,
                 getattr(e, "cause", None) if isinstance(getattr(e, "cause", None), BaseException) else None,
                 e.__cause__, e.__context__]
    return out


def _retry_after(headers: Any) -> float | None:
    try:
        return retry_after_seconds(headers.get("Retry-After"))
    except AttributeError:
        return None


def _clean(message: str) -> str:
    """yt-dlp's message on one line, without its colour codes and 'ERROR:' prefixes, bounded."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message)
    text = re.sub(r"\bERROR:\s*", "", text)
    return " ".join(text.split())[:500]
