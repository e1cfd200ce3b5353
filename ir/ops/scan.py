"""``scan``: a loop over a sequence axis with a carried state; its body is a region.

Recurrent layers (SimpleRNN, LSTM, GRU) trace to one ``scan``; it is never unrolled, so
the graph's size does not grow with the sequence length (which may be a symbol).

The contract::

    %c..., %Y... = scan %c0..., %xs..., %w... {num_carries=C, num_sequences=S,
                                               num_invariants=I, axis=A, reverse=R} {
      graph @body(%c..., %x_t..., %w...) -> (new carries..., y_t...) { ... }
    }

* Operands, in three groups: ``C`` initial carries, then ``S >= 1`` sequences, then
  ``I`` loop invariants (weights). ``num_*`` give the group sizes; they sum to the
  operand count.
* ``axis`` is the time axis of every sequence and of every stacked output (the same
  for all). Keras tensors are batch-major ``(B, T, ...)``, so recurrent layers use
  ``axis=1`` and no transposes; the default ``0`` is time-major. Every sequence has the
  same size ``T`` along it (an int, or one symbol such as a variable length).
* The body (region) takes the carries (their operand types), one step of each
  sequence (its type without the time axis) and the invariants (their types), and
  returns the new carries (each exactly its carry's type) followed by any number of
  per-step outputs ``y_t``.
* Results: the final carries, then each ``y`` stacked along ``axis`` (``T`` inserted
  there; a ``y_t`` needs rank >= ``axis``).
* ``reverse=false`` runs ``t = 0, 1, ..., T-1``; ``reverse=true`` runs
  ``t = T-1, ..., 0``. Either way ``y`` of the step that reads ``x[t]`` is stored at
  index ``t`` (JAX's ``lax.scan`` convention), so a reverse scan's outputs line up with
  its inputs. (Keras's ``go_backwards`` returns its sequence in processing order: the
  layer reverses the stacked outputs.)
* ``T = 0`` returns the initial carries and empty stacks.

The reference (``ref``) loops over ``t`` and runs the body with the backend's
``run_graph``, as ``fused`` does.

**Gradient** (``_scan_vjp``). The VJP of a scan is a scan running the other way whose
body is the body's VJP (built by the driver's ``differentiate`` callback, see
:mod:`..opdef`):

* carries of the backward loop: the cotangent of each float carry (starting from the
  cotangent of the final carry) and one accumulator per float invariant (starting at
  zero; a weight's gradient is the sum over steps);
* its sequences: the carry entering each step, each sequence, and the cotangent of each
  float ``y`` (left out, and zero in the body, when it is a broadcast zero);
* its per-step outputs: the gradient of each float sequence's step.

The carries entering each step are saved by a second forward scan whose body is the
original body plus one more output per carry, the carry it received (padded with
trailing 1-axes when its rank is below ``axis``, so it stacks there). The backward body
then recomputes the body's forward from ``(carry_t, x_t, w)`` before its VJP.

Trade-off, simplest correct first: memory is the stacked carries only (``T`` times the
state size, e.g. ``2·B·T·u`` for an LSTM), not every intermediate of every step (an
LSTM's four gates and activations: several times more); the price is compute: the body
runs once more per step in the backward loop. The saving scan would also repeat the
forward loop, its results being a superset of the original scan's; the
``merge_scans`` pass (:mod:`fusegraph.passes.merge_scans`, in the default pipeline)
makes the original scan's users read the saving scan's leading results (same operands
and attributes, a region whose leading results are computed as the original region's),
so a recurrent layer's forward loop runs once in a training step.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit, emit_op
from ..clone import inline
from ..core import Graph, Value
from ..errors import ShapeError
from ..opdef import HAS_REGION, Attr, OpDef, register
from ..types import TensorType
from ._rules import fmt
from .vjp_utils import is_all, zeros


def _groups(seq, attrs):
    nc, ns = attrs["num_carries"], attrs["num_sequences"]
    return seq[:nc], seq[nc:nc + ns], seq[nc + ns:]


def _drop_axis(t: TensorType, axis: int) -> TensorType:
    return t.with_shape(t.shape[:axis] + t.shape[axis + 1:])


def _insert_axis(t: TensorType, axis: int, size) -> TensorType:
    return t.with_shape(t.shape[:axis] + (size,) + t.shape[axis:])


def _check_counts(n: int, attrs) -> None:
    nc, ns, ni = attrs["num_carries"], attrs["num_sequences"], attrs["num_invariants"]
    if min(nc, ni) < 0 or ns < 1:
        raise ShapeError(f"scan needs num_carries >= 0, num_sequences >= 1 (the sequences' "
                         f"time axis sets the step count) and num_invariants >= 0, got "
                         f"{nc}, {ns}, {ni}")
    if nc + ns + ni != n:
        raise ShapeError(f"scan has {n} operands but num_carries + num_sequences + "
                         f"num_invariants = {nc} + {ns} + {ni} = {nc + ns + ni}")
    if attrs["axis"] < 0:
        raise ShapeError(f"scan axis must be >= 0, got {attrs['axis']}")


def _scan_region_params(types, attrs):
    """The body's parameter types for these operand types (a sequence loses its time axis)."""
    _check_counts(len(types), attrs)
    carries, seqs, invs = _groups(tuple(types), attrs)
    axis = attrs["axis"]
    for i, s in enumerate(seqs):
        if s.rank <= axis:
            raise ShapeError(f"sequence {i} ({s}) has no time axis {axis}: a sequence needs "
                             f"rank > axis")
    return tuple(carries) + tuple(_drop_axis(s, axis) for s in seqs) + tuple(invs)


def _scan_infer(types, attrs, region):
    expected = _scan_region_params(types, attrs)
    carries, seqs, _ = _groups(tuple(types), attrs)
    axis = attrs["axis"]
    steps = seqs[0].shape[axis]
    for i, s in enumerate(seqs[1:], 1):
        if s.shape[axis] != steps:
            raise ShapeError(f"every sequence needs the same length along axis {axis}: "
                             f"sequence 0 ({seqs[0]}) has {steps}, sequence {i} ({s}) has "
                             f"{s.shape[axis]}")
    got = tuple(p.type for p in region.params)
    if got != expected:
        raise ShapeError(f"region @{region.name} takes ({fmt(got)}), but these operands need "
                         f"({fmt(expected)}): the carries, one step of each sequence (axis "
                         f"{axis} dropped), the invariants")
    results = tuple(r.type for r in region.results)
    nc = len(carries)
    if len(results) < nc or results[:nc] != tuple(carries):
        raise ShapeError(f"region @{region.name} returns ({fmt(results)}), but its first "
                         f"{nc} results must be the new carries, typed as the carries "
                         f"({fmt(carries)})")
    for i, y in enumerate(results[nc:]):
        if y.rank < axis:
            raise ShapeError(f"per-step output {i} ({y}) cannot be stacked along axis {axis}: "
                             f"it needs rank >= {axis}")
    return tuple(carries) + tuple(_insert_axis(y, axis, steps) for y in results[nc:])


def _scan_ref(xs, attrs, region, run_graph):
    carries, seqs, invs = _groups(list(xs), attrs)
    nc, axis = len(carries), attrs["axis"]
    steps = seqs[0].shape[axis]
    lead = (slice(None),) * axis
    order = range(steps - 1, -1, -1) if attrs["reverse"] else range(steps)
    ys: list = [None] * steps
    for t in order:
        out = run_graph(region, [*carries, *(s[lead + (t,)] for s in seqs), *invs])
        carries, ys[t] = list(out[:nc]), out[nc:]
    if steps == 0:
        # Learn the per-step outputs' shapes and dtypes from one run on zeros.
        probe = [np.zeros(s.shape[:axis] + s.shape[axis + 1:], s.dtype) for s in seqs]
        with np.errstate(all="ignore"):
            shapes = [np.asarray(y) for y in run_graph(region, [*carries, *probe, *invs])[nc:]]
        stacked = [np.empty(y.shape[:axis] + (0,) + y.shape[axis:], y.dtype) for y in shapes]
    else:
        stacked = [np.stack([np.asarray(ys[t][k]) for t in range(steps)], axis=axis)
                   for k in range(len(region.results) - nc)]
    # Fresh arrays: a final carry never aliases an operand (a backend may reuse those).
    return tuple(np.array(c, copy=True) for c in carries) + tuple(stacked)


def _scan_vjp(op, cts, differentiate):
    attrs, region = dict(op.attrs), op.region
    axis = attrs["axis"]
    carries, seqs, invs = _groups(op.operands, attrs)
    nc, ns, ni = len(carries), len(seqs), len(invs)
    ny = len(region.results) - nc
    ct_carries, ct_ys = cts[:nc], cts[nc:]
    fc = [i for i in range(nc) if carries[i].type.dtype.is_float]
    fs = [k for k in range(ns) if seqs[k].type.dtype.is_float]
    fi = [j for j in range(ni) if invs[j].type.dtype.is_float]
    fy = [m for m in range(ny) if region.results[nc + m].type.dtype.is_float]
    if not (fc or fs or fi):
        return (None,) * len(op.operands)

    # The carry entering each step, stacked along the time axis by a saving scan.
    pads = [max(0, axis - c.type.rank) for c in carries]
    saved = []
    if nc:
        extra = [p if pad == 0 else emit("reshape", p, shape=p.type.shape + (1,) * pad)
                 for p, pad in zip(region.params[:nc], pads)]
        saving_region = Graph.from_results(f"{region.name}_saving", region.params,
                                           list(region.results) + extra)
        saving = emit_op("scan", op.operands, attrs, saving_region)
        saved = list(saving.results[nc + ny:])

    # The backward body: (carry cotangents, invariant accumulators | carry_t, x_t, ct_y_t | w).
    vjp = differentiate(region, [*fc, *(nc + k for k in fs), *(nc + ns + j for j in fi)])
    live_y = [m for m in fy if not is_all(ct_ys[m], 0)]
    g_carry = [Value(carries[i].type, name=f"ct_carry{i}") for i in fc]
    g_acc = [Value(invs[j].type, name=f"grad_invariant{j}") for j in fi]
    step_carry = [Value(TensorType(c.type.shape + (1,) * pad, c.type.dtype), name=f"carry{i}")
                  for i, (c, pad) in enumerate(zip(carries, pads))]
    step_x = [Value(p.type, name=f"x{k}") for k, p in enumerate(region.params[nc:nc + ns])]
    step_ct_y = [Value(region.results[nc + m].type, name=f"ct_y{m}") for m in live_y]
    weights = [Value(p.type, name=f"invariant{j}") for j, p in enumerate(region.params[nc + ns:])]
    body_params = [*g_carry, *g_acc, *step_carry, *step_x, *step_ct_y, *weights]

    carry_values = [p if pad == 0 else emit("reshape", p, shape=c.type.shape)
                    for p, c, pad in zip(step_carry, carries, pads)]
    ct_y_of = dict(zip(live_y, step_ct_y))
    ct_values = [*g_carry, *(ct_y_of.get(m) or zeros(region.results[nc + m].type) for m in fy)]
    replacements = dict(zip(vjp.params, [*carry_values, *step_x, *weights, *ct_values]))
    grads = inline(vjp, replacements)
    d_carry, d_x, d_w = grads[:len(fc)], grads[len(fc):len(fc) + len(fs)], grads[len(fc) + len(fs):]
    new_acc = [emit("add", acc, d) for acc, d in zip(g_acc, d_w)]
    body = Graph.from_results(f"{region.name}_grad", body_params, [*d_carry, *new_acc, *d_x])

    init = [ct_carries[i] for i in fc] + [zeros(invs[j].type) for j in fi]
    operands = [*init, *saved, *seqs, *(ct_ys[m] for m in live_y), *invs]
    backward = emit_op("scan", operands,
                       {"num_carries": len(init), "num_sequences": nc + ns + len(live_y),
                        "num_invariants": ni, "axis": axis, "reverse": not attrs["reverse"]},
                       body)
    out = list(backward.results)
    grad_carry, grad_inv, grad_seq = out[:len(fc)], out[len(fc):len(init)], out[len(init):]
    grads_out: list = [None] * len(op.operands)
    for i, g in zip(fc, grad_carry):
        grads_out[i] = g
    for k, g in zip(fs, grad_seq):
        grads_out[nc + k] = g
    for j, g in zip(fi, grad_inv):
        grads_out[nc + ns + j] = g
    return tuple(grads_out)


register(OpDef("scan", _scan_infer, _scan_ref, None,
               attrs={"num_carries": Attr("int"), "num_sequences": Attr("int"),
                      "num_invariants": Attr("int"), "axis": Attr("int", 0),
                      "reverse": Attr("bool", False)},
               traits=frozenset({HAS_REGION}),
               doc="loop the carried region over the sequences' time axis (carries, "
                   "sequences, invariants -> final carries, stacked per-step outputs)",
               vjp=_scan_vjp, region_params=_scan_region_params))
