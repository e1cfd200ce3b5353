"""Reverse-mode autodiff, source to source: backward ops built in the same IR.

:func:`gradients` emits, through the builder, the ops computing
``d(sum_i <seed_i, y_i>) / d x_j`` for any values ``y`` (outputs) and ``x`` (weights,
inputs or intermediates). The driver, not the per-op rules:

* walks only the ops on paths from the ``x`` to the ``y``, latest first;
* sums cotangents over fan-out;
* reduces each gradient of a broadcast operand back to the operand's shape;
* lets no gradient flow along integer or bool values.

Backward ops carry their forward op's file:line, with ``/grad`` after the layer path.
:func:`grad_graph` is the Graph -> Graph form of the same thing.

Region ops: the rule of an op with the ``has_region`` trait is called
``rule(op, cotangents, differentiate)`` with :func:`vjp_graph` as ``differentiate``
(the contract is in :mod:`fusegraph.ir.opdef`), so ``scan`` can differentiate its body
without ``ir`` importing this pass. A region differentiated this way goes through this
same driver, so nested regions work too.
"""
from __future__ import annotations

from ..ir import Graph, SourceLoc, Value
from ..ir.builder import emit, source_location
from ..ir.errors import FusegraphError
from ..ir.opdef import HAS_REGION, NO_GRADIENT, get_opdef
from ..ir.ops.vjp_utils import const, unbroadcast, zeros


class AutodiffError(FusegraphError, ValueError):
    """A gradient was asked of something that has none, or a rule is missing."""


def _ops_between(ys, xs, through=None) -> list:
    """Ops that lie on a path from some x to some y, in creation (topological) order;
    only ops whose ids are in ``through`` when it is given (the others' results are
    taken as constants)."""
    needed, stack, seen = {}, [v for v in ys], set()
    while stack:
        v = stack.pop()
        if id(v) in seen or v.producer is None or (through is not None
                                                    and id(v.producer) not in through):
            continue
        seen.add(id(v))
        needed[id(v.producer)] = v.producer
        stack.extend(v.producer.operands)
    depends = {id(x) for x in xs}
    path = []
    for op in sorted(needed.values(), key=lambda op: op.seq):
        if any(id(v) in depends for v in op.operands):
            depends.update(id(r) for r in op.results)
            path.append(op)
    return path


def _grad_loc(op) -> SourceLoc:
    layer = f"{op.loc.layer}/grad" if op.loc.layer else "grad"
    return SourceLoc(op.loc.file, op.loc.line, layer)


def gradients(ys, xs, seeds=None, unconnected: str = "none", through=None) -> list:
    """Gradients of ``ys`` (weighted by ``seeds``, default ones) w.r.t. each of ``xs``;
    ``through``: the ids of the only ops gradients flow through (an eager tape's
    recorded ops), None for all.

    Returns one Value per x, in x's type; for an x no y depends on: None, or zeros
    when ``unconnected="zero"``. Raises AutodiffError for a non-float y or x, or a seed
    whose type is not its output's.
    """
    ys, xs = list(ys), list(xs)
    if unconnected not in ("none", "zero"):
        raise ValueError(f"unconnected must be 'none' or 'zero', got {unconnected!r}")
    seeds = [None] * len(ys) if seeds is None else list(seeds)
    if len(seeds) != len(ys):
        raise AutodiffError(f"{len(seeds)} seeds for {len(ys)} outputs: one seed (or None) "
                            f"per output")
    for i, (y, seed) in enumerate(zip(ys, seeds)):
        if seed is not None and seed.type != y.type:
            raise AutodiffError(f"seed {i} has type {seed.type}, but output {i} ({y!r}) has "
                                f"type {y.type}: a seed has its output's type")
    for what, values in (("output", ys), ("input", xs)):
        for v in values:
            if not v.type.dtype.is_float:
                raise AutodiffError(f"cannot differentiate w.r.t. or of an integer/bool {what} "
                                    f"{v!r}: gradients flow along float values only")
    cotangent: dict[int, Value] = {}

    def accumulate(value: Value, g: Value) -> None:
        g = unbroadcast(g, value.type)
        cotangent[id(value)] = emit("add", cotangent[id(value)], g) if id(value) in cotangent else g

    for i, y in enumerate(ys):
        seed = seeds[i]
        with source_location(SourceLoc(layer="grad")):
            accumulate(y, seed if seed is not None else
                       emit("broadcast_to", const(1, y.type.dtype), shape=y.type.shape))
    for op in reversed(_ops_between(ys, xs, through)):
        cts = [cotangent.get(id(r)) for r in op.results]
        if all(c is None for c in cts):
            continue
        opdef = get_opdef(op.kind)
        rule = opdef.vjp
        if rule is NO_GRADIENT:
            continue
        if rule is None:
            raise AutodiffError(f"op {op.kind} at {op.loc} has no VJP rule")
        with source_location(_grad_loc(op)):
            cts = tuple(c if c is not None else zeros(r.type) for c, r in zip(cts, op.results))
            grads = rule(op, cts, vjp_graph) if opdef.has(HAS_REGION) else rule(op, cts)
            for operand, g in zip(op.operands, grads):
                if g is not None and operand.type.dtype.is_float:
                    accumulate(operand, g)
    out = []
    for x in xs:
        g = cotangent.get(id(x))
        if g is None and unconnected == "zero":
            with source_location(SourceLoc(layer="grad")):
                g = zeros(x.type)
        out.append(g)
    return out


def grad_graph(graph: Graph, of: int = 0, wrt=None) -> Graph:
    """``graph`` with the gradient of its result ``of`` (summed if not scalar) w.r.t. the
    params named in ``wrt`` (default: every float param) appended to its results.
    Unconnected params get zero gradients."""
    names = [p.name for p in graph.params]
    wrt = [p.name for p in graph.params if p.type.dtype.is_float] if wrt is None else list(wrt)
    unknown = [n for n in wrt if n not in names]
    if unknown:
        raise AutodiffError(f"graph @{graph.name} has no params {unknown}; it has {names}")
    params = {p.name: p for p in graph.params}
    grads = gradients([graph.results[of]], [params[n] for n in wrt], unconnected="zero")
    return Graph.from_results(graph.name, graph.params, graph.results + tuple(grads))


def vjp_graph(graph: Graph, wrt) -> Graph:
    """The reverse-mode derivative of ``graph`` as a graph of its own (the
    ``differentiate`` callback region ops' VJP rules get; contract in
    :mod:`fusegraph.ir.opdef`).

    Parameters: ``graph``'s, then ``ct0, ct1, ...``: one cotangent per float result, in
    result order. Results: for each index in ``wrt`` (float parameters of ``graph``), the
    gradient of ``sum_j <ct_j, result_j>`` w.r.t. that parameter, zeros where unconnected.
    The graph reuses ``graph``'s ops (they are immutable); callers inline it.
    """
    wrt = list(wrt)
    for i in wrt:
        if not 0 <= i < len(graph.params) or not graph.params[i].type.dtype.is_float:
            raise AutodiffError(f"graph @{graph.name}: cannot differentiate w.r.t. parameter "
                                f"{i}: expected the index of a float parameter among "
                                f"{[str(p.type) for p in graph.params]}")
    ys = [r for r in graph.results if r.type.dtype.is_float]
    taken = {p.name for p in graph.params}
    names = [next(n for n in (f"ct{j}", *(f"ct{j}_{k}" for k in range(1, len(taken) + 2)))
                  if n not in taken) for j in range(len(ys))]
    cts = [Value(y.type, name=name) for y, name in zip(ys, names)]
    grads = gradients(ys, [graph.params[i] for i in wrt], seeds=cts, unconnected="zero")
    return Graph.from_results(f"{graph.name}_vjp", list(graph.params) + cts, grads)
