"""Argument checks shared by the public API: clear errors naming the argument."""

from __future__ import annotations

import math
from numbers import Real


def check_timeout(value: object, name: str = "timeout") -> float | None:
    """Return *value* as seconds (``None`` for no limit), or raise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}")
    seconds = float(value)
    if math.isnan(seconds):
        raise ValueError(f"{name} must not be NaN, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if math.isinf(seconds):
        return None
    return seconds
