"""The rewrite keeps the program's meaning: the same results and the same
order of side effects as without it, for every statement form it touches.
Each snippet runs twice, plainly and instrumented, and the namespaces and
logs are compared."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from threadline.race._detector import Detector, Race
from threadline.race._hooks import Hooks
from threadline.race._importer import instrument, prepare

PRELUDE = """
log = []
def t(tag, value=None):
    log.append(tag)
    return value
class Obj:
    pass
"""

SNIPPETS = {
    "attribute store order": """
        o = Obj()
        t("obj", o).a = t("value", 1)
    """,
    "subscript store order": """
        d = {}
        t("obj", d)[t("key", "k")] = t("value", 2)
    """,
    "chained targets": """
        a, b = Obj(), {}
        t("a", a).x = t("b", b)["y"] = t("value", 3)
        result = (a.x, b["y"])
    """,
    "tuple unpacking with starred": """
        o, lst = Obj(), [0, 0, 0]
        o.first, *lst[0:2] = t("value", [1, 2, 3])
        result = (o.first, lst)
    """,
    "nested unpacking": """
        o = Obj()
        (o.a, (o.b, o.c)), d = t("v", ((1, (2, 3)), 4))
        result = (o.a, o.b, o.c, d)
    """,
    "augmented attribute keeps in-place semantics": """
        o = Obj()
        o.items = [1]
        before = id(o.items)
        t("obj", o).items += t("value", [2])
        result = (o.items, id(o.items) == before)
    """,
    "augmented subscript order": """
        d = {"k": 1}
        t("obj", d)[t("key", "k")] += t("value", 10)
        result = d
    """,
    "augmented slice": """
        lst = [1, 2, 3, 4]
        lst[1:3] *= 2
        result = lst
    """,
    "delete forms": """
        o, d, lst = Obj(), {"a": 1, "b": 2}, [1, 2, 3, 4]
        o.x = 1
        del o.x, d["a"], lst[1:3]
        result = (hasattr(o, "x"), d, lst)
    """,
    "walrus, comprehension and f-string": """
        o = Obj()
        o.n = 3
        squares = [y for x in range(o.n) if (y := x * x) >= 0]
        text = f"{o.n!r:>4}|{squares[-1]}"
        result = (squares, text, y)
    """,
    "globals and closures": """
        counter = 0
        def bump():
            global counter
            counter += 1
            return counter
        def outer():
            n = 0
            def inc():
                nonlocal n
                n += 1
                return n
            inc()
            inc()
            return n
        result = (bump(), bump(), outer(), counter)
    """,
    "containers and builtins": """
        lst = [3, 1, 2]
        d = {"a": 1}
        lst.append(4)
        lst.insert(0, 0)
        popped = lst.pop()
        d.setdefault("b", 2)
        d.update(c=3)
        result = (sorted(lst), sum(lst), len(d), "a" in d, 5 not in lst, d.get("z", 9),
                  list(reversed(lst)), ",".join(["x", "y"]), getattr(d, "nope", None),
                  hasattr(lst, "append"), min(lst), max(d), popped)
    """,
    "with and method calls": """
        import threading
        lock = threading.Lock()
        with t("lock", lock) as held:
            inside = lock.locked()
        result = (held, inside, lock.locked())
    """,
    "class bodies and annotations": """
        class K:
            x: int = 1
            y = x + 1
            a, b = 1, 2
        k = K()
        k.z: int = 5
        result = (K.x, K.y, K.a, K.b, k.z, sorted(n for n in vars(K) if n.startswith("__tl")))
    """,
    "super and methods": """
        class Base:
            def hello(self):
                return "base"
        class Child(Base):
            def hello(self):
                return "child+" + super().hello()
        result = Child().hello()
    """,
}


def run(source: str, instrumented: bool) -> dict[str, Any]:
    code_text = PRELUDE + textwrap.dedent(source)
    namespace: dict[str, Any] = {"__name__": "snippet"}
    if instrumented:
        races: list[Race] = []
        prepare(namespace, Hooks(Detector(races.append)))
        exec(instrument(code_text, "<snippet>"), namespace)
        assert races == []
    else:
        exec(compile(code_text, "<snippet>", "exec"), namespace)
    return {"log": namespace["log"], "result": namespace.get("result")}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_same_meaning(name: str) -> None:
    plain = run(SNIPPETS[name], instrumented=False)
    rewritten = run(SNIPPETS[name], instrumented=True)
    assert repr(rewritten) == repr(plain)


def test_temporaries_do_not_leak_into_namespaces() -> None:
    namespace: dict[str, Any] = {"__name__": "snippet"}
    prepare(namespace, Hooks(Detector(lambda race: None)))
    exec(instrument("class O: pass\no = O()\no.a, o.b = 1, 2\nx = y = 3\n", "<s>"), namespace)
    assert not [k for k in namespace if k.startswith("__tl_race_t")]


def test_evaluation_order_is_pythons() -> None:
    plain = run(SNIPPETS["augmented subscript order"], instrumented=False)
    assert plain["log"] == ["obj", "key", "value"]
    assert run(SNIPPETS["attribute store order"], instrumented=True)["log"] == ["value", "obj"]
