"""Argument checks of the optimizers, and their warning at the user's line.

Every check here runs before an optimizer builds or assigns anything, so a call it
refuses changes nothing; each error names the optimizer, the argument or variable, what
was expected and what was given (with the user's ``file:line`` where a call is checked).
"""
from __future__ import annotations

import sys
import warnings

import numpy as np

from ..ir.builder import user_frame, user_site
from .checks import check_bool, check_number, check_positive_int
from .tensor import is_symbolic
from .variables import Variable

# Keras arguments fusegraph does not implement: accepted at None, Keras's default (so a
# Keras config round-trips), refused otherwise, so a model written for Keras fails loudly
# rather than training differently.
_UNSUPPORTED = ("loss_scale_factor", "gradient_accumulation_steps")


def check_options(owner: str, kwargs: dict, clips: dict, weight_decay, name) -> None:
    """The base optimizer's constructor arguments: no Keras option fusegraph lacks (unless
    None), no unknown keyword, at most one of the clipping options (``clips``, by name),
    each clipping value and ``weight_decay`` a number >= 0, ``name`` a str or None."""
    unsupported = [k for k in _UNSUPPORTED if kwargs.get(k) is not None]
    if unsupported:
        raise NotImplementedError(f"{owner}: Keras's {unsupported} "
                                  f"{'is' if len(unsupported) == 1 else 'are'} not "
                                  f"supported by fusegraph (only None, the default)")
    unknown = sorted(k for k in kwargs if k not in _UNSUPPORTED)
    if unknown:
        raise TypeError(f"{owner}: argument(s) not recognized: {unknown}")
    given = {k: v for k, v in clips.items() if v is not None}
    if len(given) > 1:
        raise ValueError(f"only one of `clipnorm`, `clipvalue` and `global_clipnorm` can "
                         f"be set, got {', '.join(f'{k}={v}' for k, v in given.items())}")
    for key, value in given.items():  # 0 turns clipping off, as in Keras
        check_number(owner, key, value, low=0.0)
    if weight_decay is not None:
        check_number(owner, "weight_decay", weight_decay, low=0.0)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"{owner}: `name` must be a str, got {name!r}")


def check_ema(owner: str, use_ema, ema_momentum, ema_overwrite_frequency) -> None:
    """``use_ema`` a bool; with it (as Keras, which checks them only then) ``ema_momentum``
    a number in [0, 1] and ``ema_overwrite_frequency`` None or an int >= 1 (Keras lets
    0 through, which its JAX backend then takes modulo: a division by zero)."""
    check_bool(owner, "use_ema", use_ema)
    if use_ema:
        check_number(owner, "ema_momentum", ema_momentum, low=0.0, high=1.0)
        if ema_overwrite_frequency is not None:
            check_positive_int(owner, "ema_overwrite_frequency", ema_overwrite_frequency)


def check_variables(optimizer, variables) -> None:
    """``variables`` are Variables, none listed twice."""
    seen = set()
    for v in variables:
        if not isinstance(v, Variable):
            raise TypeError(f"{user_site()}: optimizer '{optimizer.name}' updates Variables, "
                            f"got {v!r}")
        if id(v) in seen:
            raise ValueError(f"{user_site()}: optimizer '{optimizer.name}': variable "
                             f"'{v.path}' is listed twice")
        seen.add(id(v))


def check_gradients(optimizer, grads, variables) -> None:
    """Every gradient (None skipped) has its variable's shape and holds numbers: checked
    for all, before any change."""
    for g, v in zip(grads, variables):
        if g is None:
            continue
        if is_symbolic(g):
            ok, given = g.type.shape == v.symbol.type.shape, g.shape
            dtype_ok = g.type.dtype.is_float
        elif isinstance(g, Variable):
            raise TypeError(f"{user_site()}: optimizer '{optimizer.name}': the gradient for "
                            f"variable '{v.path}' is the Variable '{g.path}'; pass a "
                            f"tensor or an array")
        else:
            array = np.asarray(g)
            ok, given = array.shape == v.shape, array.shape
            dtype_ok = array.dtype.kind in "iuf"
        if not ok:
            raise ValueError(f"{user_site()}: optimizer '{optimizer.name}': the gradient for "
                             f"variable '{v.path}' has shape {tuple(given)}, expected the "
                             f"variable's shape {v.shape}")
        if not dtype_ok:
            raise TypeError(f"{user_site()}: optimizer '{optimizer.name}': the gradient for "
                            f"variable '{v.path}' must hold numbers, got {g!r}")


def warn_at_user(message: str) -> None:
    """A UserWarning attributed to the user's line (the innermost frame outside fusegraph)."""
    target, frame, level = user_frame(2), sys._getframe(1), 2
    while frame is not None and frame is not target:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, UserWarning, stacklevel=level if frame is not None else 2)
