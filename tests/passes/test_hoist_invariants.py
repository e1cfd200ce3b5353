"""hoist_invariants: a scan body's work on its invariants alone runs once before the loop
(the backward loop's transpose of the recurrent kernel); what varies, draws random
numbers or is made of constants alone stays; numbers are unchanged, bit for bit."""
import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, DType, Graph, TensorType, Value, emit, verify
from fusegraph.passes import DEFAULT_PIPELINE, collecting, hoist_invariants, run_pipeline

from .test_hoist_sums import arrays, grad_scan, step_graph


def hoisted(graph):
    with collecting() as counters:
        out = hoist_invariants(graph)
    verify(out)
    return out, counters


def assert_same_numbers(out, graph, args=None):
    args = arrays(graph) if args is None else args
    for got, want in zip(reference(out)(*args), reference(graph)(*args)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind, kwargs", [("simple_rnn", {}), ("lstm", {}), ("gru", {}),
                                          ("gru", {"reset_after": False}),
                                          ("lstm", {"go_backwards": True})])
def test_the_backward_loop_transposes_its_recurrent_kernel_once(kind, kwargs):
    graph, args = step_graph(kind, **kwargs)
    out, report = run_pipeline(graph, DEFAULT_PIPELINE)
    counters = report.counters("hoist_invariants")
    n = 2 if kwargs.get("reset_after") is False else 1        # R_zr and R_n transposed
    assert counters == {"ops_hoisted": n, "invariants_added": n}
    body = grad_scan(out).region
    assert not any(op.kind == "transpose" and op.operands[0] in body.params for op in body.ops)
    assert [p.name for p in body.params[-n:]] == [f"hoisted{i}" for i in range(n)]
    want = reference(graph)(*args)
    without, _ = run_pipeline(graph, [p for p in DEFAULT_PIPELINE if p != "hoist_invariants"])
    for got, exact in zip(reference(out)(*args), reference(without)(*args)):
        np.testing.assert_array_equal(got, exact)
    assert len(want) == len(reference(out)(*args))


def loop(make_body, n_invariants=2):
    """A scan over xs: [B, 4, 3] carrying h: [B, 3], with invariants w: [3, 3] (and v: [3]);
    ``make_body(h, x, w, v)`` returns the body's results (new h, per-step outputs)."""
    h, x = Value(TensorType((B, 3)), name="h"), Value(TensorType((B, 3)), name="x")
    w, v = Value(TensorType((3, 3)), name="w"), Value(TensorType((3,)), name="v")
    invariants = [w, v][:n_invariants]
    body = Graph.from_results("cell", [h, x, *invariants], make_body(h, x, w, v))
    h0, xs = Value(TensorType((B, 3)), name="h0"), Value(TensorType((B, 4, 3)), name="xs")
    outer = [Value(p.type, name=p.name + "0") for p in invariants]
    results = emit("scan", h0, xs, *outer, region=body, num_carries=1, num_sequences=1,
                   num_invariants=n_invariants, axis=1)
    return Graph.from_results("g", [h0, xs, *outer], results if isinstance(results, tuple)
                              else [results])


def test_chains_on_invariants_move_out_with_the_constants_they_read():
    def body(h, x, w, v):
        two = emit("constant", value=2.0)
        scaled = emit("mul", emit("transpose", w, perm=(1, 0)), two)     # hoisted, 2 ops
        shift = emit("add", v, emit("exp", two))                          # hoisted; exp stays
        new = emit("tanh", emit("add", emit("matmul", h, scaled), emit("add", x, shift)))
        return [new, emit("mul", x, emit("exp", two))]
    graph = loop(body)
    out, counters = hoisted(graph)
    assert counters == {"ops_hoisted": 3, "invariants_added": 2}
    (scan,) = [op for op in out.ops if op.kind == "scan"]
    # w and v are read by nothing left in the body: dropped, the two hoisted values passed
    assert [p.name for p in scan.region.params] == ["h", "x", "hoisted0", "hoisted1"]
    assert sorted(op.kind for op in scan.region.ops) == ["add", "add", "constant", "exp",
                                                         "matmul", "mul", "tanh"]
    outside = [op.kind for op in out.ops if op.kind != "scan"]
    assert sorted(outside) == ["add", "constant", "exp", "mul", "transpose"]   # 2.0 copied once
    assert_same_numbers(out, graph)


def test_an_invariant_output_and_an_invariant_still_read_are_kept():
    def body(h, x, w, v):
        wt = emit("transpose", w, perm=(1, 0))
        return [emit("tanh", emit("add", emit("matmul", h, w), x)), wt]
    graph = loop(body, n_invariants=1)
    out, counters = hoisted(graph)
    assert counters == {"ops_hoisted": 1, "invariants_added": 1}
    (scan,) = [op for op in out.ops if op.kind == "scan"]
    assert [p.name for p in scan.region.params] == ["h", "x", "w", "hoisted0"]
    assert scan.region.results[1] is scan.region.params[3]
    assert_same_numbers(out, graph)


def test_varying_random_and_constant_only_work_stays():
    def body(h, x, w, v):
        key = emit("constant", value=7, dtype=DType.i64)
        noise = emit("random_uniform", key, shape=(3,), salt=1)       # random: stays
        ones = emit("exp", emit("constant", value=0.0))                 # constants: stay
        new = emit("tanh", emit("add", emit("matmul", h, w), emit("mul", x, ones)))
        return [new, emit("add", new, noise)]
    graph = loop(body, n_invariants=1)
    out, counters = hoisted(graph)
    assert counters == {} and out == graph


def test_an_inner_loop_s_invariant_work_moves_out_of_both_loops():
    inner = loop(lambda h, x, w, v: [emit("tanh", emit("add", emit(
        "matmul", h, emit("transpose", w, perm=(1, 0))), x))], n_invariants=1)
    (inner_scan,) = [op for op in inner.ops if op.kind == "scan"]
    c, z = Value(TensorType((B, 3)), name="c"), Value(TensorType((B, 3)), name="z")
    xs, w = Value(TensorType((B, 4, 3)), name="xs"), Value(TensorType((3, 3)), name="w")
    (h,) = emit("scan", c, xs, w, region=inner_scan.region, num_carries=1, num_sequences=1,
                num_invariants=1, axis=1),
    body = Graph.from_results("outer", [c, z, xs, w], [emit("add", h, z)])
    c0, zs = Value(TensorType((B, 3)), name="c0"), Value(TensorType((B, 2, 3)), name="zs")
    xs0, w0 = Value(xs.type, name="xs0"), Value(w.type, name="w0")
    (final,) = emit("scan", c0, zs, xs0, w0, region=body, num_carries=1, num_sequences=1,
                    num_invariants=2, axis=1),
    graph = Graph.from_results("g", [c0, zs, xs0, w0], [final])
    out, counters = hoisted(graph)
    assert counters == {"ops_hoisted": 2, "invariants_added": 2}     # once per level
    assert [op.kind for op in out.ops] == ["transpose", "scan"]
    assert out.ops[0].operands[0] is w0
    assert_same_numbers(out, graph)
