"""expand: composite ops (softmax) written as the primitives their ``ref`` computes, in
scan bodies too, bit for bit; autodiff before it uses the composite's own VJP, which
reads the softmax's result, not the exponentials."""
import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, Graph, TensorType, Value, emit, verify
from fusegraph.passes import DEFAULT_PIPELINE, collecting, expand, run_pipeline
from fusegraph.passes.autodiff import grad_graph


def softmax_graph(axes=(1,)):
    x = Value(TensorType((B, 3, 5)), name="x")
    return Graph.from_results("g", [x], [emit("softmax", x, axes=axes)])


def x_of(seed=0):
    x = np.random.default_rng(seed).standard_normal((4, 3, 5)).astype(np.float32) * 3
    x[0, 0, 0] = np.nan
    x[1, :, 2] = -np.inf
    return x


def test_softmax_becomes_its_stable_form_bit_for_bit():
    for axes in ((1,), (2,), (1, 2)):
        graph = softmax_graph(axes)
        with collecting() as counters:
            out = expand(graph)
        verify(out)
        assert counters == {"ops_expanded": 1}
        assert [op.kind for op in out.ops] == ["reduce_max", "sub", "exp", "reduce_sum", "div"]
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(reference(out)(x_of())[0], reference(graph)(x_of())[0])


def test_a_softmax_in_a_scan_body_is_expanded():
    h, x = Value(TensorType((B, 3)), name="h"), Value(TensorType((B, 3)), name="x")
    body = Graph.from_results("cell", [h, x], [emit("softmax", emit("add", h, x), axes=(1,))] * 2)
    h0, xs = Value(TensorType((B, 3)), name="h0"), Value(TensorType((B, 4, 3)), name="xs")
    results = emit("scan", h0, xs, region=body, num_carries=1, num_sequences=1,
                   num_invariants=0, axis=1)
    graph = Graph.from_results("g", [h0, xs], list(results))
    out = expand(graph)
    (scan,) = [op for op in out.ops if op.kind == "scan"]
    assert "softmax" not in [op.kind for op in scan.region.ops]
    rng = np.random.default_rng(2)
    args = [rng.standard_normal((2, 3)).astype(np.float32),
            rng.standard_normal((2, 4, 3)).astype(np.float32)]
    for got, want in zip(reference(out)(*args), reference(graph)(*args)):
        np.testing.assert_array_equal(got, want)


def test_the_gradient_reads_the_result_not_the_exponentials():
    out, _ = run_pipeline(grad_graph(softmax_graph((2,))), DEFAULT_PIPELINE)
    (exp,) = [op for op in out.ops if op.kind == "exp"]
    readers = [op.kind for op in out.ops if any(v is exp.results[0] for v in op.operands)]
    assert sorted(readers) == ["div", "reduce_sum"]       # the forward's sum and quotient
