"""early_scans: every scan as early as its operands allow (what the scans need next),
the rest in program order; nothing else changes."""
import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, emit, verify
from fusegraph.passes import early_scans


def _body(name):
    h, x = Value(TensorType((B, 2)), name="h"), Value(TensorType((B, 2)), name="x")
    return Graph.from_results(name, [h, x], [emit("add", emit("mul", h, x), x)])


def _graph():
    """Scan A, its consumers, then scan B on a value of its own (``exp(h1)``): in
    program order B comes after A's consumers."""
    h0, h1 = (Value(TensorType((B, 2)), name=n) for n in ("h0", "h1"))
    xs = Value(TensorType((B, 3, 2)), name="xs")
    attrs = dict(num_carries=1, num_sequences=1, num_invariants=0, axis=1)
    a = emit("scan", h0, xs, region=_body("a"), **attrs)
    a = a[0] if isinstance(a, tuple) else a
    after_a = emit("tanh", emit("neg", a))
    start_b = emit("exp", h1)
    b = emit("scan", start_b, xs, region=_body("b"), **attrs)
    b = b[0] if isinstance(b, tuple) else b
    return Graph.from_results("g", [h0, xs, h1], [emit("add", after_a, b)])


def test_the_second_scan_and_what_it_needs_move_before_the_first_ones_consumers():
    g = _graph()
    assert [op.kind for op in g.ops] == ["scan", "neg", "tanh", "exp", "scan", "add"]
    moved = early_scans(g)
    verify(moved)
    assert [op.kind for op in moved.ops] == ["scan", "exp", "scan", "neg", "tanh", "add"]
    assert set(map(id, moved.ops)) == set(map(id, g.ops))       # the same ops, reordered
    rng = np.random.default_rng(0)
    args = [rng.random((4, 2), np.float32), rng.random((4, 3, 2), np.float32),
            rng.random((4, 2), np.float32)]
    np.testing.assert_array_equal(reference(g)(*args)[0], reference(moved)(*args)[0])


def test_a_graph_without_scans_or_already_in_order_is_returned_as_it_is():
    x = Value(TensorType((B, 2)), name="x")
    plain = Graph.from_results("plain", [x], [emit("exp", emit("neg", x))])
    assert early_scans(plain) is plain
    ordered = early_scans(_graph())
    assert early_scans(ordered) is ordered
