"""The doc-test machinery (tests/docs/plugin.py), run by a pytest of its own
on small documents: one namespace per document, skips, invisible blocks,
timeouts, and the strict list of known failures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.docs.plugin import (
    DOCUMENTS,
    KNOWN_FAILURES,
    PROJECT_DOCS,
    ROOT,
    DocumentFailure,
    MarkdownDocs,
)

PASSING = """\
# A document

```python
names = ["a", "b"]
```

Text between the blocks.

```python
assert __name__ == "__main__"
assert names == ["a", "b"]   # one namespace per document
```
"""

FAILING = """\
```python
x = 1
```

```python
raise ValueError("the second block fails")
```

```python
assert x == 1                # the blocks after a failure still run
y = undefined_name
```
"""

HANGING = "```python\nx = 1\n```\n\n```python\nimport time\ntime.sleep(60)\n```\n"

DOCS = {
    "passing.md": PASSING,
    "failing.md": FAILING,
    "skip.md": (
        "<!-- skip: next -->\n\n```python\nraise SystemExit('a skipped block ran')\n```\n\n"
        "```python\nx = 1\n```\n"
    ),
    "invisible.md": (
        "<!-- invisible-code-block: python\nitems = [1, 2]\n-->\n\n"
        "```python\nassert sum(items) == 3\n```\n"
    ),
    "hanging.md": "```python\nimport time\ntime.sleep(60)\n```\n",
    "known_failing.md": FAILING,
    "known_passing.md": PASSING,
    "known_hanging.md": HANGING,
}

KNOWN = {
    "known_failing.md": "two blocks fail",
    "known_passing.md": "was broken once",
    "known_hanging.md": "hangs",
}

OUTCOME = re.compile(r"^(PASSED|FAILED|XFAIL|XPASS|SKIPPED|ERROR) (\S+)", re.MULTILINE)


def run_pytest(directory: Path, *args: str) -> tuple[dict[str, str], str]:
    """Run pytest in `directory` with the plugin set up on DOCS and KNOWN (a
    0.5 s timeout per block); return each test's outcome and the output."""
    for name, text in DOCS.items():
        (directory / name).write_text(text)
    (directory / "conftest.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from tests.docs.plugin import MarkdownDocs

            def pytest_configure(config):
                docs = MarkdownDocs(Path(__file__).parent, ["*.md"], {KNOWN!r}, 0.5)
                config.pluginmanager.register(docs, "docs-under-test")
            """
        )
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"]
    proc = subprocess.run(
        [*command, "-p", "no:hypothesispytest", "-p", "no:run-parallel", *args],
        cwd=directory,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode in (0, 1), output
    return {nodeid: outcome for outcome, nodeid in OUTCOME.findall(output)}, output


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    return run_pytest(tmp_path_factory.mktemp("docs"))


def test_blocks_share_one_namespace_per_document(run: tuple[dict[str, str], str]) -> None:
    outcomes, output = run
    assert outcomes["passing.md::line:3,column:1"] == "PASSED", output
    assert outcomes["passing.md::line:9,column:1"] == "PASSED", output


def test_each_failing_block_fails_and_the_others_still_run(
    run: tuple[dict[str, str], str],
) -> None:
    outcomes, output = run
    assert outcomes["failing.md::line:1,column:1"] == "PASSED", output
    assert outcomes["failing.md::line:5,column:1"] == "FAILED", output
    assert outcomes["failing.md::line:9,column:1"] == "FAILED", output
    assert "NameError: name 'undefined_name' is not defined" in output


def test_skip_next_skips_one_block(run: tuple[dict[str, str], str]) -> None:
    outcomes, output = run
    assert "a skipped block ran" not in output
    assert outcomes["skip.md::line:3,column:1"] == "PASSED", output
    assert outcomes["skip.md::line:7,column:1"] == "PASSED", output


def test_an_invisible_block_provides_a_name(run: tuple[dict[str, str], str]) -> None:
    outcomes, output = run
    assert outcomes["invisible.md::line:1,column:1"] == "PASSED", output
    assert outcomes["invisible.md::line:5,column:1"] == "PASSED", output


def test_a_block_that_hangs_times_out(run: tuple[dict[str, str], str]) -> None:
    outcomes, output = run
    assert outcomes["hanging.md::line:1,column:1"] == "FAILED", output
    assert "Timeout (>0.5s)" in output


def test_a_known_failing_document_is_one_expected_failure(
    run: tuple[dict[str, str], str],
) -> None:
    outcomes, output = run
    assert outcomes["known_failing.md::all_blocks"] == "XFAIL", output
    assert "known_failing.md::all_blocks - two blocks fail" in output
    assert not any(nodeid.startswith("known_failing.md::line") for nodeid in outcomes)


def test_a_known_failing_document_that_passes_fails_the_run(
    run: tuple[dict[str, str], str],
) -> None:
    outcomes, output = run
    assert outcomes["known_passing.md::all_blocks"] == "FAILED", output
    assert "[XPASS(strict)] was broken once" in output


def test_a_hang_in_a_known_failing_document_is_an_expected_failure(
    run: tuple[dict[str, str], str],
) -> None:
    outcomes, output = run
    assert outcomes["known_hanging.md::all_blocks"] == "XFAIL", output


def test_a_known_failing_document_names_its_first_failing_block(tmp_path: Path) -> None:
    outcomes, output = run_pytest(tmp_path, "--runxfail", "known_failing.md", "known_hanging.md")
    assert outcomes == {
        "known_failing.md::all_blocks": "FAILED",
        "known_hanging.md::all_blocks": "FAILED",
    }
    assert "DocumentFailure: known_failing.md line 5: ValueError: the second block fails" in output
    assert "Timeout" in output
    assert "in the block at known_hanging.md line 5" in output


def test_a_document_stops_at_its_first_failing_block(tmp_path: Path) -> None:
    ran = tmp_path / "the third block ran"
    (tmp_path / "README.md").write_text(
        FAILING + f"\n```python\nimport pathlib\npathlib.Path({str(ran)!r}).touch()\n```\n"
    )
    docs = MarkdownDocs(tmp_path, ["*.md"], {}, 5.0)
    with pytest.raises(DocumentFailure, match=r"README\.md line 5: ValueError: the second") as info:
        docs.run_document(tmp_path / "README.md")
    assert isinstance(info.value.__cause__, ValueError)
    assert not ran.exists()
    (tmp_path / "README.md").write_text(PASSING)
    docs.run_document(tmp_path / "README.md")


def test_known_failures_name_documents_that_run() -> None:
    for name in KNOWN_FAILURES:
        path = ROOT / name
        assert path.is_file(), f"KNOWN_FAILURES names {name}, which does not exist"
        assert PROJECT_DOCS.sybil.should_parse(path), f"{name} does not match {DOCUMENTS}"


PROCESSES = """\
Worker processes import the block they were started from.

```python
import os

import threadline as tl


def pid_of(n: int) -> int:  # defined in this block only
    return os.getpid()


if __name__ == "__main__":
    pids = set(tl.pmap(pid_of, range(8), backend="processes", workers=2))
    assert os.getpid() not in pids, pids
```
"""


def run_alone(directory: Path, text: str) -> None:
    """Run `text` as README.md in `directory`, in this process."""
    (directory / "README.md").write_text(text)
    docs = MarkdownDocs(directory, ["*.md"], {}, 30.0)
    main = sys.modules["__main__"]
    try:
        docs.run_document(directory / "README.md")
    finally:
        docs.evaluator.cleanup()
        assert sys.modules["__main__"] is main, "the block's __main__ was left in place"


def test_a_block_is_the_script_that_worker_processes_import(tmp_path: Path) -> None:
    run_alone(tmp_path, PROCESSES)


def test_a_block_without_the_main_guard_is_refused_by_pmap(tmp_path: Path) -> None:
    unguarded = PROCESSES.replace('if __name__ == "__main__":\n    pids', "pids").replace(
        "\n    assert", "\nassert"
    )
    with pytest.raises(
        DocumentFailure,
        match=r"README\.md line 3: RuntimeError: .* started by line 13 of \S+README_md_line3\.py, "
        "which is not under",
    ):
        run_alone(tmp_path, unguarded)
