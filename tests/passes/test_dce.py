"""Dead-code elimination: results and ops with effects are the roots of liveness (STYLE
§7 item 8). No registered op has effects yet, so these tests register one of their own,
``test_record``, for the length of a test."""
import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import Graph, TensorType, Value, emit, verify
from fusegraph.ir import opdef as opdefs
from fusegraph.ir.opdef import NO_GRADIENT, SIDE_EFFECTS, OpDef
from fusegraph.passes import FUSION_PIPELINE, collecting, cse, dce, fuse, run_pipeline, simplify

RECORDED: list = []


@pytest.fixture(autouse=True)
def record_op():
    """``test_record x -> x``: appends a copy of x to RECORDED when it runs."""
    def ref(xs, attrs):
        RECORDED.append(np.array(xs[0]))
        return np.array(xs[0])

    opdefs.register(OpDef("test_record", lambda types, attrs: types[0], ref, 1,
                          traits=frozenset({SIDE_EFFECTS}), vjp=NO_GRADIENT,
                          doc="test only: records its operand"))
    RECORDED.clear()
    yield
    opdefs._REGISTRY.pop("test_record")
    RECORDED.clear()


class Program:
    """Emits ops and keeps every one, so a graph can hold ops no result needs."""

    def __init__(self):
        self.ops = []

    def __call__(self, kind, *operands, **attrs):
        v = emit(kind, *operands, **attrs)
        self.ops.append((v[0] if isinstance(v, tuple) else v).producer)
        return v

    def graph(self, name, params, results):
        return Graph(name, params, self.ops, results)


def test_dce_keeps_an_op_with_effects_and_what_it_reads():
    e = Program()
    x = Value(TensorType((3,)), name="x")
    e("exp", x)                           # nothing needs it: dropped
    e("test_record", e("tanh", x))        # nothing uses it either, but it has effects
    g = e.graph("g", [x], [e("neg", x)])
    with collecting() as counters:
        out = dce(g)
    verify(out)
    assert [op.kind for op in out.ops] == ["tanh", "test_record", "neg"]
    assert counters == {"ops_removed": 1}
    a = np.array([0.5, -1.0, 2.0], np.float32)
    np.testing.assert_array_equal(reference(out)(a)[0], -a)
    assert len(RECORDED) == 1
    np.testing.assert_array_equal(RECORDED[0], np.tanh(a))


def test_no_pass_of_the_pipeline_drops_merges_folds_or_fuses_an_op_with_effects():
    e = Program()
    x = Value(TensorType((3,)), name="x")
    two = e("constant", value=2.0, dtype=x.type.dtype)
    e("test_record", e("exp", e("mul", x, two)))
    e("test_record", e("exp", e("mul", x, two)))   # equal to the first: both stay
    e("test_record", two)                          # of a constant: not folded
    g = e.graph("g", [x], [e("tanh", e("exp", x))])
    for run in (simplify, cse, dce, fuse):
        assert [op.kind for op in run(g).ops].count("test_record") == 3, run.__name__
    out, _ = run_pipeline(g, FUSION_PIPELINE)
    assert [op.kind for op in out.ops].count("test_record") == 3
    assert not any(op.kind == "test_record" for f in out.ops if f.kind == "fused"
                   for op in f.region.ops)
    a = np.array([0.0, 1.0, -1.0], np.float32)
    np.testing.assert_allclose(reference(out)(a)[0], np.tanh(np.exp(a)))
    assert len(RECORDED) == 3
    np.testing.assert_allclose(RECORDED[0], np.exp(2 * a))
    np.testing.assert_allclose(RECORDED[1], np.exp(2 * a))
    assert RECORDED[2] == 2.0


def test_a_region_op_holding_an_op_with_effects_has_effects():
    from fusegraph.passes.dce import has_effects

    body = Program()
    h, x = Value(TensorType((2,)), name="h"), Value(TensorType((2,)), name="x")
    new = body("add", h, x)
    body("test_record", new)
    e = Program()
    h0, xs = Value(TensorType((2,)), name="h0"), Value(TensorType((4, 2)), name="xs")
    final = e("scan", h0, xs, region=body.graph("body", [h, x], [new]), num_carries=1,
              num_sequences=1, num_invariants=0)
    g = e.graph("g", [h0, xs], [e("neg", xs)])      # the scan's result is not used
    assert has_effects(final.producer) and not has_effects(g.ops[-1])
    out = dce(g)
    assert [op.kind for op in out.ops] == ["scan", "neg"]
    reference(out)(np.zeros(2, np.float32), np.ones((4, 2), np.float32))
    assert len(RECORDED) == 4      # one record per step
