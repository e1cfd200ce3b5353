"""``fused``: an op whose meaning is the small graph (region) it carries.

The fusion pass replaces a group of ops by one ``fused`` op; backends compile its
region into one kernel. The region is isolated from above: it sees only its own
parameters, which receive the op's operands in order. Its reference semantics are
"run the region", so ``ref`` takes the region and a graph runner from the backend
(``ir`` knows no backend).
"""
from __future__ import annotations

from ..errors import ShapeError, UnsupportedError
from ..opdef import HAS_REGION, OpDef, register
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


register(OpDef("fused", _fused_infer, _fused_ref, None, traits=frozenset({HAS_REGION}),
               doc="run the carried region on the operands (a fused kernel)", vjp=_fused_vjp))
