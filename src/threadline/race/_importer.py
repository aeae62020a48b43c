"""Loading the program instrumented: the main script and every module under
the included folders (by default the script's folder), never the standard
library or installed packages.

Instrumented code is compiled in memory and never written to ``__pycache__``,
so a later run without the detector cannot pick it up.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.machinery
import os
import sys
import sysconfig
from collections.abc import Sequence
from types import CodeType, ModuleType
from typing import Any

from . import _rewrite


def instrument(source: str | bytes, filename: str) -> CodeType:
    tree = ast.parse(source, filename)
    return compile(_rewrite.rewrite(tree), filename, "exec", dont_inherit=True)


def _never() -> list[str]:
    """Folders that are never instrumented: the standard library and
    installed packages, and threadline itself."""
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # threadline/
    return [os.path.abspath(r) + os.sep for r in roots if r]


# Finder and Loader follow importlib.abc's MetaPathFinder and Loader
# protocols without subclassing them: importing importlib.abc costs more
# start-up (it pulls in importlib.resources) than the rest of the detector.


class Finder:
    def __init__(self, include: Sequence[str], exclude: Sequence[str], hooks: Any) -> None:
        self.include = [os.path.abspath(p) + os.sep for p in include]
        self.exclude = list(exclude)
        self.never = _never()
        self.hooks = hooks

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
        spec.loader = Loader(spec.origin, self.hooks)  # type: ignore[assignment]
        return spec


class Loader:
    def __init__(self, path: str, hooks: Any) -> None:
        self.path = path
        self.hooks = hooks

    def create_module(self, spec: Any) -> None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        with open(self.path, "rb") as f:
            source = f.read()
        code = instrument(source, self.path)
        prepare(module.__dict__, self.hooks)
        exec(code, module.__dict__)

    def get_source(self, fullname: str) -> str:
        with open(self.path, encoding="utf-8") as f:
            return f.read()


def prepare(namespace: dict[str, Any], hooks: Any) -> None:
    namespace[_rewrite.R] = hooks
    namespace[_rewrite.G] = namespace


def install(finder: Finder) -> None:
    sys.meta_path.insert(0, finder)


def uninstall(finder: Finder) -> None:
    if finder in sys.meta_path:
        sys.meta_path.remove(finder)
