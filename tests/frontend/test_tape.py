"""``fg.GradientTape`` inside traced functions: targets and sources in every structure,
unconnected sources, persistence, and misuse. Gradients are checked against numpy
derivatives written out by hand."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops

W0 = np.array([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]], "float32")
B0 = np.array([0.1, -0.2], "float32")
X = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]], "float32")


@pytest.fixture
def wb():
    return (fg.Variable(W0, "w", "layer/w"), fg.Variable(B0, "b", "layer/b"),
            fg.Variable(np.ones(4, "float32"), "unused", "layer/unused"))


def np_grads_of_sum_squares():
    """y = sum((x @ w + b)**2): dy/dw = x^T 2z, dy/db = sum_rows 2z, dy/dx = 2z w^T."""
    z = X @ W0 + B0
    return {"y": np.sum(z ** 2), "w": X.T @ (2 * z), "b": (2 * z).sum(0), "x": 2 * z @ W0.T}


def test_gradient_of_a_scalar_wrt_a_variable_a_list_and_a_dict(wb):
    w, b, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape(persistent=True) as tape:
            y = ops.sum(ops.square(ops.matmul(x, w.read_value()) + b.read_value()))
        return {"one": tape.gradient(y, w), "list": tape.gradient(y, [w, b]),
                "dict": tape.gradient(y, {"kernel": w, "bias": b}),
                "nested": tape.gradient(y, (b, [w]))}

    out = grads(X)
    want = np_grads_of_sum_squares()
    np.testing.assert_allclose(out["one"], want["w"], rtol=1e-6)
    assert isinstance(out["list"], list) and len(out["list"]) == 2
    np.testing.assert_allclose(out["list"][0], want["w"], rtol=1e-6)
    np.testing.assert_allclose(out["list"][1], want["b"], rtol=1e-6)
    assert set(out["dict"]) == {"kernel", "bias"}
    np.testing.assert_allclose(out["dict"]["kernel"], want["w"], rtol=1e-6)
    np.testing.assert_allclose(out["dict"]["bias"], want["b"], rtol=1e-6)
    assert isinstance(out["nested"], tuple) and isinstance(out["nested"][1], list)
    np.testing.assert_allclose(out["nested"][0], want["b"], rtol=1e-6)
    np.testing.assert_allclose(out["nested"][1][0], want["w"], rtol=1e-6)


def test_gradient_of_a_list_of_targets_sums_them(wb):
    w, b, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape() as tape:
            z = ops.matmul(x, w.read_value()) + b.read_value()
            targets = [ops.sum(ops.square(z)), ops.sum(z * 3.0)]
        return tape.gradient(targets, [w, b, x])

    gw, gb, gx = grads(X)
    want = np_grads_of_sum_squares()
    ones = np.ones((2, 2))
    np.testing.assert_allclose(gw, want["w"] + X.T @ (3 * ones), rtol=1e-6)
    np.testing.assert_allclose(gb, want["b"] + 6.0, rtol=1e-6)
    np.testing.assert_allclose(gx, want["x"] + 3 * ones @ W0.T, rtol=1e-6)


def test_output_gradients_weight_a_non_scalar_target(wb):
    w, b, _ = wb
    seed = np.array([[1.0, 0.0], [2.0, -1.0]], "float32")

    @fg.function
    def grads(x, upstream):
        with fg.GradientTape() as tape:
            z = ops.matmul(x, w.read_value()) + b.read_value()
        return tape.gradient(z, w, output_gradients=upstream)

    np.testing.assert_allclose(grads(X, seed), X.T @ seed, rtol=1e-6)


def test_unconnected_sources_are_none_or_zeros(wb):
    w, b, unused = wb

    @fg.function
    def grads(x):
        with fg.GradientTape(persistent=True) as tape:
            y = ops.sum(ops.matmul(x, w.read_value()))
            unrelated = ops.sum(x)
        return (tape.gradient(y, [w, unused, b]),
                tape.gradient(y, [unused, b], unconnected_gradients="zero"),
                tape.gradient(unrelated, {"w": w}))

    as_none, as_zero, by_name = grads(X)
    np.testing.assert_allclose(as_none[0], X.T @ np.ones((2, 2)), rtol=1e-6)
    assert as_none[1] is None and as_none[2] is None
    np.testing.assert_array_equal(as_zero[0], np.zeros(4, "float32"))
    np.testing.assert_array_equal(as_zero[1], np.zeros(2, "float32"))
    assert by_name == {"w": None}


def test_persistent_tape_gives_the_same_gradients_twice(wb):
    w, b, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape(persistent=True) as tape:
            y = ops.sum(ops.square(ops.matmul(x, w.read_value()) + b.read_value()))
        return tape.gradient(y, w), tape.gradient(y, b), tape.gradient(y, w)

    first_w, gb, second_w = grads(X)
    want = np_grads_of_sum_squares()
    np.testing.assert_array_equal(first_w, second_w)
    np.testing.assert_allclose(first_w, want["w"], rtol=1e-6)
    np.testing.assert_allclose(gb, want["b"], rtol=1e-6)


def test_a_non_persistent_tape_computes_once(wb):
    w, b, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape() as tape:
            y = ops.sum(ops.matmul(x, w.read_value()))
        tape.gradient(y, w)
        return tape.gradient(y, b)

    with pytest.raises(RuntimeError, match=r"a non-persistent GradientTape computes one set of "
                                           r"gradients; use GradientTape\(persistent=True\)"):
        grads(X)


def test_a_variable_source_means_its_value_when_the_tape_began():
    v = fg.Variable(np.array([1.0, -2.0, 3.0], "float32"), "v", "v")

    @fg.function
    def grads(scale):
        v.assign(v.read_value() * scale)          # before the tape: v is now 2v
        with fg.GradientTape() as tape:
            v.assign(v.read_value() + 1.0)        # inside: a function of the entry value
            y = ops.sum(ops.square(v.read_value()))
        return tape.gradient(y, v)

    v0 = v.numpy()
    # y = sum((v1 + 1)^2) with v1 = 2 v0: dy/dv1 = 2 (v1 + 1), not dy/dv0 = 4 (v1 + 1)
    np.testing.assert_allclose(grads(np.float32(2.0)), 2 * (2 * v0 + 1), rtol=1e-6)
    np.testing.assert_array_equal(v.numpy(), 2 * v0 + 1)


def test_gradient_through_a_model_wrt_its_trainable_weights():
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(2, activation="relu")(inputs))
    kernel, bias = model.get_weights()

    @fg.function
    def grads(x):
        with fg.GradientTape() as tape:
            y = ops.sum(model(x))
        return tape.gradient(y, model.trainable_weights)

    gk, gb = grads(X)
    mask = (X @ kernel + bias > 0).astype("float32")
    np.testing.assert_allclose(gk, X.T @ mask, rtol=1e-6)
    np.testing.assert_allclose(gb, mask.sum(0), rtol=1e-6)


def test_an_eager_tape_differentiates_what_it_recorded_not_numpy(wb):
    """Outside a trace the tape records the eager ops of its scope (it once returned
    [None, None] for a model's weights, then said eager execution was not built); a
    value numpy computed is not recorded, and gradient() says so."""
    w, _, _ = wb
    with fg.GradientTape() as tape:
        y = np.sum(X @ w.numpy())
    with pytest.raises(TypeError, match=r"test_tape\.py:\d+: GradientTape\.gradient: the "
                                        r"target must be a tensor computed in the tape's "
                                        r"scope .* got a numpy value"):
        tape.gradient(y, w)
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    ones = np.ones((3, 2), "float32")
    with fg.GradientTape() as tape:
        loss = ops.mean(model(ones))
    gk, gb = tape.gradient(loss, model.trainable_variables)
    np.testing.assert_allclose(gk.numpy(), np.full((2, 1), 1.0), rtol=1e-6)
    np.testing.assert_allclose(gb.numpy(), [1.0], rtol=1e-6)


def test_a_symbolic_tensor_made_outside_a_trace_says_so_when_read():
    value = ops.mean(fg.Input(shape=(3,)))
    for read in (np.asarray, float):
        with pytest.raises(fg.TraceError, match=r"test_tape\.py:\d+: a symbolic tensor .* "
                                                r"outside any traced function: it is a value "
                                                r"of a graph being built"):
            read(value)

    @fg.function
    def inside(x):
        return float(ops.mean(x))

    with pytest.raises(fg.TraceError, match=r"while tracing; its value is unknown until"):
        inside(X)


def test_output_gradients_must_have_their_targets_shapes():
    def seeded(seed):
        @fg.function
        def grads(a):
            with fg.GradientTape() as tape:
                loss = ops.sum(a * a)
            return tape.gradient(loss, a, output_gradients=seed(a))
        return grads

    # a scalar target with (2, 3) seeds once gave 2 * 2 * 6 = 24 per entry instead of 2
    with pytest.raises(fg.ir.errors.ShapeError,
                       match=r"test_tape\.py:\d+: GradientTape\.gradient: output_gradients has "
                             r"type f32\[2,3\], but its target has type f32\[\]"):
        seeded(lambda a: ops.ones((2, 3)))(X)
    np.testing.assert_allclose(seeded(lambda a: 0.5)(X), X)   # a number: a scalar seed
    with pytest.raises(ValueError, match=r"output_gradients must have one seed per target, "
                                         r"got 2 for 1"):
        seeded(lambda a: [1.0, 1.0])(X)


def test_unconnected_gradients_is_checked_with_the_users_line():
    @fg.function
    def grads(a):
        with fg.GradientTape() as tape:
            loss = ops.sum(a)
        return tape.gradient(loss, a, unconnected_gradients="zeros")

    with pytest.raises(ValueError, match=r"test_tape\.py:\d+: GradientTape\.gradient: "
                                         r"unconnected_gradients must be 'none' or 'zero' .*"
                                         r"got 'zeros'"):
        grads(X)


def test_sources_must_be_variables_or_tensors(wb):
    w, _, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape() as tape:
            y = ops.sum(ops.matmul(x, w.read_value()))
        return tape.gradient(y, [w, 3.0])

    with pytest.raises(TypeError, match=r"gradient sources must be variables or symbolic "
                                        r"tensors, got 3\.0"):
        grads(X)


def test_an_integer_source_is_named_with_the_users_line(wb):
    w, _, _ = wb
    step = fg.Variable(3, "step", "counter/step", trainable=False, dtype="int64")

    @fg.function
    def grads(x, labels):
        with fg.GradientTape() as tape:
            y = ops.sum(ops.matmul(x, w.read_value())) + ops.sum(ops.cast(labels, "float32"))
        return tape.gradient(y, {"kernel": w, "labels": labels})

    with pytest.raises(fg.ir.FusegraphError,
                       match=r"test_tape\.py:\d+: GradientTape\.gradient: source 1 of 2 "
                             r"\(tensor 'arg1' of shape \(None,\)\) is int32, but gradients "
                             r"flow along float values only") as info:
        grads(X, np.array([1, 0], "int32"))
    assert "<Value" not in str(info.value)

    @fg.function
    def of_a_counter(x):
        with fg.GradientTape() as tape:
            y = ops.sum(x) * ops.cast(step.read_value(), "float32")
        return tape.gradient(y, step)

    with pytest.raises(ValueError, match=r"test_tape\.py:\d+: GradientTape\.gradient: source "
                                         r"\(variable 'counter/step'\) is int64"):
        of_a_counter(X)


def test_an_integer_target_is_named(wb):
    w, _, _ = wb

    @fg.function
    def grads(x):
        with fg.GradientTape() as tape:
            y = ops.argmax(ops.matmul(x, w.read_value()), axis=-1)
        return tape.gradient(y, w)

    with pytest.raises(ValueError, match=r"test_tape\.py:\d+: GradientTape\.gradient: target "
                                         r"\(tensor .*of shape \(None,\)\) is int32"):
        grads(X)
