"""Import edges: the end of a module's body happens before every import
that returns it (``import m``, ``from m import x``, ``import pkg.m``,
relative imports, ``importlib.import_module``, ``__import__``), whether
the import waited on the module's lock or found it finished; a partially
initialised module and a reload order nothing.  Each program runs under
``threadline race`` in a subprocess (on both detector paths: see
conftest.py)."""

from __future__ import annotations

import builtins
import importlib._bootstrap
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from threadline.race._detector import Detector
from threadline.race._imports import ImportEdges

pytestmark = pytest.mark.timeout(120)


def write(root: Path, files: dict[str, str]) -> None:
    """Files by path under *root*."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def race(root: Path, program: str = "prog.py") -> dict[str, Any]:
    out = root / "races.json"
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "race", "--json", str(out), program],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        cwd=root,
    )
    races = json.loads(out.read_text(encoding="utf-8"))["races"] if out.exists() else None
    return {"status": done.returncode, "races": races, "out": done.stdout, "err": done.stderr}


SLOW = """\
import time

TABLE = {}
TABLE["a"] = 1
time.sleep(0.3)
DONE = True
"""

PKG_INIT = """\
NAME = "pkg"
"""

PKG_SUB = """\
import time

VALUE = {"v": 1}
time.sleep(0.3)
VALUE["v"] = 2
"""

PKG_USER = """\
def relative():
    from . import sub

    return sub.VALUE["v"]
"""

EVERY_WAY = """\
import importlib
import sys
import threading
import time

import pkg
import pkg.user

results = []


def loaded(name, done):
    # no edge: sys.modules is written by the import system, not the program
    while name not in sys.modules or (
        done and getattr(sys.modules[name].__spec__, "_initializing", False)
    ):
        time.sleep(0.001)


def first():
    import slow
    import pkg.sub

    results.append(slow.DONE and pkg.sub.VALUE["v"] == 2)


def statement(done):
    loaded("slow", done)
    import slow

    results.append(slow.TABLE["a"] == 1 and slow.DONE)


def from_import(done):
    loaded("slow", done)
    from slow import TABLE

    results.append(TABLE["a"] == 1)


def import_module(done):
    loaded("slow", done)
    results.append(importlib.import_module("slow").TABLE["a"] == 1)


def dunder_import(done):
    loaded("slow", done)
    results.append(__import__("slow").TABLE["a"] == 1)


def dotted(done):
    loaded("pkg.sub", done)
    import pkg.sub

    results.append(pkg.sub.VALUE["v"] == 2 and pkg.NAME == "pkg")


def from_package(done):
    loaded("pkg.sub", done)
    from pkg import sub

    results.append(sub.VALUE["v"] == 2)


def relative(done):
    loaded("pkg.sub", done)
    results.append(pkg.user.relative() == 2)


def relative_import_module(done):
    loaded("pkg.sub", done)
    results.append(importlib.import_module(".sub", "pkg").VALUE["v"] == 2)


ways = [statement, from_import, import_module, dunder_import, dotted, from_package, relative,
        relative_import_module]
threads = [threading.Thread(target=first)]
threads += [threading.Thread(target=way, args=(done,)) for way in ways for done in (False, True)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert results == [True] * len(threads), results
"""


def test_every_way_of_importing_is_ordered_after_the_body(tmp_path: Path) -> None:
    """One thread loads the modules; the others import them while the
    body runs (they wait on its lock) or after (a finished module)."""
    write(
        tmp_path,
        {
            "slow.py": SLOW,
            "pkg/__init__.py": PKG_INIT,
            "pkg/sub.py": PKG_SUB,
            "pkg/user.py": PKG_USER,
            "prog.py": EVERY_WAY,
        },
    )
    result = race(tmp_path)
    assert result["status"] == 0, result["err"][-3000:]
    assert result["races"] == []


PARTIAL_INIT = """\
import time

STATE = {}

from . import sub

time.sleep(0.3)
STATE["late"] = 1
"""

PARTIAL = """\
import sys
import threading
import time

seen = []


def other():
    while "pkg.sub" not in sys.modules or sys.modules["pkg.sub"].__spec__._initializing:
        time.sleep(0.001)
    import pkg.sub  # pkg is still running its body: returned partially initialised

    seen.append(pkg.sub.VALUE["v"])  # ordered: pkg.sub's body ended
    while sys.modules["pkg"].__spec__._initializing:
        time.sleep(0.001)
    seen.append(pkg.STATE["late"])  # not ordered: this import did not wait for pkg


t = threading.Thread(target=other)
t.start()
import pkg  # noqa: E402

t.join()
"""


def test_a_partially_initialised_module_is_not_ordered_after_the_rest_of_its_body(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"pkg/__init__.py": PARTIAL_INIT, "pkg/sub.py": PKG_SUB, "prog.py": PARTIAL})
    result = race(tmp_path)
    assert result["status"] == 66, result["err"][-3000:]
    assert [r["current"]["location"] for r in result["races"]] == ["dict['late']"], result["err"]


RELOAD = """\
import importlib
import threading
import time

import conf

seen = []


def other():
    time.sleep(0.3)
    import conf

    seen.append(conf.TABLE["k"])  # not ordered after the reload


t = threading.Thread(target=other)
t.start()
importlib.reload(conf)
t.join()
"""


def test_a_reload_orders_nothing(tmp_path: Path) -> None:
    """No import waits for a reload: its body races with the other
    thread's read, as before."""
    write(tmp_path, {"conf.py": 'TABLE = {}\nTABLE["k"] = 1\n', "prog.py": RELOAD})
    result = race(tmp_path)
    assert result["status"] == 66, result["err"][-3000:]
    assert [r["current"]["location"] for r in result["races"]] == ["dict['k']"], result["err"]


CIRCULAR_A = """\
import b

STATE = {}
STATE["x"] = b.Y + 1
"""

CIRCULAR_B = """\
import a  # partially initialised here

Y = 1


def later():
    return a.STATE["x"]
"""

CIRCULAR = """\
import threading

results = []


def work():
    import a

    results.append(a.b.later())


threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert results == [2] * 4, results
"""


def test_circular_imports_from_threads(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": CIRCULAR_A, "b.py": CIRCULAR_B, "prog.py": CIRCULAR})
    result = race(tmp_path)
    assert result["status"] == 0, result["err"][-3000:]
    assert result["races"] == []


OWN_HOOK = """\
import builtins
import threading

hooked = []
previous = builtins.__import__


def counting(name, *args, **kwargs):
    hooked.append(name)
    return previous(name, *args, **kwargs)


builtins.__import__ = counting


def work():
    import slow

    assert slow.TABLE["a"] == 1


threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
builtins.__import__ = previous
assert hooked.count("slow") == 3, hooked
"""


def test_a_program_with_its_own_import_hook(tmp_path: Path) -> None:
    write(tmp_path, {"slow.py": SLOW, "prog.py": OWN_HOOK})
    result = race(tmp_path)
    assert result["status"] == 0, result["err"][-3000:]
    assert result["races"] == []


FAILING = """\
import importlib
import traceback

for name in ("missing_module", "broken"):
    try:
        __import__(name)
    except Exception:
        print(traceback.format_exc())
    try:
        importlib.import_module(name)
    except Exception:
        print(traceback.format_exc())
try:
    import missing_module
except ImportError:
    print(traceback.format_exc())
"""


def test_a_failed_import_reads_as_without_the_detector(tmp_path: Path) -> None:
    write(tmp_path, {"broken.py": "x = 1\n1 / 0\n", "prog.py": FAILING})
    plain = subprocess.run(
        [sys.executable, "prog.py"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    result = race(tmp_path)
    assert result["status"] == 0, result["err"][-3000:]
    assert "ZeroDivisionError" in plain.stdout
    assert result["out"] == plain.stdout


def test_install_and_restore() -> None:
    before = builtins.__import__, importlib._bootstrap._gcd_import  # type: ignore[attr-defined]
    edges = ImportEdges(Detector(lambda race: None))
    edges.install()
    try:
        assert builtins.__import__ is not before[0]
        assert importlib._bootstrap._gcd_import is not before[1]  # type: ignore[attr-defined]
        assert __import__("json") is sys.modules["json"]
    finally:
        edges.restore()
    assert (builtins.__import__, importlib._bootstrap._gcd_import) == before  # type: ignore[attr-defined]


def test_restore_leaves_the_program_s_own_hook() -> None:
    original = builtins.__import__
    edges = ImportEdges(Detector(lambda race: None))
    edges.install()
    ours = builtins.__import__

    def theirs(*args: Any, **kwargs: Any) -> Any:
        return ours(*args, **kwargs)

    builtins.__import__ = theirs
    try:
        edges.restore()
        assert builtins.__import__ is theirs
        assert theirs("json") is sys.modules["json"]  # ours passes through
    finally:
        builtins.__import__ = original
