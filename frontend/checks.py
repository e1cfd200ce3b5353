"""Checks of constructor arguments (layers, optimizers), one wording for every owner:
a ValueError reading ``<owner>: `<key>` must be <what it takes>, got <value>``, where
``owner`` says who (``Adam``, or the user's line and the layer class)."""
from __future__ import annotations

import numpy as np


def check_number(owner: str, key: str, value, low=None, high=None, open_low=False) -> None:
    """``value`` must be a finite real number (not a bool) in ``[low, high]`` (``(low,
    high]`` with ``open_low``; either bound may be None)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = np.isfinite(value) and (low is None or (value > low if open_low else value >= low)) \
            and (high is None or value <= high)
    if not ok:
        bounds = " ".join(part for part in (
            f"{'>' if open_low else '>='} {low}" if low is not None else "",
            f"and <= {high}" if high is not None else "") if part)
        raise ValueError(f"{owner}: `{key}` must be a number {bounds}, got {value!r}")


def check_positive_int(owner: str, key: str, value) -> None:
    """``value`` must be an int > 0 (a numpy int too, not a bool)."""
    check_int_at_least(owner, key, value, 1)


def check_int_at_least(owner: str, key: str, value, low: int) -> None:
    """``value`` must be an int >= ``low`` (a numpy int too, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < low:
        what = "a positive int" if low == 1 else f"an int >= {low}"
        raise ValueError(f"{owner}: `{key}` must be {what}, got {value!r}")
