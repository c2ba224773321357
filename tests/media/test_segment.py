"""cut: both modes write decodable files whose recorded range matches them, byte-identical on rerun."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from longvid.media.errors import MediaError
from longvid.media.probe import decodes, probe
from longvid.media.segment import CutResult, copy_start, cut
from tests.support import make_media

CASES = [(name, mode) for name in ("av.mp4", "noaudio.mp4", "vp9.webm") for mode in ("copy", "reencode")]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.getbasetemp() / "media")


def frame_at(path: Path, t: float) -> np.ndarray:
    """The first decoded frame shown at or after `t` seconds, as RGB."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= t - 1e-4:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"no frame at {t} in {path}")


def only_outputs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(("name", "mode"), CASES)
def test_cut_matches_recorded_range(media, tmp_path, name, mode):
    src = media[name]
    info = probe(src)
    result = cut(src, tmp_path / "out.mp4", 1.1, 2.6, mode=mode)
    assert isinstance(result, CutResult) and result.path == tmp_path / "out.mp4"
    assert only_outputs(tmp_path) == ["out.mp4"]  # no temp files left
    out = probe(result.path)
    assert decodes(result.path)
    assert result.bytes == result.path.stat().st_size
    assert out.keyframes[0] == 0.0 and out.width == 160
    assert result.duration == pytest.approx(out.duration)
    assert result.end - result.start == pytest.approx(result.duration)
    frame = info.frame_duration
    if mode == "copy":
        assert result.start in info.keyframes and result.start <= 1.1
        assert [k for k in info.keyframes if result.start < k <= 1.1] == []  # the last keyframe before
        assert abs(result.duration - (2.6 - result.start)) <= 3 * frame + 1e-3  # B-frames: a frame or two more
        assert out.codec == info.codec
        # lossless: the first frame is exactly the source's keyframe
        assert np.array_equal(frame_at(result.path, 0.0), frame_at(src, result.start))
    else:
        assert result.start == 1.1
        assert abs(result.duration - 1.5) <= frame + 1e-3
        assert out.codec == "h264" and out.has_audio == info.has_audio


@pytest.mark.parametrize("mode", ["copy", "reencode"])
@pytest.mark.parametrize("name", ["av.mp4", "vp9.webm"])
def test_reruns_are_byte_identical(media, tmp_path, name, mode):
    first = cut(media[name], tmp_path / "a" / "one.mp4", 0.7, 2.2, mode=mode)
    again = cut(media[name], tmp_path / "b" / "two.mp4", 0.7, 2.2, mode=mode)
    assert first.path.read_bytes() == again.path.read_bytes()
    assert (first.start, first.end, first.duration) == (again.start, again.end, again.duration)


def test_copy_to_webm_is_byte_identical(media, tmp_path):
    one = cut(media["vp9.webm"], tmp_path / "one.webm", 1.0, 2.0)
    two = cut(media["vp9.webm"], tmp_path / "two.webm", 1.0, 2.0)
    assert one.path.read_bytes() == two.path.read_bytes() and decodes(one.path)


def test_end_past_the_video_is_clamped(media, tmp_path):
    info = probe(media["av.mp4"])
    result = cut(media["av.mp4"], tmp_path / "x.mp4", 3.0, 99.0, mode="reencode", info=info)
    assert result.end == pytest.approx(info.duration, abs=info.frame_duration + 1e-3)


def test_given_keyframes_and_info_skip_probing(media, tmp_path, monkeypatch):
    info = probe(media["av.mp4"])
    calls = []
    import longvid.media.segment as segment

    real = segment.probe
    monkeypatch.setattr(segment, "probe", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    result = cut(media["av.mp4"], tmp_path / "x.mp4", 1.5, 2.5, keyframes=info.keyframes, info=info)
    assert result.start == copy_start(info.keyframes, 1.5) == 1.44
    assert len(calls) == 1 and Path(calls[0]).parent == tmp_path  # only the output was probed


@pytest.mark.parametrize(("start", "end"), [(4.0, 5.0), (9.0, 10.0), (2.0, 2.0), (2.0, 1.0), (-1.0, 1.0)])
def test_span_outside_video(media, tmp_path, start, end):
    with pytest.raises(MediaError) as info:
        cut(media["av.mp4"], tmp_path / "x.mp4", start, end)
    assert info.value.cause == "span_outside_video"
    assert not (tmp_path / "x.mp4").exists()


def test_ffmpeg_failure_is_segment_failed(media, tmp_path):
    info = probe(media["av.mp4"])  # a good probe, but the file ffmpeg reads is garbage
    with pytest.raises(MediaError) as error:
        cut(media["corrupt.mp4"], tmp_path / "x.mp4", 1.0, 2.0, mode="reencode", info=info)
    assert error.value.cause == "segment_failed" and "ffmpeg exit" in error.value.detail
    assert only_outputs(tmp_path) == []


def test_ffmpeg_timeout_is_segment_failed(media, tmp_path):
    with pytest.raises(MediaError) as error:
        cut(media["av.mp4"], tmp_path / "x.mp4", 1.0, 2.0, mode="reencode", timeout=0.001)
    assert error.value.cause == "segment_failed" and "ran past" in error.value.detail
    assert only_outputs(tmp_path) == []


def test_bad_source_keeps_its_cause(media, tmp_path):
    with pytest.raises(MediaError) as error:
        cut(media["corrupt.mp4"], tmp_path / "x.mp4", 1.0, 2.0)
    assert error.value.cause == "not_video"


def test_bad_arguments(media, tmp_path):
    with pytest.raises(ValueError):
        cut(media["av.mp4"], tmp_path / "x.mp4", 1.0, 2.0, mode="fast")
    with pytest.raises(ValueError):
        cut(media["av.mp4"], tmp_path / "x.webm", 1.0, 2.0, mode="reencode")


def test_copy_start():
    keys = (0.0, 0.48, 0.96)
    assert [copy_start(keys, t) for t in (0.0, 0.47, 0.48, 0.5, 5.0)] == [0.0, 0.0, 0.48, 0.48, 0.96]
    assert copy_start((), 3.0) == 0.0


def test_copy_recodes_audio_the_container_cannot_hold(tmp_path):
    """Audio the .mp4 container cannot hold (μ-law PCM, as some cameras and .mov/.avi files have): the video is still copied
    and the audio becomes AAC, instead of the whole sample failing."""
    from longvid.media.ffmpeg import run_ffmpeg

    src = tmp_path / "mulaw.mkv"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=4", "-f", "lavfi",
                "-i", "sine=frequency=440:duration=4", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p",
                "-c:a", "pcm_mulaw", "-shortest", str(src)])
    result = cut(src, tmp_path / "out.mp4", 1.0, 3.0, mode="copy")
    out = probe(result.path)
    assert out.has_audio and out.codec == "h264" and decodes(result.path)
    assert abs(result.duration - (result.end - result.start)) < 1e-6
    import av

    with av.open(str(result.path)) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
