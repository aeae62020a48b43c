"""Every race test runs twice: with the detector's C hot path and with its
pure-Python twin (the reference, and what runs where the C part was not
built).  The choice travels in THREADLINE_RACE_PURE, so programs the tests
run in a subprocess make the same one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadline.race import _detector
from threadline.race._detector import Detector, Race
from threadline.race._patches import Patches


@pytest.fixture(autouse=True, params=["c", "python"])
def detector_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "c" and _detector._accel is None:
        pytest.skip("threadline.race._accel is not built here")
    monkeypatch.setenv("THREADLINE_RACE_PURE", "1" if request.param == "python" else "0")
    return str(request.param)


@pytest.fixture
def detector() -> Iterator[tuple[Detector, list[Race]]]:
    """A detector (on this test's path) with the library patches installed:
    the races it finds, and the patches undone afterwards."""
    races: list[Race] = []
    d = Detector(races.append)
    patches = Patches(d)
    patches.install()
    try:
        yield d, races
    finally:
        patches.restore()
