"""WebVid sample: `results_10M_val.csv` (`videoid,name,page_idx,page_dir,duration,contentUrl`) and
`results_2M_val.csv` (`videoid,contentUrl,duration,page_dir,name`), videos at
`<page_dir>/<videoid>.mp4` as `download.py` leaves them.

Quirks: a videoid listed twice with different names, an exact duplicate row, an empty
page_dir (that video is only reachable over HTTP), a page_dir'd video that only the URL
has, a malformed ISO-8601 duration, a caption with commas, quotes and non-ASCII, a videoid with
leading zeros, and one row whose video is neither on disk nor reachable. Local rows keep the
real, dead `ak.picdn.net` URLs (their files are on disk, so they are never fetched); HTTP rows,
and the one row whose file is missing, point at the loopback server.
"""

from __future__ import annotations

import random
import re

from longvid.sample.manifests import CsvText, Expect, SourceSample, iso_duration, sentence
from longvid.sample.videos import VideoSpec, plan

NAME = "webvid"
HEADER_10M = ["videoid", "name", "page_idx", "page_dir", "duration", "contentUrl"]
HEADER_2M = ["videoid", "contentUrl", "duration", "page_dir", "name"]
WHO = ("Travel blogger", "Young woman", "Businessman", "Happy family", "Aerial view of", "Close up of",
       "Slow motion shot of", "Cinematic shot of")
WHAT = ("shoot a story on top of mountains.", "a green forest at sunset", "walking on the beach",
        "waves crashing on the rocks", "working on laptop in cafe", "city traffic at night, timelapse",
        "autumn leaves falling in the park.", "a sailboat on the  horizon")
ODD_NAME = ('Merida, mexico - may 23, 2017: tourists are walking near the "Catedral de Mérida" '
            "on a sunny day, café terraces — 4k")


def _page(rng: random.Random) -> tuple[int, str]:
    idx = rng.randint(1, 300_000)
    first = (idx - 1) // 50 * 50 + 1
    return idx, f"{first:06d}_{first + 49:06d}"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80]


class _Files:
    """Both CSVs; each row is added as a dict and written in its file's column order."""

    def __init__(self, expect: Expect):
        self.expect = expect
        self.tables = {"results_10M_val.csv": (CsvText(HEADER_10M), HEADER_10M),
                       "results_2M_val.csv": (CsvText(HEADER_2M), HEADER_2M)}

    def add(self, file: str, spec: VideoSpec, name: str, page: tuple[int, str], url: str,
            duration: str | None = None) -> int:
        table, header = self.tables[file]
        row = {"videoid": spec.native_id, "name": name, "page_idx": page[0], "page_dir": page[1],
               "duration": duration or iso_duration(int(spec.duration)), "contentUrl": url}
        line = table.add([row[h] for h in header])
        self.expect.video(spec.native_id)
        self.expect.span(spec.native_id, "alt_text")
        return line

    def duplicate(self, file: str, line_text_of: int) -> None:
        """Repeat the row that starts on `line_text_of`, byte for byte."""
        table, _ = self.tables[file]
        text = table.encode().decode("utf-8").splitlines(keepends=True)[line_text_of - 1]
        line = table.add_raw(text)
        self.expect.bad(file, line, "duplicate_row", f"same row as line {line_text_of}", locator=text.split(",", 1)[0])


def build(rng: random.Random, *, small: bool, port: int) -> SourceSample:
    """Both CSVs, the videos they name, and what a reader must find in them."""
    expect = Expect()
    out = _Files(expect)
    specs: list[VideoSpec] = []

    def video(vid: str, page: tuple[int, str] | None, name: str, *, served: bool = False) -> tuple[VideoSpec, str]:
        dead = f"https://ak.picdn.net/shutterstock/videos/{vid}/preview/stock-footage-{_slug(name)}.mp4"
        path = f"/shutterstock/videos/{vid}/preview/stock-footage-{_slug(name)}.mp4"
        seconds = rng.uniform(5, 12) if small else rng.uniform(6, 25)
        audio = rng.choice([None, "aac"])
        if served:
            spec = plan(rng, NAME, vid, "http" + path, seconds, audio=audio, url=f"http://127.0.0.1:{port}{path}")
            return spec, spec.url or ""
        assert page is not None
        return plan(rng, NAME, vid, f"media/{NAME}/{page[1]}/{vid}.mp4", seconds, audio=audio), dead

    ten, two = "results_10M_val.csv", "results_2M_val.csv"

    def stock() -> str:
        return sentence(rng, WHO, WHAT)

    def new_id() -> str:
        return str(rng.randrange(10**7, 2 * 10**9))

    page = _page(rng)
    first, url = video(new_id(), page, name := stock())
    specs.append(first)
    line = out.add(ten, first, name, page, url)
    out.add(ten, first, stock(), page, url)  # same videoid, another name: a second span
    page = _page(rng)
    zeros, url = video("00" + str(rng.randrange(10**7, 10**8)), page, ODD_NAME)
    specs.append(zeros)
    out.add(ten, zeros, ODD_NAME, page, url)
    out.duplicate(ten, line)
    served, url = video(new_id(), None, name := stock(), served=True)
    specs.append(served)
    out.add(ten, served, name, (_page(rng)[0], ""), url)  # empty page_dir: only the URL has it
    page = _page(rng)
    gone, url = video(new_id(), page, name := stock())
    expect.missing_media.append(gone.native_id)
    # the file was never downloaded and its URL is dead: on the loopback server (which answers 404),
    # never the real CDN, so no build of the sample sends traffic off this machine
    url = f"http://127.0.0.1:{port}" + url.split("ak.picdn.net", 1)[1]
    out.add(ten, gone, name, page, url)
    for _ in range(0 if small else 3):
        page = _page(rng)
        spec, url = video(new_id(), page, name := stock())
        specs.append(spec)
        out.add(ten, spec, name, page, url)

    page = _page(rng)
    odd, url = video(new_id(), page, name := stock())
    specs.append(odd)
    line = out.add(two, odd, name, page, url, duration="PT00H00MS")
    expect.bad(two, line, "bad_time", "duration 'PT00H00MS' is not ISO-8601", locator=odd.native_id, dropped=False)
    page = _page(rng)
    remote, url = video(new_id(), None, name := stock(), served=True)
    specs.append(remote)
    out.add(two, remote, name, page, url)  # a page_dir, but no local file: fetch the URL
    for _ in range(0 if small else 2):
        page = _page(rng)
        spec, url = video(new_id(), page, name := stock())
        specs.append(spec)
        out.add(two, spec, name, page, url)
    expect.notes += ["videos are unique videoids; each good row is one alt_text span [0, duration]",
                     "the malformed-duration row is kept: its span runs to the end of the video (end None)",
                     "rows with an empty page_dir, or whose file is not on disk, are fetched from contentUrl"]
    files = {name: table.encode() for name, (table, _) in out.tables.items()}
    return SourceSample(NAME, files, specs, expect)
