"""Near-duplicates by embedding: pointers to the kept original, within and across sources."""

from __future__ import annotations

import numpy as np
import pytest

from longvid.enrich.near_dup import DupItem, find_duplicates


def unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


def test_duplicates_point_at_the_first_kept_sample() -> None:
    rng = np.random.default_rng(0)
    base = [unit(rng.normal(size=16)) for _ in range(4)]
    items = [
        DupItem("a", "webvid", "webvid/1", base[0]),
        DupItem("b", "hdvila", "hdvila/1", base[1]),
        DupItem("c", "webvid", "webvid/2", unit(base[0] + 0.01 * rng.normal(size=16))),  # near a, same source
        DupItem("d", "miradata", "miradata/1", base[1]),  # exactly b, another source
        DupItem("e", "hdvila", "hdvila/1", base[2]),
        DupItem("f", "hdvila", "hdvila/1", unit(base[2] + 0.01 * rng.normal(size=16))),  # near e, same video
    ]
    dups = {d.key: d for d in find_duplicates(items, threshold=0.98, block=2)}  # small blocks: crosses block edges
    assert set(dups) == {"c", "d", "f"}
    assert (dups["c"].duplicate_of, dups["c"].same_source, dups["c"].same_video) == ("a", True, False)
    assert (dups["d"].duplicate_of, dups["d"].same_source) == ("b", False)
    assert dups["d"].similarity == pytest.approx(1.0, abs=1e-5)
    assert (dups["f"].duplicate_of, dups["f"].same_video) == ("e", True)


def test_a_duplicate_never_points_at_a_duplicate() -> None:
    a = unit([1, 0, 0])
    b = unit([1, 0.25, 0])  # cos(a, b) ~ 0.970
    c = unit([1, 0.5, 0])   # cos(b, c) ~ 0.991, cos(a, c) ~ 0.894
    items = [DupItem(k, "s", f"s/{k}", e) for k, e in zip("abc", (a, b, c))]
    dups = find_duplicates(items, threshold=0.96)
    assert [(d.key, d.duplicate_of) for d in dups] == [("b", "a")]  # c is not near a: kept


def test_same_answer_whatever_the_block_size() -> None:
    rng = np.random.default_rng(1)
    items = [DupItem(str(i), "s", f"s/{i % 7}", unit(rng.normal(size=4))) for i in range(60)]
    want = find_duplicates(items, threshold=0.9, block=1024)
    assert want and want == find_duplicates(items, threshold=0.9, block=7)


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        find_duplicates([DupItem("a", "s", "s/a", np.zeros(3))])
    with pytest.raises(ValueError):
        find_duplicates([DupItem("a", "s", "s/a", unit([1, 0])), DupItem("b", "s", "s/b", unit([1, 0, 0]))])
    with pytest.raises(ValueError):
        find_duplicates([], threshold=2.0)
    assert find_duplicates([]) == []


def test_samples_of_one_video_can_be_left_uncompared() -> None:
    e = unit([1, 0, 0])
    items = [DupItem("a", "s", "s/1", e), DupItem("b", "s", "s/1", e), DupItem("c", "t", "t/1", e)]
    assert [(d.key, d.duplicate_of) for d in find_duplicates(items)] == [("b", "a"), ("c", "a")]
    assert [(d.key, d.duplicate_of) for d in find_duplicates(items, skip_same_video=True)] == [("c", "a")]
