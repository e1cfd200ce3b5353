"""``fused``: an op whose meaning is the small graph (region) it carries: a fused kernel.

The fusion pass replaces a group of ops by one ``fused`` op; backends compile its
region into one kernel. The region is isolated from above: it sees only its own
parameters, which receive the op's operands in order. Its reference semantics are
"run the region", so ``ref`` takes the region and a graph runner from the backend
(``ir`` knows no backend).

**The kernel contract**, checked by the verifier (the op's ``check``,
:func:`check_kernel_region`); each rule has a name that a failure quotes:

* ``op classes``: every region op is ELEMENTWISE or a REDUCTION, a scalar ``constant``
  (constants are copied in, arrays are passed in), an EXPANSION (``broadcast_to``: its
  operand, a parameter or a value of the iteration shape, is read by index as any
  operand is, its dims of 1 at 0) or a ROW_GATHER (``gather_rows``);
* ``row gathers``: a ROW_GATHER's first operand (the rows it picks from) is a region
  parameter that nothing else in the region reads, and its result is rank 2 (rows
  are the first iteration axis);
* ``iteration shape``: there is one, the *iteration shape*: every elementwise result
  but a constant's has it, and every reduction's operand has it;
* ``operands``: every region parameter but a row gather's rows is read by index from
  the iteration indices:
  its rank is at most the iteration rank and each of its dims, aligned to the right,
  equals the iteration dim or is 1 (a broadcast the types decide; no size is compared
  when the kernel runs);
* ``reduction results``: a region op uses a reduction's result only in a *staged*
  region: every reduction whose result a region op uses reduces the same trailing axes
  of the iteration shape (a row's, :func:`row_axes`) keeping them (``keepdims``), every
  other reduction reduces those axes too or is a *column reduction*
  (:func:`is_column_reduction`: it reduces every other axis keeping them, a LayerNorm's
  gamma and beta gradients summed over the rows), and every op using a reduction's
  result is elementwise. A kernel of it walks each row once per *stage* (softmax: the
  row's max, then the sum of exponentials, then the quotients; see :func:`stages`),
  folding its column reductions into accumulators of the row's length as it goes; its
  elementwise ops may also have the *row shape* (:func:`row_shape`: computed once per
  row, between the stages);
* ``results``: every region result is computed by a region op that is not a constant.

An empty iteration space is allowed (a backend may then run the region as the reference
does). What a *backend's* kernels hold is narrower: :class:`KernelCapability`, which the
fusion pass asks, says which of these ops it has code for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..core import Graph, Op
from ..errors import ContractError, ShapeError, UnsupportedError
from ..opdef import (ELEMENTWISE, EXPANSION, HAS_REGION, REDUCTION, ROW_GATHER, OpDef,
                      get_opdef, register)
from ..types import DType
from ._rules import fmt


def _fused_infer(types, attrs, region):
    expected = tuple(p.type for p in region.params)
    if expected != tuple(types):
        raise ShapeError(f"region @{region.name} takes ({fmt(expected)}), got ({fmt(types)})")
    return tuple(r.type for r in region.results)


def _fused_ref(xs, attrs, region, run_graph):
    return tuple(run_graph(region, xs))


def _fused_vjp(op, cts, differentiate):
    raise UnsupportedError(f"cannot differentiate through fused kernel @{op.region.name}: "
                           f"autodiff runs before fusion; take gradients of the graph "
                           f"before the fusion pass")


def iteration_shape_of(op: Op) -> tuple:
    """The iteration shape a kernel op makes: a reduction's operand's shape, an
    elementwise op's result's."""
    value = op.operands[0] if get_opdef(op.kind).has(REDUCTION) else op.results[0]
    return value.type.shape


def _broken(rule: str, message: str):
    raise ContractError(f"breaks the kernel contract ({rule}): {message}")


def check_kernel_region(region: Graph) -> None:
    """Return None if ``region`` keeps the kernel contract (the module docstring);
    ContractError naming the rule and the region op otherwise."""
    shapes: dict[tuple, str] = {}
    reduced: set[int] = set()
    computed: set[int] = set()
    for j, inner in enumerate(region.ops):
        where = f"region op {j} ({inner.kind}{f' at {inner.loc}' if str(inner.loc) else ''})"
        if inner.kind == "constant":
            if inner.results[0].type.rank != 0:
                _broken("op classes", f"{where} makes {inner.results[0].type}; only scalar "
                                      f"constants are copied into a kernel")
            continue
        opdef = get_opdef(inner.kind)
        if not any(opdef.has(t) for t in (ELEMENTWISE, REDUCTION, EXPANSION, ROW_GATHER)):
            _broken("op classes", f"{where} is neither elementwise, a reduction, an "
                                  f"expansion nor a row gather")
        if opdef.has(ROW_GATHER):
            _check_row_gather(region, inner, where)
        if any(id(v) in reduced for v in inner.operands) and not opdef.has(ELEMENTWISE):
            _broken("reduction results", f"{where} uses the result of a reduction of the "
                                         f"same kernel and is not elementwise")
        shapes.setdefault(iteration_shape_of(inner), where)
        if opdef.has(REDUCTION):
            reduced.add(id(inner.results[0]))
        computed.update(map(id, inner.results))
    staged = is_staged(region)
    if staged and row_axes(region) is None:
        _broken("reduction results", "a region op uses the result of a reduction of the "
                                     "same kernel, but its reductions have no row axes: "
                                     "those whose results it uses must reduce the same "
                                     "trailing axes keeping them, every other one these "
                                     "too or (a column reduction) all the others, keeping "
                                     "them")
    if staged:          # row ops: of the reductions' result shape, between the stages
        row = row_shape(region)
        reductions = [op for op in region.ops if get_opdef(op.kind).has(REDUCTION)]
        full = max((op.operands[0].type.shape for op in reductions), key=len)
        for op in reductions:
            if op.operands[0].type.shape != full:
                _broken("iteration shape", f"region op {region.ops.index(op)} ({op.kind}) "
                                           f"reduces a row value {op.operands[0].type}; a "
                                           f"staged kernel's reductions read its "
                                           f"iteration shape {_dims(full)}")
        shapes = {s: w for s, w in shapes.items() if s != row or s == full}
    if len(shapes) != 1:
        found = "; ".join(f"[{','.join(map(str, s))}] ({w})" for s, w in shapes.items())
        _broken("iteration shape", f"expected one iteration shape, got {found or 'none'}")
    (shape,) = shapes
    gathered = {id(op.operands[0]) for op in region.ops if get_opdef(op.kind).has(ROW_GATHER)}
    for k, p in enumerate(region.params):
        if id(p) in gathered:
            continue
        dims = p.type.shape
        if len(dims) > len(shape) or any(d != 1 and d != it
                                         for d, it in zip(dims, shape[len(shape) - len(dims):])):
            _broken("operands", f"parameter {k} ({p.type}) is not read by index from the "
                                f"iteration shape [{','.join(map(str, shape))}]: each dim, "
                                f"aligned right, must equal the iteration dim or be 1")
    for j, r in enumerate(region.results):
        if id(r) not in computed:
            _broken("results", f"result {j} is not computed by an elementwise op or a "
                               f"reduction of the region")


def _dims(shape: tuple) -> str:
    return f"[{','.join(map(str, shape))}]"


def is_staged(region: Graph) -> bool:
    """Whether a region op uses the result of one of the region's reductions."""
    reduced = {id(op.results[0]) for op in region.ops if get_opdef(op.kind).has(REDUCTION)}
    return any(id(v) in reduced for op in region.ops for v in op.operands)


def row_axes(region: Graph) -> tuple | None:
    """The axes a staged kernel of ``region`` walks once per stage (a row's): those that
    every reduction whose result a region op uses reduces (every reduction, when no
    result is used), when they are the same trailing axes of the iteration shape for all,
    kept (``keepdims``), and every other reduction reduces them too or is a column
    reduction (:func:`is_column_reduction`); None otherwise (or without reductions)."""
    return row_axes_of(region.ops)


def row_axes_of(ops) -> tuple | None:
    """:func:`row_axes` of the region ``ops`` would make (fusion asks it of a group)."""
    reductions = [op for op in ops if get_opdef(op.kind).has(REDUCTION)]
    read = {id(v) for op in ops for v in op.operands}
    used = [op for op in reductions if id(op.results[0]) in read] or reductions
    axes = {_kept_trailing_axes(op) for op in used}
    if len(axes) != 1 or None in axes:
        return None
    rows = axes.pop()
    if all(_kept_trailing_axes(op) == rows
           or (id(op.results[0]) not in read and is_column_reduction(op, rows))
           for op in reductions):
        return rows
    return None


def _kept_trailing_axes(op: Op) -> tuple | None:
    """The axes reduction ``op`` reduces when they are trailing ones it keeps, else None."""
    rank = op.operands[0].type.rank
    reduced = tuple(op.attrs["axes"])
    if not op.attrs["keepdims"] or not reduced or reduced != tuple(range(rank - len(reduced), rank)):
        return None
    return reduced


def is_column_reduction(op: Op, rows: tuple) -> bool:
    """Whether reduction ``op`` of a staged region with row axes ``rows`` reduces every
    other axis of the iteration shape, keeping them: its result has the row's length (a
    LayerNorm's gamma gradient, the sum over the batch of ``g * x_hat``), folded as the
    kernel walks each row. It must be a region result only (no region op uses it)."""
    rank = op.operands[0].type.rank
    columns = tuple(a for a in range(rank) if a not in rows)
    return bool(columns) and op.attrs["keepdims"] and tuple(op.attrs["axes"]) == columns


def row_shape(region: Graph) -> tuple | None:
    """A staged region's row shape: the iteration shape with the row axes
    (:func:`row_axes`) of size 1, the shape of its row reductions' results and of its
    *row ops* (elementwise ops of those results, computed once per row between the
    stages: a LayerNorm's ``rsqrt(variance + eps)``); None without row reductions."""
    rows = row_axes(region)
    for op in region.ops:
        if get_opdef(op.kind).has(REDUCTION) and tuple(op.attrs["axes"]) == rows:
            return op.results[0].type.shape
    return None


def stages(region: Graph) -> dict:
    """``{id(value): stage}`` for a staged region's values: parameters and constants 0,
    an elementwise result the latest stage of its operands, a reduction's result one
    more than its operand's (it is known once the row was walked for it)."""
    stage: dict = {}
    for op in region.ops:
        s = max((stage.get(id(v), 0) for v in op.operands), default=0)
        if get_opdef(op.kind).has(REDUCTION):
            s += 1
        stage.update((id(r), s) for r in op.results)
    return stage


def _check_row_gather(region: Graph, op: Op, where: str) -> None:
    """The ``row gathers`` rule for ``op``, region op ``where``."""
    rows = op.operands[0]
    if not any(rows is p for p in region.params):
        _broken("row gathers", f"{where} picks rows of a value the region computes; they "
                               f"must be a region parameter")
    reads = [v for other in region.ops
             for v in (other.operands[1:] if other is op else other.operands)]
    if any(v is rows for v in reads + list(region.results)):
        _broken("row gathers", f"{where} picks rows of a parameter the region also reads "
                               f"elsewhere")
    if op.results[0].type.rank != 2:
        _broken("row gathers", f"{where} makes {op.results[0].type}; expected rank 2")


@dataclass(frozen=True)
class KernelCapability:
    """What one backend's kernels may hold, within the kernel contract: the fusion pass
    groups only ops that :meth:`admits`.

    ``name``: the backend's. ``has_code(kind, dtype)``: whether the backend has code for
    the elementwise op ``kind`` making a ``dtype`` result (a reduction is held when its
    combining op, :attr:`~fusegraph.ir.opdef.Reduction.combine`, is, at its dtype).
    ``lone_kernel(shape)``: whether an op that joined no group still becomes a kernel of
    its own at that iteration shape (by default never: the op runs as the reference
    runs it; a backend whose kernels beat numpy's single ops on large arrays says so).
    ``staged``: whether its kernels may be staged (the contract's ``reduction results``:
    ops using a reduction's result in the same kernel).
    """

    name: str
    has_code: Callable[[str, DType], bool]
    lone_kernel: Callable[[tuple], bool] = lambda shape: False
    staged: bool = False

    def admits(self, op: Op) -> bool:
        opdef = get_opdef(op.kind)
        dtype = op.results[0].type.dtype if op.results else None
        if opdef.has(ELEMENTWISE) or opdef.has(EXPANSION):
            return self.has_code(op.kind, dtype)
        if opdef.has(REDUCTION):
            return self.has_code(opdef.reduction.combine, dtype)
        return False


def _check_fused(op: Op) -> None:
    check_kernel_region(op.region)


# The whole contract but staged kernels: every elementwise op and reduction (fusion's
# default).
ANY_KERNEL = KernelCapability("any kernel", lambda kind, dtype: True)


register(OpDef("fused", _fused_infer, _fused_ref, None, traits=frozenset({HAS_REGION}),
               doc="run the carried region on the operands (a fused kernel)", vjp=_fused_vjp,
               check=_check_fused))
