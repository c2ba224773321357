"""HD-VILA-100M sample: `hdvila_part<N>.jsonl`, one YouTube video per line with its clips
(`clip_id` `<id>.<n>.mp4`, `span` `["HH:MM:SS.mmm", "HH:MM:SS.mmm"]`), videos at
`download_videos/<video_id>.mp4` (where the official downloader put them).

Quirks: an id starting with '--', clip numbers with gaps, clips that touch (end == next
start), one line written as a Python literal (single quotes, as in the README), one clip with
a malformed timestamp, one line cut short (not JSON at all), and one listed video that was
never downloaded.
"""

from __future__ import annotations

import json
import random
from typing import Any

from longvid.sample.manifests import Expect, SourceSample, hms_ms, youtube_id
from longvid.sample.videos import plan

NAME = "hdvila"


def _clips(rng: random.Random, vid: str, dur_ms: int) -> list[dict[str, Any]]:
    """Clips in order, numbered from 1 with gaps; some touch the one before (clip 2 always
    touches clip 1, and clip 3, if any, is numbered 5)."""
    clips, n, t = [], 1, rng.randint(0, 3000)
    while True:
        end = t + rng.randint(2500, 8000)
        if end > dur_ms:
            return clips
        clips.append({"clip_id": f"{vid}.{n}.mp4", "span": [hms_ms(t), hms_ms(end)]})
        n += (1, 3)[len(clips) - 1] if len(clips) <= 2 else rng.choice([1, 1, 2, 4])
        t = end if len(clips) == 1 or rng.random() < 0.3 else end + rng.randint(200, 5000)


def build(rng: random.Random, *, small: bool, port: int) -> SourceSample:
    """The jsonl parts, the videos they name, and what a reader must find in them."""
    seconds = [26.0, 34.0, 18.0] if small else [88.0, 61.0, 420.0, 35.0, 74.0, 26.0, 140.0]
    seconds.append(30.0)  # listed, never downloaded
    parts = 2 if small else 3
    per_part = -(-len(seconds) // parts)
    expect = Expect()
    specs, lines = [], {f"hdvila_part{p}.jsonl": [] for p in range(parts)}
    for i, base in enumerate(seconds):
        vid = youtube_id(rng, "--" if i == 0 else "")
        spec = plan(rng, NAME, vid, f"media/{NAME}/download_videos/{vid}.mp4", base * rng.uniform(0.85, 1.15),
                    audio="aac")
        if i == len(seconds) - 1:
            expect.missing_media.append(vid)
        else:
            specs.append(spec)
        file = f"hdvila_part{min(i // per_part, parts - 1)}.jsonl"
        if i == len(seconds) - 2:  # a line cut short, then the file goes on
            cut = json.dumps({"video_id": youtube_id(rng), "url": "https://www.youtube.com/watch?v=x", "clip": []})
            lines[file].append(cut[:47])
            expect.bad(file, len(lines[file]), "bad_json", "line cut short: not JSON, not a Python literal")
        record = {"video_id": vid, "url": f"https://www.youtube.com/watch?v={vid}",
                  "clip": _clips(rng, vid, int(spec.duration * 1000))}
        line = len(lines[file]) + 1
        expect.video(vid)
        expect.span(vid, "clip", len(record["clip"]))
        if i == 1:  # one clip with a letter O for a zero
            bad = record["clip"][1]
            bad["span"][0] = bad["span"][0][:3] + "0O" + bad["span"][0][5:]
            expect.span(vid, "clip", -1)
            expect.bad(file, line, "bad_time", f"span start {bad['span'][0]!r} is not HH:MM:SS.mmm",
                       locator=bad["clip_id"])
        lines[file].append(repr(record) if i == 2 else json.dumps(record))
    expect.notes += ["one line is a Python literal (single quotes): accept it via ast.literal_eval",
                     "a malformed span drops that clip only; the video and its other clips stay"]
    files = {name: "".join(text + "\n" for text in rows).encode() for name, rows in lines.items()}
    return SourceSample(NAME, files, specs, expect)

