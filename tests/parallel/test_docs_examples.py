"""The pmap and pipeline examples of README.md and docs/parallel.md run as
written, pasted into a script: the blocks of a document in order, in one
script, except that a block with the ``__main__`` guard is a program of its
own (worker processes import the script that starts them, so everything else
in it would run again there).  A block after ``<!-- skip: next -->`` is a
signature or needs a cluster."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"(<!-- skip: next -->\s*)?```python\n(.*?)```", re.DOTALL)


def programs(text: str) -> list[str]:
    shared: list[str] = []
    alone: list[str] = []
    for skip, code in BLOCK.findall(text):
        if skip:
            continue
        if 'if __name__ == "__main__":' in code:
            alone.append(code)
        else:
            shared.append(code)
    return ["\n".join(shared), *alone] if shared else alone


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("`pmap` maps a function over an iterable")
    return text[start : text.index("\n## ", start)]


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("README.md", readme_section()),
        ("docs/parallel.md", (ROOT / "docs" / "parallel.md").read_text()),
    ],
)
def test_examples_run_as_written(tmp_path: Path, name: str, text: str) -> None:
    found = programs(text)
    assert found, f"no examples in {name}"
    for number, code in enumerate(found):
        script = tmp_path / f"example_{number}.py"
        script.write_text(code)
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"{name}, program {number}:\n{code}\n{done.stderr}"
