"""Loading the program instrumented: the main script and every module under
the included folders (by default the script's folder), never the standard
library or installed packages.

Instrumented code is compiled in memory and never written to ``__pycache__``,
so a later run without the detector cannot pick it up.  An instrumented
module is otherwise loaded as Python loads it (``SourceFileLoader``: its
``__file__``, ``__cached__``, resources and ``get_source`` are the same),
and its code binds the hooks itself, in whatever namespace it runs.

Under pytest, a module that pytest's import hook would rewrite (test
modules, ``conftest.py``, modules marked with ``register_assert_rewrite``)
gets pytest's assertion rewriting first, then the detector's rewrite; the
detector's finder must then come before pytest's in ``sys.meta_path``
(``install`` puts it first; the pytest plugin moves it there again once
pytest has installed its hook).

An instrumented module's first load by the import system tells the
session's import edges (``_imports``) where its body ends: every import
that returns it is ordered after that.

``sys.meta_path`` is changed only by the thread that starts and stops the
session (at start-up and shut-down of the program or of pytest).
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import importlib._bootstrap
import importlib.machinery
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Sequence
from types import CodeType, ModuleType
from typing import TYPE_CHECKING, Any

from . import _rewrite

if TYPE_CHECKING:
    from ._imports import ImportEdges

# pytest's assertion rewrite of a module's tree: (tree, source, filename)
AssertRewrite = Callable[[ast.Module, bytes, str], None]


_HOOKS: dict[int, Any] = {}  # by id: the hooks that instrumented modules bind (never dropped)


def hooks_by_id(key: int) -> Any:
    return _HOOKS[key]


def instrument(
    source: str | bytes,
    filename: str,
    asserts: AssertRewrite | None = None,
    hooks: Any = None,
) -> CodeType:
    """*source* compiled with the detector's rewrite (after pytest's
    assertion rewrite, with *asserts*).  With *hooks*, the code binds them
    itself, so it runs in any namespace (``runpy.run_module`` and
    ``exec(loader.get_code(name), {})`` give it a fresh one); without, it
    runs in a namespace that ``prepare`` readied."""
    tree = ast.parse(source, filename)
    if asserts is not None:
        asserts(tree, source if isinstance(source, bytes) else source.encode(), filename)
    tree = _rewrite.rewrite(tree)
    if hooks is not None:
        _bind(tree, hooks)
    return compile(tree, filename, "exec", dont_inherit=True)


def _bind(tree: ast.Module, hooks: Any) -> None:
    """Bind *hooks* and the globals first thing (after the docstring and
    ``__future__`` imports, which must stay first)."""
    _HOOKS[id(hooks)] = hooks
    prologue = ast.parse(
        f"{_rewrite.R} = __import__({__name__!r}, fromlist=['_']).hooks_by_id({id(hooks)})\n"
        f"{_rewrite.G} = __import__('builtins').globals()\n"
    ).body
    body, at = tree.body, 0
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        at = 1
    while at < len(body) and isinstance(body[at], ast.ImportFrom):
        if body[at].module != "__future__":  # type: ignore[attr-defined]
            break
        at += 1
    body[at:at] = prologue


def _never() -> list[str]:
    """Folders that are never instrumented: the standard library and
    installed packages (also user and site-wide ones), and threadline
    itself."""
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE and site.USER_SITE:
        roots.add(site.USER_SITE)
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # threadline/
    return [os.path.abspath(r) + os.sep for r in roots if r]


def _pytest_asserts(fullname: str, path: Any, target: Any) -> AssertRewrite | None:
    """pytest's assertion rewrite for *fullname*, when pytest's import hook
    is installed and would rewrite that module."""
    rewrite = sys.modules.get("_pytest.assertion.rewrite")
    if rewrite is None:
        return None
    for finder in sys.meta_path:
        if isinstance(finder, rewrite.AssertionRewritingHook):
            if finder.find_spec(fullname, path, target) is None:
                return None
            return functools.partial(rewrite.rewrite_asserts, config=finder.config)
    return None


class Finder:
    """A meta path finder (``importlib.abc.MetaPathFinder``'s protocol;
    importing ``importlib.abc`` itself costs start-up time)."""

    def __init__(
        self,
        include: Sequence[str],
        exclude: Sequence[str],
        hooks: Any,
        edges: ImportEdges | None = None,
    ) -> None:
        self.include = [os.path.abspath(p) + os.sep for p in include]
        self.exclude = list(exclude)
        self.never = _never()
        self.hooks = hooks
        self.edges = edges

    def wanted(self, path: str) -> bool:
        path = os.path.abspath(path)
        if not path.endswith(".py") or any(path.startswith(n) for n in self.never):
            return False
        if not any(path.startswith(root) for root in self.include):
            return False
        return not any(fnmatch.fnmatch(path, pattern) for pattern in self.exclude)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None or not self.wanted(spec.origin):
            return None
        if not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        asserts = _pytest_asserts(fullname, path, target)
        spec.loader = Loader(fullname, spec.origin, self.hooks, asserts, self.edges)
        return spec


class Loader(importlib.machinery.SourceFileLoader):
    """Python's loader for source files, with instrumented code that is
    never cached."""

    def __init__(
        self,
        fullname: str,
        path: str,
        hooks: Any,
        asserts: AssertRewrite | None = None,
        edges: ImportEdges | None = None,
    ) -> None:
        super().__init__(fullname, path)
        self.hooks = hooks
        self.asserts = asserts
        self.edges = edges

    def exec_module(self, module: ModuleType) -> None:
        """Run the body; a first load's end is an edge to every import
        that returns the module (see ``_imports``)."""
        name = None if self.edges is None else self.edges.begin(module)
        try:
            super().exec_module(module)
        except BaseException as exc:
            # as without the detector: the body's error has no frame of ours
            tb = exc.__traceback__
            if tb is not None and tb.tb_frame.f_code is Loader.exec_module.__code__:
                exc.__traceback__ = tb.tb_next
            raise
        if name is not None:
            self.edges.end(name, module)  # type: ignore[union-attr]

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        # as SourceFileLoader compiles: the import system then leaves the
        # importlib frames out of a SyntaxError's traceback
        code: CodeType = importlib._bootstrap._call_with_frames_removed(  # type: ignore[attr-defined]
            instrument, source, self.path, self.asserts, self.hooks
        )
        return code


def prepare(namespace: dict[str, Any], hooks: Any) -> None:
    namespace[_rewrite.R] = hooks
    namespace[_rewrite.G] = namespace


def install(finder: Finder) -> None:
    """Put *finder* first in ``sys.meta_path`` (again, if it was there)."""
    uninstall(finder)
    sys.meta_path.insert(0, finder)


def uninstall(finder: Finder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
