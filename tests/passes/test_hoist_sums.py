"""hoist_sums: a scan carry accumulating per-step matmuls or reduce_sums becomes sums over
the stacked steps after the loop. Recurrent training steps (SimpleRNN, LSTM, GRU, their
go_backwards / return_sequences forms) compute what they computed before, on the
reference and numba_cpu; gradients match central differences; and carries the contract
does not cover, or the memory rule refuses, stay in the loop."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.backends import optimizing_compiler
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, DType, Graph, Sym, TensorType, Value, emit, verify
from fusegraph.passes import (DEFAULT_PIPELINE, autodiff, collecting, hoist_sums,
                              pipeline_through, run_pipeline)

from helpers.backend_checks import assert_agree

L = fg.layers
LAYERS = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}
BEFORE = pipeline_through("scan_bodies", DEFAULT_PIPELINE)   # the pipeline up to this pass
F32 = DType.f32


def step_graph(kind, steps=5, **kwargs):
    """A traced training step of Input -> <kind>(4, **kwargs) -> Dense(1), mse, SGD, and its
    arguments for a batch of 3."""
    inputs = fg.Input(shape=(steps, 3))
    model = fg.Model(inputs, L.Dense(1)(LAYERS[kind](4, **kwargs)(inputs)))
    model.compile(optimizer=fg.optimizers.SGD(0.1), loss="mse", backend="reference")
    rng = np.random.default_rng(1)
    n_steps = 6 if steps is None else steps
    x = rng.standard_normal((3, n_steps, 3)).astype(np.float32)
    y_shape = (3, n_steps, 1) if kwargs.get("return_sequences") else (3, 1)
    y = rng.standard_normal(y_shape).astype(np.float32)
    model.train_on_batch(x, y)
    traced = model._train_function.last_trace.traced_graph
    return traced.graph, traced.arguments([x, y])


def hoisted(graph):
    """(graph through the pipeline before hoist_sums, after hoist_sums, its counters)."""
    base, _ = run_pipeline(graph, BEFORE)
    with collecting() as counters:
        out = hoist_sums(base)
    verify(out)
    return base, out, counters


def counted(sums, added=0):
    """The counters a run hoisting ``sums`` carries and adding ``added`` outputs reports."""
    return {k: v for k, v in (("sums_hoisted", sums), ("outputs_added", added)) if v}


def grad_scan(graph):
    (op,) = [op for op in graph.ops if op.kind == "scan" and op.region.name.endswith("_grad")]
    return op


# (layer, its arguments) -> (sums hoisted, outputs added)
CASES = [("simple_rnn", {}, 1, 0),
         ("lstm", {}, 1, 0),
         ("gru", {}, 2, 1),                # recurrent kernel and bias: dz_t before its pad
         ("gru", {"reset_after": False}, 2, 3),             # r·h, and R_zr's, R_n's dz_t
         ("lstm", {"go_backwards": True}, 1, 0),
         ("lstm", {"return_sequences": True}, 1, 0),
         ("simple_rnn", {"go_backwards": True, "return_sequences": True}, 1, 0),
         ("gru", {"go_backwards": True, "return_sequences": True}, 2, 1)]


@pytest.mark.parametrize("kind, kwargs, sums, added", CASES,
                         ids=[f"{c[0]}-{'-'.join(c[1]) or 'plain'}" for c in CASES])
def test_recurrent_training_steps_hoist_their_weight_sums_and_compute_the_same(
        kind, kwargs, sums, added):
    graph, args = step_graph(kind, **kwargs)
    base, out, counters = hoisted(graph)
    assert counters == counted(sums, added)
    states = 2 if kind == "lstm" else 1
    before, after = grad_scan(base), grad_scan(out)
    # the backward loop keeps only the state cotangents as carries
    assert before.attrs["num_carries"] == states + sums
    assert after.attrs["num_carries"] == states
    assert not any(op.kind == "matmul" and op.results[0].type.shape == (4, 4 * states)
                   for op in after.region.ops)
    assert_agree(reference(out)(*args), reference(graph)(*args), what=kind)


@pytest.mark.parametrize("kind, kwargs", [("lstm", {}), ("gru", {"reset_after": False})])
def test_numba_cpu_runs_the_hoisted_step_as_the_reference_runs_the_original(kind, kwargs):
    graph, args = step_graph(kind, **kwargs)
    exe = optimizing_compiler("numba_cpu")(graph)
    assert grad_scan(exe.graph).attrs["num_carries"] == (2 if kind == "lstm" else 1)
    want = reference(graph)(*args)
    assert_agree(exe(*args), want, what=kind)
    assert_agree(exe(*args), want, what=f"{kind}, the plan")    # a plan runs from call 2
    assert getattr(exe, "plan_errors", []) == []


def test_a_variable_length_loop_hoists_its_sums_too():
    """T is a symbol: the sums after the loop need no temporary that grows with it."""
    graph, args = step_graph("gru", steps=None)
    base, out, counters = hoisted(graph)
    assert counters == counted(2, 1)
    assert grad_scan(out).attrs["num_carries"] == 1
    (dot,) = [op for op in out.ops if op.kind == "tensordot" and op.operands[0] in
              grad_scan(out).operands]        # the saved h_{t-1} with dz_t, batch-major
    assert (dot.attrs["axes_a"], dot.attrs["axes_b"]) == ((0, 1), (0, 1))
    assert_agree(reference(out)(*args), reference(graph)(*args))


# --- hand-made loops ---------------------------------------------------------------------
T = 4


def accumulating_scan(term, acc_shape=(2, 3), axis=1, reverse=False, steps=T, init=None,
                      extra_output=None):
    """A scan over x: [B, 2] and y: [B, 3] steps (time axis ``axis``) with one invariant w
    [2, 3], carrying h: [B, 3] (h' = tanh(x @ w + h)) and acc (acc' = acc + term(x, y, h, w));
    its per-step output is h' (and ``extra_output(acc, acc')``). The graph returns the
    final h, acc and the stacked outputs."""
    acc = Value(TensorType(acc_shape), name="acc")
    h, x, y = (Value(TensorType((B, n)), name=name) for name, n in (("h", 3), ("x", 2), ("y", 3)))
    w = Value(TensorType((2, 3)), name="w")
    new_h = emit("tanh", emit("add", emit("matmul", x, w), h))
    new_acc = emit("add", acc, term(x, y, h, w))
    outputs = [new_h] + ([extra_output(acc, new_acc)] if extra_output else [])
    body = Graph.from_results("cell", [h, acc, x, y, w], [new_h, new_acc, *outputs])

    def seq(name, n):
        shape = [B, n]
        shape.insert(axis, steps)
        return Value(TensorType(tuple(shape)), name=name)

    h0, xs, ys = Value(TensorType((B, 3)), name="h0"), seq("xs", 2), seq("ys", 3)
    acc0 = init if init is not None else emit("broadcast_to", emit("constant", value=0.0),
                                              shape=acc_shape)
    results = emit("scan", h0, acc0, xs, ys, w, region=body, num_carries=2, num_sequences=2,
                   num_invariants=1, axis=axis, reverse=reverse)
    params = [h0, xs, ys, w] + ([init] if init is not None else [])
    return Graph.from_results("g", params, results)


def arrays(graph, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(3 if isinstance(d, Sym) else d for d in p.type.shape))
            .astype(dtype) for p in graph.params]


def check(graph, sums=1, added=0):
    """Hoist; the counters, no scan carries ``acc`` any more, the same numbers."""
    with collecting() as counters:
        out = hoist_sums(graph)
    verify(out)
    assert counters == counted(sums, added)
    (scan,) = [op for op in out.ops if op.kind == "scan"]
    assert scan.attrs["num_carries"] == 2 - sums
    args = arrays(graph)
    assert_agree(reference(out)(*args), reference(graph)(*args))
    return out


def xt_y(x, y, h, w):
    return emit("matmul", emit("transpose", x, perm=(1, 0)), y)


@pytest.mark.parametrize("axis, reverse, summed", [(0, False, (0, 1)), (1, False, (0, 1)),
                                                   (1, True, (0, 1)), (2, True, (0, 2))])
def test_a_matmul_sum_is_one_tensordot_of_the_stacked_sequences(axis, reverse, summed):
    out = check(accumulating_scan(xt_y, axis=axis, reverse=reverse))
    (dot,) = [op for op in out.ops if op.kind == "tensordot"]
    assert [v.name for v in dot.operands] == ["xs", "ys"]
    assert dot.attrs["axes_a"] == dot.attrs["axes_b"] == summed
    assert not any(op.kind in ("matmul", "transpose") for op in out.ops)


def test_factors_computed_in_the_body_become_outputs_and_joins_apply_after_the_loop():
    def term(x, y, h, w):     # (tanh x)ᵀ @ y + ((h)ᵀ @ x)ᵀ - pad(reduce_sum(y))
        a = emit("matmul", emit("transpose", emit("tanh", x), perm=(1, 0)), y)
        b = emit("transpose", emit("matmul", emit("transpose", h, perm=(1, 0)), x), perm=(1, 0))
        c = emit("pad", emit("reduce_sum", y, axes=(0,), keepdims=True), low=(1, 0),
                 high=(0, 0), interior=(0, 0))
        return emit("sub", emit("add", a, b), c)
    out = check(accumulating_scan(term), added=2)     # tanh(x) and h (a carry) stacked
    (scan,) = [op for op in out.ops if op.kind == "scan"]
    assert [r.type.shape for r in scan.results] == [(B, 3), (B, T, 3), (B, T, 2), (B, T, 3)]


@pytest.mark.parametrize("keepdims", [True, False])
def test_a_bias_sum_is_one_reduce_sum_over_the_batch_and_the_steps(keepdims):
    shape = (1, 3) if keepdims else (3,)
    out = check(accumulating_scan(
        lambda x, y, h, w: emit("reduce_sum", y, axes=(0,), keepdims=keepdims), acc_shape=shape))
    (total,) = [op for op in out.ops if op.kind == "reduce_sum"]
    assert total.attrs["axes"] == (0, 1) and out.results[1].type.shape == shape


def test_a_nonzero_initial_value_is_added_to_the_sum():
    init = Value(TensorType((2, 3)), name="init")
    out = check(accumulating_scan(xt_y, init=init))
    assert out.results[1].producer.kind == "add" and out.results[1].producer.operands[0] is init


def _not_hoisted(graph):
    with collecting() as counters:
        out = hoist_sums(graph)
    assert counters == {} and out == graph


def test_carries_outside_the_contract_stay_in_the_loop():
    _not_hoisted(accumulating_scan(xt_y, extra_output=lambda acc, new: acc))    # acc read
    _not_hoisted(accumulating_scan(xt_y, extra_output=lambda acc, new: new))    # acc' output
    _not_hoisted(accumulating_scan(lambda x, y, h, w: emit("mul", w, w)))       # no leaf
    _not_hoisted(accumulating_scan(                                              # invariant
        lambda x, y, h, w: emit("matmul", w, emit("transpose", w, perm=(1, 0))), acc_shape=(2, 2)))
    _not_hoisted(accumulating_scan(                                              # not a sum
        lambda x, y, h, w: emit("mul", emit("matmul", emit("transpose", x, perm=(1, 0)), y), w)))


def test_the_memory_rule_admits_new_outputs_no_larger_than_what_the_loop_stacks():
    # a factor larger per step than anything the loop stacks ([B, 5] against [B, 3])
    _not_hoisted(accumulating_scan(
        lambda x, y, h, w: emit("matmul", emit("transpose", emit("concatenate", x, y, axis=1),
                                               perm=(1, 0)), y), acc_shape=(5, 3)))
    # as large as the largest ([B, 3] like y), with a variable number of steps
    check(accumulating_scan(lambda x, y, h, w: emit("matmul", emit(
        "transpose", emit("tanh", y), perm=(1, 0)), y), acc_shape=(3, 3), steps=Sym("T")),
        added=1)


def test_a_loop_of_no_steps_sums_to_the_initial_value():
    init = Value(TensorType((2, 3)), name="init")
    graph = accumulating_scan(xt_y, steps=0, init=init)
    out = check(graph)
    args = arrays(graph)
    np.testing.assert_array_equal(reference(out)(*args)[1], args[-1])


def test_a_nested_loop_is_hoisted_inside_its_parent_body():
    """An outer loop over z whose body runs the accumulating loop on its carry."""
    inner = [op for op in accumulating_scan(xt_y).ops if op.kind == "scan"][0]
    c, z = Value(TensorType((B, 3)), name="c"), Value(TensorType((B, 3)), name="z")
    xs, ys, w = (Value(v.type, name=v.name) for v in inner.operands[2:])
    zero = emit("broadcast_to", emit("constant", value=0.0), shape=(2, 3))
    h, acc, _ = emit("scan", c, zero, xs, ys, w, region=inner.region, num_carries=2,
                     num_sequences=2, num_invariants=1, axis=1)
    new_c = emit("add", emit("add", h, z), emit("reduce_sum", acc, axes=(0,)))
    body = Graph.from_results("outer", [c, z, xs, ys, w], [new_c])
    c0, zs = Value(TensorType((B, 3)), name="c0"), Value(TensorType((B, 2, 3)), name="zs")
    outer = [Value(v.type, name=v.name) for v in (xs, ys, w)]
    (final,) = emit("scan", c0, zs, *outer, region=body, num_carries=1, num_sequences=1,
                    num_invariants=3, axis=1),
    graph = Graph.from_results("g", [c0, zs, *outer], [final])
    with collecting() as counters:
        out = hoist_sums(graph)
    verify(out)
    assert counters == counted(1)
    (inner_after,) = [op for op in out.ops[-1].region.ops if op.kind == "scan"]
    assert inner_after.attrs["num_carries"] == 1
    args = arrays(graph)
    assert_agree(reference(out)(*args), reference(graph)(*args))


# --- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("axis, reverse", [(1, False), (0, True)])
def test_hoisted_gradients_match_central_differences_in_float64(axis, reverse):
    """d(sum(ct · ys)) / d(h0, xs, w, b) of a loop h' = tanh(x @ w + h @ u + b), through the
    pipeline: the sums of w, u and b hoisted."""
    t = TensorType
    h, x = Value(t((B, 3), "f64"), name="h"), Value(t((B, 2), "f64"), name="x")
    w, u, b = (Value(t(s, "f64"), name=n) for n, s in (("w", (2, 3)), ("u", (3, 3)), ("b", (3,))))
    new = emit("tanh", emit("add", emit("add", emit("matmul", x, w), emit("matmul", h, u)), b))
    body = Graph.from_results("cell", [h, x, w, u, b], [new, new])
    h0 = Value(t((B, 3), "f64"), name="h0")
    xs = Value(t((B, T, 2) if axis == 1 else (T, B, 2), "f64"), name="xs")
    ct = Value(t((B, T, 3) if axis == 1 else (T, B, 3), "f64"), name="ct")
    ws = [Value(v.type, name=v.name) for v in (w, u, b)]
    _, ys = emit("scan", h0, xs, *ws, region=body, num_carries=1, num_sequences=1,
                 num_invariants=3, axis=axis, reverse=reverse)
    loss = emit("reduce_sum", emit("mul", ys, ct), axes=(0, 1, 2))
    forward = Graph.from_results("f", [h0, xs, ct, *ws], [loss])
    graph = autodiff.grad_graph(forward, wrt=["h0", "xs", "w", "u", "b"])
    out, report = run_pipeline(graph, DEFAULT_PIPELINE)
    assert report.counters("hoist_sums")["sums_hoisted"] == 3
    args = arrays(graph, np.float64, seed=3)
    got = reference(out)(*args)[1:]
    assert_agree(got, reference(graph)(*args)[1:])
    run_forward = reference(forward)
    for k, i in enumerate((0, 1, 3, 4, 5)):
        want = np.zeros_like(args[i])
        for j in np.ndindex(args[i].shape):
            for step in (1e-6, -1e-6):
                moved = [a.copy() for a in args]
                moved[i][j] += step
                want[j] += run_forward(*moved)[0] / (2 * step)
        np.testing.assert_allclose(got[k], want, rtol=1e-6, atol=1e-8, err_msg=f"param {i}")
