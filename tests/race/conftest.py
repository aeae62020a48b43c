"""Every race test runs twice: with the detector's C hot path and with its
pure-Python twin (the reference, and what runs where the C part was not
built).  The choice travels in THREADLINE_RACE_PURE, so programs the tests
run in a subprocess make the same one."""

from __future__ import annotations

import pytest

from threadline.race import _detector


@pytest.fixture(autouse=True, params=["c", "python"])
def detector_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "c" and _detector._accel is None:
        pytest.skip("threadline.race._accel is not built here")
    monkeypatch.setenv("THREADLINE_RACE_PURE", "1" if request.param == "python" else "0")
    return str(request.param)
