"""``fg.function``: tracing per signature, state written after the run, its IR, and
gradients with respect to inputs (against central finite differences in float64)."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops
from fusegraph.backends import optimizing_compiler
from fusegraph.backends.reference.interpreter import ExecutionError
from fusegraph.frontend.function import Function
from fusegraph.ir import parse_graph, verify


def counting(fn):
    """``fn`` as an fg.function, and the list its Python body appends to (once per trace)."""
    traces = []

    def body(*args, **kwargs):
        traces.append([getattr(a, "shape", a) for a in args])
        return fn(*args, **kwargs)

    return fg.function(body), traces


def test_traces_once_per_signature():
    f, traces = counting(lambda x: ops.sum(x * x, axis=1))
    a = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(f(a), (a * a).sum(1))
    np.testing.assert_allclose(f(a + 1), ((a + 1) ** 2).sum(1))
    assert len(traces) == 1
    b = np.ones((5, 3), "float32")                       # another batch size: same graph
    np.testing.assert_allclose(f(b), np.full(5, 3.0))
    assert len(traces) == 1 and traces[0] == [(None, 3)]
    f(np.ones((2, 4), "float32"))                        # a new trailing shape: retrace
    assert len(traces) == 2
    out = f(np.ones((2, 3), "float64"))                  # a new dtype: retrace
    assert len(traces) == 3 and out.dtype == np.float64
    f(np.ones((2, 3, 1), "float32"))                     # a new rank: retrace
    assert len(traces) == 4
    f(b)
    assert len(traces) == 4                              # every signature is kept


def test_python_scalars_are_static():
    f, traces = counting(lambda x, scale, square=False: (x * x if square else x) * scale)
    x = np.array([[1.0, 2.0]], "float32")
    np.testing.assert_array_equal(f(x, 2.0), [[2.0, 4.0]])
    np.testing.assert_array_equal(f(x, 3.0), [[3.0, 6.0]])
    assert len(traces) == 2                              # the value is in the graph
    np.testing.assert_array_equal(f(x, 2.0), [[2.0, 4.0]])
    assert len(traces) == 2
    np.testing.assert_array_equal(f(x, 2.0, square=True), [[2.0, 8.0]])
    assert len(traces) == 3
    assert "constant {value=3.0" not in f.ir()           # the last trace used 2.0
    assert "constant {value=2.0" in f.ir()


def test_array_arguments_share_one_batch_axis():
    f = fg.function(lambda x, idx: ops.take(x, idx, axis=1))
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(f(x, np.array([2, 0], "int32")), [[2.0, 0.0], [5.0, 3.0]])
    with pytest.raises(ValueError, match=r"function 'lambda': the first axis of every array "
                                         r"argument is the batch axis.*arg0 has shape \(2, 3\), "
                                         r"arg1 has shape \(3,\); pass symbolic_batch=False"):
        f(x, np.array([2, 0, 1], "int32"))
    g = fg.function(lambda x, w: ops.matmul(x, w), symbolic_batch=False)
    w = np.arange(12, dtype="float32").reshape(3, 4)
    np.testing.assert_allclose(g(x, w), x @ w)


def test_structures_of_arguments_and_outputs():
    f = fg.function(lambda d, pair: {"sum": d["a"] + d["b"], "first": pair[0]})
    a, b = np.ones((2, 2), "float32"), np.full((2, 2), 2.0, "float32")
    out = f({"a": a, "b": b}, (b, a))
    assert set(out) == {"sum", "first"}
    np.testing.assert_array_equal(out["sum"], a + b)
    np.testing.assert_array_equal(out["first"], b)


def test_variable_updates_are_written_after_the_run_and_not_on_failure():
    total = fg.Variable(np.zeros(3, "float32"), "total", "total")
    table = fg.Variable(np.arange(12, dtype="float32").reshape(4, 3), "table", "table")

    @fg.function
    def step(x, idx):
        total.assign_add(ops.sum(x, axis=0))
        # a read after the assignment sees the new value (program order)
        return ops.take(table.read_value(), idx, axis=0) + total.read_value()

    x = np.ones((2, 3), "float32")
    out = step(x, np.array([1, 2], "int32"))
    np.testing.assert_array_equal(total.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(out, [[5.0, 6.0, 7.0], [8.0, 9.0, 10.0]])
    # run() computes the new values without writing them
    out, updates = step.run(x, np.array([0, 3], "int32"))
    np.testing.assert_array_equal(total.numpy(), [2.0, 2.0, 2.0])
    assert [(v.path, a.tolist()) for v, a in updates] == [("total", [4.0, 4.0, 4.0])]
    np.testing.assert_array_equal(out, [[4.0, 5.0, 6.0], [13.0, 14.0, 15.0]])
    # a run that fails after the assignment was computed changes nothing
    with pytest.raises(ExecutionError, match="index 7 is out of range"):
        step(x, np.array([1, 7], "int32"))
    np.testing.assert_array_equal(total.numpy(), [2.0, 2.0, 2.0])
    step(x, np.array([0, 0], "int32"))
    np.testing.assert_array_equal(total.numpy(), [4.0, 4.0, 4.0])


def test_ir_of_the_last_trace():
    f = fg.function(lambda x: ops.tanh(x) * 2.0, name="scaled_tanh")
    with pytest.raises(ValueError, match="function 'scaled_tanh' has not been traced yet"):
        f.ir()
    f(np.ones((4, 2), "float32"))
    text = f.ir()
    assert text.startswith("graph @scaled_tanh(%arg0: f32[B,2]) -> (f32[B,2]) {")
    assert "= tanh %arg0" in text and "# test_function.py:" in text
    graph = parse_graph(text)
    verify(graph)
    assert graph == f.last_trace.graph


def test_model_weights_are_parameters_read_at_each_call():
    inputs = fg.Input(shape=(2,))
    dense = fg.layers.Dense(1, use_bias=False)
    model = fg.Model(inputs, dense(inputs))
    f = fg.function(lambda x: model(x) * 10.0)
    x = np.array([[1.0, 2.0]], "float32")
    np.testing.assert_allclose(f(x), x @ dense.kernel.numpy() * 10.0, rtol=1e-6)
    model.set_weights([np.array([[1.0], [1.0]], "float32")])
    np.testing.assert_allclose(f(x), [[30.0]])           # the new value, no retrace needed
    assert "%dense/kernel" in f.ir()


# --- gradients with respect to inputs -----------------------------------------------------------
A = np.array([[0.3, -1.2, 0.5], [0.8, 0.1, -0.4]])
C = np.array([1.5, -0.7, 0.2])


def np_objective(x):
    h = np.sin(x @ A) * C
    return np.sum(h * h) + np.mean(np.exp(0.5 * x)) + np.sum(x[:, :1] * h)


def test_input_gradient_matches_central_differences():
    @fg.function
    def value_and_grad(x):
        with fg.GradientTape() as tape:
            tape.watch(x)
            h = ops.sin(ops.matmul(x, A)) * C
            y = ops.sum(h * h) + ops.mean(ops.exp(0.5 * x)) + ops.sum(x[:, :1] * h)
        return y, tape.gradient(y, x)

    x = np.random.default_rng(0).normal(size=(4, 2))
    y, grad = value_and_grad(x)
    assert grad.dtype == np.float64 and grad.shape == x.shape
    assert y == pytest.approx(np_objective(x), rel=1e-12)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = (np_objective(x + step) - np_objective(x - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)


def test_gradient_ascent_on_an_input_image():
    """Feature visualisation: climb the gradient of one output unit w.r.t. the image."""
    inputs = fg.Input(shape=(8, 8))
    x = fg.layers.Flatten()(inputs)
    x = fg.layers.Dense(16, activation="tanh")(x)
    model = fg.Model(inputs, fg.layers.Dense(4)(x))
    weights = [w.copy() for w in model.get_weights()]

    @fg.function
    def ascent_step(image, learning_rate):
        with fg.GradientTape() as tape:
            tape.watch(image)
            activation = ops.mean(model(image)[:, 2])
        grad = tape.gradient(activation, image)
        grad = grad / (ops.sqrt(ops.mean(ops.square(grad))) + 1e-8)
        return activation, image + learning_rate * grad

    image = np.random.default_rng(1).uniform(-0.1, 0.1, size=(1, 8, 8)).astype("float32")
    activations = []
    for _ in range(5):
        activation, image = ascent_step(image, 0.05)
        activations.append(float(activation))
    assert np.all(np.diff(activations) > 0), activations
    assert float(model(image)[0, 2]) > activations[-1]
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


def test_a_variable_argument_is_static_by_identity():
    """Two variables that print the same (as after clear_session) get traces of their own."""
    f, traces = counting(lambda v, x: v.assign_add(ops.sum(x)))
    first = fg.Variable(np.zeros((), "float32"), "total", "same_path")
    fg.utils.clear_session()
    second = fg.Variable(np.zeros((), "float32"), "total", "same_path")
    assert repr(first) == repr(second)
    x = np.ones((2,), "float32")
    f(first, x)
    f(second, x)
    f(second, x)
    assert len(traces) == 2
    assert float(first.numpy()) == 2.0 and float(second.numpy()) == 4.0


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_a_variable_never_takes_ownership_of_an_argument_or_shares_an_array(backend):
    """A step's result that is one of the run's arrays (an input assigned as it is, or
    another variable's value) or that is returned twice is copied before a variable
    adopts it."""
    compile_fn = optimizing_compiler(backend)

    def function(fn):
        return Function(fn, compile_fn=compile_fn, symbolic_batch=False)

    v = fg.Variable(np.zeros(3, "float32"), "v", "v")
    x = np.ones(3, "float32")
    function(lambda a: v.assign(a))(x)
    x[0] = 99.0                                            # the caller's array, mutated
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0, 1.0])

    u = fg.Variable(np.zeros(3, "float32"), "u", "u")
    w = fg.Variable(np.full(3, 2.0, "float32"), "w", "w")
    function(lambda: u.assign(w))()
    np.testing.assert_array_equal(u.numpy(), [2.0, 2.0, 2.0])
    assert not np.shares_memory(u.value, w.value)

    function(lambda a: [u.assign(a * 3.0), w.assign(a * 3.0)])(x)
    np.testing.assert_array_equal(u.numpy(), [297.0, 3.0, 3.0])
    assert not np.shares_memory(u.value, w.value)
    same = function(lambda a: [a, a * 2.0, a * 2.0])(x)
    assert not np.shares_memory(same[0], x) and not np.shares_memory(same[1], same[2])


def test_assigning_a_variable_outside_a_trace_copies_its_value():
    u = fg.Variable(np.zeros(3, "float32"), "u", "u")
    w = fg.Variable(np.full(3, 2.0, "float32"), "w", "w")
    u.assign(w)
    np.testing.assert_array_equal(u.numpy(), [2.0, 2.0, 2.0])
    assert not np.shares_memory(u.value, w.value)


def test_holder_shapes_make_more_axes_symbolic_and_key_the_traces_by_them():
    f = Function(lambda x, y: (ops.sum(x, axis=1), y * 2.0),
                 holder_shapes=lambda args, kwargs: [(None, None, 2), None])
    y = np.ones((3, 4), "float32")
    for steps in (4, 1, 6):
        x = np.arange(3 * steps * 2, dtype="float32").reshape(3, steps, 2)
        sums, doubled = f(x, y)
        np.testing.assert_allclose(sums, x.sum(axis=1))
        np.testing.assert_allclose(doubled, 2 * y)
    assert len(f._traces) == 1
    f(np.ones((3, 4, 5), "float32"), y)          # the template does not fit: traced as given
    assert len(f._traces) == 2
    bad = Function(f.fn, holder_shapes=lambda args, kwargs: [None])
    with pytest.raises(ValueError, match="holder_shapes gave 1 shapes for 2 arguments"):
        bad(x, y)


def test_arrays_of_other_number_dtypes_are_read_in_a_graph_dtype():
    """uint8 labels and the like are read as int32 (uint32/uint64 as int64, float16 as
    float32); a uint64 past int64's range, or a complex array, is refused naming the
    argument."""
    double = fg.function(lambda a: a * 2)
    for dtype, read_as in [("uint8", "int32"), ("int8", "int32"), ("int16", "int32"),
                           ("uint16", "int32"), ("uint32", "int64"), ("uint64", "int64"),
                           ("float16", "float32")]:
        out = double(np.array([1, 100], dtype))
        assert out.dtype == read_as
        np.testing.assert_array_equal(out, [2, 200])
    with pytest.raises(ValueError, match=r"function 'lambda': arg0: the value "
                                         r"9223372036854775808 does not fit int64"):
        double(np.array([2 ** 63], "uint64"))
    with pytest.raises(TypeError, match=r"function 'lambda': arg1 has dtype complex128; "
                                        r"expected numbers"):
        fg.function(lambda a, b: a)(np.ones(2, "float32"), np.ones(2, complex))


def test_a_call_with_the_last_calls_exact_signature_reuses_its_trace_and_others_key_again():
    calls = []

    def fn(x, scale):
        calls.append(1)                              # once per trace
        return x * scale

    f = fg.function(fn)
    a = np.ones((4, 3), "float32")
    f(a, 2.0)
    first = f.last_trace
    f(np.zeros((4, 3), "float32"), 2.0)               # same signature: same trace, no tracing
    assert f.last_trace is first and len(calls) == 1
    f(np.ones((5, 3), "float32"), 2.0)               # another batch: the same symbolic trace
    assert f.last_trace is first and len(calls) == 1
    np.testing.assert_array_equal(f(a, 3.0), a * 3.0)  # another static value: a new trace
    assert f.last_trace is not first and len(calls) == 2
    f(a.astype("float64"), 2.0)                      # another dtype: a new trace
    assert len(calls) == 3 and f.last_trace.graph.params[0].type.dtype.value == "f64"
