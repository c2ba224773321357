"""probe: facts read from headers and packets; bad files classified; decodes() as a quick check."""

from __future__ import annotations

from pathlib import Path

import pytest

from longvid.media.ffmpeg import run_ffmpeg
from longvid.media.errors import MediaError
from longvid.media.probe import ProbeInfo, decodes, probe
from tests.support import VIDEOS, make_media


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.getbasetemp() / "media")


@pytest.mark.parametrize(("name", "codec", "gop", "audio"), [
    ("av.mp4", "h264", 12, True), ("noaudio.mp4", "h264", 15, False), ("vp9.webm", "vp9", 12, False),
])
def test_probe_values(media, name, codec, gop, audio):
    fps, seconds, _ = VIDEOS[name]
    info = probe(media[name])
    assert isinstance(info, ProbeInfo)
    assert abs(info.duration - seconds) <= 1 / fps + 1e-6
    assert info.fps == pytest.approx(fps)
    assert (info.width, info.height, info.codec, info.has_audio) == (160, 120, codec, audio)
    assert info.bytes == media[name].stat().st_size
    assert info.frames == round(fps * seconds)
    keys = info.keyframes
    assert keys[0] == 0.0 and list(keys) == sorted(set(keys)) and keys[-1] < info.duration
    assert len(keys) >= int(seconds * fps / gop)
    assert all(abs(b - a - gop / fps) < 1e-3 for a, b in zip(keys, keys[1:]))  # regular GOP in test clips


def test_header_only_probe(media):
    full, quick = probe(media["av.mp4"]), probe(media["av.mp4"], scan=False)
    assert quick.keyframes == () and quick.duration == full.duration and quick.frames == full.frames


@pytest.mark.parametrize(("name", "cause"), [
    ("zero.mp4", "empty_file"), ("corrupt.mp4", "not_video"), ("truncated.mp4", "not_video"),
    ("truncated_tail.mp4", "truncated_file"), ("missing.mp4", "no_media"),
])
def test_bad_files_are_classified(media, name, cause):
    with pytest.raises(MediaError) as info:
        probe(media["av.mp4"].parent / name)
    assert info.value.cause == cause and info.value.detail


def test_audio_only_is_not_video(tmp_path):
    audio = tmp_path / "tone.m4a"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(audio)], timeout=60)
    with pytest.raises(MediaError) as info:
        probe(audio)
    assert info.value.cause == "not_video" and "no video stream" in info.value.detail
    assert not decodes(audio)


@pytest.mark.parametrize(("name", "ok"), [
    ("av.mp4", True), ("noaudio.mp4", True), ("vp9.webm", True), ("corrupt.mp4", False), ("zero.mp4", False),
    ("truncated.mp4", False), ("truncated_tail.mp4", False),
])
def test_decodes(media, name, ok):
    assert decodes(media[name]) is ok
