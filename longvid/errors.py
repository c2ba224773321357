"""One vocabulary of short snake_case causes, shared by stats, the catalog and the errors table.

A cause names what went wrong, not where: the row's stage, file and line say where.
"""

from __future__ import annotations

CAUSES: dict[str, str] = {
    # ingest: manifest rows
    "bad_json": "a line or value is not valid JSON (or Python literal)",
    "bad_csv": "a CSV/TSV row has the wrong number of fields or cannot be split",
    "not_utf8": "text was not UTF-8; decoded as cp1252 instead",
    "missing_field": "a required field is absent or empty",
    "bad_type": "a field has the wrong type (e.g. a list where an object belongs)",
    "bad_time": "a timestamp or duration cannot be parsed",
    "bad_interval": "a span ends before it starts, or starts before 0",
    "bad_number": "a numeric field is not a number",
    "ragged_arrays": "parallel arrays (start/end/text) have different lengths",
    "bad_caption": "a caption cell cannot be decoded (e.g. a broken windowed caption)",
    "duplicate_row": "the same record appears again with identical content",
    "unlisted_video": "annotations name a video the source's video list does not have",
    "missing_file": "a manifest file the source needs is absent",
    "parse_error": "an unexpected failure while parsing one row",
    # build (later stages)
    "http_error": "the server answered with an error status",
    "timeout": "the transfer stalled past its timeout",
    "truncated": "the body was shorter than the server announced",
    "empty_file": "the download or file has zero bytes",
    "no_media": "no local file and no URL to fetch from",
    "refused_location": "the manifest points at a local file outside the allowed folders, or at a private host",
    "too_large": "the download is over the --max-video-bytes cap",
    "member_lost": "a staged sample file vanished before its shard was written (the video is redone on the next build)",
    "not_video": "the file has no decodable video stream (cannot be opened as video)",
    "span_outside_video": "a span lies outside the probed video",
    "segment_failed": "FFmpeg could not cut the sample",
    "stage_error": "an unexpected failure inside a build stage (a bug: the detail has the exception)",
    "vlm_failed": "the chat endpoint gave no caption for a sample (timeout, 429/5xx, empty or malformed replies, budget spent)",
    "qa_rejected": "a generated question-answer pair failed its checks or its request failed (the reason leads the detail)",
    # precompress (a sample's video, read back from its shard)
    "decode_failed": "the video opens, but the sampled frames cannot be decoded (a corrupt or cut-off stream)",
    "too_short": "the video is too short to sample: no frame on the sampling grid (--fps)",
}


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
