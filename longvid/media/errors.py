"""The one exception the media modules raise: a cause from longvid.errors plus a detail line."""

from __future__ import annotations

from longvid.errors import check


class MediaError(Exception):
    """Fetching, probing or cutting one video failed, for `cause` (a longvid.errors code).

    `attempts` is how many tries were made (fetch retries; 1 elsewhere), for stats.
    """

    def __init__(self, cause: str, detail: str, *, attempts: int = 1):
        super().__init__(f"{cause}: {detail}")
        self.cause = check(cause)
        self.detail = detail
        self.attempts = attempts

    def __reduce__(self):  # picklable across process boundaries (Ray workers) with its fields
        return (_rebuild, (self.cause, self.detail, self.attempts))


def _rebuild(cause: str, detail: str, attempts: int) -> MediaError:
    return MediaError(cause, detail, attempts=attempts)
