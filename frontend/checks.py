"""Checks of constructor arguments (layers, optimizers), one wording for every owner:
a ValueError reading ``<owner>: `<key>` must be <what it takes>, got <value>``, where
``owner`` says who (``Adam``, or the user's line and the layer class)."""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site


def check_number(owner: str, key: str, value, low=None, high=None, open_low=False) -> None:
    """``value`` must be a finite real number (not a bool) in ``[low, high]`` (``(low,
    high]`` with ``open_low``; either bound may be None)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        value = float(value)
        ok = np.isfinite(value) and (low is None or (value > low if open_low else value >= low)) \
            and (high is None or value <= high)
    if not ok:
        bounds = " and ".join(part for part in (
            f"{'>' if open_low else '>='} {low}" if low is not None else "",
            f"<= {high}" if high is not None else "") if part)
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


def check_fraction(owner: str, key: str, value) -> None:
    """``value`` must be a real number (not a bool) in ``[0, 1)``: a decay rate that
    must not reach 1 (Adam's ``beta_1`` of 1 divides by ``1 - beta_1**t = 0``)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) \
        and not isinstance(value, (bool, np.bool_)) and 0 <= float(value) < 1
    if not ok:
        raise ValueError(f"{owner}: `{key}` must be a number >= 0 and < 1, got {value!r}")


def check_bool(owner: str, key: str, value) -> None:
    """``value`` must be True or False (a numpy bool too): a TypeError otherwise (a
    string such as "no" would read as true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: `{key}` must be True or False, got {value!r}")


def cast_in_range(array: np.ndarray, dtype, what: str) -> np.ndarray:
    """``array`` as ``dtype`` (a numpy dtype), refusing what the cast would change silently:
    an integer (or bool) array with a value outside an integer ``dtype``'s range (numpy
    wraps it: 2**32 + 1 becomes 1 as int32), or a float array with a value outside it
    (or not finite) cast to an integer ``dtype`` (a fraction is truncated, as numpy and
    Keras do). A ValueError names ``what``, the value and the range."""
    array = np.asarray(array)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and array.dtype.kind in "iufb" and array.size:
        info = np.iinfo(dtype)
        low, high = array.min(), array.max()
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            low = high = array[~np.isfinite(array)].flat[0]
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise ValueError(f"{what}: the value {bad.item()!r} does not fit {dtype.name} "
                             f"(the range is {info.min} to {info.max}); numbers outside it "
                             f"would wrap around silently")
    return array.astype(dtype)


def named_object(identifier, base: type, by_name: dict, kind: str):
    """What a layer argument such as ``kernel_regularizer`` names: None, an instance of
    ``base`` and any callable as they are; a name made by ``by_name[name]()``. A
    ValueError for an unknown name and a TypeError for anything else, both at the user's
    line, naming the ``kind`` of object and what was expected."""
    if identifier is None or isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        made = by_name.get(identifier)
        if made is None:
            raise ValueError(f"{user_site()}: unknown {kind} {identifier!r}: expected one of "
                             f"{sorted(by_name)}, a {base.__name__} or a callable")
        return made()
    if callable(identifier):
        return identifier
    raise TypeError(f"{user_site()}: a {kind} must be a name, a {base.__name__} or a "
                    f"callable, got {identifier!r}")
