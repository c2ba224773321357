"""HowTo100M sample: `HowTo100M_v1.csv` (CRLF), `task_ids.csv` (a TSV without header) and
`caption.json` (per video parallel `start`/`end`/`text` lists), videos at `<video_id>.mp4`.

Quirks: a video listed under two tasks, ids starting with '-' and '_', an empty category_2,
float32-noise times, overlapping roll-up segments, an empty-text segment, a `[Music]` segment,
a start == end segment, one segment that ends before it starts, a task name with commas, and
one listed video that was never downloaded.
"""

from __future__ import annotations

import json
import random

from longvid.sample.manifests import CsvText, Expect, SourceSample, float32, youtube_id
from longvid.sample.videos import plan

NAME = "howto100m"
HEADER = ["video_id", "category_1", "category_2", "rank", "task_id"]
TASKS = {  # ids 0-5, 52907 and 58362 are real; the others are made up
    0: "Make a Mexican Bean Toast", 1: "Make a Cinnamon Toast Sandwich", 2: "Make Avocado on Toast",
    3: "Make Baked Peach French Toast", 4: "Make Buttered Toast", 5: "Make Banana and Coconut Toast",
    25938: "Make a Mango Lassi", 52907: "Paint a Motorcycle", 58362: "Repair an Exhaust Pipe with a Tin Can",
    71204: "Knit a Scarf, Hat and Mittens Set", 88113: "Replace a Bicycle Chain", 109057: "Clean Motorcycle Chrome",
    119814: "Make a Paper Lantern", 120455: "Grow Basil Indoors",
}
CATEGORIES = {
    25938: ("Food and Entertaining", "Drinks"), 52907: ("Cars & Other Vehicles", "Motorcycles"),
    58362: ("Hobbies and Crafts", "Crafts"), 71204: ("Hobbies and Crafts", "Crafts"),
    88113: ("Cars & Other Vehicles", "Bicycles"), 109057: ("Cars & Other Vehicles", "Motorcycles"),
    119814: ("Hobbies and Crafts", "Crafts"), 120455: ("Home and Garden", "Gardening"),
    0: ("Food and Entertaining", "Recipes"), 4: ("Food and Entertaining", "Recipes"),
}
WORDS = ("going", "show", "paint", "chain", "little", "bit", "take", "tank", "basically", "gonna", "clean",
         "brush", "right", "oil", "cut", "fold", "paper", "water", "see", "put", "okay", "guys", "coat")


def _segments(rng: random.Random, dur: float, noisy: bool) -> tuple[list[float], list[float], list[str]]:
    """Roll-up subtitles: each segment starts before the previous one ends."""
    starts, ends, texts = [], [], []
    t = rng.uniform(0.0, 3.0)
    while True:
        end = t + rng.uniform(3.0, 6.5)
        if end > dur - 0.2:
            break
        s, e = round(t, 2), round(end, 2)
        starts.append(float32(s) if noisy else s)
        ends.append(float32(e) if noisy else e)
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8))))
        t += rng.uniform(1.5, 3.5)
    return starts, ends, texts


def build(rng: random.Random, *, small: bool, port: int) -> SourceSample:
    """The three manifests, the videos they name, and what a reader must find in them."""
    seconds = [22.0, 32.0, 16.0] if small else [64.0, 95.0, 31.0, 320.0, 47.0, 22.0, 130.0]
    seconds.append(25.0)  # listed and captioned, never downloaded
    prefixes = ["-", "_"] + [""] * len(seconds)
    task_ids = [t for t in CATEGORIES]
    rng.shuffle(task_ids)
    expect = Expect()
    table = CsvText(HEADER, newline="\r\n")
    captions: dict[str, dict[str, list]] = {}
    specs = []
    bad_segment = None
    for i, base in enumerate(seconds):
        vid = youtube_id(rng, prefixes[i])
        spec = plan(rng, NAME, vid, f"media/{NAME}/{vid}.mp4", base * rng.uniform(0.85, 1.15),
                    audio=rng.choice(["aac", "aac", "opus"]))
        if i == len(seconds) - 1:
            expect.missing_media.append(vid)
        else:
            specs.append(spec)
        expect.video(vid)
        tasks = task_ids[i % len(task_ids)], task_ids[(i + 3) % len(task_ids)]
        for task in tasks[: 2 if i == 1 else 1]:  # video 1 is ranked for two tasks
            cat1, cat2 = CATEGORIES[task]
            table.add([vid, cat1, "" if i == 2 else cat2, rng.randint(1, 150), task])
        starts, ends, texts = _segments(rng, spec.duration, noisy=i == 0)
        if i == 1:  # the odd segments real auto-captions have
            texts[1] = ""
            texts[2] = "[Music]"
            ends[3] = starts[3]
            starts[4], ends[4] = ends[4], starts[4]
            bad_segment = f"{vid}#4"
        captions[vid] = {"start": starts, "end": ends, "text": texts}
        expect.span(vid, "asr", len(starts) - (i == 1))
    expect.bad("caption.json", None, "bad_interval", "segment 4 ends before it starts", locator=bad_segment or "")
    expect.notes += ["one video has rows for two tasks: count it once",
                     "an empty-text segment and a [Music] segment are counted as asr spans",
                     "a start == end segment is a valid instant"]
    tsv = CsvText(delimiter="\t")
    for task in sorted(set(TASKS)):
        tsv.add([task, TASKS[task]])
    files = {"HowTo100M_v1.csv": table.encode(), "task_ids.csv": tsv.encode(),
             "caption.json": json.dumps(captions).encode()}
    return SourceSample(NAME, files, specs, expect)
