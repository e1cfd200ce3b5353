"""merge_scans: autodiff's saving scan stands for the forward scan, so a training step
runs a recurrent layer's forward loop once; scans that are not exactly that stay."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import (BATCH as B, Graph, TensorType, Value, emit, parse_graph, print_graph,
                          verify)
from fusegraph.passes import DEFAULT_PIPELINE, merge_scans, pipeline_through, run_pipeline


def lstm_step_graph():
    inputs = fg.Input(shape=(6, 3))
    model = fg.Model(inputs, fg.layers.Dense(1)(fg.layers.LSTM(5)(inputs)))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 6, 3), np.float32), rng.random((4, 1), np.float32)
    model.train_on_batch(x, y)
    traced = model._train_function.last_trace.traced_graph
    return traced.graph, traced.arguments([x, y])


def scans(graph):
    return [op.region.name for op in graph.ops if op.kind == "scan"]


def test_an_lstm_training_step_runs_one_forward_loop_with_the_same_numbers():
    graph, args = lstm_step_graph()
    assert scans(graph) == ["lstm_cell", "lstm_cell_saving", "lstm_cell_grad"]
    # through scan_bodies: the hoisting passes after it sum in another order
    optimized, _ = run_pipeline(graph, pipeline_through("scan_bodies", DEFAULT_PIPELINE))
    assert scans(optimized) == ["lstm_cell_saving", "lstm_cell_grad"]
    for a, b in zip(reference(graph)(*args), reference(optimized)(*args)):
        np.testing.assert_array_equal(a, b)


def test_the_match_is_by_structure_not_by_shared_objects():
    graph, args = lstm_step_graph()
    parsed = parse_graph(print_graph(graph))     # regions no longer share their ops
    merged = merge_scans(parsed)
    verify(merged)
    assert scans(merged) == ["lstm_cell_saving", "lstm_cell_grad"]
    for a, b in zip(reference(graph)(*args), reference(merged)(*args)):
        np.testing.assert_array_equal(a, b)


def _body(kind, extra=()):
    """A one-carry body ``h' = kind(h, x)``, returning ``extra(h, x)`` values after h'."""
    h, x = Value(TensorType((B, 2)), name="h"), Value(TensorType((B, 2)), name="x")
    new = emit(kind, h, x)
    return Graph.from_results(f"body_{kind}", [h, x], [new, *(f(h, x) for f in extra)])


def _two_scans(first, second, second_carry=False, **second_attrs):
    """Two scans over ``xs``: ``first`` from ``h0``, ``second`` from ``h0`` (or from
    another parameter ``h1`` with ``second_carry``); the graph adds their final carries."""
    h0, h1 = (Value(TensorType((B, 2)), name=n) for n in ("h0", "h1"))
    xs = Value(TensorType((B, 3, 2)), name="xs")
    attrs = dict(num_carries=1, num_sequences=1, num_invariants=0, axis=1)
    a = emit("scan", h0, xs, region=first, **attrs)
    b = emit("scan", h1 if second_carry else h0, xs, region=second, **{**attrs, **second_attrs})
    a, b = (v[0] if isinstance(v, tuple) else v for v in (a, b))
    return Graph.from_results("g", [h0, xs, h1], [emit("add", a, b)])


@pytest.mark.parametrize("case", ["other body", "reverse", "other operands"])
def test_scans_that_are_not_a_prefix_of_one_another_stay(case):
    saving = _body("add", extra=[lambda h, x: h])
    if case == "other body":     # h' = h - x: the leading result differs
        g = _two_scans(_body("add"), _body("sub", extra=[lambda h, x: h]))
    elif case == "reverse":
        g = _two_scans(_body("add"), saving, reverse=True)
    else:
        g = _two_scans(_body("add"), saving, second_carry=True)
    assert len(scans(merge_scans(g))) == 2


def test_a_saving_scan_stands_for_the_forward_one_in_a_small_graph():
    g = _two_scans(_body("add"), _body("add", extra=[lambda h, x: h]))
    out = merge_scans(g)
    verify(out)
    assert scans(out) == ["body_add"] and len(out.ops[0].region.results) == 2
    rng = np.random.default_rng(1)
    arrays = [rng.random((4, 2), np.float32), rng.random((4, 3, 2), np.float32),
              rng.random((4, 2), np.float32)]
    np.testing.assert_array_equal(reference(g)(*arrays)[0], reference(out)(*arrays)[0])
