from __future__ import annotations

import types

import pytest

import threadline as tl
from tests.helpers import run_python


def test_all_matches_public_names() -> None:
    # "@py_builtins"/"@pytest_ar": pytest rewrites the asserts of a plugin's
    # distribution (threadline ships the --race plugin), adding these names
    public = {name for name in dir(tl) if not name.startswith(("_", "@"))}
    tools = {name for name in public if isinstance(getattr(tl, name), types.ModuleType)}
    assert tools <= {"scale", "race"}  # the tools' subpackages, once imported
    assert set(tl.__all__) == public - tools


def test_public_objects_claim_the_package_as_module() -> None:
    for name in tl.__all__:
        obj = getattr(tl, name)
        if hasattr(obj, "__module__"):
            assert obj.__module__ == "threadline", name


def test_error_bases() -> None:
    assert issubclass(tl.ChannelClosed, Exception)
    assert issubclass(tl.Cancelled, BaseException)
    assert not issubclass(tl.Cancelled, Exception)


def test_importing_threadline_loads_neither_asyncio_nor_the_parallel_machinery() -> None:
    """Start-up cost: asyncio, concurrent.futures and multiprocessing load
    only when a coroutine, pmap or pipeline needs them (the race detector's
    start-up counts against every program it checks)."""
    code = (
        "import sys, threading, threadline as tl\n"
        "heavy = ('asyncio', 'concurrent.futures', 'multiprocessing')\n"
        "ch = tl.Channel(1)\n"
        "t = threading.Thread(target=ch.send, args=(1,)); t.start(); t.join()\n"
        "with tl.TaskGroup() as tg:\n"
        "    task = tg.go(ch.recv)\n"
        "assert task.result() == 1\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "assert tl.pmap.__module__ == 'threadline' and 'pmap' in dir(tl)\n"
        "print('concurrent.futures' in sys.modules)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"]


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        tl.no_such_thing  # type: ignore[attr-defined]
