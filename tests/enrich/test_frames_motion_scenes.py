"""Decode-once frames, motion from next-frame differences, FFmpeg scene cuts: on FFmpeg-made videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from longvid.enrich.frames import FrameSpec, SharedFrames, sample_frames
from longvid.enrich.motion import motion_scores, pair_difference
from longvid.enrich.scenes import detect_cuts, scenes
from longvid.media.errors import MediaError


def test_frames_are_middle_of_bins_with_their_next_frame(videos: dict[str, Path]) -> None:
    got = sample_frames(videos["moving"], FrameSpec(count=6, pairs=True, max_side=0))
    assert got.vlen == 30 and got.fps == 10.0
    assert got.indices == (2, 7, 12, 17, 22, 27)  # middles of 6 bins of 5 frames
    assert got.times == pytest.approx([i / 10 for i in got.indices])
    assert got.frames.shape == (6, 120, 160, 3) and got.following.shape == (6, 120, 160, 3)
    # the following frame is frame i+1: equal to decoding it alone
    alone = sample_frames(videos["moving"], FrameSpec(count=30, pairs=False, max_side=0))
    np.testing.assert_array_equal(got.following[1], alone.frames[8])
    np.testing.assert_array_equal(got.frames[1], alone.frames[7])


def test_frames_scaled_to_max_side(videos: dict[str, Path]) -> None:
    got = sample_frames(videos["moving"], FrameSpec(count=2, pairs=False, max_side=80))
    assert got.frames.shape == (2, 60, 80, 3) and got.following is None


def test_bad_specs_and_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        FrameSpec(count=0)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(Exception):
        sample_frames(bad)


def test_shared_frames_decode_once_per_file_and_spec(videos: dict[str, Path], tmp_path: Path) -> None:
    shared = SharedFrames(capacity=2)
    spec = FrameSpec(count=4)
    a = shared.get(videos["moving"], spec)
    assert shared.get(videos["moving"], spec) is a and shared.decodes == 1  # the second scorer: no decode
    shared.get(videos["moving"], FrameSpec(count=3))
    assert shared.decodes == 2  # another spec is another decode
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(videos["moving"].read_bytes())
    shared.get(copy, spec)
    os.utime(copy, ns=(1, 1))  # same path, changed file: decoded again
    shared.get(copy, spec)
    assert shared.decodes == 4
    shared.get(videos["moving"], spec)  # evicted by capacity 2
    assert shared.decodes == 5


def test_motion_still_vs_moving(videos: dict[str, Path]) -> None:
    still = motion_scores(sample_frames(videos["still"], FrameSpec(count=4)))
    moving = motion_scores(sample_frames(videos["moving"], FrameSpec(count=4)))
    assert still["motion"] < 0.002 and still["motion_max"] < 0.002
    assert moving["motion"] > 10 * max(still["motion"], 1e-4)
    assert 0 <= moving["motion"] <= moving["motion_max"] <= 1
    with pytest.raises(ValueError):
        motion_scores(sample_frames(videos["still"], FrameSpec(count=2, pairs=False)))


def test_pair_difference_is_luma_mean_abs() -> None:
    a = np.zeros((1, 8, 8, 3), np.uint8)
    b = np.full((1, 8, 8, 3), 255, np.uint8)
    assert pair_difference(a, b)[0] == pytest.approx(1.0, abs=1e-6)
    assert pair_difference(a, a)[0] == 0.0


def test_scene_cuts_found_where_the_picture_changes(videos: dict[str, Path]) -> None:
    cuts = detect_cuts(videos["cuts"], threshold=0.3)
    times = [c.time for c in cuts]
    assert any(abs(t - 2.0) <= 0.15 for t in times) and any(abs(t - 4.0) <= 0.15 for t in times)
    assert all(c.score > 0.3 for c in cuts)
    assert not [t for t in times if 0.2 < t < 1.8]  # nothing inside the still red part
    assert detect_cuts(videos["still"], threshold=0.3) == []


def test_scene_cuts_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0" * 1000)
    with pytest.raises(MediaError):
        detect_cuts(bad)
    with pytest.raises(ValueError):
        detect_cuts(bad, threshold=1.5)


def test_scenes_cover_the_video() -> None:
    assert scenes([2.0, 4.0], 6.0) == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
    assert scenes([2.0, 2.3, 5.8], 6.0, min_seconds=1.0) == [(0.0, 2.0), (2.0, 6.0)]  # a flash, and a cut too near the end
    assert scenes([], 10.0, max_seconds=4.0) == [(0.0, 10 / 3), (10 / 3, 20 / 3), (20 / 3, 10.0)]
    assert scenes([1.0], 0.0) == []
