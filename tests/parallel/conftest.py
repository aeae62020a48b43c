"""Each test starts with no parked worker processes and leaves none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadline._parallel import _procs


@pytest.fixture(autouse=True)
def _no_parked_processes() -> Iterator[None]:
    _procs.retire_idle()
    yield
    _procs.retire_idle()
