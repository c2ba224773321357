"""The self-made sample: real on-disk formats, decodable videos, spans inside them, counts that
match sample.json, a working loopback server, and byte-identical reruns.

The manifests are read here with the standard library only (not with longvid.sources), so
these tests check the sample on its own terms.
"""

from __future__ import annotations

import ast
import csv
import json
import re
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

import av
import pytest

from longvid.errors import CAUSES
from longvid.sample.make import build_sources, make_sample
from longvid.sample.server import serve

FILES = {
    "ego4d": ["ego4d.json", "narration.json"],
    "howto100m": ["HowTo100M_v1.csv", "caption.json", "task_ids.csv"],
    "hdvila": ["hdvila_part0.jsonl", "hdvila_part1.jsonl"],
    "miradata": ["miradata_v0_100_samples.csv", "miradata_v1_9k.csv"],
    "webvid": ["results_10M_val.csv", "results_2M_val.csv"],
}
MEDIA = {
    "ego4d": r"full_scale/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.mp4",
    "howto100m": r"[\w-]{11}\.mp4",
    "hdvila": r"download_videos/[\w-]{11}\.mp4",
    "miradata": r"(\d{9})/(\d{12})\.mp4",
    "webvid": r"\d{6}_\d{6}/\d+\.mp4",
}
CAPTIONS = ["short_caption", "dense_caption", "background_caption", "main_object_caption", "style_caption",
            "camera_caption"]
WINDOW = r"\|\|\|(\d+)\|\|\| (\d+)\|\|\| (.*?) \|\|\|,"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sample")
    return out, make_sample(out, seed=0, small=True)


def _hms(text: str) -> float:
    m = re.fullmatch(r"(\d+):(\d\d):(\d\d)(?:\.(\d{3}))?", text)
    if not m:
        raise ValueError(text)
    h, mi, s, ms = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + int(ms or 0) / 1000


class Found:
    """What the stdlib reading of one source finds: videos, spans (id, kind, start, end), bad rows."""

    def __init__(self) -> None:
        self.videos: set[str] = set()
        self.spans: list[tuple[str, str, float, float | None]] = []
        self.bad: set[tuple[str, int | None, str, str]] = set()

    def span(self, vid: str, kind: str, start: float, end: float | None) -> None:
        self.spans.append((vid, kind, start, end))


def read_ego4d(d: Path) -> Found:
    f = Found()
    meta = json.loads((d / "ego4d.json").read_text())
    narr = json.loads((d / "narration.json").read_text())
    f.videos = {v["video_uid"] for v in meta["videos"]}
    for uid, entry in narr.items():
        if uid not in f.videos:
            f.bad.add(("narration.json", None, uid, "unlisted_video"))
            continue
        for key in ("narration_pass_1", "narration_pass_2"):
            for n in entry.get(key, {}).get("narrations", []):
                assert n["timestamp_frame"] == round(max(0.0, n["timestamp_sec"]) * 30)
                t = max(0.0, n["timestamp_sec"]) if n["timestamp_sec"] > -1e-3 else n["timestamp_sec"]
                f.span(uid, "narration", t, t)
            for s in entry.get(key, {}).get("summaries", []):
                f.span(uid, "summary", s["start_sec"], s["end_sec"])
    return f


def read_howto100m(d: Path) -> Found:
    f = Found()
    with open(d / "HowTo100M_v1.csv", newline="", encoding="utf-8") as fh:
        f.videos = {row["video_id"] for row in csv.DictReader(fh)}
    for vid, c in json.loads((d / "caption.json").read_text()).items():
        assert len(c["start"]) == len(c["end"]) == len(c["text"])
        for i, (s, e) in enumerate(zip(c["start"], c["end"])):
            if e < s:
                f.bad.add(("caption.json", None, f"{vid}#{i}", "bad_interval"))
            else:
                f.span(vid, "asr", s, e)
    return f


def read_hdvila(d: Path) -> Found:
    f = Found()
    for path in sorted(d.glob("hdvila_part*.jsonl")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                try:
                    rec = ast.literal_eval(line)
                except (ValueError, SyntaxError):
                    f.bad.add((path.name, number, "", "bad_json"))
                    continue
            f.videos.add(rec["video_id"])
            for clip in rec["clip"]:
                try:
                    f.span(rec["video_id"], "clip", _hms(clip["span"][0]), _hms(clip["span"][1]))
                except ValueError:
                    f.bad.add((path.name, number, clip["clip_id"], "bad_time"))
    return f


def read_miradata(d: Path) -> Found:
    f = Found()
    name = "miradata_v1_9k.csv"
    with open(d / name, newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            vid = row["video_id"]
            f.videos.add(f"{row['source'].split(',')[0]}:{vid}")
            start, end = (_hms(t) for t in ast.literal_eval(row["timestamp"]))
            f.span(vid, "clip", start, end)
            for col in CAPTIONS:
                cell = row[col]
                if cell.startswith("[|||"):
                    if not re.fullmatch(rf"\[(?:{WINDOW})+\]", cell):
                        f.bad.add((name, line, row["clip_id"], "bad_caption"))
                        continue
                    for ws, we, _ in re.findall(WINDOW, cell):
                        f.span(vid, col, start + int(ws), start + int(we))
                elif cell:
                    f.span(vid, col, start, end)
    with open(d / "miradata_v0_100_samples.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    for row in rows[1:]:
        if not any(row):
            continue
        r = dict(zip(header, row))
        if r["fps"]:
            start, end = int(r["start_frame"]) / float(r["fps"]), int(r["end_frame"]) / float(r["fps"])
        else:
            start, end = _hms(r["start_timestep"]), _hms(r["end_timestep"])
        f.videos.add(f"youtube:{r['video_id']}")
        f.span(r["video_id"], "clip", start, end)
        for col in header[4:10]:
            if r[col]:
                f.span(r["video_id"], col, start, end)
    return f


def read_webvid(d: Path) -> Found:
    f = Found()
    for name in ("results_10M_val.csv", "results_2M_val.csv"):
        seen: set[tuple] = set()
        with open(d / name, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                key = tuple(row.items())
                if key in seen:
                    f.bad.add((name, line, row["videoid"], "duplicate_row"))
                    continue
                seen.add(key)
                f.videos.add(row["videoid"])
                m = re.fullmatch(r"PT(\d\d)H(\d\d)M(\d\d)S", row["duration"])
                if not m:
                    f.bad.add((name, line, row["videoid"], "bad_time"))
                end = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]) if m else None
                f.span(row["videoid"], "alt_text", 0.0, end)
    return f


READERS = {"ego4d": read_ego4d, "howto100m": read_howto100m, "hdvila": read_hdvila, "miradata": read_miradata,
           "webvid": read_webvid}


def test_layout(sample: tuple[Path, dict]) -> None:
    out, doc = sample
    assert json.loads((out / "sample.json").read_text()) == doc
    assert (doc["seed"], doc["small"], doc["port"]) == (0, True, 8642)
    for source, names in FILES.items():
        assert sorted(p.name for p in (out / "manifests" / source).iterdir()) == sorted(names)
        assert doc["sources"][source]["manifests"] == sorted(names)
        assert len(doc["sources"][source]["missing_media"]) == 1
        assert 2 <= sum(v["source"] == source for v in doc["videos"]) <= 6
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.mp4")}
    assert on_disk == {v["path"] for v in doc["videos"]}
    for v in doc["videos"]:
        if v["served"] == "local":
            assert v["path"] == f"media/{v['source']}/{v['media_path']}" and v["url"] is None
            m = re.fullmatch(MEDIA[v["source"]], v["media_path"])
            assert m, v["media_path"]
            if v["source"] == "miradata":
                assert int(m[1]) == int(m[2]) // 1000
        else:
            assert v["path"].startswith("http/") and v["media_path"] is None
            assert v["url"] == doc["base_url"] + v["path"][len("http"):]
    served = {v["source"] for v in doc["videos"] if v["served"] == "http"}
    assert served == {"miradata", "webvid"}
    assert any(" " in v["url"] for v in doc["videos"] if v["url"])


def test_formats(sample: tuple[Path, dict]) -> None:
    m = sample[0] / "manifests"
    raw = (m / "howto100m/HowTo100M_v1.csv").read_bytes()
    assert raw.startswith(b"video_id,category_1,category_2,rank,task_id\r\n") and raw.count(b"\n") == raw.count(b"\r\n")
    tasks = (m / "howto100m/task_ids.csv").read_text().splitlines()
    assert all(re.fullmatch(r"\d+\t[^\t]+", t) for t in tasks) and tasks[0] == "0\tMake a Mexican Bean Toast"
    with open(m / "howto100m/HowTo100M_v1.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["task_id"] for r in rows} <= {t.split("\t")[0] for t in tasks}
    ids = [r["video_id"] for r in rows]
    assert any(i.startswith("-") for i in ids) and any(i.startswith("_") for i in ids) and len(ids) > len(set(ids))

    v1 = (m / "miradata/miradata_v1_9k.csv").read_bytes()
    assert v1.startswith("\ufeffclip_id,source,video_url,video_id,width,height,fps,seconds,timestamp,".encode())
    with open(m / "miradata/miradata_v1_9k.csv", newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        assert len(ast.literal_eval(row["timestamp"])) == 2
        with pytest.raises(json.JSONDecodeError):
            json.loads(row["timestamp"])
        assert row["file_path"].startswith(f"video_clips/{int(float(row['clip_id'])) // 1000:09d}/")
    assert any(r["clip_id"].endswith(".1") and r["file_path"].endswith(".10.mp4") for r in rows)
    assert any(r["framestamp"].endswith(".0]") for r in rows) and any(" " in r["video_url"] for r in rows)
    assert b'""FORD""' in v1
    v0 = (m / "miradata/miradata_v0_100_samples.csv").read_bytes()
    lines = v0.split(b"\r\n")
    assert lines[0].endswith(b",end_timestep,,") and lines[-1] == b"" and lines[-2] == b"," * 14
    assert all(line.endswith(b",,") for line in lines[:-1]) and v0.count(b"\n") == v0.count(b"\r\n")

    heads = [(m / f"webvid/{n}").read_text().splitlines()[0] for n in FILES["webvid"]]
    assert heads == ["videoid,name,page_idx,page_dir,duration,contentUrl", "videoid,contentUrl,duration,page_dir,name"]
    hd = (m / "hdvila/hdvila_part0.jsonl").read_text() + (m / "hdvila/hdvila_part1.jsonl").read_text()
    assert '{"video_id": "--' in hd and "{'video_id': '" in hd
    clips = [json.loads(line)["clip"] for line in hd.splitlines() if line.startswith('{"') and line.endswith("}")]
    assert any(c[0]["span"][1] == c[1]["span"][0] for c in clips if len(c) > 1)  # touching spans
    assert any(c[-1]["clip_id"].rsplit(".", 2)[1] != str(len(c)) for c in clips)  # numbering gaps


@pytest.mark.parametrize("source", list(READERS))
def test_counts_match_manifests(sample: tuple[Path, dict], source: str) -> None:
    out, doc = sample
    expect = doc["sources"][source]
    found = READERS[source](out / "manifests" / source)
    assert len(found.videos) == expect["videos"]
    assert Counter(k for _, k, _, _ in found.spans) == Counter(expect["spans"])
    assert Counter(v for v, _, _, _ in found.spans) == Counter(expect["spans_per_video"])
    listed = {(b["file"], b["line"], b["cause"]) for b in expect["bad_rows"]}
    assert {(f, line, cause) for f, line, _, cause in found.bad} == listed
    assert all(b["cause"] in CAUSES for b in expect["bad_rows"])
    made = {(v["source"], v["native_id"]): v["duration"] for v in doc["videos"]}
    for vid, kind, start, end in found.spans:
        if (source, vid) not in made:
            assert vid in expect["missing_media"]
            continue
        assert 0 <= start <= (end if end is not None else start) <= made[(source, vid)] + 1e-6, (vid, kind, start, end)


def test_videos_decode(sample: tuple[Path, dict]) -> None:
    out, doc = sample
    codecs = set()
    for v in doc["videos"]:
        with av.open(str(out / v["path"])) as c:
            stream = c.streams.video[0]
            n = sum(1 for _ in c.decode(stream))
            codecs.add(stream.codec_context.name)
            assert (stream.codec_context.width, stream.codec_context.height) == (v["width"], v["height"])
            assert abs(float(stream.average_rate) - v["fps"]) < 1e-3
            assert n == v["frames"]
            assert abs(float(stream.duration * stream.time_base) - v["duration"]) < 1 / v["fps"]
            assert bool(c.streams.audio) == bool(v["audio"])
    assert codecs == {"h264", "vp9"}
    assert max(v["duration"] for v in doc["videos"]) > 180


def test_server_serves_sample_urls(sample: tuple[Path, dict]) -> None:
    out, doc = sample
    with serve(out / "http") as base:
        for v in (v for v in doc["videos"] if v["served"] == "http"):
            url = base + quote(urlsplit(v["url"]).path)
            with urllib.request.urlopen(url, timeout=10) as r:
                assert r.status == 200 and r.read() == (out / v["path"]).read_bytes()
        path = out / v["path"]
        data, size = path.read_bytes(), path.stat().st_size
        head = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as r:
            assert int(r.headers["Content-Length"]) == size and r.read() == b""
        for spec, want in (("bytes=100-199", data[100:200]), ("bytes=-10", data[-10:]),
                           (f"bytes={size - 5}-", data[-5:])):
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": spec}), timeout=10) as r:
                assert r.status == 206 and r.read() == want
                assert r.headers["Content-Range"].endswith(f"/{size}")
        for bad, code in ((url, 416), (base + "/nope.mp4", 404), (base + "/../sample.json", 404)):
            req = urllib.request.Request(bad, headers={"Range": f"bytes={size}-"} if code == 416 else {})
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            assert e.value.code == code


def test_deterministic(sample: tuple[Path, dict], tmp_path: Path) -> None:
    out, doc = sample
    again = make_sample(tmp_path, seed=0, small=True)
    assert again == doc
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    for rel in files:
        assert (out / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel
    other = {p.name: p.files for p in build_sources(seed=1, small=True)}
    for part in build_sources(seed=0, small=True):
        changed = [other[part.name][n] != data for n, data in part.files.items() if n != "task_ids.csv"]
        assert all(changed)  # task_ids.csv is a fixed table; everything else depends on the seed
