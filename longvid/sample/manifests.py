"""What the five per-source sample modules share: the expectations they record, CSV writing
that knows each row's line number, id makers and the time encodings the real files use.

Each source module (ego4d, howto100m, hdvila, miradata, webvid in this package) exposes
`NAME` and `build(rng, *, small, port) -> SourceSample`; `SOURCES` lists them in order.
Expected counts are recorded while the rows are written, from the same values, so that
sample.json always agrees with the manifests.
"""

from __future__ import annotations

import csv
import io
import random
import string
import struct
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from longvid.errors import check
from longvid.sample.videos import VideoSpec

SOURCES = ("ego4d", "howto100m", "hdvila", "miradata", "webvid")
YT_CHARS = string.ascii_letters + string.digits + "-_"


@dataclass
class Expect:
    """What a correct reader must yield from one source's manifests."""

    videos: dict[str, None] = field(default_factory=dict)  # ordered set of native ids
    spans: Counter[str] = field(default_factory=Counter)
    spans_per_video: Counter[str] = field(default_factory=Counter)
    bad_rows: list[dict[str, Any]] = field(default_factory=list)
    missing_media: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def video(self, native_id: str) -> None:
        self.videos.setdefault(native_id, None)

    def span(self, native_id: str, kind: str, n: int = 1) -> None:
        self.spans[kind] += n
        self.spans_per_video[native_id] += n

    def bad(self, file: str, line: int | None, cause: str, detail: str, *, locator: str = "",
            dropped: bool = True) -> None:
        """A deliberately bad row. `line` is the 1-based first line of the row (None inside a
        JSON document, where `locator` says where); `dropped` False means the row is still
        used with the bad field left out."""
        self.bad_rows.append({"file": file, "line": line, "locator": locator, "cause": check(cause),
                              "dropped": dropped, "detail": detail})

    def to_json(self) -> dict[str, Any]:
        return {
            "videos": len(self.videos),
            "spans": dict(sorted(self.spans.items())),
            "spans_total": sum(self.spans.values()),
            "spans_per_video": dict(sorted(self.spans_per_video.items())),
            "bad_rows": self.bad_rows,
            "errors_by_cause": dict(sorted(Counter(b["cause"] for b in self.bad_rows).items())),
            "missing_media": self.missing_media,
            "notes": self.notes,
        }


@dataclass
class SourceSample:
    """One source's part of the sample: manifest files (name -> bytes), videos, expectations."""

    name: str
    files: dict[str, bytes]
    videos: list[VideoSpec]
    expect: Expect


class CsvText:
    """A CSV (or TSV) written row by row; `add` returns the 1-based line the row starts on."""

    def __init__(self, header: list[str] | None = None, *, delimiter: str = ",", newline: str = "\n"):
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, delimiter=delimiter, lineterminator=newline,
                                  quoting=csv.QUOTE_MINIMAL)
        self._line = 1
        if header is not None:
            self.add(header)

    def add(self, row: list[Any]) -> int:
        line = self._line
        before = self._buf.tell()
        self._writer.writerow(row)
        self._line += self._buf.getvalue()[before:].count("\n")
        return line

    def add_raw(self, text: str) -> int:
        """Append an already-formatted line (with its terminator)."""
        line = self._line
        self._buf.write(text)
        self._line += text.count("\n")
        return line

    def encode(self, bom: bool = False) -> bytes:
        return (("\ufeff" if bom else "") + self._buf.getvalue()).encode("utf-8")


def youtube_id(rng: random.Random, prefix: str = "") -> str:
    """An 11-character YouTube-style id; generated ones start with a letter or digit unless
    `prefix` (e.g. "-", "_", "--") says otherwise."""
    first = rng.choice(string.ascii_letters + string.digits)
    rest = "".join(rng.choice(YT_CHARS) for _ in range(10))
    return (prefix + first + rest)[:11]


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def float32(x: float) -> float:
    """`x` as a float32 read back into a float (HowTo100M's 6.019999980926514 noise)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def hms_ms(ms: int) -> str:
    """Milliseconds as `HH:MM:SS.mmm` (HD-VILA, MiraData v1)."""
    s, milli = divmod(ms, 1000)
    m, sec = divmod(s, 60)
    h, mnt = divmod(m, 60)
    return f"{h:02d}:{mnt:02d}:{sec:02d}.{milli:03d}"


def hms_plain(seconds: int) -> str:
    """Whole seconds as `H:MM:SS` without padding the hours (MiraData v0)."""
    m, sec = divmod(seconds, 60)
    h, mnt = divmod(m, 60)
    return f"{h}:{mnt:02d}:{sec:02d}"


def iso_duration(seconds: int) -> str:
    """Whole seconds as WebVid's `PT00H00M17S`."""
    m, sec = divmod(seconds, 60)
    h, mnt = divmod(m, 60)
    return f"PT{h:02d}H{mnt:02d}M{sec:02d}S"


def floor_ms(seconds: float) -> int:
    """Whole milliseconds not past `seconds` (so a stated end stays inside the file)."""
    return int(seconds * 1000 + 1e-6)


def sentence(rng: random.Random, *parts: tuple[str, ...]) -> str:
    """One phrase per tuple, joined with spaces."""
    return " ".join(rng.choice(p) for p in parts)
