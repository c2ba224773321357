"""Every time encoding of the five manifests."""

from __future__ import annotations

import math

import pytest

from longvid import timecodes


@pytest.mark.parametrize("text,expected", [
    ("00:00:17.759", 17.759), ("01:02:03.5", 3723.5), ("1:30:42", 5442.0), ("0:05", 5.0), ("00:04:52,140", 292.14),
])
def test_hms(text: str, expected: float) -> None:
    assert math.isclose(timecodes.hms(text), expected)


@pytest.mark.parametrize("bad", ["", "12", "aa:bb:cc", "00:61:00", "00:00:75.0", None, 3.0, "1:2:3:4"])
def test_hms_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        timecodes.hms(bad)


@pytest.mark.parametrize("text,expected", [
    ("PT00H00M17S", 17.0), ("PT01H02M37S", 3757.0), ("PT17S", 17.0), ("PT1M", 60.0), ("pt0h0m2.5s", 2.5), ("P1DT1S", 86401.0),
])
def test_iso(text: str, expected: float) -> None:
    assert timecodes.iso8601_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "PT", "17", "00:00:17", "PTxxS", None])
def test_iso_refuses(bad: object) -> None:
    with pytest.raises(ValueError):
        timecodes.iso8601_duration(bad)


def test_seconds_and_interval() -> None:
    assert timecodes.seconds("6.019999980926514") == pytest.approx(6.02)
    for bad in (None, True, "nan", "inf", "", "x", [1]):
        with pytest.raises(ValueError):
            timecodes.seconds(bad)
    assert timecodes.interval(-3.999999999976245e-07, 1.0) == (0.0, 1.0)
    assert timecodes.interval(5.0, 5.0) == (5.0, 5.0)
    with pytest.raises(ValueError):
        timecodes.interval(2.0, 1.0)
    with pytest.raises(ValueError):
        timecodes.interval(-1.0, 1.0)
