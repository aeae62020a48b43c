"""Finding the unit of work: ``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# CPython's warning when an extension module without free-threading support
# is imported into a free-threaded interpreter.
_GIL_WARNING = re.compile(r"GIL\) has been enabled to load module '([^']+)'")


class TargetError(Exception):
    """The target cannot be found or is not a function."""


def split(spec: str) -> tuple[str, str]:
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name or not all(part.isidentifier() for part in name.split(".")):
        raise TargetError(
            f"TARGET must be MODULE:FUNCTION or path/to/file.py:FUNCTION, got {spec!r}"
        )
    return where, name


def is_path(where: str) -> bool:
    return where.endswith(".py") or os.sep in where or (os.altsep or os.sep) in where


def load(spec: str, cwd: str) -> Callable[[], Any]:
    """Import the target's module (a file is run as a module named
    ``__threadline_scale_target__``) and return the function."""
    where, name = split(spec)
    if is_path(where):
        path = Path(cwd, where).resolve()
        if not path.is_file():
            raise TargetError(f"no such file: {str(path)!r} (from TARGET {spec!r})")
        sys.path.insert(0, str(path.parent))
        module_spec = importlib.util.spec_from_file_location("__threadline_scale_target__", path)
        assert module_spec is not None
        loader = module_spec.loader
        assert loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        _run_import(lambda: loader.exec_module(module), spec)
    else:
        sys.path.insert(0, cwd)
        holder: list[Any] = []
        _run_import(lambda: holder.append(importlib.import_module(where)), spec)
        module = holder[0]
    target: Any = module
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise TargetError(
                f"{where!r} has no attribute {name!r} (from TARGET {spec!r})"
            ) from None
    if not callable(target):
        raise TargetError(f"{spec!r} is not callable: it is {type(target).__name__} {target!r}")
    _check_no_arguments(target, spec)
    return target  # type: ignore[no-any-return]


def _check_no_arguments(target: Callable[..., Any], spec: str) -> None:
    """The unit of work is called with no arguments: say so before measuring."""
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # a builtin without a signature: let the call tell
        return
    try:
        signature.bind()
    except TypeError:
        raise TargetError(
            f"TARGET {spec!r} must be callable with no arguments; its signature is "
            f"{signature} (wrap it: def unit(): {spec.rpartition(':')[2]}(...))"
        ) from None


def _run_import(do: Callable[[], object], spec: str) -> None:
    try:
        do()
    except ModuleNotFoundError as exc:
        raise TargetError(f"cannot import {exc.name!r} (from TARGET {spec!r}): {exc}") from None
    except Exception as exc:
        raise TargetError(f"importing TARGET {spec!r} raised {type(exc).__name__}: {exc}") from None


def gil_reenabled_by(caught: list[warnings.WarningMessage]) -> list[str]:
    """The modules whose import re-enabled the GIL, from recorded warnings."""
    found = []
    for warning in caught:
        match = _GIL_WARNING.search(str(warning.message))
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found
