"""The reference backend: graphs built with ``emit`` run and equal numpy; symbols bind
from the inputs; bad inputs and broken graphs raise errors that say what and where."""
import numpy as np
import pytest

from fusegraph.backends import get_backend
from fusegraph.backends.reference import ExecutionError, Executable, InputError, compile
from fusegraph.backends.reference.interpreter import free_schedule
from fusegraph.ir import BATCH as B, DType, Graph, Op, Sym, TensorType, Value, emit, layer_scope

rng = np.random.default_rng(0)


def param(name, *shape, dtype=DType.f32):
    return Value(TensorType(shape, dtype), name=name)


def normal(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def test_get_backend():
    assert get_backend("reference") is compile
    with pytest.raises(ValueError, match="unknown backend 'tpu': expected one of reference"):
        get_backend("tpu")


def test_dense_softmax_equals_numpy():
    x, w, b = param("x", B, 3), param("w", 3, 4), param("b", 4)
    h = emit("maximum", emit("add", emit("matmul", x, w), b), emit("constant", value=0.0))
    shifted = emit("sub", h, emit("reduce_max", h, axes=(1,), keepdims=True))
    e = emit("exp", shifted)
    probs = emit("div", e, emit("reduce_sum", e, axes=(1,), keepdims=True))
    exe = compile(Graph.from_results("mlp", [x, w, b], [probs, h]))
    assert isinstance(exe, Executable) and exe.graph.name == "mlp"

    xa, wa, ba = normal(5, 3), normal(3, 4), normal(4)
    got_probs, got_h = exe(xa, wa, ba)
    want_h = np.maximum(xa @ wa + ba, 0)
    want = np.exp(want_h - want_h.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    np.testing.assert_allclose(got_h, want_h, rtol=1e-6)
    np.testing.assert_allclose(got_probs, want, rtol=1e-6)
    assert got_probs.dtype == np.float32


def test_integer_paths_and_results_that_are_params():
    labels = param("labels", B, dtype=DType.i32)
    logits = param("logits", B, 4)
    hits = emit("eq", emit("argmax", logits, axis=1), labels)
    accuracy = emit("reduce_mean", emit("cast", hits, dtype="float32"), axes=(0,))
    exe = compile(Graph.from_results("acc", [logits, labels], [accuracy, labels]))
    la = np.array([[0, 1, 0, 0], [3, 0, 0, 0], [0, 0, 0, 2]], dtype=np.float32)
    ya = np.array([1, 2, 3], dtype=np.int32)
    acc, same = exe(la, ya)
    assert acc.shape == () and acc == pytest.approx(2 / 3)
    assert same is ya


@pytest.mark.parametrize("batch", [3, 5])
def test_symbol_bound_from_input_reaches_shape_attributes(batch):
    x = param("x", B, 4)
    y = emit("reshape", x, shape=(B, 2, 2))
    positions = emit("iota", shape=(B, 3), axis=0)
    exe = compile(Graph.from_results("g", [x], [y, positions, emit("reduce_mean", x, axes=(0,))]))
    xa = normal(batch, 4)
    got_y, got_pos, got_mean = exe(xa)
    np.testing.assert_array_equal(got_y, xa.reshape(batch, 2, 2))
    np.testing.assert_array_equal(got_pos, np.repeat(np.arange(batch)[:, None], 3, axis=1))
    np.testing.assert_allclose(got_mean, xa.mean(0), rtol=1e-6)


def test_fused_region_runs_like_its_inlined_ops():
    def body(a, b):
        s = emit("mul", emit("add", a, b), a)
        return emit("reshape", emit("tanh", s), shape=(B, 2, 3)), s

    x, y = param("x", B, 6), param("y", 6)
    ra, rb = param("a", B, 6), param("b", 6)
    region = Graph.from_results("kernel", [ra, rb], body(ra, rb))
    fused = emit("fused", x, y, region=region)
    fused_exe = compile(Graph.from_results("f", [x, y], fused))
    x2, y2 = param("x", B, 6), param("y", 6)
    inlined_exe = compile(Graph.from_results("i", [x2, y2], body(x2, y2)))
    xa, ya = normal(4, 6), normal(6)
    for got, want in zip(fused_exe(xa, ya), inlined_exe(xa, ya)):
        np.testing.assert_array_equal(got, want)


def test_region_sees_the_enclosing_graphs_symbols():
    c = param("c", 2)
    region = Graph.from_results("kernel", [c], [emit("iota", shape=(B, 2), axis=0, dtype="f32")])
    x, y = param("x", B, 2), param("y", 2)
    exe = compile(Graph.from_results("g", [x, y], [emit("add", x, emit("fused", y, region=region))]))
    got = exe(np.zeros((3, 2), np.float32), np.zeros(2, np.float32))[0]
    np.testing.assert_array_equal(got, [[0, 0], [1, 1], [2, 2]])


def test_compile_rejects_unknown_op_kind():
    x = param("x", 3)
    bogus = Op("frobnicate", [x], {}, [x.type])
    with pytest.raises(KeyError, match="unknown op 'frobnicate'"):
        compile(Graph("g", [x], [bogus], bogus.results))


# ---- input errors ----

@pytest.fixture
def two_input_exe():
    x, w = param("x", B, 3), param("mask", B, 3, dtype=DType.bool)
    return compile(Graph.from_results("g", [x, w], [emit("where", w, x, emit("neg", x))]))


@pytest.mark.parametrize("args, message", [
    (lambda: [normal(2, 3)], r"graph @g takes 2 arrays \(%x, %mask\), got 1"),
    (lambda: [normal(2, 3, dtype=np.float64), np.ones((2, 3), bool)],
     r"param %x: expected dtype float32 \(f32\[B,3\]\), got float64"),
    (lambda: [normal(2, 3), np.ones((2, 3), np.int32)],
     r"param %mask: expected dtype bool \(bool\[B,3\]\), got int32"),
    (lambda: [normal(6), np.ones((2, 3), bool)],
     r"param %x: expected rank 2 \(f32\[B,3\]\), got shape \(6,\)"),
    (lambda: [normal(2, 4), np.ones((2, 3), bool)],
     r"param %x: axis 1 must be 3 \(f32\[B,3\]\), got shape \(2, 4\)"),
    (lambda: [normal(2, 3), np.ones((5, 3), bool)],
     r"param %mask: symbol B is 5 \(axis 0 of shape \(5, 3\)\) but 2 in param %x"),
    (lambda: [[[1.0, 2.0, 3.0]], np.ones((1, 3), bool)],
     r"param %x: expected a numpy array of f32\[B,3\], got list"),
], ids=["count", "dtype", "dtype-bool", "rank", "dim", "inconsistent-B", "not-an-array"])
def test_input_errors_name_the_param(two_input_exe, args, message):
    with pytest.raises(InputError, match=message):
        two_input_exe(*args())


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


# ---- broken graphs and runtime failures ----

def test_result_disagreeing_with_its_type_is_caught():
    x = param("x", 3)
    wrong = Op("exp", [x], {}, [TensorType((3,), DType.f64)])
    message = r"op exp: result 0 is float32\[3\] but its type is f64\[3\]"
    with pytest.raises(ExecutionError, match=message):
        compile(Graph("g", [x], [wrong], wrong.results))(normal(3))


def test_unbound_symbol_in_result_type_is_caught():
    n = Sym("N")
    ramp = Op("iota", [], {"shape": (n,), "axis": 0, "dtype": DType.i32},
              [TensorType((n,), DType.i32)])
    with pytest.raises(ExecutionError, match=r"op iota: dimension N .* is not bound"):
        compile(Graph("g", [], [ramp], ramp.results))()


def test_op_failure_names_the_op_and_layer():
    x = param("x", B)
    with layer_scope("merge"):
        s = emit("reshape", x, shape=(2, 3))     # valid IR: the run checks that B is 6
    exe = compile(Graph.from_results("g", [x], [s]))
    np.testing.assert_array_equal(exe(np.arange(6, dtype=np.float32))[0],
                                  np.arange(6).reshape(2, 3))
    with pytest.raises(ExecutionError, match=r"op reshape at test_reference\.py:\d+ merge on "
                                             r"arrays \(float32\[4\]\): ValueError"):
        exe(normal(4))


def test_intermediates_are_freed_after_last_use():
    x = param("x", 4)
    a = emit("exp", x)
    b = emit("neg", a)
    dead = emit("sin", x)
    c = emit("add", a, b)
    graph = Graph("g", [x], [a.producer, b.producer, dead.producer, c.producer], [c])
    assert free_schedule(graph) == [[], [], [x, dead], [a, b]]
    np.testing.assert_allclose(compile(graph)(np.ones(4, np.float32))[0], 0.0)


def test_the_shared_loop_runs_each_op_by_its_runner_and_drops_values_after_their_last_use():
    """``interpret`` (every backend's loop): values in the backend's own form, each op's
    runner given its operands', ``observe`` shown each op's results, and an intermediate
    released as soon as its last user ran (weak references see it go)."""
    import weakref

    from fusegraph.backends.reference.interpreter import Plan, interpret, run_op

    x = param("x", B, 3)
    h = emit("exp", x)
    y = emit("neg", emit("tanh", h))
    graph = Graph.from_results("g", [x], [y])
    plan = Plan(graph)
    born, seen = {}, []

    class Boxed:                                # a backend's own form of a value
        def __init__(self, array):
            self.array = array

    def boxed_run(step, args, env):
        if step.op.kind == "neg":               # exp's result died after tanh, its last use
            assert born["exp"]() is None
        outs = [Boxed(a) for a in run_op(step, [b.array for b in args], env)]
        born[step.op.kind] = weakref.ref(outs[0])
        return outs

    schedule = [(boxed_run, step, step) for step in plan.steps]
    array = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    (out,) = interpret(graph, schedule, [Boxed(array)], {B: 2},
                       lambda ref, outs: seen.append(ref.op.kind))
    assert isinstance(out, Boxed) and seen == ["exp", "tanh", "neg"]
    np.testing.assert_allclose(out.array, -np.tanh(np.exp(array)), rtol=1e-6)
