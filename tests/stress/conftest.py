from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _stress(tiny_switch: None) -> None:
    """Every stress test runs with a tiny switch interval."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/stress/" in str(item.path):
            item.add_marker(pytest.mark.stress)
