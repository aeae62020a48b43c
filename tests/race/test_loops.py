"""``loop.call_soon_threadsafe(cb)`` → cb (``race/_loops.py``), with the
detector and its patches in this process: the edge, the patch made at
install or when ``asyncio.base_events`` is imported later, and both undone
afterwards.  (The corpus has whole programs.)"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from threadline.race import _loops
from threadline.race._detector import Detector, Race
from threadline.race._patches import Patches

pytestmark = pytest.mark.timeout(60)

ORIGINAL = asyncio.base_events.BaseEventLoop.__dict__["call_soon_threadsafe"]


class Obj:
    pass


def describe(kind: str, label: object, key: object) -> str:
    return f"{kind}.{key}"


def unordered(d: Detector, fn: Callable[[], None]) -> None:
    """Run *fn* in a thread that the detector sees as new and unordered."""

    def work() -> None:
        d.begin_thread({}, ())
        fn()

    t = threading.Thread(target=work)
    t.start()
    t.join(30)


@pytest.mark.parametrize("write_after", [False, True])
def test_the_callback_runs_after_what_the_caller_did_before_the_call(
    detector: tuple[Detector, list[Race]], write_after: bool
) -> None:
    d, races = detector
    obj = Obj()
    loop = asyncio.new_event_loop()
    try:

        def callback(value: int) -> None:
            d.access(obj, "x", False, describe)
            seen.append(value)

        seen: list[int] = []

        def caller() -> None:
            if not write_after:
                d.access(obj, "x", True, describe)
            loop.call_soon_threadsafe(callback, 7)
            if write_after:  # not before the callback
                d.access(obj, "x", True, describe)

        unordered(d, caller)
        unordered(d, lambda: loop.run_until_complete(asyncio.sleep(0)))
    finally:
        loop.close()
    assert seen == [7]
    assert len(races) == (1 if write_after else 0)


def test_what_asyncio_refuses_it_still_refuses(detector: tuple[Detector, list[Race]]) -> None:
    async def coro() -> None:
        pass

    loop = asyncio.new_event_loop()
    loop.set_debug(True)  # where asyncio checks callbacks
    try:
        with pytest.raises(TypeError):
            loop.call_soon_threadsafe(coro)  # type: ignore[arg-type]
    finally:
        loop.close()


def test_patched_at_install_and_undone_at_restore() -> None:
    patches = Patches(Detector(lambda race: None))
    patches.install()
    try:
        assert asyncio.base_events.BaseEventLoop.call_soon_threadsafe is not ORIGINAL
        assert not patches.watchers  # already imported: no watcher
    finally:
        patches.restore()
    assert asyncio.base_events.BaseEventLoop.__dict__["call_soon_threadsafe"] is ORIGINAL


def test_not_yet_imported_a_watcher_waits_for_it_and_goes_at_restore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "asyncio.base_events")
    before = list(sys.meta_path)
    patches = Patches(Detector(lambda race: None))
    patches.install()
    try:
        assert isinstance(sys.meta_path[0], _loops._Watcher)
        assert sys.meta_path[1:] == before
        assert asyncio.base_events.BaseEventLoop.call_soon_threadsafe is ORIGINAL
    finally:
        patches.restore()
    assert sys.meta_path == before


PROGRAM = """
import sys
assert "asyncio" not in sys.modules, "imported before the program"
import asyncio
print(hasattr(asyncio.base_events.BaseEventLoop.call_soon_threadsafe, "__wrapped__"))
"""


def test_patched_when_the_program_imports_asyncio(tmp_path: object) -> None:
    """``threadline race`` itself does not import asyncio; the program's
    import of it patches the loop class."""
    path = f"{tmp_path}/program.py"
    with open(path, "w", encoding="utf-8") as f:
        f.write(PROGRAM)
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "race", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "True"), done.stderr
