"""Videos whose codecs the .mp4 container cannot hold still become samples."""

from __future__ import annotations

import json
from pathlib import Path

from longvid.pipeline.build import BuildConfig, build
from longvid.catalog.sql import query
from longvid.media.ffmpeg import run_ffmpeg
from longvid.media.probe import decodes
from longvid.shards.reader import iter_shard


def test_uncopyable_video_codec_falls_back_to_reencode(tmp_path: Path) -> None:
    media = tmp_path / "media" / "webvid" / "000001_000050"
    media.mkdir(parents=True)
    # an old WMV2/μ-law AVI saved under the .mp4 name the downloader uses: stream copy into .mp4 fails
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=4", "-f", "lavfi",
                "-i", "sine=duration=4", "-c:v", "wmv2", "-c:a", "pcm_mulaw", "-shortest", "-f", "avi",
                str(media / "42.mp4")])
    manifests = tmp_path / "manifests" / "webvid"
    manifests.mkdir(parents=True)
    (manifests / "results_2M_val.csv").write_text(
        "videoid,contentUrl,duration,page_dir,name\n42,,PT00H00M04S,000001_000050,An old clip.\n")
    summary = build(BuildConfig(sources=["webvid"], manifests=tmp_path / "manifests", corpus=tmp_path / "corpus",
                                media_root=tmp_path / "media", runner="local", workers=1))
    assert summary["samples"] == 1 and not summary["failures"]
    (sample,) = [s for tar in (tmp_path / "corpus" / "shards").glob("*.tar") for s in iter_shard(tar)]
    doc = json.loads(sample["json"])
    assert doc["cut"] == "reencode" and abs(doc["duration"] - 4.0) < 0.05
    out = tmp_path / "out.mp4"
    out.write_bytes(sample["mp4"])
    assert decodes(out)
    assert query(tmp_path / "corpus", "SELECT count(*) FROM errors WHERE stage <> 'ingest'")[1] == [(0,)]
