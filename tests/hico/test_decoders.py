"""The decoders behind `--decoder` agree: decord, torchcodec and PyAV give the same frames on the
same indices (and the same frame count and rate) on FFmpeg-made videos of several codecs; auto
picks the fastest available; an unavailable decoder is one clear error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from longvid.hico.decode import (AUTO_ORDER, available_decoders, decoder_error, open_video, pick_decoder,
                                 read_frames)
from longvid.media.ffmpeg import run_ffmpeg

CPU_DECODERS = ("decord", "torchcodec", "pyav")
CODECS = {
    "h264": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "12", "-bf", "2"]),
    "h264-keyint-250": (".mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "250", "-bf", "3"]),
    "hevc": (".mp4", ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-g", "10", "-x265-params", "log-level=error"]),
    "vp9": (".webm", ["-c:v", "libvpx-vp9", "-b:v", "400k", "-g", "15"]),
    "mpeg4": (".mp4", ["-c:v", "mpeg4", "-q:v", "3", "-g", "9", "-bf", "2"]),
}
DECORD_MISREADS = {"hevc", "mpeg4"}  # decord 0.6.0: random access into HEVC and MPEG-4 Part 2 (module doc)


def test_every_cpu_decoder_is_available() -> None:
    """`make setup` installs torchcodec, decord and PyAV, and the FFmpeg libraries torchcodec loads."""
    for name in CPU_DECODERS:
        assert not decoder_error(name), (name, decoder_error(name))
    assert set(CPU_DECODERS) <= set(available_decoders())


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("codecs")
    out = {}
    for name, (suffix, args) in CODECS.items():
        path = root / f"{name}{suffix}"
        try:
            run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=176x144:rate=25:duration=12", *args, str(path)])
        except subprocess.CalledProcessError:
            continue  # this FFmpeg lacks the encoder; the rest still run
        out[name] = path
    assert "h264" in out
    return out


@pytest.mark.parametrize("codec", list(CODECS))
def test_decoders_agree_on_the_same_indices(videos: dict[str, Path], codec: str) -> None:
    if codec not in videos:
        pytest.skip(f"this FFmpeg cannot encode {codec}")
    path = videos[codec]
    rng = np.random.default_rng(7)
    infos, frames = {}, {}
    for name in CPU_DECODERS:
        video = open_video(path, name)
        infos[name] = (video.vlen, video.fps)
        video.close()
    assert len(set(infos.values())) == 1, infos
    vlen = infos["pyav"][0]
    assert vlen == 300
    picks = [sorted(rng.choice(vlen, 16, replace=False).tolist()),  # sparse, far apart: seeks
             [vlen - 1, 0, 150, 150, 7],  # any order, duplicates
             list(range(40, 60))]  # a dense run
    for indices in picks:
        for name in CPU_DECODERS:
            frames[name] = read_frames(path, indices, name)
            assert frames[name].shape == (len(indices), 144, 176, 3) and frames[name].dtype == np.uint8
        np.testing.assert_array_equal(frames["torchcodec"], frames["pyav"])
        if codec in DECORD_MISREADS:
            continue
        np.testing.assert_array_equal(frames["decord"], frames["pyav"])


def test_auto_and_unavailable_decoders(videos: dict[str, Path], tmp_path: Path) -> None:
    first = next(name for name in AUTO_ORDER if name in available_decoders())
    assert pick_decoder(videos["h264"], "auto") == first == "torchcodec"
    assert pick_decoder(tmp_path / "x.avi", "auto") == "pyav"
    with pytest.raises(ValueError, match="unknown decoder 'opencv'"):
        pick_decoder(videos["h264"], "opencv")
    if decoder_error("nvdec"):  # no GPU here: one clear line, not a crash inside torchcodec
        with pytest.raises(ValueError, match="decoder nvdec is unavailable: "):
            read_frames(videos["h264"], [0], "nvdec")
    else:  # a GPU: NVDEC's frames agree with the CPU's within the colour conversion's rounding
        gpu = read_frames(videos["h264"], [0, 100, 299], "nvdec").cpu().numpy().astype(int)
        cpu = read_frames(videos["h264"], [0, 100, 299], "pyav").astype(int)
        assert np.abs(gpu - cpu).mean() < 2.0
    with pytest.raises(IndexError):
        read_frames(videos["h264"], [0, 300], "torchcodec")
