"""dynamic_fps1 and middle frame counts and indices (hico-spec §3, §9.2), the 1-fps frame grid
(checked against FFmpeg's own cut), the time prompt, SamplingConfig hashing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.hico.sampling import (SamplingConfig, VideoTooShort, frame_indices, grid_frames, grid_index, middle_indices,
                                   num_frames, time_prompt)


@pytest.mark.parametrize(
    ("vlen", "fps", "expected"),
    [
        (300, 30.0, 64),  # 10 s -> T = 8 -> raised to t_min 64
        (30 * 200, 30.0, 200),  # 200 s -> ~1 fps
        (int(30 * 201.5), 30.0, 200),  # 201.5 s -> 4·⌊201.5/4⌋ = 200
        (30 * 1000, 30.0, 512),  # capped at t_max
        (75, 25.0, 64),  # 3 s, vlen >= t_min: T = 4 -> 64
    ],
)
def test_num_frames_clamps(vlen: int, fps: float, expected: int) -> None:
    assert num_frames(vlen, fps) == expected


def test_short_video_rule_applies_before_clamping() -> None:
    # vlen < t_min: t_min becomes 4·⌊vlen/4⌋ first
    assert num_frames(50, 30.0) == 48
    assert num_frames(63, 30.0) == 60
    assert num_frames(64, 30.0) == 64  # not shorter than t_min: unchanged
    assert num_frames(3, 30.0) == 4  # t_min -> 0, T = 4 (more than vlen: padded below)
    # fps < 1: D > vlen, so T can exceed vlen; t_min was cut to 8 first
    assert num_frames(10, 0.5) == 20


def test_other_stage_settings() -> None:
    assert num_frames(300, 30.0, t_min=1, t_max=8) == 8  # stage 2
    assert num_frames(30, 30.0, t_min=1, t_max=8) == 4
    assert num_frames(30 * 1000, 30.0, t_max=0) == 1000  # t_max <= 0: no cap, as the original
    with pytest.raises(ValueError):
        num_frames(30 * 1000, 30.0, t_min=6, t_max=5)  # not a multiple of 4
    with pytest.raises(ValueError):
        num_frames(0, 30.0)
    with pytest.raises(ValueError):
        num_frames(100, 0.0)


@settings(max_examples=200, deadline=None)
@given(vlen=st.integers(1, 500_000), fps=st.floats(0.2, 120.0), t_min=st.sampled_from([1, 4, 8, 64]),
       t_max=st.sampled_from([4, 8, 64, 512, 640]))
def test_t_is_a_multiple_of_4_and_indices_are_valid(vlen: int, fps: float, t_min: int, t_max: int) -> None:
    t = num_frames(vlen, fps, t_min, t_max)
    assert t % 4 == 0 and t >= 4
    assert t <= max(t_max, t_min, 4)
    idx = frame_indices(vlen, fps, t_min, t_max)
    assert len(idx) == t
    assert all(0 <= i < vlen for i in idx)
    assert idx == sorted(idx)
    if t <= vlen:
        assert len(set(idx)) == t


def test_middle_indices() -> None:
    assert middle_indices(100, 4) == [12, 37, 62, 87]
    assert middle_indices(8, 8) == list(range(8))
    assert middle_indices(3, 4) == [0, 1, 2, 2]  # padded with the last index
    assert middle_indices(10, 20) == list(range(10)) + [9] * 10
    # bins over [0, vlen): every index is the floor-midpoint of its bin
    idx = middle_indices(1000, 64)
    for i, f in enumerate(idx):
        lo, hi = (i * 1000) // 64, ((i + 1) * 1000) // 64
        assert f == (lo + hi - 1) // 2
    # The original builds bin edges with np.linspace(...).astype(int); float rounding makes
    # edge 75 of (2724, 100) 2042 instead of 2043. We reproduce that, not exact arithmetic.
    assert middle_indices(2724, 100)[75] == 2055


def test_frame_indices_deterministic() -> None:
    assert frame_indices(9000, 30.0) == frame_indices(9000, 30.0)
    assert len(frame_indices(9000, 30.0)) == 300 - 300 % 4


def test_time_prompt_exact() -> None:
    assert time_prompt(300.0, 300) == "\nThe video lasts for 300.00 seconds, and 300 frames are uniformly sampled from it. "
    assert time_prompt(2.0 / 3.0, 64) == "\nThe video lasts for 0.67 seconds, and 64 frames are uniformly sampled from it. "


def test_sampling_config() -> None:
    cfg = SamplingConfig()
    assert (cfg.t_min, cfg.t_max, cfg.local_frames, cfg.resolution, cfg.sampler) == (64, 512, 4, 224, "dynamic_fps1")
    assert cfg.config_hash() == SamplingConfig(64, 512, 4, 224, "dynamic_fps1").config_hash()
    assert cfg.config_hash() != SamplingConfig(resolution=448).config_hash()
    # pinned: the hash must not change across releases (it keys caches)
    assert cfg.config_hash() == "30bdad5ea8b651068cc0528a00affeb9334a847f1252456721490781f7367df3"
    assert cfg.indices(9000, 30.0) == frame_indices(9000, 30.0)
    stage1 = SamplingConfig(t_min=4, t_max=4, sampler="middle")
    assert stage1.indices(100, 25.0) == [12, 37, 62, 87]
    with pytest.raises(Exception):
        cfg.t_min = 1  # type: ignore[misc]
    with pytest.raises(ValueError):
        SamplingConfig(sampler="random")


# ---------------------------------------------------------------- stage 1: the `middle` sampler


def test_middle_sampler_takes_t_max_frames_middle_of_each_bin() -> None:
    """hico-spec §3 table: stage 1 samples `frames_upbound` = 4 frames, middle of 4 equal bins."""
    stage1 = SamplingConfig(t_min=1, t_max=4, sampler="middle")
    assert stage1.num_frames(30 * 600, 30.0) == 4  # 10 minutes: still 4
    assert stage1.indices(100, 25.0) == [12, 37, 62, 87]
    assert stage1.indices(30 * 600, 30.0) == [2249, 6749, 11249, 15749]  # ((k·4500) + ((k+1)·4500) - 1) // 2
    assert stage1.indices(3, 30.0) == [0, 1, 2, 2]  # shorter than T: padded with the last frame
    assert SamplingConfig(t_min=1, t_max=8, sampler="middle").indices(80, 10.0) == [4, 14, 24, 34, 44, 54, 64, 74]
    with pytest.raises(ValueError):
        SamplingConfig(t_min=64, t_max=4, sampler="middle")  # would ask for more than it samples
    with pytest.raises(ValueError):
        SamplingConfig(t_min=1, t_max=6, sampler="middle")  # not whole clips


# ---------------------------------------------------------------- the 1-fps frame grid (--fps 1)


# (vlen, fps, frames FFmpeg's fps=1 filter made, the video frames it picked), measured with
# FFmpeg 9.0 on videos whose frames carry their own index (the test below re-measures).
FFMPEG_FPS1 = [
    (315, "30", 11, [14, 44, 74, 104, 134, 164, 194, 224, 254, 284, 314]),
    (300, "30", 10, [14, 44, 74, 104, 134, 164, 194, 224, 254, 284]),
    (284, "30", 9, [14, 44, 74, 104, 134, 164, 194, 224, 254]),
    (286, "30", 10, [14, 44, 74, 104, 134, 164, 194, 224, 254, 284]),
    (112, "25", 4, [12, 37, 62, 87]),
    (113, "25", 5, [12, 37, 62, 87, 112]),
    (251, "30000/1001", 8, [14, 44, 74, 104, 134, 164, 194, 224]),
    (15, "10", 2, [4, 14]),
    (14, "10", 1, [4]),
    (5, "10", 1, [4]),
    (3, "10", 0, []),
    (37, "7", 5, [3, 10, 17, 24, 31]),
]


@pytest.mark.parametrize(("vlen", "rate", "n", "picked"), FFMPEG_FPS1)
def test_grid_is_ffmpegs_1fps_cut(vlen: int, rate: str, n: int, picked: list[int]) -> None:
    fps = float(Fraction(rate))
    assert grid_frames(vlen, fps, 1.0) == n
    assert [grid_index(k, fps, 1.0) for k in range(n)] == picked


def test_dynamic_fps1_on_the_1fps_grid() -> None:
    """hico-spec §9.2 exact replay of a frame folder: vlen = frames at 1 fps, D = vlen / 1,
    T = clamp(4·⌊D/4⌋ or 4, T_min, T_max) with the vlen < T_min rule, middle-of-bin indices."""
    cfg = SamplingConfig(fps=1)
    # a 30-s sample at 30 fps: 30 frames at 1 fps < t_min, so t_min -> 28 and T = 4·⌊30/4⌋ = 28
    assert cfg.grid(900, 30.0) == (30, 1.0)
    assert cfg.num_frames(900, 30.0) == 28
    assert SamplingConfig().num_frames(900, 30.0) == 64  # the mp4 path samples 64 of its 900 frames
    grid = middle_indices(30, 28)  # 28 bins over 30 grid frames
    assert grid[:4] == [0, 1, 2, 3] and grid[-2:] == [27, 28]
    assert cfg.indices(900, 30.0) == [30 * k + 14 for k in grid]
    assert cfg.duration(900, 30.0) == 30.0 and time_prompt(cfg.duration(900, 30.0), 28).startswith(
        "\nThe video lasts for 30.00 seconds, and 28 frames")
    # 10.4 s at 25 fps: 10 grid frames -> t_min 8, T = 8; bins of [0, 10) -> grid 0 1 2 3 5 6 7 8
    assert cfg.indices(260, 25.0) == [12, 37, 62, 87, 137, 162, 187, 212]
    assert cfg.duration(260, 25.0) == 10.0
    # 200 s: one frame a second, each the frame just before the middle of its second
    assert cfg.indices(200 * 30, 30.0) == [30 * k + 14 for k in range(200)]
    # 1000 s: capped at 512 frames spread over the 1000 grid frames
    long = cfg.indices(1000 * 30, 30.0)
    assert len(long) == 512 and long[:3] == [14, 44, 104] and long == sorted(long)
    # 2 s: 2 grid frames -> T = 4, padded with the last
    assert cfg.indices(60, 30.0) == [14, 44, 44, 44]
    with pytest.raises(VideoTooShort):
        cfg.indices(3, 10.0)  # 0.3 s: no frame at 1 fps
    # stage 1 on the grid: 4 frames, middle of 4 bins of the 1-fps frames
    assert SamplingConfig(t_min=1, t_max=4, sampler="middle", fps=1).indices(100 * 25, 25.0) == [
        grid_index(k, 25.0, 1.0) for k in (12, 37, 62, 87)]


@settings(max_examples=200, deadline=None)
@given(vlen=st.integers(1, 200_000), fps=st.floats(1.0, 120.0), rate=st.sampled_from([1.0, 2.0, 3.0]),
       sampler=st.sampled_from(["dynamic_fps1", "middle"]))
def test_grid_indices_are_valid(vlen: int, fps: float, rate: float, sampler: str) -> None:
    cfg = SamplingConfig(t_min=8 if sampler == "dynamic_fps1" else 1, t_max=64, sampler=sampler, fps=rate)
    n = grid_frames(vlen, fps, rate)
    if n == 0:
        with pytest.raises(VideoTooShort):
            cfg.indices(vlen, fps)
        return
    idx = cfg.indices(vlen, fps)
    assert len(idx) == cfg.num_frames(vlen, fps) and len(idx) % 4 == 0
    assert all(0 <= i < vlen for i in idx) and idx == sorted(idx)
    # each picked frame is on screen at the middle of its grid frame's time slot (just before it)
    for k in set(middle_indices(n, len(idx))):
        i = grid_index(k, fps, rate)
        assert i / fps < (k + 0.5) / rate + 1e-9 and (i + 1) / fps >= (k + 0.5) / rate - 1e-9


def test_sampler_and_grid_are_part_of_the_hash() -> None:
    base = SamplingConfig()
    assert base.to_dict() == {"t_min": 64, "t_max": 512, "local_frames": 4, "resolution": 224, "sampler": "dynamic_fps1"}
    hashes = {base.config_hash(), SamplingConfig(fps=1).config_hash(), SamplingConfig(fps=3).config_hash(),
              SamplingConfig(t_min=1, t_max=4, sampler="middle").config_hash(),
              SamplingConfig(t_min=1, t_max=4, sampler="middle", fps=1).config_hash()}
    assert len(hashes) == 5
    assert SamplingConfig(fps=1).config_hash() == SamplingConfig(fps=1.0).config_hash()
    with pytest.raises(ValueError):
        SamplingConfig(fps=0)
