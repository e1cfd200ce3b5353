"""The generated binder of a numba_cpu Executable: the fast check of a call's arrays.

``make_binder(graph, symbols)`` returns ``bind(arrays) -> sizes``, generated as source:
one size per symbol for arrays that surely pass the reference's ``bind_inputs`` (exact
ndarray class and dtype, rank, static dims, one size per symbol); None for anything
else, which ``bind_inputs`` then judges (and words the error of).
"""
from __future__ import annotations

import numpy as np

from fusegraph.ir.core import Graph
from fusegraph.ir.types import Sym


def make_binder(graph: Graph, symbols: tuple):
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
