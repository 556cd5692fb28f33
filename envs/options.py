"""Checks of env options, shared by every family: each names the option, what it takes and what it
got. numpy scalars pass (a value read from an array or a config file is one) and are stored as the
plain Python value; bools are not numbers here (``max_steps=True`` is a slip, not 1)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ethogym.errors import ConfigError

MAX_IMAGE_SIZE = 2048  # px: TinyRenderer takes seconds per frame well before this
MAX_SUBSTEPS = 240  # physics substeps per continuous step: 2 s at 120 Hz, far slower than any controller


def checked_flag(name: str, value: Any) -> bool:
    """``value`` as a bool; it must be True or False (a string such as "false" would count as true)."""
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def checked_int(
    name: str, value: Any, low: int = 1, high: int | None = None, or_none: bool = False
) -> int | None:
    """``value`` as an int; it must be an integer in [low, high] (or None, kept, when ``or_none``)."""
    if value is None and or_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    if not ok or value < low or (high is not None and value > high):
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        limit = f" (at most {high})" if high is not None else ""
        raise ConfigError(f"{name} must be {what}{limit}{' or None' if or_none else ''}, got {value!r}")
    return int(value)


def checked_number(
    name: str, value: Any, low: float = -math.inf, high: float = math.inf, above: bool = False
) -> float:
    """``value`` as a float; it must be a finite number in [low, high] (in (low, high] with ``above``)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok or not low <= value <= high or (above and value == low):
        opening = "(" if above else "["
        if math.isfinite(low) and math.isfinite(high):
            bounds = f" in the range {opening}{low:g}, {high:g}]"
        elif math.isfinite(low):
            bounds = f" {'>' if above else '>='} {low:g}"
        else:
            bounds = f" <= {high:g}" if math.isfinite(high) else ""
        raise ConfigError(f"{name} must be a finite number{bounds}, got {value!r}")
    return float(value)
