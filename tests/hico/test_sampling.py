"""dynamic_fps1 frame counts and indices, the time prompt, SamplingConfig hashing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from longvid.hico.sampling import SamplingConfig, frame_indices, middle_indices, num_frames, time_prompt


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
