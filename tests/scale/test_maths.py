"""The report's figures against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from threadline.scale import _maths, _runner


def test_speedup_and_efficiency() -> None:
    assert _maths.speedup(300.0, 100.0) == 3.0
    assert _maths.efficiency(3.0, 4) == 0.75
    assert _maths.efficiency(1.0, 1) == 1.0


def test_karp_flatt_by_hand() -> None:
    # S = 3 on p = 4: e = (1/3 - 1/4) / (1 - 1/4) = (1/12) / (3/4) = 1/9
    assert _maths.karp_flatt(3.0, 4) == pytest.approx(1 / 9)
    # perfect scaling: no serial part
    assert _maths.karp_flatt(8.0, 8) == pytest.approx(0.0)
    # no speedup at all: all serial
    assert _maths.karp_flatt(1.0, 2) == pytest.approx(1.0)
    # slower with more workers: above 1
    assert _maths.karp_flatt(0.5, 2) == pytest.approx(3.0)
    assert _maths.karp_flatt(1.0, 1) is None


def test_karp_flatt_matches_amdahl() -> None:
    # Amdahl with serial fraction f: S = 1 / (f + (1 - f) / p); Karp-Flatt gives f back
    for f in (0.0, 0.05, 0.3, 1.0):
        for p in (2, 3, 16):
            s = 1 / (f + (1 - f) / p)
            assert _maths.karp_flatt(s, p) == pytest.approx(f, abs=1e-12)


def test_summary() -> None:
    stats = _maths.summary([1.0, 3.0, 2.0])
    assert stats == {"median": 2.0, "mean": 2.0, "stdev": 1.0, "min": 1.0, "max": 3.0}
    assert _maths.summary([5.0])["stdev"] == 0.0
    assert _maths.relative_spread([9.0, 10.0, 11.0]) == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: _maths.speedup(1.0, 0.0), "base_throughput must be > 0, got 0.0"),
        (lambda: _maths.efficiency(1.0, 0), "workers must be >= 1, got 0"),
        (lambda: _maths.karp_flatt(0.0, 2), "speedup must be > 0, got 0.0"),
        (lambda: _maths.summary([]), "samples must not be empty"),
    ],
)
def test_bad_values(call: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()  # type: ignore[operator]


def test_shares() -> None:
    assert _runner.shares(100, 4, "weak") == [100, 100, 100, 100]
    assert _runner.shares(10, 4, "strong") == [3, 3, 2, 2]
    assert sum(_runner.shares(1001, 7, "strong")) == 1001
    assert _runner.shares(2, 4, "strong") == [1, 1, 1, 1]  # never a worker with nothing
    assert math.isclose(sum(_runner.shares(12, 3, "strong")), 12)
