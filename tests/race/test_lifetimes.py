"""The detector keeps none of the program's objects alive (issue 12 §3):
programs that free an object and check it with a weak reference behave
under ``threadline race`` as they do plainly, on both paths (the
conftest's fixture): no frame is cached (a finished ``__init__``'s would
keep ``self``), no description or per-type cache holds a class, no
location holds the object that keys its item."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from threadline.race._detector import Detector
from threadline.race._locations import describe

pytestmark = pytest.mark.timeout(120)

PROGRAMS = {
    # filelock's test_singleton_locks_are_deleted_when_no_external_references_exist
    "frame_keeps_locals": """
        import sys, weakref

        class Lock:
            def __init__(self, path):
                self.path = path          # the last access: in a frame that ends here

        def test():
            lock = Lock("a")
            r = weakref.ref(lock)
            del lock
            print("freed" if r() is None else "KEPT")
            return 0 if r() is None else 1

        sys.exit(test())
    """,
    # filelock's test_constructor_model_does_not_retain_dynamic_subclass
    "dynamic_class": """
        import gc, sys, weakref

        def make():
            class Dynamic:
                def __init__(self):
                    self.x = 1
            return Dynamic

        cls = make()
        ref = weakref.ref(cls)
        obj = cls()
        obj.x += 1
        del obj, cls
        gc.collect()
        print("collected" if ref() is None else "RETAINED")
        sys.exit(0 if ref() is None else 1)
    """,
    "dynamic_function": """
        import gc, sys, weakref

        registry = {}

        class Box:
            pass

        def make(n):
            def work(box):
                box.value = n
                registry[n] = box.value
                return registry.get(n)
            return work

        fn = make(1)
        ref = weakref.ref(fn)
        fn(Box())
        del fn
        gc.collect()
        print("collected" if ref() is None else "RETAINED")
        sys.exit(0 if ref() is None else 1)
    """,
    "keys_and_containers": """
        import gc, sys, weakref

        table = {}
        seen = set()
        order = []

        def make():
            class Key:
                pass
            class Bag(dict):
                pass
            class Items(list):
                pass
            return Key, Bag, Items

        Key, Bag, Items = make()
        refs = [weakref.ref(c) for c in (Key, Bag, Items)]
        k = Key()
        refs.append(weakref.ref(k))
        table[k] = 1              # an instance as a dict key
        table.get(k)
        table[Key] = 2            # a class as one
        seen.add(k)
        order.append(k)
        bag = Bag()               # instances as containers, with their methods
        bag[k] = 2
        bag.get(k)
        bag.setdefault("x", 1)
        items = Items()
        items.append(k)
        items.pop()
        del table[k], table[Key]
        seen.discard(k)
        order.pop()
        del k, bag, items, Key, Bag, Items
        gc.collect()
        alive = [r() is not None for r in refs]
        print("collected" if not any(alive) else f"RETAINED {alive}")
        sys.exit(1 if any(alive) else 0)
    """,
    # a plain dict and list (kept by the detector: not weakly referenceable)
    "local_containers": """
        import gc, sys, weakref

        def make():
            class Item:
                pass
            return Item

        def use():
            Item = make()
            box = {"item": Item()}
            box["item"]
            items = [Item()]
            items[0]
            return weakref.ref(Item)

        ref = use()
        gc.collect()
        print("collected" if ref() is None else "RETAINED")
        sys.exit(0 if ref() is None else 1)
    """,
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_runs_as_python_does(name: str, tmp_path: Path) -> None:
    program = tmp_path / f"{name}.py"
    program.write_text(textwrap.dedent(PROGRAMS[name]), encoding="utf-8")
    runs = [
        subprocess.run(
            [sys.executable, *command, str(program)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=tmp_path,
        )
        for command in ([], ["-m", "threadline", "race"])
    ]
    plain, checked = ((r.returncode, r.stdout) for r in runs)
    assert plain == (0, plain[1])
    assert plain[1].strip() in ("freed", "collected")
    assert checked == plain, runs[1].stderr


@pytest.fixture
def detector(detector_path: str) -> Detector:
    return Detector(lambda race: None, use_c=detector_path == "c")


def test_a_dead_key_s_item_is_forgotten(detector: Detector) -> None:
    """An item keyed by an object that hashes by identity holds its key
    weakly, and its location goes when the key dies."""

    class Key:
        pass

    table: dict[Any, int] = {}
    for _ in range(100):
        key = Key()
        detector.access(table, ("<item>", key), True, describe)
        del key
    gc.collect()
    detector.access(table, ("<item>", "x"), True, describe)  # drains what died
    assert [k for (oid, k) in detector._shadow if oid == id(table)] == [("<item>", "x")]
    assert len(detector._objects[id(table)]) < 60  # (compacted: the watch and few keys)


def test_an_object_key_s_item_still_races(detector: Detector) -> None:
    races: list[Any] = []
    d = Detector(races.append, use_c=detector.core is not None)

    class Key:
        pass

    table: dict[Any, int] = {}
    key = Key()
    d.access(table, ("<item>", key), True, describe)
    thread = threading.Thread(target=d.access, args=(table, ("<item>", key), True, describe))
    thread.start()  # not through the detector's fork: unordered
    thread.join()
    assert [race.current.what for race in races] == [f"dict[{key!r}]"]
    ref = weakref.ref(key)
    del key, races[:]
    gc.collect()
    assert ref() is None


def test_no_frame_is_cached(detector: Detector) -> None:
    class Obj:
        pass

    def touch(obj: Obj) -> None:
        detector.access(obj, "x", True, describe)

    holder = Obj()

    class Local:
        pass

    def run() -> weakref.ref[Local]:
        local = Local()
        touch(holder)  # the last access: its frame (and run's) must not be kept
        return weakref.ref(local)

    ref = run()
    gc.collect()
    assert ref() is None
    (info,) = detector._threads.values()
    assert not any(
        type(part).__name__ == "frame" for part in gc.get_referents(*gc.get_referents(info))
    )
