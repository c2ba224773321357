"""Get one source video onto local disk: a local path as is, or an HTTP(S) download streamed to a file.

Downloads go chunk by chunk to a temporary file beside `dest` and are renamed into place only when
complete, so a partial download never looks finished and no video is ever held in memory; one
download is capped at `max_bytes`. Each failure is classified with a longvid.errors cause (and so
a class); transient ones (5xx, 429, timeouts, resets, truncation) are retried with exponential
backoff and jitter, a 429's `Retry-After` pausing the whole domain (longvid.media.politeness, whose
per-domain limits every request goes through). With `pages=True` a URL that answers with a web
page raises WebPage instead of downloading the page (longvid.media.crawl hands it to yt-dlp).
What may be read at all is the LocationPolicy's to say (longvid.media.locations): manifests come
from the internet.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import os
import re
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from longvid.media.errors import MediaError
from longvid.media.locations import LocationPolicy, refuse
from longvid.media.politeness import YOUTUBE_HOSTS, Politeness, backoff_delay, domain_of

__all__ = ["FetchResult", "MediaError", "WebPage", "fetch", "resolve_location", "quote_url", "is_youtube"]

USER_AGENT = "longvid/0.1"
MAX_VIDEO_BYTES = 32 << 30  # default cap on one download (Ego4D's longest videos are a few GB)
_NO_LIMITS = Politeness(None)
_PAGE_TYPES = ("text/html", "application/xhtml")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Where the media now is. `source_kind` is "local", "file" or "http"; `attempts` counts HTTP
    requests (0 for a local file or a download reused from an earlier run)."""

    path: Path
    bytes: int
    sha256: str | None  # None for a local file unless asked (see fetch)
    attempts: int
    source_kind: str
    section: tuple[float, float] | None = None  # the source range a span-only download holds (else the whole video)
    source_duration: float | None = None  # the whole video's length when the download says (yt-dlp)


class WebPage(Exception):
    """The URL answered with a web page, not media (raised by `fetch(..., pages=True)`)."""

    def __init__(self, url: str):
        super().__init__(f"a web page: {url}")
        self.url = url


class _Retryable(Exception):
    """One attempt failed in a way worth retrying (wraps the MediaError to raise at the end)."""

    def __init__(self, error: MediaError, wait: float | None = None):
        super().__init__(str(error))
        self.error = error
        self.wait = wait


def resolve_location(policy: LocationPolicy, source: str, media_path: str | None, url: str | None) -> str:
    """The local file `<media_root>/<source>/<media_path>` if it exists, else `url`, else no_media.
    A `media_path` that climbs out of the media root is refused."""
    media_root = policy.media_root
    if media_root is not None and media_path:
        local = policy.under(Path(media_root) / source, media_path)
        if _is_file(local):
            return str(local)
    if url:
        return url
    where = f"{Path(media_root) / source / media_path}" if media_root is not None and media_path else "no --media-root"
    raise MediaError("no_media", f"no local file ({where}) and no URL")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name longer than the file system allows, ...
        return False


def is_youtube(url: str) -> bool:
    """True for YouTube watch/short links (youtube.com/watch, youtu.be/ID, /shorts/, /embed/)."""
    try:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return host in YOUTUBE_HOSTS


def quote_url(url: str) -> str:
    """Percent-encode raw spaces and non-ASCII in the path/query (IDNA for the host), keeping %XX as is."""
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username is not None:
        cred = urllib.parse.quote(parts.username, safe="%")
        if parts.password is not None:
            cred += ":" + urllib.parse.quote(parts.password, safe="%")
        netloc = f"{cred}@{netloc}"
    path = _quote_part(parts.path, safe="/:@!$&'()*+,;=~%") or "/"
    query = _quote_part(parts.query, safe="/:@!$&'()*+,;=~%?")
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


def _quote_part(text: str, safe: str) -> str:
    text = re.sub(r"%(?![0-9A-Fa-f]{2})", "%25", text)  # a lone % is literal; an existing %20 stays
    return urllib.parse.quote(text, safe=safe)


def fetch(location: str, dest: Path, *, policy: LocationPolicy = LocationPolicy(), timeout: float = 30,
          retries: int = 3, backoff: float = 0.5, chunk: int = 1 << 20, hash_local: bool = False,
          max_bytes: int = MAX_VIDEO_BYTES, gate: Politeness = _NO_LIMITS, pages: bool = False) -> FetchResult:
    """Make `location` (local path, file:// or http(s):// URL) available as a local file.

    Local files are read only where `policy` allows, are not copied (`dest` is unused) and,
    unless `hash_local`, not read either (`sha256` None: hashing a multi-TB media root would
    read it all once more). HTTP bodies are streamed to `dest`; an existing `dest` whose size
    equals the server's Content-Length is reused. `timeout` bounds each socket operation
    (connect, every read), so a stalled transfer fails with cause "timeout"; a body over
    `max_bytes` fails with cause "too_large". Every HTTP request waits for its turn at `gate`.
    YouTube URLs are not downloaded here (cause bad_url: longvid.media.crawl sends them to yt-dlp).
    """
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", location)
    scheme = match.group(1).lower() if match else ""
    if scheme in ("http", "https"):
        if is_youtube(location):
            raise MediaError("bad_url", f"a YouTube URL is fetched with yt-dlp (longvid.media.crawl): {location}")
        return _fetch_http(location, Path(dest), policy=policy, timeout=timeout, retries=retries, backoff=backoff,
                           chunk=chunk, max_bytes=max_bytes, gate=gate, pages=pages)
    if scheme == "file":
        parsed = urllib.parse.urlsplit(location)
        if parsed.netloc not in ("", "localhost"):
            raise refuse(f"file URL on another host: {location}")
        return _local(policy.local_path(urllib.request.url2pathname(parsed.path)), "file", chunk, hash_local)
    if match:
        raise MediaError("bad_url", f"unsupported URL scheme {scheme!r}: {location}")
    return _local(policy.local_path(location), "local", chunk, hash_local)


def _local(path: Path, kind: str, chunk: int, hash_local: bool) -> FetchResult:
    if not _is_file(path):
        raise MediaError("no_media", f"no such file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise MediaError("empty_file", f"zero bytes: {path}")
    digest = _sha256_file(path, chunk) if hash_local else None
    return FetchResult(path=path, bytes=size, sha256=digest, attempts=0, source_kind=kind)


def _sha256_file(path: Path, chunk: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fetch_http(url: str, dest: Path, *, policy: LocationPolicy, timeout: float, retries: int, backoff: float,
                chunk: int, max_bytes: int, gate: Politeness, pages: bool) -> FetchResult:
    try:
        quoted = quote_url(url)
    except (ValueError, UnicodeError) as e:
        raise MediaError("bad_url", f"malformed URL ({e}): {url}") from None
    attempts, opener = 0, policy.opener()
    while True:
        attempts += 1
        try:
            with gate.request(quoted):
                return _attempt(opener, quoted, dest, timeout=timeout, chunk=chunk, attempts=attempts,
                                max_bytes=max_bytes, pages=pages)
        except _Retryable as failure:
            failure.error.attempts = attempts
            if failure.wait:
                gate.cool_down(quoted, failure.wait)  # the whole domain rests, not only this URL
                if failure.wait > gate.limits(domain_of(quoted)).max_wait:
                    failure.error.detail += f" (Retry-After {failure.wait:.0f} s is too long to wait)"
                    raise failure.error from None
            if attempts > retries:
                raise failure.error from None
            time.sleep(backoff_delay(attempts, backoff, quoted, retry_after=failure.wait))
        except MediaError as e:
            e.attempts = attempts
            raise


def _attempt(opener: urllib.request.OpenerDirector, url: str, dest: Path, *, timeout: float, chunk: int,
             attempts: int, max_bytes: int, pages: bool) -> FetchResult:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        _raise_status(e.code, e.reason, e.headers, url)
    except urllib.error.URLError as e:
        _raise_network(e.reason if isinstance(e.reason, BaseException) else e, url)
    except (OSError, http.client.HTTPException) as e:
        _raise_network(e, url)
    except (ValueError, UnicodeError) as e:  # e.g. an empty host label
        raise MediaError("bad_url", f"malformed URL ({e}): {url}") from None
    with response:
        if pages and (response.headers.get("Content-Type") or "").lower().startswith(_PAGE_TYPES):
            raise WebPage(response.geturl())
        length = _content_length(response.headers.get("Content-Length"))
        if length is not None and length > max_bytes:
            raise MediaError("too_large", f"{length} bytes announced, over --max-video-bytes {max_bytes}: {url}")
        if length and dest.is_file() and dest.stat().st_size == length:
            return FetchResult(path=dest, bytes=length, sha256=_sha256_file(dest, chunk), attempts=0,
                               source_kind="http")  # already downloaded by an earlier run
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            digest, size = hashlib.sha256(), 0
            buf = bytearray(chunk)
            view = memoryview(buf)
            with os.fdopen(fd, "wb") as out:
                try:
                    while n := response.readinto(buf):
                        if pages and size == 0 and _looks_like_html(view[:n]):
                            raise WebPage(response.geturl())
                        out.write(view[:n])
                        digest.update(view[:n])
                        size += n
                        if size > max_bytes:
                            raise MediaError("too_large", f"over --max-video-bytes {max_bytes} bytes: {url}")
                except (OSError, http.client.HTTPException) as e:
                    _raise_network(e, url, got=size, length=length)
            if length is not None and size < length:
                raise _Retryable(MediaError("truncated", f"got {size} of {length} bytes: {url}"))
            if size == 0:
                raise MediaError("empty_file", f"zero bytes: {url}")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    return FetchResult(path=dest, bytes=size, sha256=digest.hexdigest(), attempts=attempts, source_kind="http")


def _looks_like_html(head: memoryview) -> bool:
    """True when a body starts like an HTML document (served under a media type or none)."""
    text = bytes(head[:512]).lstrip().lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def status_cause(code: int) -> str:
    """The cause of an HTTP error status (its class follows: removed, blocked or transient)."""
    if code in (404, 410):
        return "not_found"
    if code in (401, 403):
        return "forbidden"
    if code == 429:
        return "rate_limited"
    return "server_error" if code >= 500 else "http_error"


def _raise_status(code: int, reason: object, headers, url: str):
    error = MediaError(status_cause(code), f"HTTP {code} {reason}: {url}")
    wait = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
    if code == 429 or code >= 500:
        raise _Retryable(error, wait)
    raise error


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _raise_network(exc: BaseException, url: str, *, got: int | None = None, length: int | None = None):
    """Classify a socket-level failure: timeouts and resets retry; refusals and DNS errors do not."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        where = f" after {got} bytes" if got is not None else ""
        raise _Retryable(MediaError("timeout", f"no data within the timeout{where}: {url}"))
    if isinstance(exc, http.client.IncompleteRead) or got is not None:
        of = f" of {length}" if length is not None else ""
        raise _Retryable(MediaError("truncated", f"connection lost after {got}{of} bytes ({exc!r}): {url}"))
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, http.client.BadStatusLine)):
        raise _Retryable(MediaError("connection_failed", f"connection reset before a response ({exc!r}): {url}"))
    raise MediaError("connection_failed", f"cannot connect ({exc!r}): {url}")
