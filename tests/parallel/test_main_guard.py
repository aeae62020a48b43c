"""Starting worker processes from a script's top level without the
``if __name__ == "__main__":`` guard: one clear error, before any process
starts.  Each script runs in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from threadline._parallel import _procs

pytestmark = pytest.mark.timeout(120)

# Appended to each failing script: what happened to the processes.
REPORT = """
import multiprocessing, multiprocessing.forkserver
print("children:", len(multiprocessing.active_children()))
print("forkserver:", multiprocessing.forkserver._forkserver._forkserver_pid)
"""


def run_script(
    tmp_path: Path, source: str, name: str = "script.py"
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def guard_error(tmp_path: Path, source: str) -> str:
    """Run *source*, whose top level must fail with the guard error, which
    it catches and prints; the message."""
    body = textwrap.dedent(source).lstrip("\n")
    wrapped = (
        "try:\n"
        + textwrap.indent(body, "    ")
        + ("\nexcept RuntimeError as exc:\n    print('ERROR:', exc)\n")
    )
    done = run_script(tmp_path, wrapped + REPORT)
    assert done.returncode == 0, done.stderr
    assert "bootstrapping" not in done.stderr
    assert "children: 0" in done.stdout  # no process was started
    assert "forkserver: None" in done.stdout
    assert "ERROR:" in done.stdout, done.stdout
    return done.stdout.split("ERROR:", 1)[1].split("\nchildren:")[0]


def test_a_top_level_pmap_without_the_guard_is_one_clear_error(tmp_path: Path) -> None:
    # Regression: the user saw three multiprocessing bootstrap tracebacks and
    # then "BrokenProcessPool: ... died while running item 0".
    message = guard_error(
        tmp_path,
        """
        import threadline as tl

        def square(x):
            return x * x

        print(list(tl.pmap(square, range(5), backend="processes")))
        """,
    )
    assert "pmap(backend='processes') was started by line 7 of" in message
    assert "script.py" in message
    assert 'if __name__ == "__main__":' in message  # the fix
    assert 'backend="threads"' in message


def test_work_started_from_a_function_called_at_the_top_level(tmp_path: Path) -> None:
    message = guard_error(
        tmp_path,
        """
        import threadline as tl

        def square(x):
            return x * x

        def main():
            return list(tl.pipeline(range(5), tl.stage(square, backend="processes")))

        main()
        """,
    )
    assert "line 10 of" in message


def test_auto_that_picks_processes_checks_too(tmp_path: Path) -> None:
    message = guard_error(
        tmp_path,
        """
        import sys
        import threadline as tl

        sys._is_gil_enabled = lambda: True  # as on a GIL build: auto picks processes

        def square(x):
            return x * x

        list(tl.pmap(square, range(5), backend="auto"))
        """,
    )
    assert "pmap(backend='auto') was started by line 10" in message


def test_with_the_guard_it_runs(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import threadline as tl

        def square(x):
            return x * x

        def main():
            print(list(tl.pmap(square, range(5), backend="processes")))

        if __name__ == "__main__":
            main()
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 4, 9, 16]"


def test_the_default_backend_needs_no_guard(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import threadline as tl

        def square(x):
            return x * x

        print(list(tl.pmap(square, range(5))))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 4, 9, 16]"


def test_python_c_needs_no_guard() -> None:
    # No main file: the workers do not import one, so nothing runs twice.
    root = Path(__file__).parents[2]
    code = (
        "import threadline as tl\n"
        "from tests.parallel import workers as w\n"
        "print(list(tl.pmap(w.square, range(5), backend='processes')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 4, 9, 16]"


@pytest.mark.parametrize(
    ("source", "line", "guarded"),
    [
        ('if __name__ == "__main__":\n    run()\n', 2, True),
        ('if "__main__" == __name__:\n    run()\n', 2, True),
        ('if __name__ != "__main__":\n    pass\nelse:\n    run()\n', 4, True),
        ('if __name__ != "__main__":\n    run()\n', 2, False),
        ('try:\n    if __name__ == "__main__":\n        run()\nfinally:\n    pass\n', 3, True),
        ("try:\n    run()\nexcept OSError:\n    pass\n", 2, False),
        ("if True:\n    run()\n", 2, False),
        ("run()\n", 1, False),
    ],
)
def test_what_counts_as_guarded(source: str, line: int, guarded: bool) -> None:
    assert _procs._under_guard(ast.parse(source).body, line) is guarded
