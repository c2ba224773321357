"""Frames in: decoding (the right frames come back, decord and PyAV, with and without seeking) and
preprocessing (PIL-equivalent square bicubic resize, ImageNet normalisation)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from longvid.hico.decode import available_decoders, read_frames, video_info
from longvid.hico.sampling import SamplingConfig, grid_frames, grid_index, middle_indices
from longvid.media.ffmpeg import run_ffmpeg

W, H, FPS, N = 128, 96, 25, 50
BITS = 6  # frame numbers 0..63, one 16-pixel-wide bar per bit


def _draw(i: int) -> np.ndarray:
    frame = np.full((H, W, 3), 40, dtype=np.uint8)
    for b in range(BITS):
        if (i >> b) & 1:
            frame[16:80, 16 * b + 8 : 16 * b + 24] = 230
    frame[:, -8:] = (i * 5) % 256  # a gradient strip so neighbouring frames also differ in colour
    return frame


def _read_number(frame: np.ndarray) -> int:
    return sum(1 << b for b in range(BITS) if frame[24:72, 16 * b + 12 : 16 * b + 20].mean() > 135)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("decode")
    raw = root / "frames.rgb"
    raw.write_bytes(b"".join(_draw(i).tobytes() for i in range(N)))
    out = root / "numbers.mp4"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", str(raw),
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "2", "-crf", "18", str(out)])
    return out


BACKENDS = available_decoders()


@pytest.mark.parametrize("backend", BACKENDS)
def test_video_info(video: Path, backend: str) -> None:
    vlen, fps = video_info(video, decoder=backend)
    assert (vlen, fps) == (N, float(FPS))


@pytest.mark.parametrize("backend", BACKENDS)
def test_reads_the_requested_frames(video: Path, backend: str) -> None:
    indices = [0, 7, 7, 25, 49, 3, 12]  # any order, duplicates allowed
    frames = read_frames(video, indices, decoder=backend)
    assert frames.shape == (len(indices), H, W, 3) and frames.dtype == np.uint8
    assert [_read_number(f) for f in frames] == indices


def test_pyav_seeking_matches_sequential(video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import av

    indices = [1, 22, 23, 41, 48]
    seq = read_frames(video, indices, decoder="pyav", seek_gap=None)
    seeks: list[object] = []
    real_seek = av.container.InputContainer.seek

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seeks.append(args)
        return real_seek(self, *args, **kwargs)

    monkeypatch.setattr(av.container.InputContainer, "seek", spy)
    sought = read_frames(video, indices, decoder="pyav", seek_gap=3)
    assert len(seeks) == 4  # rewind after reading frame 0's pts, then before 22, 41 and 48
    assert [_read_number(f) for f in sought] == indices
    np.testing.assert_array_equal(seq, sought)


@pytest.mark.parametrize(("name", "codec"), [
    ("h264", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "7", "-bf", "3"]),
    ("mpeg4", ["-c:v", "mpeg4", "-q:v", "3", "-g", "9", "-bf", "2"]),  # decord misreads this
    ("hevc", ["-c:v", "libx265", "-pix_fmt", "yuv420p", "-g", "8", "-x265-params", "log-level=error"]),
])
def test_pyav_random_access_is_exact(tmp_path: Path, name: str, codec: list[str]) -> None:
    raw = tmp_path / "frames.rgb"
    raw.write_bytes(b"".join(_draw(i).tobytes() for i in range(N)))
    out = tmp_path / f"{name}.mp4"
    try:
        run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", str(raw),
                    *codec, str(out)])
    except subprocess.CalledProcessError:
        pytest.skip(f"this ffmpeg cannot encode {name}")
    rng = np.random.default_rng(len(name))
    for _ in range(6):
        indices = [int(i) for i in rng.integers(0, N, rng.integers(1, 7))]
        for gap in (1, None):
            got = read_frames(out, indices, decoder="pyav", seek_gap=gap)
            assert [_read_number(f) for f in got] == indices


@pytest.mark.parametrize(("frames", "rate"), [(63, "10"), (55, "10"), (44, "10"), (37, "7"), (50, "12"),
                                               (63, "25"), (62, "30000/1001")])
def test_1fps_grid_is_the_cut_ffmpeg_makes(tmp_path: Path, frames: int, rate: str) -> None:
    """`--fps 1` samples as if the video had been cut into 1-fps frames: from the decoder's vlen
    and fps, the grid is exactly FFmpeg's `fps=1` cut, and the sampled frames are its frames."""
    raw = tmp_path / "frames.rgb"
    raw.write_bytes(b"".join(_draw(i).tobytes() for i in range(frames)))
    out = tmp_path / "numbers.mp4"
    run_ffmpeg(["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", rate, "-i", str(raw),
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-crf", "18", str(out)])
    cut = np.frombuffer(run_ffmpeg(["-i", str(out), "-vf", "fps=1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).stdout,
                        np.uint8).reshape(-1, H, W, 3)
    in_cut = [_read_number(f) for f in cut]
    vlen, fps = video_info(out)
    assert vlen == frames
    n = grid_frames(vlen, fps, 1.0)
    assert [grid_index(k, fps, 1.0) for k in range(n)] == in_cut
    for cfg in (SamplingConfig(t_min=4, t_max=8, fps=1), SamplingConfig(t_min=1, t_max=4, sampler="middle", fps=1)):
        picked = middle_indices(n, cfg.num_frames(vlen, fps))  # positions in the 1-fps folder
        got = read_frames(out, cfg.indices(vlen, fps))
        assert [_read_number(f) for f in got] == [in_cut[k] for k in picked]


def test_pyav_errors(video: Path) -> None:
    with pytest.raises(IndexError):
        read_frames(video, [10, N], decoder="pyav")
    with pytest.raises(IndexError):
        read_frames(video, [-1], decoder="pyav")
    with pytest.raises(ValueError):
        read_frames(video, [], decoder="pyav")
    with pytest.raises(ValueError):
        read_frames(video, [0], decoder="opencv")


@pytest.mark.skipif("decord" not in BACKENDS, reason="decord is not installed")
def test_backends_agree(video: Path) -> None:
    indices = list(range(N))
    np.testing.assert_array_equal(read_frames(video, indices, decoder="decord"),
                                  read_frames(video, indices, decoder="pyav"))


# ------------------------------------------------------------------ preprocessing (needs torch, Pillow)

try:
    import torch
    from PIL import Image

    from longvid.hico.preprocess import IMAGENET_MEAN, IMAGENET_STD, preprocess_frames, resize_square
except ImportError:  # pragma: no cover - the decode tests above still run
    torch = None  # type: ignore[assignment]

needs_torch = pytest.mark.skipif(torch is None, reason="torch and Pillow are needed for preprocessing")


def _pil_two_pass(img: np.ndarray, size: int) -> np.ndarray:
    """PIL bicubic, horizontal pass then vertical pass (the classic Resample.c order)."""
    h = img.shape[0]
    return np.array(Image.fromarray(img).resize((size, h), Image.BICUBIC).resize((size, size), Image.BICUBIC))


@needs_torch
@pytest.mark.parametrize(("h", "w", "size"), [(360, 640, 224), (480, 270, 224), (100, 150, 448), (50, 400, 224)])
def test_resize_matches_pil(h: int, w: int, size: int) -> None:
    rng = np.random.default_rng(h * w)
    coarse = rng.integers(0, 256, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    img = np.array(Image.fromarray(coarse).resize((w, h), Image.BILINEAR)).astype(int)
    img = np.clip(img + rng.integers(-40, 40, img.shape), 0, 255).astype(np.uint8)
    ours = resize_square(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size)[0].permute(1, 2, 0)
    assert torch.equal(ours, ours.round()) and ours.min() >= 0 and ours.max() <= 255  # uint8 values
    diff = np.abs(ours.numpy().astype(int) - _pil_two_pass(img, size).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.005


@needs_torch
def test_preprocess_normalises_and_keeps_no_aspect() -> None:
    frames = np.zeros((5, 90, 160, 3), dtype=np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 10, 128, 250
    out = preprocess_frames(frames, 64, chunk=2)
    assert out.shape == (5, 3, 64, 64) and out.dtype == torch.float32
    for c, v in enumerate((10, 128, 250)):
        want = (v / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        torch.testing.assert_close(out[:, c], torch.full((5, 64, 64), want), rtol=0, atol=1e-6)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 48, 80, 3), dtype=np.uint8)
    a = preprocess_frames(frames, 32)
    torch.testing.assert_close(preprocess_frames(torch.from_numpy(frames), 32, chunk=1), a)
    assert preprocess_frames(frames, 32, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError):
        preprocess_frames(frames.astype(np.float32), 32)  # type: ignore[arg-type]
