"""One vocabulary of short snake_case causes, shared by stats, the catalog and the errors table.

A cause names what went wrong, not where: the row's stage, file and line say where. Each cause
belongs to one class (CLASSES): what a retry may change, the unit `longvid retry --class` and the
coverage report count in.
"""

from __future__ import annotations

# Every failure belongs to one class, what `longvid retry --class` and the coverage report go by:
CLASSES: dict[str, str] = {
    "removed": "the video is gone or private where the manifest points (404/410, removed, private, a page without a video)",
    "blocked": "the host refuses us for now (bot wall, 401/403, 429, geo or age gate): retry later, slower or with cookies",
    "transient": "the network failed (5xx, timeout, reset, truncated transfer): a retry may well succeed",
    "bad_media": "the bytes are not usable video (not a video, cut-off file, undecodable, too large)",
    "bad_row": "the manifest row itself is wrong (unparsable, a refused or malformed location, a span outside its video)",
    "internal": "a bug in longvid (stage_error): retry once it is fixed",
}

# cause -> (class, description)
_CAUSES: dict[str, tuple[str, str]] = {
    # ingest: manifest rows
    "bad_json": ("bad_row", "a line or value is not valid JSON (or Python literal)"),
    "bad_csv": ("bad_row", "a CSV/TSV row has the wrong number of fields or cannot be split"),
    "not_utf8": ("bad_row", "text was not UTF-8; decoded as cp1252 instead"),
    "missing_field": ("bad_row", "a required field is absent or empty"),
    "bad_type": ("bad_row", "a field has the wrong type (e.g. a list where an object belongs)"),
    "bad_time": ("bad_row", "a timestamp or duration cannot be parsed"),
    "bad_interval": ("bad_row", "a span ends before it starts, or starts before 0"),
    "bad_number": ("bad_row", "a numeric field is not a number"),
    "ragged_arrays": ("bad_row", "parallel arrays (start/end/text) have different lengths"),
    "bad_caption": ("bad_row", "a caption cell cannot be decoded (e.g. a broken windowed caption)"),
    "duplicate_row": ("bad_row", "the same record appears again with identical content"),
    "unlisted_video": ("bad_row", "annotations name a video the source's video list does not have"),
    "missing_file": ("bad_row", "a manifest file the source needs is absent"),
    "parse_error": ("bad_row", "an unexpected failure while parsing one row"),
    # build: fetching
    "no_media": ("bad_row", "no local file and no URL to fetch from"),
    "bad_url": ("bad_row", "the URL is malformed, of an unsupported scheme, or names no valid video id"),
    "refused_location": ("bad_row", "the manifest points at a local file outside the allowed folders, or at a private host"),
    "not_found": ("removed", "the server answered 404 or 410: the file is gone"),
    "http_error": ("removed", "the server answered with another 4xx status (the request is refused for good)"),
    "video_unavailable": ("removed", "the video was removed or its account terminated (yt-dlp)"),
    "video_private": ("removed", "the video is private or members-only (yt-dlp)"),
    "no_video_in_page": ("removed", "the URL answers with a web page in which no video was found"),
    "forbidden": ("blocked", "the server answered 401 or 403"),
    "rate_limited": ("blocked", "the server answered 429, or asked the domain to wait longer than we wait"),
    "bot_wall": ("blocked", "the site asks to sign in to confirm we are not a bot (yt-dlp)"),
    "sign_in_required": ("blocked", "the site asks to sign in (age gate, login): give --cookies"),
    "geo_blocked": ("blocked", "the video is not available from this country (yt-dlp)"),
    "server_error": ("transient", "the server answered 5xx"),
    "connection_failed": ("transient", "no connection, or it was reset before a response (DNS, refused, reset)"),
    "timeout": ("transient", "the transfer stalled past its timeout"),
    "truncated": ("transient", "the transfer ended before the body the server announced"),
    "download_failed": ("transient", "yt-dlp failed for another reason (its message is the detail)"),
    "empty_file": ("bad_media", "the download or file has zero bytes"),
    "too_large": ("bad_media", "the download is over the --max-video-bytes cap"),
    # build: later stages
    "member_lost": ("transient", "a staged sample file vanished before its shard was written (the video is redone on the next build)"),
    "not_video": ("bad_media", "the file has no decodable video stream (cannot be opened as video)"),
    "truncated_file": ("bad_media", "the file ends before the video its index lists (a cut-off file)"),
    "span_outside_video": ("bad_row", "a span lies outside the probed video"),
    "segment_failed": ("bad_media", "FFmpeg could not cut the sample"),
    "stage_error": ("internal", "an unexpected failure inside a build stage (a bug: the detail has the exception)"),
    # model stages: a model's answer may differ on a retry
    "vlm_failed": ("transient", "the chat endpoint gave no caption for a sample (timeout, 429/5xx, empty or malformed replies, budget spent)"),
    "qa_rejected": ("transient", "a generated question-answer pair failed its checks or its request failed (the reason leads the detail)"),
    # precompress (a sample's video, read back from its shard)
    "decode_failed": ("bad_media", "the video opens, but the sampled frames cannot be decoded (a corrupt or cut-off stream)"),
    "too_short": ("bad_media", "the video is too short to sample: no frame on the sampling grid (--fps)"),
}

CAUSES: dict[str, str] = {cause: text for cause, (_, text) in _CAUSES.items()}
CAUSE_CLASS: dict[str, str] = {cause: klass for cause, (klass, _) in _CAUSES.items()}


def error_class(cause: str) -> str:
    """The class of a cause (see CLASSES); raises KeyError for a cause not in the vocabulary."""
    return CAUSE_CLASS[check(cause)]


def parse_classes(text: str) -> list[str]:
    """`transient,blocked` (or `all`) -> validated class names, in the order given."""
    names = list(CLASSES) if text.strip() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLASSES]
    if unknown or not names:
        raise ValueError(f"unknown error class(es) {unknown or text!r}; known: {', '.join(CLASSES)} or 'all'")
    return names


def check(cause: str) -> str:
    """Return `cause` if it is in the vocabulary, else raise (keeps the codes from drifting)."""
    if cause not in CAUSES:
        raise KeyError(f"unknown error cause {cause!r}; add it to longvid.errors.CAUSES")
    return cause


class UserError(Exception):
    """A failure the user can fix (a busy corpus, an unreachable cluster, ...): the CLI prints its
    message as one line and exits 2."""


# What a command reports as one line (`error: ...`, exit 2) instead of a traceback: a user's
# mistake or a refusal, never a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, KeyError, ValueError, PermissionError)


def user_message(error: BaseException) -> str:
    """The one line shown for a USER_ERRORS exception."""
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).split())
