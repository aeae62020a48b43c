"""Doc tests of README.md and docs/*.md: see tests/docs/plugin.py."""

import pytest
from tests.docs.plugin import PROJECT_DOCS


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(PROJECT_DOCS, "threadline-docs")
