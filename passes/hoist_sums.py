"""Sums accumulated in a loop's carry, computed after the loop instead: a recurrent
layer's weight gradient as contractions over all steps, not one small matmul and one
add per step.

The VJP of a ``scan`` (:mod:`fusegraph.ir.ops.scan`) accumulates the gradient of each
loop invariant in a carry of the backward loop: ``dU' = dU + transpose(h_{t-1}) @ dz_t``
for an LSTM's recurrent kernel, ``db' = db + reduce_sum(dz_t, axes=[0])`` for a bias
added in the body. A carry updated only so is the sum of its per-step terms, and each
term's sum over the steps is one op on the terms' factors stacked over the steps.

Contract of :func:`hoist_sums`, per scan (bodies first, see :func:`.scan_edit.over_scans`).
A float carry ``acc`` is an *accumulation* when its new value is ``add(acc, term)`` (either
order, ``term`` typed as ``acc``), the body reads ``acc`` nowhere else and returns that
``add`` only as its new carry, and ``term`` is made of

* *leaves*: ``matmul(L, R)`` of rank-2 operands, and ``reduce_sum`` (any axes,
  ``keepdims`` either way);
* joined by ops that commute with a sum over steps: ``add``/``sub`` of two terms typed as
  their result, and ``neg``, ``reshape``, ``transpose``, ``pad``, ``slice``,
  ``broadcast_to`` of a term.

Each *factor* (``L``, ``R``, or the summed operand; a ``transpose`` feeding a matmul is
looked through, so its operand is the factor) must vary with the step (depend on a carry
or a sequence), and is read stacked over the steps: a sequence of the scan is its own
operand, a per-step output its stacked result; any other factor becomes a new per-step
output of the body. Then the carry leaves the loop, and after the loop

* a matmul leaf is ONE ``tensordot`` of its two stacked factors summing the step axis
  and the per-step contracted axis (``B`` for a weight gradient) together: a single GEMM
  over ``[T·B, k]`` rows, as for a Dense layer's weight gradient on sequences
  (:mod:`fusegraph.ir.ops.linalg`), instead of ``T`` small ones (the axes are paired in
  the first factor's axis order, so that a batch-major ``[B, T, k]`` pair sums its leading
  axes: BLAS on views, no copy);
* a reduce_sum leaf is one ``reduce_sum`` of the stacked operand over its axes and the
  step axis (then reshaped to the term's type when ``keepdims`` kept the step axis);
* the joining ops are applied to those sums, and the initial carry is added to the
  total (unless it is a constant zero).

The direction of the loop does not matter (a sum), and each factor is stacked at the
index of the step that made it, as every scan output is, so the stacked factors pair up
step by step. Float sums are reassociated: the result agrees with the loop's to
rounding, not bit for bit.

**Memory rule.** The sums after the loop need no temporary beyond their results; what
the pass may add is stacked per-step outputs, so each new one must have, per step, at
most the elements of a per-step tensor the loop already stacks (a sequence or an
output), for every size of its symbols: the loop's stacked storage grows by at most one
of its own per-step tensors per new factor. (An LSTM, GRU or SimpleRNN backward loop
needs none for its recurrent kernel: ``h_{t-1}`` is a sequence, autodiff's saved
carries, and ``dz_t`` an output, the input gradient; a GRU's recurrent bias and its
``reset_after=False`` kernels need one to three of ``[B, u]`` to ``[B, 2u]`` beside its
``[B, 3u]`` ones.)

Statistics: ``sums_hoisted`` (carries turned into sums after the loop),
``outputs_added`` (new per-step outputs).
"""
from __future__ import annotations

from ..ir.builder import emit
from ..ir.core import Graph, Op, Value
from ..ir.ops.vjp_utils import is_all
from ..ir.types import TensorType, symbolic_size

from .manager import Pass, count, register_pass
from .rewrite import copy_op
from .scan_edit import ScanParts, over_scans

JOINS = frozenset({"add", "sub"})
LINEAR = frozenset({"neg", "reshape", "transpose", "pad", "slice", "broadcast_to"})


def _term(parts: ScanParts, i: int, users: dict) -> Value | None:
    """The term carry ``i`` adds to itself each step, if it is an accumulation's add."""
    body = parts.body
    acc, new = body.params[i], body.results[i]
    op = new.producer
    if op is None or op.kind != "add" or not acc.type.dtype.is_float:
        return None
    a, b = op.operands
    if (a is acc) == (b is acc):
        return None
    term = b if a is acc else a
    only_the_add = users.get(id(acc)) == [op] and not users.get(id(new))
    returned_once = sum(r is new for r in body.results) == 1 and acc not in body.results
    return term if term.type == acc.type and only_the_add and returned_once else None


def _factor(v: Value) -> tuple[Value, bool]:
    """(the value to stack for matmul operand ``v``, whether ``v`` is its transpose)."""
    op = v.producer
    if op is not None and op.kind == "transpose" and op.attrs["perm"] == (1, 0):
        return op.operands[0], True
    return v, False


def _leaves(term: Value) -> list[Op] | None:
    """The leaf ops whose sums make ``term``'s sum, or None when ``term`` is not made of
    leaves and joins (see the module docstring)."""
    op = term.producer
    if op is None:
        return None
    if op.kind == "matmul" and all(v.type.rank == 2 for v in op.operands):
        return [op]
    if op.kind == "reduce_sum":
        return [op]
    if op.kind in JOINS and all(v.type == term.type for v in op.operands):
        parts = [_leaves(v) for v in op.operands]
        return None if None in parts else [leaf for p in parts for leaf in p]
    if op.kind in LINEAR:
        return _leaves(op.operands[0])
    return None


def _factors(leaf: Op) -> list[Value]:
    if leaf.kind == "matmul":
        return [_factor(v)[0] for v in leaf.operands]
    return [leaf.operands[0]]


def _varying(parts: ScanParts) -> set[int]:
    """ids of the body values that depend on a carry or a sequence."""
    body = parts.body
    out = {id(p) for p in body.params[:len(parts.carries) + len(parts.sequences)]}
    for op in body.ops:
        if any(id(v) in out for v in op.operands):
            out.update(id(r) for r in op.results)
    return out


def _at_most(small: TensorType, big: TensorType) -> bool:
    """Whether ``small`` has at most ``big``'s elements for every size of their symbols."""
    (n, syms), (m, big_syms) = symbolic_size(small.shape), symbolic_size(big.shape)
    rest = list(big_syms)
    for s in syms:
        if s not in rest:
            return False
        rest.remove(s)
    return n <= m


def _stacked_already(parts: ScanParts, v: Value) -> bool:
    return v in parts.sequence_params() or v in parts.step_outputs()


def _fits(parts: ScanParts, leaf: Op, varying: set[int]) -> bool:
    """Whether ``leaf``'s factors vary and the memory rule admits the new outputs."""
    stacked = [p.type for p in parts.sequence_params()] + [y.type for y in parts.step_outputs()]
    for f in _factors(leaf):
        if id(f) not in varying or f.type.rank < parts.axis:
            return False
        if not _stacked_already(parts, f) and not any(_at_most(f.type, s) for s in stacked):
            return False
    return True


def _leaf_sum(leaf: Op, stacked, axis: int) -> Value:
    """The sum over the steps of ``leaf``'s result, from its stacked factors."""
    if leaf.kind == "matmul":
        (x, x_transposed), (y, y_transposed) = map(_factor, leaf.operands)
        # the contracted axis of each step's matrix: L's columns, R's rows
        summed_x, summed_y = (0 if x_transposed else 1), (1 if y_transposed else 0)
        pairs = sorted([(axis, axis), (summed_x + (summed_x >= axis),
                                       summed_y + (summed_y >= axis))])
        return emit("tensordot", stacked(x), stacked(y), axes_a=tuple(i for i, _ in pairs),
                    axes_b=tuple(j for _, j in pairs))
    axes = sorted([j + (j >= axis) for j in leaf.attrs["axes"]] + [axis])
    total = emit("reduce_sum", stacked(leaf.operands[0]), axes=tuple(axes),
                 keepdims=leaf.attrs["keepdims"])
    want = leaf.results[0].type
    return total if total.type == want else emit("reshape", total, shape=want.shape)


def _summed(term: Value, stacked, axis: int, memo: dict) -> Value:
    """The sum over the steps of ``term`` (leaves summed, joins applied to the sums)."""
    if id(term) not in memo:
        op = term.producer
        if op.kind in ("matmul", "reduce_sum"):
            memo[id(term)] = _leaf_sum(op, stacked, axis)
        else:
            operands = [_summed(v, stacked, axis, memo) for v in op.operands]
            memo[id(term)] = copy_op(op, operands).results[term.index]
    return memo[id(term)]


def _hoist(parts: ScanParts) -> tuple | None:
    body = parts.body
    nc = len(parts.carries)
    users, varying = body.users(), _varying(parts)
    terms: dict[int, Value] = {}
    for i in range(nc):
        term = _term(parts, i, users)
        leaves = _leaves(term) if term is not None else None
        if leaves and all(_fits(parts, leaf, varying) for leaf in leaves):
            terms[i] = term
    if not terms:
        return None

    added: dict[int, Value] = {}      # the new per-step outputs, by id
    for term in terms.values():
        for leaf in _leaves(term):
            for f in _factors(leaf):
                if not _stacked_already(parts, f):
                    added.setdefault(id(f), f)
    keep = [i for i in range(nc) if i not in terms]
    new_body = Graph.from_results(
        body.name, [body.params[i] for i in keep] + list(body.params[nc:]),
        [body.results[i] for i in keep] + list(parts.step_outputs()) + list(added.values()))
    out = parts.with_(body=new_body, carries=tuple(parts.carries[i] for i in keep)).emit()

    outputs = out[len(keep):]
    where: dict[int, Value] = {id(f): outputs[len(parts.step_outputs()) + j]
                               for j, f in enumerate(added.values())}
    for m, y in reversed(list(enumerate(parts.step_outputs()))):
        where[id(y)] = outputs[m]
    for p, s in zip(parts.sequence_params(), parts.sequences):
        where[id(p)] = s

    results: list[Value] = [None] * nc + list(outputs[:len(parts.step_outputs())])
    for k, i in enumerate(keep):
        results[i] = out[k]
    memo: dict[int, Value] = {}
    for i, term in terms.items():
        total = _summed(term, lambda f: where[id(f)], parts.axis, memo)
        init = parts.carries[i]
        results[i] = total if is_all(init, 0) else emit("add", init, total)
    count("sums_hoisted", len(terms))
    count("outputs_added", len(added))
    return tuple(results)


def hoist_sums(graph: Graph) -> Graph:
    return over_scans(graph, _hoist)


register_pass(Pass("hoist_sums", hoist_sums,
                   "turn a scan carry that sums per-step matmuls or reduce_sums into one "
                   "contraction over the stacked steps after the loop"))
