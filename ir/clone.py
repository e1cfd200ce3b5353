"""Copying a graph's ops onto new operands (inlining a sub-graph while tracing).

A graph's types, shape-valued attributes (a reshape's target, an iota's shape) and
regions (a ``scan`` body, a ``fused`` kernel) name the dimension symbols of its
parameters. Copied onto operands whose types give those symbols other dims (the batch
``B`` as ``32`` in a fixed-shape trace, a sequence length ``T`` as another input's
symbol), the copy must say the same thing of the new dims; :func:`inline` therefore
unifies the replaced parameters' types with the new operands' types and substitutes
the result everywhere it copies.
"""
from __future__ import annotations

from typing import Callable, Mapping

from .builder import emit_op
from .core import Graph, Op, Value
from .errors import ShapeError
from .opdef import get_opdef, shape_attr_names
from .types import Sym, TensorType


def inline(graph: Graph, replacements: dict,
           rewrite_attrs: Callable[[Op], Mapping | None] | None = None) -> list[Value]:
    """Emit a copy of ``graph``'s ops with the params in ``replacements`` (a dict
    param -> Value) replaced; the other params (weights) are used as they are, so they
    stay shared. Types are re-inferred for the new operands; locations are kept.

    Dimension symbols (see :func:`unify`): each symbol of a replaced param's type is
    bound to the dim the new operand has on that axis (an int, or another symbol), and
    the binding is substituted into every copied op's shape-kind attributes
    (:func:`~.opdef.shape_attr_names`) and into its region, which is rebuilt with the
    substituted parameter types (recursively: a region's ops are copied the same way).
    A new operand whose dim is a symbol where the param's (substituted) type has an int
    is first retyped to that int with a ``reshape`` to the param's shape, so the copy is
    typed as the original on those axes: a graph traced for a batch of 4 reshapes to 4
    rows, whatever symbol the caller's batch has. The reshape is the check that the
    batch is 4 when the graph runs (its element count must agree: a batch of 1 is an
    error naming the sizes, never stretched to 4 rows as ``broadcast_to`` would). It is
    exact for one retyped symbol; with several (a ``(B, T)`` operand for a ``(4, 5)``
    param) only their product is checked.

    ``rewrite_attrs(op)``, when given, is asked about each top-level op before it is
    copied: it returns the attributes for the copy (in the original graph's terms: the
    binding is substituted into them too), or None to keep the op's own. (The caller
    decides what a copy must not share with its original, e.g. a random op's salt.)

    Returns the copies of the graph's results. ShapeError when one symbol is given two
    different sizes, or when an op's rule refuses its new operands."""
    pairs = [(p, v) for p, v in replacements.items()]
    binding = unify([p.type for p, _ in pairs], [v.type for _, v in pairs],
                    [p.name for p, _ in pairs], graph.name)
    mapping = {id(p): _retyped(v, substitute(p.type, binding)) for p, v in pairs}
    return _copy_ops(graph, mapping, binding, rewrite_attrs)[0]


def unify(old_types, new_types, names=None, where: str = "graph") -> dict:
    """Sym -> dim: what each symbol of ``old_types`` is in ``new_types``, axis by axis.

    A symbol meeting an int takes the int; meeting only symbols, it takes the first one
    met (identity bindings are left out). A symbol met as two different ints raises
    ShapeError naming both. Types of different ranks bind nothing (the op that reads
    them says what is wrong)."""
    names = list(names) if names is not None else [f"#{i}" for i in range(len(old_types))]
    found: dict = {}   # Sym -> (dim, name of the param that gave it)
    for name, old, new in zip(names, old_types, new_types):
        if old.rank != new.rank:
            continue
        for axis, (o, n) in enumerate(zip(old.shape, new.shape)):
            if not isinstance(o, Sym):
                continue
            given = found.get(o)
            if given is None or (isinstance(n, int) and not isinstance(given[0], int)):
                found[o] = (n, name)
            elif isinstance(n, int) and n != given[0]:
                raise ShapeError(f"inlining @{where}: symbol {o} is {given[0]} in the operand "
                                 f"for %{given[1]} but {n} in the operand for %{name} "
                                 f"(axis {axis})")
    return {s: d for s, (d, _) in found.items() if d != s}


def substitute(t: TensorType, binding: Mapping) -> TensorType:
    """``t`` with each bound symbol replaced."""
    if not binding:
        return t
    return t.with_shape(binding.get(d, d) for d in t.shape)


def _retyped(value: Value, want: TensorType) -> Value:
    """``value``, or its ``reshape`` to ``want``'s shape when ``value`` has a symbol
    where ``want`` has an int (same rank and dtype; the other axes agree). A reshape,
    not a ``broadcast_to``: numpy broadcasts a size 1, so a batch of 1 would silently
    become 4 copies of itself; a reshape fails whenever the sizes differ."""
    have = value.type
    refined = [isinstance(h, Sym) and isinstance(w, int) for h, w in zip(have.shape, want.shape)]
    if (have.rank != want.rank or have.dtype != want.dtype or not any(refined)
            or not all(r or h == w for r, h, w in zip(refined, have.shape, want.shape))):
        return value
    loc = value.producer.loc if value.producer is not None else None
    return emit_op("reshape", [value], {"shape": want.shape}, loc=loc).result


def _substitute_attrs(kind: str, attrs: Mapping, binding: Mapping) -> dict:
    attrs = dict(attrs)
    if binding:
        for name in shape_attr_names(get_opdef(kind)):
            attrs[name] = tuple(binding.get(d, d) for d in attrs[name])
    return attrs


def _copy_ops(graph: Graph, mapping: dict, binding: Mapping, rewrite_attrs=None,
              keep_names: bool = False) -> tuple[list[Value], list[Op]]:
    """Emit ``graph``'s ops with operands looked up in ``mapping`` (id -> Value, unmapped
    values used as they are) and ``binding`` substituted; return the copies of the
    results and the copied ops. ``keep_names``: the copies keep the values' names."""
    ops = []
    for op in graph.ops:
        attrs = rewrite_attrs(op) if rewrite_attrs is not None else None
        attrs = _substitute_attrs(op.kind, op.attrs if attrs is None else attrs, binding)
        region = _substituted_region(op.region, binding) if op.region is not None else None
        copy = emit_op(op.kind, [mapping.get(id(v), v) for v in op.operands], attrs, region,
                       loc=op.loc)
        for old, new in zip(op.results, copy.results):
            if keep_names:
                new.name = old.name
            mapping[id(old)] = new
        ops.append(copy)
    return [mapping.get(id(r), r) for r in graph.results], ops


def _substituted_region(region: Graph, binding: Mapping) -> Graph:
    """``region`` rebuilt with ``binding`` substituted into its parameter types and its
    ops (their types re-inferred, value names kept); ``region`` itself when it names
    none of the bound symbols."""
    if not binding or not _mentions(region, set(binding)):
        return region
    params = [Value(substitute(p.type, binding), name=p.name) for p in region.params]
    results, ops = _copy_ops(region, {id(old): new for old, new in zip(region.params, params)},
                             binding, keep_names=True)
    return Graph(region.name, params, ops, results)


def _mentions(graph: Graph, symbols: set) -> bool:
    """Whether any type or shape attribute in ``graph`` (regions included) names a symbol
    of ``symbols``."""
    def named(shape) -> bool:
        return any(isinstance(d, Sym) and d in symbols for d in shape)

    if any(named(p.type.shape) for p in graph.params):
        return True
    for op in graph.ops:
        if any(named(r.type.shape) for r in op.results):
            return True
        if any(named(op.attrs[n]) for n in shape_attr_names(get_opdef(op.kind))):
            return True
        if op.region is not None and _mentions(op.region, symbols):
            return True
    return False
