"""Passes over scan bodies (passes/regions.py): simplify/cse/dce and fusion inside each
body, the scan's signature kept, nested scans reached, numerics unchanged."""
import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, emit, print_graph, verify
from fusegraph.passes import (DEFAULT_PIPELINE, FUSION_PIPELINE, map_scan_regions,
                              run_on_scan_regions, run_pipeline)
from fusegraph.passes.regions import scan_body_op_counts, scan_kernel_counts

from .test_merge_scans import lstm_step_graph

ATTRS = dict(num_carries=1, num_sequences=1, num_invariants=0, axis=1)


def _scan_graph(body):
    h0 = Value(TensorType((B, 2)), name="h0")
    xs = Value(TensorType((B, 3, 2)), name="xs")
    final, ys = emit("scan", h0, xs, region=body, **ATTRS)
    return Graph.from_results("g", [h0, xs], [final, ys])


def _redundant_body():
    """h' = tanh(h) + tanh(h) + x, with the tanh duplicated and a dead op."""
    h, x = Value(TensorType((B, 2)), name="h"), Value(TensorType((B, 2)), name="x")
    a, b = emit("tanh", h), emit("tanh", h)
    emit("exp", x)                                   # dead
    new = emit("add", emit("add", a, b), x)
    return Graph.from_results("body", [h, x], [new, new])


def _args(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 2)).astype(np.float32),
            rng.standard_normal((4, 3, 2)).astype(np.float32)]


def test_scan_bodies_runs_cse_and_dce_inside_the_body_golden():
    g = _scan_graph(_redundant_body())
    out, _ = run_pipeline(g, ["scan_bodies"])
    verify(out)
    body = out.ops[0].region
    text = "\n".join(line.split("#")[0].rstrip() for line in print_graph(body).splitlines())
    assert text == (
        "graph @body(%h: f32[B,2], %x: f32[B,2]) -> (f32[B,2], f32[B,2]) {\n"
        "  %0: f32[B,2] = tanh %h\n"
        "  %1: f32[B,2] = add %0, %0\n"
        "  %2: f32[B,2] = add %1, %x\n"
        "  return %2, %2\n"
        "}")
    assert [op.kind for op in body.ops] == ["tanh", "add", "add"]
    assert scan_body_op_counts(g) == [4] and scan_body_op_counts(out) == [3]
    for a, b in zip(reference(g)(*_args()), reference(out)(*_args())):
        np.testing.assert_array_equal(a, b)


def test_the_default_pipeline_optimizes_bodies_and_keeps_signatures():
    assert "scan_bodies" in DEFAULT_PIPELINE and "scan_bodies" in FUSION_PIPELINE
    g = _scan_graph(_redundant_body())
    out, _ = run_pipeline(g, DEFAULT_PIPELINE)
    before, after = g.ops[0].region, out.ops[0].region
    assert [p.type for p in after.params] == [p.type for p in before.params]
    assert [r.type for r in after.results] == [r.type for r in before.results]
    assert len(after.ops) < len(before.ops)


def test_scan_fusion_forms_kernels_in_an_lstm_step_with_the_same_numbers():
    graph, args = lstm_step_graph()
    plain, _ = run_pipeline(graph, FUSION_PIPELINE)
    assert scan_kernel_counts(plain) == [0, 0]
    fused, _ = run_pipeline(graph, FUSION_PIPELINE + ["scan_fusion"])
    # the saving loop: its gate math in one kernel; the backward loop: the gates'
    # recomputation and their VJP in one, the sum of the padded gate gradients in another
    assert scan_kernel_counts(fused) == [1, 2]
    assert scan_body_op_counts(fused) < scan_body_op_counts(plain)
    for a, b in zip(reference(plain)(*args), reference(fused)(*args)):
        np.testing.assert_array_equal(a, b)


def test_nested_scans_are_reached():
    # an outer scan whose body runs an inner scan over its step (B, 3, 2)
    h = Value(TensorType((B, 2)), name="h")
    x = Value(TensorType((B, 3, 2)), name="x")
    final, _ = emit("scan", h, x, region=_redundant_body(), **ATTRS)
    outer_body = Graph.from_results("outer", [h, x], [final])
    h0 = Value(TensorType((B, 2)), name="h0")
    xss = Value(TensorType((B, 5, 3, 2)), name="xss")
    last = emit("scan", h0, xss, region=outer_body, **ATTRS)
    g = Graph.from_results("g", [h0, xss], [last])
    out, _ = run_pipeline(g, ["scan_bodies"])
    verify(out)
    inner_after = out.ops[0].region.ops[0].region
    assert len(inner_after.ops) == 3


def test_a_transform_that_changes_the_signature_is_refused():
    g = _scan_graph(_redundant_body())

    def drop_a_result(body):
        return Graph.from_results(body.name, body.params, body.results[:1])

    with pytest.raises(ValueError, match="changed its signature"):
        map_scan_regions(g, drop_a_result)


def test_graphs_without_scans_are_returned_as_they_are():
    x = Value(TensorType((B, 2)), name="x")
    g = Graph.from_results("g", [x], [emit("tanh", x)])
    assert run_on_scan_regions(g, ["cse"]) is g
