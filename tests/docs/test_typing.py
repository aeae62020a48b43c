"""The documents' ``python`` blocks type-check under ``mypy --strict``.

Each document's blocks (those that run: not the ones after ``<!-- skip:
next -->``) are written, at their own line numbers, into one script per
document, which mypy checks as the project's own code is checked. A
reader who copies the examples into a typed code base gets no error.

mypy runs in a process of its own: run in this one, it would leave a heap
big enough to slow down every garbage collection of the tests after it.
"""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import pytest
from sybil.evaluators.skip import Skipper

from tests.docs.plugin import DOCUMENTS, PROJECT_DOCS, ROOT

pytest.importorskip("mypy")

pytestmark = pytest.mark.timeout(300)


def documents() -> list[Path]:
    found = {Path(p) for pattern in DOCUMENTS for p in glob.glob(str(ROOT / pattern))}
    return sorted(found)


def script_of(document: Path) -> str:
    """The document's running blocks, at their line numbers, blank lines
    elsewhere."""
    lines = [""] * len(document.read_text().splitlines())
    skip_next = False
    for example in PROJECT_DOCS.sybil.parse(document).examples():
        if isinstance(example.region.evaluator, Skipper):
            action, reason = example.parsed
            assert (action, reason) == ("next", None), (
                f"{document.name} line {example.line}: this test knows only "
                f"'skip: next', not {example.parsed}"
            )
            skip_next = True
            continue
        if skip_next:
            skip_next = False
            continue
        first = example.line + example.parsed.line_offset
        for offset, line in enumerate(str(example.parsed).splitlines()):
            lines[first + offset] = line
    return "\n".join(lines) + "\n"


def test_documents_blocks_type_check(tmp_path: Path) -> None:
    scripts: dict[str, str] = {}
    for document in documents():
        name = document.relative_to(ROOT).as_posix()
        script = tmp_path / (name.replace("/", "_").replace(".", "_") + ".py")
        script.write_text(script_of(document))
        scripts[str(script)] = name
    assert "README.md" in scripts.values()
    mypy = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "--show-error-codes",
            *scripts,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert not mypy.stderr, mypy.stderr
    assert mypy.returncode in (0, 1), mypy.stdout
    errors = mypy.stdout
    for script, name in scripts.items():
        errors = errors.replace(f"{script}:", f"{name}:")
    assert not errors.strip(), f"mypy --strict on the documents' blocks:\n{errors}"
