"""`longvid export llava` on a built corpus: every record in the format's schema, the videos copied out of
the shards, and a data mix that the trainer's reader matches to the corpus's samples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from longvid.catalog.schema import json_schema
from longvid.export.llava import ExportConfig, check_record, export_llava
from tests.pipeline.conftest import Built, SampleInfo, clips, read_webdataset


def test_export_samples_loads_with_the_schema(reference: Built, tmp_path: Path) -> None:
    out = tmp_path / "export" / "longvid.json"
    done = subprocess.run([sys.executable, "-m", "longvid.cli.entry", "export", "llava", str(reference.corpus),
                           "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    records = json.loads(out.read_text())
    schema = json_schema("llava")
    for r in records:
        jsonschema.validate(r, schema)
        turns = r["conversations"]
        assert turns[0]["value"].startswith("<image>\n") and sum(t["value"].count("<image>") for t in turns) == 1
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert isinstance(r["duration"], float) and r["duration"] > 0
    rows = {c["key"]: c for c in clips(reference.corpus)}
    with_text = {r["id"].rsplit("-", 1)[0] for r in records}
    assert with_text <= set(rows) and summary["records"] == len(records) > len(with_text) // 2
    assert summary["samples"] + summary["skipped"].get("no_text", 0) == len(rows)
    # each sample's video is its shard member, byte for byte
    members = {s["__key__"]: s["mp4"] for s in read_webdataset(reference.corpus)}
    videos = out.parent / "longvid_videos"
    assert {p.stem for p in videos.glob("*.mp4")} == with_text
    for key in with_text:
        assert (videos / f"{key}.mp4").read_bytes() == members[key]
        assert next(r for r in records if r["id"].startswith(key))["duration"] == pytest.approx(rows[key]["duration"])
    mix = yaml.safe_load(out.with_suffix(".yaml").read_text())
    assert mix == {"datasets": [{"json_path": str(out.resolve()), "sampling_strategy": "all",
                                 "data_root": str(videos.resolve()), "video_read_type": "decord"}]}


def test_the_trainer_reads_the_mix_and_matches_every_record(reference: Built, tmp_path: Path) -> None:
    pytest.importorskip("longvid_trainer")
    from longvid_trainer.annotations import annotation_items
    from longvid_trainer.cache_index import CachedSample, CacheIndex

    out = tmp_path / "mix" / "longvid.jsonl"
    export_llava(ExportConfig(corpus=reference.corpus, out=out))
    index = CacheIndex("t", [CachedSample(key=c["key"], shard=Path("x.tar"), frames=8, duration=c["duration"], dim=8,
                                          kind=c["kind"], source=c["source"], video_uid=c["video_uid"],
                                          start=c["start"], end=c["end"], requested=(c["start"], c["end"]),
                                          captions=tuple(c["captions"]), names=frozenset({c["video_uid"].lower()}))
                             for c in clips(reference.corpus)], {})
    items, unmatched = annotation_items(out.with_suffix(".yaml"), index)
    lines = out.read_text().splitlines()
    assert unmatched == [] and len(items) == len(lines)
    assert [i.key for i in items] == [json.loads(line)["id"].rsplit("-", 1)[0] for line in lines]


def test_export_source_paths_with_start_and_end(reference: Built, sample: SampleInfo, tmp_path: Path) -> None:
    out = tmp_path / "src.json"
    summary = export_llava(ExportConfig(corpus=reference.corpus, out=out, videos="source", media_root=sample.media))
    records = json.loads(out.read_text())
    assert records and summary["skipped"].get("no_source_file", 0) > 0  # the URL-fetched videos have no file
    for r in records:
        check_record(r)
        assert (sample.media / r["video"]).is_file() and 0 <= r["start"] < r["end"]
    assert yaml.safe_load(out.with_suffix(".yaml").read_text())["datasets"][0]["data_root"] == str(sample.media.resolve())


@pytest.mark.parametrize("record, message", [
    ({"id": "a", "video": "a.mp4", "duration": 2.0,
      "conversations": [{"from": "human", "value": "no placeholder"}, {"from": "gpt", "value": "x"}]}, "exactly one"),
    ({"id": "a", "video": "a.mp4", "duration": 2.0,
      "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "human", "value": "x"}]}, "alternate"),
    ({"id": "a", "video": "a.mp4", "duration": 2,
      "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "x"}]}, "float"),
    ({"id": "a", "video": "a.mp4", "duration": 2.0, "start": 1.0,
      "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "x"}]}, "end"),
])
def test_check_record_refuses(record: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_record(record)


def test_cli_errors_are_one_line(reference: Built, tmp_path: Path) -> None:
    for args in (["export", "llava", str(reference.corpus), "-o", str(tmp_path / "x.txt")],
                 ["export", "llava", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.json")],
                 ["export", "llava", str(reference.corpus), "-o", str(tmp_path / "x.json"), "--videos", "source"]):
        done = subprocess.run([sys.executable, "-m", "longvid.cli.entry", *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, done.stderr
