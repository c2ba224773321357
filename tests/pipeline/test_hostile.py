"""Manifests are untrusted input: a build never reads outside --media-root / --allow-local, never
fetches from a private host unless --allow-private-hosts, and no id, page_dir, URL or caption
makes it write outside the corpus. Each refusal is one `errors` row naming the flag to use.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from longvid.pipeline.build import BuildConfig, build
from longvid.catalog.sql import query
from tests.pipeline.conftest import offline
from tests.support.fault_server import fault_server

HEADER = ["videoid", "contentUrl", "duration", "page_dir", "name"]  # results_2M_*.csv


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (relative path -> sha256 of its bytes)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def world(tmp_path_factory, sample):
    """A folder holding: a 'secret' video outside every allowed folder, a media root, a served
    folder, and a WebVid manifest full of hostile rows."""
    root = tmp_path_factory.mktemp("hostile")
    video = next(sample.media.rglob("*.mp4"))
    outside = root / "outside"
    outside.mkdir()
    shutil.copy(video, outside / "secret.mp4")
    (root / "media" / "webvid" / "pages").mkdir(parents=True)
    shutil.copy(video, root / "media" / "webvid" / "pages" / "ok-local.mp4")
    (root / "served").mkdir()
    shutil.copy(video, root / "served" / "v.mp4")
    return root


def manifest(root: Path, rows: list[list[str]]) -> Path:
    folder = root / "manifests" / "webvid"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "results_2M_train.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return root / "manifests"


def run(root: Path, corpus: Path, **flags) -> dict[str, tuple[str, str]]:
    """Build; returns {video native id: (stage, cause)} of the build's error rows and the clips' ids."""
    with offline():
        build(BuildConfig(sources=["webvid"], manifests=root / "manifests", corpus=corpus, media_root=root / "media",
                          runner="local", workers=2, **flags))
    errors = {r[0]: (r[1], r[2], r[3]) for r in query(
        corpus, "SELECT v.native_id, e.stage, e.cause, e.detail FROM errors e JOIN videos v USING (video_uid) "
                "WHERE e.stage <> 'ingest'")[1]}
    landed = {r[0] for r in query(corpus, "SELECT native_id FROM clips")[1]}
    return errors, landed


def test_hostile_rows_are_refused_and_nothing_is_written_outside_the_corpus(world, tmp_path):
    root = tmp_path / "w"
    shutil.copytree(world, root)
    secret = root / "outside" / "secret.mp4"
    with fault_server(root / "served") as server:
        rows = [
            ["ok-local", "", "PT00H00M04S", "pages", "a video under --media-root"],
            ["file-url", secret.as_uri(), "PT00H00M04S", "", "file:// outside every allowed folder"],
            ["abs-path", str(secret), "PT00H00M04S", "", "a plain absolute path"],
            ["rel-path", "../outside/secret.mp4", "PT00H00M04S", "", "a relative path"],
            ["climb", "", "PT00H00M04S", "../../outside", "page_dir climbing out of the media root"],
            ["loopback", server.url("v.mp4"), "PT00H00M04S", "", "a loopback URL"],
            ["metadata", "http://169.254.169.254/latest/meta-data", "PT00H00M04S", "", "cloud metadata"],
            ["../../../../tmp/evil-id", server.url("v.mp4"), "PT00H00M04S", "../..", "an id that is a path"],
            ["/etc/evil", server.url("v.mp4"), "PT00H00M04S", "/etc", "an absolute id"],
            ["-rf", server.url("v.mp4"), "PT00H00M04S", "-x", "a leading dash"],
            ["x" * 400, server.url("v.mp4"), "PT00H00M04S", "y" * 300, "names longer than NAME_MAX"],
            ["captions", server.url("v.mp4"), "PT00H00M04S", "", "../../../etc/passwd\n$(rm -rf /) \x00 '; DROP"],
        ]
        manifest(root, rows)
        before = {k: v for k, v in tree(root).items() if not k.startswith("corpus")}
        errors, landed = run(root, root / "corpus")
        assert {k: v for k, v in tree(root).items() if not k.startswith("corpus")} == before  # nothing outside
        assert landed == {"ok-local"}
        refused = {vid for vid, (_, cause, _) in errors.items() if cause == "refused_location"}
        assert refused == {r[0] for r in rows} - {"ok-local"}
        climbing = {"climb", "../../../../tmp/evil-id"}  # page_dir/id leave the media root: never read, no flag
        for vid, (stage, cause, detail) in errors.items():
            assert stage == "fetch"
            flag = "--allow-local" if vid in {"file-url", "abs-path", "rel-path"} else "--allow-private-hosts"
            assert ("leaves" in detail) if vid in climbing else (flag in detail), (vid, detail)

        # the legitimate cases through the flags: the file outside, and the loopback server
        errors, landed = run(root, root / "corpus2", allow_local=(root / "outside",), allow_private_hosts=True)
        assert landed == {"file-url", "abs-path", "loopback", "-rf", "captions", "x" * 400, "/etc/evil", "ok-local"}
        assert {vid: cause for vid, (_, cause, _) in errors.items()} == {
            "climb": "refused_location", "../../../../tmp/evil-id": "refused_location",
            "rel-path": "refused_location",  # relative to the working folder: outside the allowed ones
            "metadata": "connection_failed"}  # allowed now, and nothing answers there
        assert not any(p.name == "evil-id.mp4" for p in Path("/tmp").glob("evil*"))
        assert secret.read_bytes() == (world / "outside" / "secret.mp4").read_bytes()


def test_downloads_over_the_cap_are_error_rows(world, tmp_path):
    root = tmp_path / "w"
    shutil.copytree(world, root)
    with fault_server(root / "served") as server:
        manifest(root, [["big", server.url("v.mp4"), "PT00H00M04S", "", "too big"]])
        size = (root / "served" / "v.mp4").stat().st_size
        errors, landed = run(root, root / "corpus", allow_private_hosts=True, max_video_bytes=size - 1)
        assert errors["big"][:2] == ("fetch", "too_large") and not landed
        errors, landed = run(root, root / "corpus2", allow_private_hosts=True, max_video_bytes=size)
        assert landed == {"big"} and not errors
    assert not list((root / "corpus" / "media").rglob("*.part"))
    assert os.listdir(root / "outside") == ["secret.mp4"]
