"""Eager execution (frontend/eager.py): fg.ops on values outside any trace compute at
once, and a GradientTape records them and differentiates with the autodiff pass."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 3)).astype(np.float32)


def test_ops_on_arrays_compute_at_once():
    y = ops.tanh(ops.matmul(X, X.T)) + 1
    assert isinstance(y, fg.EagerTensor) and y.shape == (5, 5) and y.dtype == "float32"
    np.testing.assert_allclose(np.asarray(y), np.tanh(X @ X.T) + 1, rtol=1e-6)
    z = ops.zeros((1, 32))
    assert z.numpy().shape == (1, 32) and not z.numpy().any()
    total = ops.sum(X)
    assert float(total) == pytest.approx(float(X.sum()), rel=1e-6)
    assert bool(total > -100) and int(ops.convert_to_tensor(7)) == 7
    assert len(y) == 5 and [r.shape for r in y] == [(5,)] * 5
    assert f"{total:.3f}" == f"{float(X.sum()):.3f}" and "numpy=" in repr(total)
    copy = y.numpy()
    copy[0, 0] = 42.0                              # a copy: the tensor keeps its value
    assert float(y[0, 0]) != 42.0


def test_a_placeholder_or_a_symbolic_size_keeps_an_op_symbolic():
    inputs = fg.Input(shape=(3,))
    y = ops.exp(inputs) + 1
    assert isinstance(y, fg.SymbolicTensor) and not isinstance(y, fg.EagerTensor)
    model = fg.Model(inputs, y)
    np.testing.assert_allclose(model.predict(X, verbose=0), np.exp(X) + 1, rtol=1e-6)


def test_an_eager_tensor_in_a_trace_is_a_constant():
    c = ops.convert_to_tensor(np.arange(3, dtype=np.float32))

    @fg.function
    def f(x):
        return x * c

    np.testing.assert_allclose(f(X), X * np.arange(3), rtol=1e-6)
    assert "constant" in f.ir()


def test_gradients_of_variables_and_watched_tensors():
    w = fg.Variable(X[:, :2].T.copy(), name="w")       # [2, 5]
    x = ops.convert_to_tensor(X)
    with fg.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = ops.sum(ops.tanh(ops.matmul(w, x)) ** 2)
    dw, dx = tape.gradient(y, [w, x])
    t = np.tanh(w.numpy() @ X)
    g = 2 * t * (1 - t ** 2)
    np.testing.assert_allclose(dw.numpy(), g @ X.T, rtol=1e-5)
    np.testing.assert_allclose(dx.numpy(), w.numpy().T @ g, rtol=1e-5)
    np.testing.assert_allclose(tape.gradient(y, w).numpy(), dw.numpy())   # persistent


def test_gradient_matches_central_differences_in_float64():
    x = ops.convert_to_tensor(RNG.normal(size=(4,)), "float64")
    assert x.dtype == "float64"

    def f(v):
        return ops.sum(ops.sigmoid(v) * ops.exp(ops.sin(v)) / (1 + v * v))

    with fg.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    got = tape.gradient(y, x).numpy()
    eps, base = 1e-6, x.numpy()
    def at(v):
        return float(f(ops.convert_to_tensor(v, "float64")))
    want = [(at(base + eps * e) - at(base - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_unwatched_sources_unconnected_gradients_and_one_use():
    c = ops.convert_to_tensor(np.float32(2.0))
    v = fg.Variable(3.0)
    frozen = fg.Variable(4.0, trainable=False)
    with fg.GradientTape() as tape:
        y = c * v * frozen
    assert tape.gradient(y, [c, v, frozen])[0] is None           # c was not watched
    with fg.GradientTape() as tape:
        y = c * v * frozen
    dc, dv, dfrozen = tape.gradient(y, [c, v, frozen], unconnected_gradients="zero")
    assert float(dc) == 0.0 and float(dv) == 8.0 and float(dfrozen) == 0.0
    with pytest.raises(RuntimeError, match="non-persistent GradientTape computes one set"):
        tape.gradient(y, v)
    with fg.GradientTape(watch_accessed_variables=False) as tape:
        y = v * v
    assert tape.gradient(y, v) is None


def test_nested_tapes_give_second_derivatives():
    x = ops.convert_to_tensor(np.float32(1.5))
    with fg.GradientTape() as outer:
        outer.watch(x)
        with fg.GradientTape() as inner:
            inner.watch(x)
            y = x ** 3 + ops.exp(x)
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == pytest.approx(3 * 1.5 ** 2 + np.exp(1.5), rel=1e-6)
    assert float(d2y) == pytest.approx(6 * 1.5 + np.exp(1.5), rel=1e-6)


def test_output_gradients_weigh_the_targets():
    x = ops.convert_to_tensor(X)
    with fg.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    seed = RNG.normal(size=X.shape).astype(np.float32)
    np.testing.assert_allclose(tape.gradient(y, x, output_gradients=seed).numpy(),
                               2 * X * seed, rtol=1e-6)


def _model():
    fg.utils.set_random_seed(3)
    inputs = fg.Input(shape=(3,))
    hidden = fg.layers.Dense(8, activation="relu")(inputs)
    return fg.Model(inputs, fg.layers.Dense(4)(fg.layers.LayerNormalization()(hidden)))


def test_the_courses_eager_training_loop_equals_the_same_step_in_fg_function():
    """for step, (x, y) in dataset: tape, loss, tape.gradient, apply_gradients, a metric;
    the same step under @fg.function gives the same weights and metric."""
    y = np.array([0, 1, 2, 3, 1], np.int32)
    results = {}
    for mode in ("eager", "function"):
        model = _model()
        loss_fn = fg.losses.SparseCategoricalCrossentropy(from_logits=True)
        optimizer = fg.optimizers.Adam(0.05)
        accuracy = fg.metrics.SparseCategoricalAccuracy()

        def train_step(x, y):
            with fg.GradientTape() as tape:
                logits = model(x, training=True)
                loss = loss_fn(y, logits)
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
            accuracy.update_state(y, logits)
            return loss

        step = fg.function(train_step) if mode == "function" else train_step
        losses = [float(step(X, y)) for _ in range(4)]
        results[mode] = (losses, [w.numpy() for w in model.trainable_weights],
                         float(accuracy.result()))
    (le, we, ae), (lf, wf, af) = results["eager"], results["function"]
    np.testing.assert_allclose(le, lf, rtol=1e-5)
    assert le[-1] < le[0] and ae == pytest.approx(af)
    for a, b in zip(we, wf):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_hand_written_update_of_variables():
    """The course's lower-level step: W = W - grads * learning_rate, on variables."""
    w = fg.Variable(np.ones((3, 1), np.float32))
    b = fg.Variable(np.zeros((1,), np.float32))
    target = X @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    first = None
    for _ in range(50):
        with fg.GradientTape() as tape:
            loss = ops.mean(ops.square(ops.matmul(X, w) + b - target))
        dw, db = tape.gradient(loss, [w, b])
        w.assign(w - dw * 0.1)
        b.assign(b - db * 0.1)
        first = float(loss) if first is None else first
    assert float(loss) < first / 10


def test_models_and_layers_called_on_arrays_return_eager_tensors():
    """Outside a tape, a call runs the compiled forward graph and its results are eager
    tensors (leaves: nothing to differentiate); predict still returns numpy arrays."""
    model = _model()
    out = model(X)
    assert isinstance(out, fg.EagerTensor) and out.dtype == np.float32 and out.dtype == "float32"
    np.testing.assert_allclose(np.asarray(out), model.predict(X, verbose=0), rtol=1e-6)
    assert isinstance(model.predict(X, verbose=0), np.ndarray)
    dense = fg.layers.Dense(2)
    assert isinstance(dense(X), fg.EagerTensor) and float(ops.sum(dense(X) * 0)) == 0.0


def test_a_gradient_with_respect_to_an_intermediate_value():
    """d loss / d h for h computed inside the tape from a watched input: the tape
    recorded h's op, so h is differentiable (as TensorFlow's tape)."""
    x = ops.convert_to_tensor(X)
    with fg.GradientTape() as tape:
        tape.watch(x)
        h = ops.tanh(x)
        loss = ops.sum(h * h)
    np.testing.assert_allclose(tape.gradient(loss, h).numpy(), 2 * np.tanh(X), rtol=1e-6)


def test_eager_code_outside_a_tape_keeps_no_history():
    """An eager result outside any tape is a leaf: a long eager loop does not keep a
    chain of every op it ran (nor the constants those ops read)."""
    x = ops.zeros((4,))
    for _ in range(3):
        x = ops.add(x, np.ones(4, np.float32))
    assert x.value.producer is None and np.asarray(x).tolist() == [3.0] * 4
    with fg.GradientTape() as tape:
        y = ops.exp(x)                  # nothing watched: not recorded, a leaf too
        tape.watch(x)
        z = ops.exp(x)                  # recorded: keeps its op for the gradient
    assert y.value.producer is None and z.value.producer is not None
    np.testing.assert_allclose(tape.gradient(z, x).numpy(), np.exp(3.0) * np.ones(4),
                               rtol=1e-6)


def test_eager_values_in_a_functional_model_are_its_constants():
    """Eager tensors (a layer's result on an array, an eager op's) read by the ops of a
    functional model become constants of its graph, whoever holds them later."""
    offset = fg.layers.Dense(3)(np.ones((1, 4), np.float32))
    inputs = fg.Input((3,))
    scale = ops.add(ops.ones((3,)), 1.0)
    model = fg.Model(inputs, ops.multiply(ops.add(inputs, offset), scale))
    expected = (X + np.asarray(offset)) * 2.0
    del offset, scale
    np.testing.assert_allclose(model.predict(X, verbose=0), expected, rtol=1e-6)


def test_a_variable_assigned_inside_a_tape_sums_the_gradients_of_its_reads():
    """TensorFlow's rule: the gradient with respect to a variable sums over every read
    in the tape's scope, before and after an assignment."""
    v = fg.Variable(np.array([2.0], np.float32))
    with fg.GradientTape() as tape:
        a = v * 3.0
        v.assign(np.array([5.0], np.float32))
        y = a + v * v
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [3.0 + 2 * 5.0])


def test_an_eager_read_of_a_variable_keeps_its_value_after_training():
    """A read is a snapshot: numba_cpu's step writes the new weights into the variable's
    own array, and a tensor read before fit keeps the old values."""
    model = _model()
    model.compile(optimizer="sgd", loss="mse", backend="numba_cpu")
    kernel = model.trainable_weights[0]
    before = kernel.read_value()
    kept = np.asarray(before).copy()
    model.fit(X, np.zeros((5, 4), np.float32), epochs=2, verbose=0)
    assert not np.array_equal(kernel.numpy(), kept)
    np.testing.assert_array_equal(np.asarray(before), kept)
    np.testing.assert_array_equal(np.asarray(kernel.read_value()), kernel.numpy())
