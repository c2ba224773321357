"""MiraData sample: `miradata_v1_9k.csv` (the v1 layout: one clip per row, 18 columns) and
`miradata_v0_100_samples.csv` (the legacy v0 layout). Raw videos lie where `download_data.py`
leaves them, `<download_id//1000:09d>/<download_id:012d>.mp4`; the pexels/pixabay/videvo
rows are direct mp4 URLs, served only over HTTP.

v1 quirks: a BOM, float clip ids (clip 10 written `.1`, its file_path says `.10`), Python-literal
`timestamp` cells, framestamps with float ends, clips that touch, a >120 s clip whose captions
are unsorted 120-s windows, a broken windowed caption, an empty caption, `""` quotes,
non-ASCII, a URL with a raw space, and one row whose video was never downloaded.
v0 quirks: CRLF, two empty header names and a trailing `,,` on every row, an id with '-' in an
index split on '-', a row with an empty fps (use the H:MM:SS timesteps), a trailing empty row.
"""

from __future__ import annotations

import random

from longvid.sample.manifests import CsvText, Expect, SourceSample, floor_ms, hms_ms, hms_plain, youtube_id
from longvid.sample.videos import VideoSpec, plan

NAME = "miradata"
CAPTIONS = ["short_caption", "dense_caption", "background_caption", "main_object_caption", "style_caption",
            "camera_caption"]
V1_HEADER = ["clip_id", "source", "video_url", "video_id", "width", "height", "fps", "seconds", "timestamp",
             "frame_number", "framestamp", "file_path", *CAPTIONS]
V0_HEADER = ["index", "video_id", "start_frame", "end_frame", "main_object_caption", "background_caption",
             "style_caption", "camera_caption", "short_caption", "dense_caption", "fps", "start_timestep",
             "end_timestep", "", ""]
SUBJECTS = ("a person riding a motorcycle", "a group of friends", "a red car", "an old man with a dog",
            "a flock of birds", "a woman in a yellow jacket", "a sailboat", "a little girl")
PLACES = ("in a video game", "on a busy street with many shops", "at the beach", "in a snowy forest",
          "on a mountain road", "in a market square")
FPS_TEXT = {"30": "30.0", "25": "25.0", "29": "29.0", "10": "10.0", "15": "15.0", "24": "24.0",
            "30000/1001": "29.97", "24000/1001": "23.976"}


def _captions(rng: random.Random) -> dict[str, str]:
    """Plain captions for one clip, in the styles of the six v1 columns."""
    who, where = rng.choice(SUBJECTS), rng.choice(PLACES)
    return {
        "short_caption": f"{who.capitalize()} {where}.",
        "dense_caption": f"The video shows {who} {where}. The light changes slowly, and people pass by, "
                         f"some of them stopping to look.",
        "background_caption": f"The background is {where.split(' ', 1)[1]}, with buildings and trees in soft focus.",
        "main_object_caption": f"The main subject, {who}, moves from the left of the frame to the right.",
        "style_caption": "The visual, photographic, and artistic style of the video is realistic and bright.",
        "camera_caption": "The view shot starts with a wide shot, and the camera pans slowly to the right.",
    }


def _windowed(rng: random.Random, windows: list[tuple[int, int]]) -> str:
    """MiraData's encoding of captions for clips over 120 s: `[|||s||| e||| text |||,...]`."""
    return "[" + "".join(f"|||{s}||| {e}||| {rng.choice(SUBJECTS).capitalize()} {rng.choice(PLACES)}. |||,"
                         for s, e in windows) + "]"


class _Writer:
    """Rows of both layouts, with the expected spans counted as they are written."""

    def __init__(self, rng: random.Random, expect: Expect):
        self.rng, self.expect = rng, expect
        self.v1 = CsvText(V1_HEADER)
        self.v0 = CsvText(V0_HEADER, newline="\r\n")

    def v1_row(self, spec: VideoSpec, download_id: int, clip_idx: int, source: str, url: str,
               start_ms: int, end_ms: int, captions: dict[str, str], *, windows: dict[str, list] | None = None,
               float_end: bool = False, fps_text: str | None = None, broken: str | None = None) -> None:
        rate = float(spec.rate)
        fs, fe = round(start_ms / 1000 * rate), round(end_ms / 1000 * rate)
        whole = start_ms == 0 and end_ms == floor_ms(spec.duration)
        seconds = spec.duration if whole else round((end_ms - start_ms) / 1000, 3)
        cells = dict(captions)
        for col, wins in (windows or {}).items():
            cells[col] = _windowed(self.rng, wins)
        if broken:  # a windowed caption cut off mid-window
            cells[broken] = _windowed(self.rng, [(0, 120)])[:-12]
        row = [repr(float(f"{download_id}.{clip_idx}")), source, url, spec.native_id, spec.width, spec.height,
               fps_text or FPS_TEXT[spec.fps], repr(seconds), str([hms_ms(start_ms), hms_ms(end_ms)]), fe - fs,
               f"[{fs}, {fe}.0]" if float_end else f"[{fs}, {fe}]",
               f"video_clips/{download_id // 1000:09d}/{download_id:012d}.{clip_idx}.mp4",
               *(cells[c] for c in CAPTIONS)]
        line = self.v1.add(row)
        vid = spec.native_id
        self.expect.video(vid)
        self.expect.span(vid, "clip")
        for col in CAPTIONS:
            if col == broken:
                self.expect.bad("miradata_v1_9k.csv", line, "bad_caption", f"{col} is a windowed caption cut short",
                                locator=row[0], dropped=False)
            elif windows and col in windows:
                self.expect.span(vid, col, len(windows[col]))
            elif cells[col]:
                self.expect.span(vid, col)

    def v0_row(self, spec: VideoSpec, download_id: int, clip_idx: int, start_s: float, end_s: float,
               *, no_fps: bool = False, lead_space: bool = False) -> None:
        fs, fe = round(start_s * 30), round(end_s * 30)
        c = _captions(self.rng)
        if lead_space:
            c["main_object_caption"] = " some are closely inspecting the vehicles, others walk past the “FORD” sign"
        self.v0.add([f"{download_id:012d}_{spec.native_id}-{clip_idx:06d}", spec.native_id, fs, fe,
                     *(c[name] for name in V0_HEADER[4:10]), "" if no_fps else "30",
                     hms_plain(fs // 30), hms_plain(fe // 30), "", ""])
        self.expect.video(spec.native_id)
        self.expect.span(spec.native_id, "clip")
        for name in V0_HEADER[4:10]:
            self.expect.span(spec.native_id, name)


def _watch(vid: str) -> str:
    return f"https://www.youtube.com/watch?v={vid}"


def _local(rng: random.Random, vid: str, download_id: int, seconds: float, **kw) -> VideoSpec:
    path = f"media/{NAME}/{download_id // 1000:09d}/{download_id:012d}.mp4"
    return plan(rng, NAME, vid, path, seconds, **kw)


def _served(rng: random.Random, vid: str, url_path: str, port: int, seconds: float, **kw) -> VideoSpec:
    return plan(rng, NAME, vid, "http" + url_path, seconds, url=f"http://127.0.0.1:{port}{url_path}", **kw)


def build(rng: random.Random, *, small: bool, port: int) -> SourceSample:
    """Both CSVs, the videos they name, and what a reader must find in them."""
    expect = Expect()
    w = _Writer(rng, expect)
    specs: list[VideoSpec] = []

    # A: three touching-or-not clips of one YouTube video; clip 10 is written `.1`
    dl, vid = rng.randrange(0, 1_500_000), youtube_id(rng)
    a = _local(rng, vid, dl, rng.uniform(34, 40) if small else rng.uniform(55, 70), fps="30000/1001")
    specs.append(a)
    t0 = rng.randint(1000, 4000)
    t1 = t0 + rng.randint(5000, 9000)
    t2 = t1 + rng.randint(5000, 9000)
    t3 = t2 + rng.randint(2000, 4000)
    src = "youtube, 3D engine-rendered scenes"
    for idx, (s, e) in ((4, (t0, t1)), (5, (t1, t2)), (10, (t3, t3 + rng.randint(4000, 8000)))):
        caps = _captions(rng)
        if idx == 5:
            caps["dense_caption"] = ('A garage with a sign that reads "FORD" above the door; the person’s hands '
                                     'hold a "Millennium City" brochure.')
            caps["style_caption"] = ""
        w.v1_row(a, dl, idx, src, _watch(vid), s, e, caps)

    # C: a long video; clip 0 is over 120 s, so its captions are 120-s windows, unsorted
    dl, vid = rng.randrange(1_500_000, 2_000_000), youtube_id(rng)
    c = _local(rng, vid, dl, 252.0 if small else 380.0, fps="10", audio=None)
    specs.append(c)
    end = (floor_ms(c.duration) - 6000) // 1000 * 1000
    full = [(s, s + 120) for s in range(0, end // 1000 - 119, 120)]
    wins = {col: rng.sample(full, len(full)) for col in CAPTIONS}
    wins["short_caption"] = full[::-1]
    wins["background_caption"] = full[1:]  # does not start at 0, does not cover the clip
    src = "youtube, city or scenic tours"
    w.v1_row(c, dl, 0, src, _watch(vid), 0, end, _captions(rng), windows=wins)
    w.v1_row(c, dl, 1, src, _watch(vid), end, end + 4000, _captions(rng), broken="dense_caption")

    # V: videvo, served over HTTP, a raw space in the URL
    vid = str(rng.randrange(1000, 9999))
    day = f"23{rng.randint(1, 12):02d}{rng.randint(10, 28)}"
    name = f"{day}_0{rng.randint(1, 9)}_London 9_4k_0{rng.randint(10, 99)}.mp4"
    path = f"/joy/content/video/free/20{day[:2]}-{day[2:4]}/large_preview/{name}"
    v = _served(rng, vid, path, port, rng.uniform(8, 12) if small else rng.uniform(12, 20), fps="25")
    specs.append(v)
    w.v1_row(v, 5_000_000 + rng.randrange(100_000), 0, "videvo, city", v.url, 0, floor_ms(v.duration),
             _captions(rng), float_end=True)

    # P: pexels, served over HTTP, 23.976 fps (whole frames of 1.001 s so the times are exact)
    vid = str(rng.randrange(100_000, 999_999))
    p = _served(rng, vid, f"/video-files/{vid}/{vid}-hd_1280_720_24fps.mp4", port, rng.uniform(8, 12),
                fps="24000/1001", frame_multiple=24)
    specs.append(p)
    w.v1_row(p, 4_000_000 + rng.randrange(100_000), 0, "pexels", p.url, 0, floor_ms(p.duration), _captions(rng),
             fps_text="23.97602398")

    # M: a YouTube row whose video was never downloaded
    dl, vid = rng.randrange(0, 1_500_000), youtube_id(rng)
    m = _local(rng, vid, dl, 40.0)
    expect.missing_media.append(vid)
    w.v1_row(m, dl, 2, "youtube, timelapse videos", _watch(vid), 2000, 30000, _captions(rng))

    if not small:
        # X: pixabay at 29 fps, 123 s: one window [0, 120] only
        vid = str(rng.randrange(1000, 9999))
        x = _served(rng, vid, f"/video/2016/02/13/{vid}-{rng.randrange(10**8, 10**9)}_medium.mp4", port, 123.3,
                    fps="29", size=(128, 72))
        specs.append(x)
        w.v1_row(x, 6_000_000 + rng.randrange(100_000), 0, "pixabay", x.url, 0, floor_ms(x.duration),
                 _captions(rng), windows={col: [(0, 120)] for col in CAPTIONS}, float_end=True)
        # another videvo source spelled with %2F, and an HD-VILA YouTube video whose id starts with '-'
        vid = str(rng.randrange(1000, 9999))
        g = _served(rng, vid, f"/joy/content/video/free/2019-0{rng.randint(1, 9)}/large_preview/{vid}_motion.mp4",
                    port, rng.uniform(8, 14), fps="30")
        specs.append(g)
        w.v1_row(g, 5_000_000 + rng.randrange(100_000, 200_000), 0, "videvo, %2Ffree-motion-graphics", g.url, 0,
                 floor_ms(g.duration), _captions(rng), float_end=True)
        dl, vid = rng.randrange(1_000_000, 1_500_000), youtube_id(rng, "-")
        h = _local(rng, vid, dl, rng.uniform(70, 90))
        specs.append(h)
        for idx in (1, 3):
            s = (idx - 1) * 20000 + rng.randint(0, 3000)
            w.v1_row(h, dl, idx, "youtube, hd-vila-100m", _watch(vid), s, s + rng.randint(8000, 16000), _captions(rng))

    # v0: YouTube ids containing '-' (an index split on '-' breaks), 30 fps, whole-second timesteps
    for k in range(1 if small else 2):
        dl, vid = rng.randrange(2_000_000, 3_000_000), youtube_id(rng)
        vid = vid[:3] + "-" + vid[4:]
        z = _local(rng, vid, dl, rng.uniform(33, 38) if small else rng.uniform(45, 60), fps="30")
        specs.append(z)
        first = rng.randrange(100, 200)
        w.v0_row(z, dl, first, 1.4, 15.7, lead_space=k == 0)
        w.v0_row(z, dl, first + 1, 15.7, 31.2, no_fps=k == 0)
    w.v0.add([""] * len(V0_HEADER))
    expect.notes += ["videos are unique (platform, video_id) over both files; v0 is all YouTube",
                     "per row: one clip span plus one span per non-empty caption column, or per window",
                     "window times are relative to the clip (the windowed clip starts at 0)",
                     "a broken windowed caption drops that column only (dropped=false)"]
    files = {"miradata_v1_9k.csv": w.v1.encode(bom=True), "miradata_v0_100_samples.csv": w.v0.encode()}
    return SourceSample(NAME, files, specs, expect)
