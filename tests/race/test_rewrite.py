"""The rewrite keeps the program's meaning: the same results and the same
order of side effects as without it, for every statement form it touches.
Each snippet runs twice, plainly and instrumented, and the namespaces and
logs are compared."""

from __future__ import annotations

import ast
import builtins
import colorsys
import importlib.util
import inspect
import os
import sys
import textwrap
import threading
import traceback
from typing import Any

import pytest

from threadline.race._detector import Detector, Race
from threadline.race._hooks import Hooks
from threadline.race._importer import instrument, prepare
from threadline.race._rewrite import _CALLED_BUILTINS, rewrite

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
    "private names: loads, stores, deletes, augmented assignment": """
        class Account:
            __slots__ = ("__balance", "log")
            def __init__(self):
                self.__balance = 0
                self.log = []
            def deposit(self, n):
                self.__balance += n
                t("deposit", self).__balance += 0
                return self.__balance
            def close(self):
                del self.__balance
                return hasattr(self, "_Account__balance")
        a = Account()
        result = (a.deposit(5), a._Account__balance, a.close(), Account.__slots__)
    """,
    "private names: class attributes, methods, chained targets and unpacking": """
        class Loader:
            __count = 0
            @staticmethod
            def __check(value):
                return value * 2
            @classmethod
            def factory(cls, value):
                cls.__count += 1
                return cls.__check(value)
            def pair(self):
                self.__a = self.__b = 1
                self.__c, (self.__d, self.__e) = 2, (3, 4)
                with_walrus = [self.__c for _ in range(1)]
                return (self.__a, self.__b, self.__c, self.__d, self.__e, with_walrus)
        result = (Loader.factory(21), Loader._Loader__count, Loader().pair(),
                  sorted(k for k in vars(Loader) if k.startswith("_Loader")))
    """,
    "private names: nested classes, dunders and all-underscore class names": """
        class Outer:
            def __init__(self):
                self.__x = "outer"
                self.__dunder__ = "dunder"
            class Inner:
                def __init__(self):
                    self.__x = "inner"
                def get(self):
                    return self.__x
            def make(self):
                inner = self.Inner()
                return (self.__x, inner.get(), sorted(vars(inner)))
        class ___:
            def __init__(self):
                self.__y = 1
        class _Lead:
            def __init__(self):
                self.__z = 2
        o = Outer()
        result = (o.make(), sorted(vars(o)), sorted(vars(___())), sorted(vars(_Lead())))
    """,
    "private names: getattr and friends take strings, which are never mangled": """
        class K:
            def __init__(self):
                self.__p = 1
                setattr(self, "__q", 2)
            def probe(self):
                found = (getattr(self, "__p", "missing"), getattr(self, "_K__p"),
                         hasattr(self, "__q"), self.__dict__["_K__p"])
                delattr(self, "__q")
                try:
                    self.__q
                except AttributeError as exc:
                    return (found, type(exc).__name__, sorted(vars(self)))
        result = K().probe()
    """,
    "private names: globals and closures declared in methods": """
        _C__g = 0
        class C:
            def bump(self):
                global __g
                __g += 1
                __h = 0
                def inner():
                    nonlocal __h
                    __h += 1
                    return __h
                return (__g, inner(), inner())
        result = (C().bump(), C().bump(), _C__g)
    """,
    "match: value, class, mapping, sequence, or, as, star and guards": """
        import enum
        class Color(enum.Enum):
            RED = 1
            GREEN = 2
        class Point:
            __match_args__ = ("x", "y")
            def __init__(self, x, y):
                self.x, self.y = x, y
        ns = Obj()
        ns.Color, ns.Point, ns.KEY, ns.limit = Color, Point, "k", 10
        def classify(v):
            match t("subject", v):
                case ns.Color.RED:
                    return "red"
                case Color.GREEN | ns.Color.GREEN if t("guard", ns.limit) > 5:
                    return "green"
                case ns.Point(x=0, y=yy):
                    return ("on y", yy)
                case Point(xx, 0) if xx > ns.limit:
                    return ("far on x", xx)
                case Point(x=px):
                    return ("point", px)
                case {ns.KEY: [first, *rest], "n": 1 | 2 as n, **others}:
                    return ("map", first, rest, n, others)
                case [1, *_, last] as whole if len(whole) > 2:
                    return ("seq", last, whole)
                case -1 | 2 + 3j | "s" | None | True:
                    return ("literal", v)
                case str() as s if s.upper() == "X":
                    return ("x", s)
                case _:
                    return "other"
        values = [Color.RED, Color.GREEN, Point(0, 7), Point(11, 0), Point(3, 0),
                  {"k": [1, 2, 3], "n": 2, "z": 0}, [1, 9, 8], [1, 2], -1, 2 + 3j, None,
                  True, "x", "y"]
        result = [classify(v) for v in values]
    """,
    "match: captures into globals, closures and private names": """
        captured = None
        def grab(v):
            global captured
            match v:
                case [captured, *_]:
                    return captured
        def outer(v):
            cell = None
            def inner():
                nonlocal cell
                match v:
                    case {"a": cell}:
                        pass
            inner()
            return cell
        class Consts:
            __LIMIT = 3
            def check(self, v):
                match v:
                    case Consts.__LIMIT:
                        return "limit"
                    case self.__class__(x=__x):
                        return __x
                    case _:
                        return "no"
        result = (grab([5, 6]), captured, outer({"a": 7}), Consts().check(3),
                  Consts().check(4))
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


class Recording:
    """Hooks that also log each call with its string arguments."""

    def __init__(self, hooks: Hooks) -> None:
        self.hooks = hooks
        self.calls: list[tuple[str, ...]] = []

    def __getattr__(self, name: str) -> Any:
        hook = getattr(self.hooks, name)

        def call(*args: Any) -> Any:
            self.calls.append((name, *(a for a in args if isinstance(a, str))))
            return hook(*args)

        return call


def recorded(source: str) -> list[tuple[str, ...]]:
    namespace: dict[str, Any] = {"__name__": "snippet"}
    hooks = Recording(Hooks(Detector(lambda race: None)))
    prepare(namespace, hooks)
    exec(instrument(textwrap.dedent(source), "<snippet>"), namespace)
    return hooks.calls


def test_hooks_see_private_names_mangled() -> None:
    calls = recorded(
        """
        class C:
            def __init__(self):
                self.__a = 1
                self.__a += 1
                self.__dunder__ = 2
                self.__m()
                del self.__a
            def __m(self):
                return self.__dunder__
        class ___:
            def __init__(self):
                self.__b = 3
        C(), ___()
        """
    )
    assert ("sa", "_C__a") in calls
    assert ("ra_push", "_C__a") in calls
    assert ("m", "_C__m") in calls
    assert ("da", "_C__a") in calls
    assert ("sa", "__dunder__") in calls
    assert ("ra", "__dunder__") in calls
    assert ("sa", "__b") in calls  # a class named only underscores mangles nothing
    assert not [c for c in calls if "__a" in c or "__m" in c]


def test_match_captures_are_recorded_as_writes() -> None:
    calls = recorded(
        """
        seen = None
        def grab(v):
            global seen
            match v:
                case [seen, *_] if seen > 0:
                    pass
        def outer():
            cell = None
            def inner():
                nonlocal cell
                match {"k": 1}:
                    case {"k": cell, **rest}:
                        pass
            inner()
            return cell
        grab([1, 2])
        outer()
        """
    )
    assert ("wg", "seen") in calls
    assert ("rgv", "seen") in calls  # the guard reads it
    assert ("wc", "cell") in calls


def test_lazy_loader_runs_instrumented(monkeypatch: pytest.MonkeyPatch) -> None:
    """CPython's own ``importlib.util`` (``LazyLoader`` calls its private
    ``__check_eager_loader``), instrumented as if it were the program's."""
    namespace: dict[str, Any] = {"__name__": "importlib.lazy_copy", "__package__": "importlib"}
    prepare(namespace, Hooks(Detector(lambda race: None)))
    source = inspect.getsource(importlib.util)
    exec(instrument(source, importlib.util.__file__ or "util.py"), namespace)
    name = "threadline_lazily_loaded_colorsys"  # in sys.modules under no other name
    spec = importlib.util.spec_from_file_location(name, inspect.getfile(colorsys))
    assert spec is not None
    assert spec.loader is not None
    spec.loader = namespace["LazyLoader"](spec.loader)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    assert module.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)


FAILING = {
    "attribute": "o.missing",
    "method": "o.nope()",
    "item": "{}['k'] + 1",
    "store target": "o.b = 1",
    "augmented": "o.a += 1",
    "delete": "del o.a",
    "builtin": "len(5)",
    "in": "1 in 5",
    "for": "[x for x in 5]",
    "with": "exec('with o: pass', {'o': o})",
    "global": "def f():\n    global total\n    total += 'x'\nf()",
}


def positions(source: str, instrumented: bool) -> list[tuple[Any, ...]]:
    """Where the program's frames of the exception *source* raises point."""
    code_text = f"class Obj:\n    __slots__ = ('a',)\no = Obj()\ntotal = 0\n{source}\n"
    namespace: dict[str, Any] = {"__name__": "snippet"}
    if instrumented:
        prepare(namespace, Hooks(Detector(lambda race: None)))
        code = instrument(code_text, "<snippet>")
    else:
        code = compile(code_text, "<snippet>", "exec")
    with pytest.raises(Exception) as info:
        exec(code, namespace)
    return [
        (f.lineno, f.end_lineno, f.colno, f.end_colno)
        for f in traceback.extract_tb(info.value.__traceback__)
        if f.filename == "<snippet>"
    ]


@pytest.mark.parametrize("name", sorted(FAILING))
def test_tracebacks_point_where_they_would(name: str) -> None:
    """A hook call takes the source position of what it stands for, so a
    traceback's line and carets are python's own."""
    assert positions(FAILING[name], True) == positions(FAILING[name], False)


def test_nodes_with_a_start_and_no_end_compile() -> None:
    """pytest's assertion rewrite adds imports with a line and no end line,
    after the docstring and ``from __future__`` imports."""
    tree = ast.parse('"""doc"""\nfrom __future__ import annotations\nimport os\nx = os.sep\n')
    tree.body.insert(2, ast.Import([ast.alias("sys", "py_sys")], lineno=3, col_offset=0))
    namespace: dict[str, Any] = {"__name__": "snippet"}
    prepare(namespace, Hooks(Detector(lambda race: None)))
    exec(compile(rewrite(tree), "<snippet>", "exec"), namespace)
    assert namespace["py_sys"] is sys
    assert namespace["x"] == os.sep


def test_every_builtin_the_rewrite_sends_to_call_is_one_call_replaces() -> None:
    # one list of names (the rewriter's): each reaches a hook, on either path
    hooks = Hooks(Detector(lambda race: None))
    for name in sorted(_CALLED_BUILTINS):
        fn = getattr(builtins, name)
        assert hooks.call(fn) is not fn, name
    assert hooks.call(print) is print


def test_a_whole_container_builtin_records_its_read() -> None:
    races: list[Race] = []
    hooks = Hooks(Detector(races.append))
    items = [1, 2]
    hooks.wi(items, 0, 5)

    def other() -> None:
        assert hooks.call(sorted)(items) == [2, 5]

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert [race.current.what for race in races] == ["the items of a list"]
