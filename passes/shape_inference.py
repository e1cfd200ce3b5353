"""Shape inference: re-run every op's shape rule, optionally from new parameter types.

Ops are typed at birth (``emit`` runs the rule), so on an unchanged graph this pass is
a re-check: it returns a graph equal to its input or raises. Given new parameter
types it re-types the whole graph, e.g. to specialize the batch size or the dtype.

Contract of :func:`infer_shapes`:

* Parameters named in ``param_types`` take those types; the others keep theirs.
* A symbol the new types bind (a parameter's old dim ``B`` whose new dim is ``32``,
  or another symbol) is replaced everywhere: in the other parameters' types and in
  shape-kind attributes (``reshape(shape=(B, 2, 2))`` becomes ``(32, 2, 2)``), so a
  specialized graph stays well typed. Two bindings of one symbol must agree.
* Every op is re-created with ``emit_op`` (same kind, attributes, location, value
  names), regions recursively, their parameters typed as the op's new operands (or as
  its OpDef's ``region_params`` says: a ``scan`` body's step of a sequence has no time
  axis).
* The input graph is not changed. A rule that fails raises ShapeError naming the op,
  its layer and the user's file:line, plus the parameter types that were given.
"""
from __future__ import annotations

from ..ir.builder import emit_op
from ..ir.core import Graph, Value
from ..ir.errors import ShapeError
from ..ir.opdef import get_opdef, shape_attr_names
from ..ir.types import Sym, TensorType


def infer_shapes(graph: Graph, param_types: dict[str, TensorType] | None = None) -> Graph:
    """A new graph, every value typed by the rules from the (new) parameter types."""
    given = dict(param_types or {})
    names = [p.name for p in graph.params]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError(f"graph @{graph.name} has no parameters {unknown}; "
                         f"its parameters are {names}")
    for name, t in given.items():
        if not isinstance(t, TensorType):
            raise TypeError(f"type of parameter {name!r} must be a TensorType, got {t!r}")
    try:
        binding = _bind_symbols(graph, given)
        params = [Value(_substitute(given.get(p.name, p.type), binding), name=p.name)
                  for p in graph.params]
        return _reinfer(graph, params, binding)
    except ShapeError as e:
        shown = ", ".join(f"%{n}: {t}" for n, t in given.items()) or "none (re-check only)"
        raise ShapeError(f"shape inference of @{graph.name} with parameter types "
                         f"{shown}: {e}") from None


def _bind_symbols(graph: Graph, given: dict) -> dict:
    """Sym -> the dim (int or Sym) it takes, read from old vs new parameter types."""
    binding: dict = {}
    source: dict = {}
    for p in graph.params:
        new = given.get(p.name)
        if new is None or new.rank != p.type.rank:
            continue
        for old_dim, new_dim in zip(p.type.shape, new.shape):
            if not isinstance(old_dim, Sym) or old_dim == new_dim:
                continue
            if binding.setdefault(old_dim, new_dim) != new_dim:
                raise ShapeError(f"symbol {old_dim} is given as {binding[old_dim]} by "
                                 f"%{source[old_dim]} and as {new_dim} by %{p.name}")
            source.setdefault(old_dim, p.name)
    return binding


def _substitute(t: TensorType, binding: dict) -> TensorType:
    return t.with_shape(binding.get(d, d) for d in t.shape)


def _reinfer(graph: Graph, params: list[Value], binding: dict) -> Graph:
    new_of = {id(old): new for old, new in zip(graph.params, params)}
    ops = []
    for op in graph.ops:
        operands = [new_of[id(v)] for v in op.operands]
        attrs = dict(op.attrs)
        for name in shape_attr_names(get_opdef(op.kind)):
            attrs[name] = tuple(binding.get(d, d) for d in attrs[name])
        region = None
        if op.region is not None:
            if len(operands) != len(op.region.params):
                raise ShapeError(f"op {op.kind} at {op.loc}: region @{op.region.name} takes "
                                 f"{len(op.region.params)} operands, got {len(operands)}")
            opdef = get_opdef(op.kind)
            types = [v.type for v in operands]
            if opdef.region_params is not None:   # e.g. scan: a sequence's step drops its time axis
                types = opdef.region_params(types, opdef.normalize_attrs(attrs))
            region_params = [Value(t, name=p.name) for p, t in zip(op.region.params, types)]
            region = _reinfer(op.region, region_params, binding)
        new_op = emit_op(op.kind, operands, attrs, region, loc=op.loc)
        for old, new in zip(op.results, new_op.results):
            new.name = old.name
            new_of[id(old)] = new
        ops.append(new_op)
    return Graph(graph.name, params, ops, [new_of[id(r)] for r in graph.results])
