"""The public API's types, checked by mypy itself.

``accepted.py`` must type-check under ``mypy --strict``; in ``rejected.py``
every line marked ``# E: code[, code...]`` must get errors with exactly
those codes, and no other line may get one.  Both files only exist to be checked: nothing in
them runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[int, set[str]]]:
    """mypy's errors in both files, by file name and line: one run for both."""
    cache = tmp_path_factory.mktemp("mypy-cache")
    out, err, _ = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(cache),
            "--no-error-summary",
            "--show-error-codes",
            "--hide-error-context",
            str(HERE / "accepted.py"),
            str(HERE / "rejected.py"),
        ]
    )
    assert not err, err
    found: dict[str, dict[int, set[str]]] = {"accepted.py": {}, "rejected.py": {}}
    for line in out.splitlines():
        match = ERROR.match(line)
        if match is None:
            continue  # notes
        name = Path(match["file"]).name
        found.setdefault(name, {}).setdefault(int(match["line"]), set()).add(match["code"])
    return found


def test_accepted_code_type_checks(errors: dict[str, dict[int, set[str]]]) -> None:
    assert errors["accepted.py"] == {}


def test_rejected_code_is_rejected_line_by_line(errors: dict[str, dict[int, set[str]]]) -> None:
    expected: dict[int, set[str]] = {}
    for number, text in enumerate((HERE / "rejected.py").read_text().splitlines(), start=1):
        marker = re.search(r"# E: ([a-z-]+(?:, [a-z-]+)*)$", text)
        if marker:
            expected[number] = set(marker[1].split(", "))
    assert expected, "rejected.py marks no line"
    assert errors["rejected.py"] == expected
