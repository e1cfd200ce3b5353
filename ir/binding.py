"""Binding a call's arrays to a graph's parameters: checking them against the
parameter types and finding the size of each dimension symbol, in one place for every
backend.

* :func:`bind_inputs`: the checked binding (the reference's, and every backend's errors):
  count, exact numpy dtype, rank, static dims, one size per symbol; raises
  :class:`InputError` naming the parameter (and, for a symbol bound twice to different
  sizes, both places);
* :func:`fast_binder`: generated as source, the same check for the common case only
  (exact ``ndarray`` class and dtype), returning the sizes, or None for anything else,
  which :func:`bind_inputs` then judges and words the error of;
* :class:`Binder`: the two together, as an Executable binds each call.
"""
from __future__ import annotations

import numpy as np

from .core import Graph
from .errors import FusegraphError
from .types import Sym


class InputError(FusegraphError, ValueError):
    """The arrays given to a graph do not match its parameter types."""


def param_symbols(graph: Graph) -> tuple:
    """The dimension symbols of ``graph``'s parameters, in order of first appearance."""
    return tuple(dict.fromkeys(d for p in graph.params for d in p.type.shape
                               if isinstance(d, Sym)))


class Binder:
    """``binder(arrays) -> (arrays, sizes)``: ``arrays`` as :func:`bind_inputs` returns
    them and one size per symbol of :attr:`symbols` (:func:`param_symbols`); the fast
    generated check first, :func:`bind_inputs` (and its errors) for anything it does not
    accept."""

    __slots__ = ("graph", "symbols", "_fast")

    def __init__(self, graph: Graph):
        self.graph = graph
        self.symbols = param_symbols(graph)
        self._fast = fast_binder(graph, self.symbols)

    def __call__(self, arrays) -> tuple[list, tuple]:
        sizes = self._fast(arrays)
        if sizes is None:
            arrays, env = bind_inputs(self.graph, arrays, {})
            sizes = tuple(env[s] for s in self.symbols)
        return arrays, sizes


def bind_inputs(graph: Graph, arrays, outer_env: dict) -> tuple[list, dict]:
    """Check ``arrays`` against ``graph.params``; return them and each symbol's size.

    Raises InputError naming the parameter (and, for a symbol bound twice to different
    sizes, both parameters and the symbol).
    """
    names = [f"%{p.name or i}" for i, p in enumerate(graph.params)]
    if len(arrays) != len(graph.params):
        raise InputError(f"graph @{graph.name} takes {len(graph.params)} arrays "
                         f"({', '.join(names) or 'none'}), got {len(arrays)}")
    env = dict(outer_env)
    bound_by = {sym: "the enclosing graph" for sym in env}
    out = []
    for name, p, a in zip(names, graph.params, arrays):
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if not isinstance(a, np.ndarray):
            raise InputError(f"param {name}: expected a numpy array of {p.type}, "
                             f"got {type(a).__name__}")
        t = p.type
        if a.dtype != t.dtype.numpy:
            raise InputError(f"param {name}: expected dtype {t.dtype.keras_name} ({t}), "
                             f"got {a.dtype}")
        if a.ndim != t.rank:
            raise InputError(f"param {name}: expected rank {t.rank} ({t}), got shape {a.shape}")
        for axis, (dim, size) in enumerate(zip(t.shape, a.shape)):
            if not isinstance(dim, Sym):
                if dim != size:
                    raise InputError(f"param {name}: axis {axis} must be {dim} ({t}), "
                                     f"got shape {a.shape}")
            elif env.setdefault(dim, size) != size:
                raise InputError(f"param {name}: symbol {dim} is {size} (axis {axis} of shape "
                                 f"{a.shape}) but {env[dim]} in {bound_by[dim]}")
            else:
                bound_by.setdefault(dim, f"param {name}")
        out.append(a)
    return out, env


def fast_binder(graph: Graph, symbols: tuple):
    """``bind(arrays) -> sizes`` (one per symbol) for arrays that surely pass
    ``bind_inputs``; None for anything else (which ``bind_inputs`` then judges)."""
    params = graph.params
    namespace: dict = {"ndarray": np.ndarray}
    lines = ["def bind(arrays):", "    try:"]
    names = [f"p{k}" for k in range(len(params))]
    if names:
        lines.append(f"        {', '.join(names)}, = arrays")
    else:
        lines.append("        if len(arrays): return None")
    conditions, first = [], {}
    for k, p in enumerate(params):
        namespace[f"D{k}"] = np.dtype(p.type.dtype.numpy)
        lines.append(f"        if p{k}.__class__ is not ndarray or p{k}.dtype is not D{k}: "
                     f"return None")
        dims = [f"s{k}_{j}" for j in range(p.type.rank)]
        if dims:
            lines.append(f"        {', '.join(dims)}, = p{k}.shape")
        else:
            lines.append(f"        if p{k}.shape: return None")
        for name, dim in zip(dims, p.type.shape):
            if isinstance(dim, Sym):
                if dim in first:
                    conditions.append(f"{name} != {first[dim]}")
                else:
                    first[dim] = name
            else:
                conditions.append(f"{name} != {dim}")
    lines.append("    except (ValueError, TypeError, AttributeError):")
    lines.append("        return None")
    for i in range(0, len(conditions), 8):
        lines.append(f"    if {' or '.join(conditions[i:i + 8])}: return None")
    key = ", ".join(first[s] for s in symbols)
    lines.append(f"    return ({key}{',' if len(symbols) == 1 else ''})")
    exec("\n".join(lines) + "\n", namespace)
    return namespace["bind"]


__all__ = ["Binder", "InputError", "bind_inputs", "fast_binder", "param_symbols"]
