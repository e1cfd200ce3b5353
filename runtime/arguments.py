"""Checks of the plain arguments of ``fit``, ``evaluate``, ``predict``,
``train_on_batch`` and ``test_on_batch`` (numbers, flags, callbacks), made before a
method does anything, so that a wrong one fails before the first step with an error
naming the method, the argument, what it takes and what it got.

One rule per argument name, shared by every method that has the argument (``batch_size``
means the same in ``fit`` and ``predict``). The data arguments (``x``, ``y``,
``sample_weight``, ``validation_data``) are checked by :mod:`.data` and by the trainer,
which knows the model's inputs and outputs.
"""
from __future__ import annotations

import numbers

import numpy as np

from .callbacks import Callback, CallbackList


def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int(minimum: int, optional: bool = False):
    """An int >= ``minimum`` (None too when ``optional``): TypeError for another type,
    ValueError for an int out of range."""
    expected = f"an int >= {minimum}" + (" or None" if optional else "")

    def check(value):
        if value is None and optional:
            return
        if not _is_int(value):
            raise TypeError(f"expected {expected}, got {_describe(value)}")
        if value < minimum:
            raise ValueError(f"expected {expected}, got {value}")
    return check


def _flag(value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"expected True or False, got {_describe(value)}")


def _verbose(value) -> None:
    """'auto', 0, 1 or 2; a bool is 0 or 1, as Keras takes it."""
    if (isinstance(value, str) and value == "auto") or isinstance(value, (bool, np.bool_)):
        return
    expected = "expected 'auto', 0 (silent), 1 (progress bar) or 2 (one line per epoch)"
    if not _is_int(value):
        raise TypeError(f"{expected}, got {_describe(value)}")
    if value not in (0, 1, 2):
        raise ValueError(f"{expected}, got {value}")


def _fraction(value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"expected a float in [0, 1), got {_describe(value)}")
    if not 0 <= value < 1:
        raise ValueError(f"expected a float in [0, 1), got {value}")


def _callbacks(value) -> None:
    """None, a CallbackList, one Callback (a list of one, as Keras 3 takes it) or a list
    of Callback instances."""
    if value is None or isinstance(value, (CallbackList, Callback)):
        return
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list of fg.callbacks.Callback instances, got "
                        f"{_describe(value)}")
    for i, callback in enumerate(value):
        if not isinstance(callback, Callback):
            kind = "a class: instantiate it" if isinstance(callback, type) else \
                f"{_describe(callback)}"
            raise TypeError(f"expected a list of fg.callbacks.Callback instances, but item "
                            f"{i} is {kind}")


def _validation_freq(value) -> None:
    """An int >= 1 (every that many epochs) or a collection of 1-based epoch numbers."""
    if isinstance(value, (list, tuple, set, frozenset)):
        if not all(_is_int(v) and v >= 1 for v in value):
            raise ValueError(f"expected epoch numbers >= 1, got {value!r}")
        return
    _int(1)(value)


def _class_weight(value) -> None:
    """None or a dict of class index -> weight."""
    if value is None:
        return
    if not isinstance(value, dict) or not all(
            _is_int(k) and isinstance(v, numbers.Real) and not isinstance(v, bool)
            for k, v in value.items()):
        raise TypeError(f"expected a dict of class index (int) -> weight (number), got "
                        f"{_describe(value)}")


def _seed(value) -> None:
    if value is not None and not _is_int(value):
        raise TypeError(f"expected an int or None, got {_describe(value)}")


RULES = {
    "epochs": _int(0),
    "initial_epoch": _int(0),
    "batch_size": _int(1, optional=True),
    "validation_batch_size": _int(1, optional=True),
    "steps_per_epoch": _int(1, optional=True),
    "validation_steps": _int(1, optional=True),
    "steps": _int(1, optional=True),
    "verbose": _verbose,
    "shuffle": _flag,
    "profile": _flag,
    "return_dict": _flag,
    "validation_split": _fraction,
    "callbacks": _callbacks,
    "seed": _seed,
    "validation_freq": _validation_freq,
    "class_weight": _class_weight,
}


def check(method: str, **arguments) -> None:
    """Check each argument by its rule in :data:`RULES`; the error (TypeError for a
    wrong type, ValueError for a value out of range) reads ``method(name=...): ...``."""
    for name, value in arguments.items():
        try:
            RULES[name](value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{method}({name}=...): {error}") from None
