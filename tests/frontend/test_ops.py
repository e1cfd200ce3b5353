"""``fg.ops`` traced into functional models and run on the reference backend, vs numpy.

Each test builds ``fg.Model(fg.Input(...), f(x))``, runs it on random arrays and compares
with numpy (values, dtype and shape). Also: Python operators and indexing on symbolic
tensors, the dtype rules, and the printed IR of a tiny graph.
"""
import inspect
import textwrap
import warnings

import numpy as np
import pytest
import scipy.special

import fusegraph as fg

RNG = np.random.default_rng(1234)


def randn(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def run(fn, *arrays, batch=True):
    """Trace ``fn`` on Inputs shaped like ``arrays`` (batch dim symbolic unless ``batch`` is
    False), build a functional model and run it on ``arrays``."""
    inputs = [fg.Input(shape=a.shape[1:], dtype=a.dtype.name) if batch else
              fg.Input(batch_shape=a.shape, dtype=a.dtype.name) for a in arrays]
    outputs = fn(*inputs)
    if len(inputs) == 1:
        return fg.Model(inputs[0], outputs)(arrays[0])
    return fg.Model(inputs, outputs)(list(arrays))


def check(got, expected, rtol=1e-5, atol=1e-6, dtype=None):
    expected = np.asarray(expected)
    got = np.asarray(got)
    assert got.shape == expected.shape
    assert got.dtype == np.dtype(dtype or expected.dtype)
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def lineno():
    return inspect.currentframe().f_back.f_lineno


# --- activations ---------------------------------------------------------------------
def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = [
    ("relu", lambda x: np.maximum(x, 0)),
    ("relu6", lambda x: np.clip(x, 0, 6)),
    ("leaky_relu", lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", lambda x: np.where(x > 0, x, np.expm1(x))),
    ("gelu", _gelu_tanh),
    ("silu", lambda x: x / (1 + np.exp(-x))),
    ("swish", lambda x: x / (1 + np.exp(-x))),
    ("softplus", lambda x: np.logaddexp(0, x)),
    ("softsign", lambda x: x / (1 + np.abs(x))),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", np.tanh),
    ("hard_sigmoid", lambda x: np.clip(x / 6 + 0.5, 0, 1)),
]


@pytest.mark.parametrize("name,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_numpy(name, ref):
    x = randn(5, 7, scale=4.0)  # reaches past relu6's 6 and hard_sigmoid's +-3
    x[0, :3] = [0.0, 7.5, -7.5]
    check(run(getattr(fg.ops, name), x), ref(x.astype(np.float64)).astype(np.float32))


@pytest.mark.parametrize("name", ["relu", "relu6", "elu", "gelu", "leaky_relu", "sigmoid",
                                  "tanh", "softmax", "log_softmax", "softplus", "softsign",
                                  "silu", "swish"])
def test_nn_namespace_computes_the_same_as_ops(name):
    x = randn(3, 4, scale=3.0)
    check(run(getattr(fg.ops.nn, name), x), run(getattr(fg.ops, name), x))


def test_activation_arguments():
    x = randn(4, 6, scale=3.0)
    check(run(lambda t: fg.ops.leaky_relu(t, negative_slope=0.05), x),
          np.where(x > 0, x, 0.05 * x))
    check(run(lambda t: fg.ops.elu(t, alpha=0.5), x),
          np.where(x > 0, x, 0.5 * np.expm1(x.astype(np.float64))).astype(np.float32))
    exact = 0.5 * x * (1 + scipy.special.erf(x.astype(np.float64) / np.sqrt(2)))
    check(run(lambda t: fg.ops.gelu(t, approximate=False), x), exact.astype(np.float32))
    # the two forms differ (by up to ~1e-3), so each test above checks its own form
    assert np.abs(exact - _gelu_tanh(x.astype(np.float64))).max() > 1e-4


def test_elu_does_not_overflow_for_large_inputs():
    x = np.array([[100.0, 1e4, -1e4, -1.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an exp overflow in the dropped branch would warn
        out = run(fg.ops.elu, x)
    check(out, np.array([[100.0, 1e4, -1.0, np.expm1(-1.0)]], np.float32))


def test_softplus_is_stable_and_accurate_for_large_magnitudes():
    x = np.array([[-1e4, -80.0, -30.0, -15.0, -1e-3, 0.0, 1e-3, 15.0, 30.0, 80.0, 1e4]],
                 np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = run(fg.ops.softplus, x)
    expected = np.logaddexp(0.0, x.astype(np.float64))
    assert np.isfinite(out).all()
    # relative accuracy even where softplus is tiny (e^-80 ~ 1.8e-35)
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-38)


def test_sigmoid_saturates_without_nan():
    x = np.array([[-200.0, -30.0, 0.0, 30.0, 200.0]], np.float32)
    out = run(fg.ops.sigmoid, x)
    np.testing.assert_allclose(out, scipy.special.expit(x.astype(np.float64)), rtol=1e-6, atol=1e-38)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_softmax_and_log_softmax(axis):
    x = randn(2, 3, 4, scale=3.0)
    shifted = x.astype(np.float64) - x.max(axis=axis, keepdims=True)
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=axis, keepdims=True)
    out = run(lambda t: fg.ops.softmax(t, axis=axis), x)
    check(out, expected.astype(np.float32))
    np.testing.assert_allclose(np.asarray(out).sum(axis=axis), 1.0, rtol=1e-6)
    check(run(lambda t: fg.ops.log_softmax(t, axis=axis), x),
          np.log(expected).astype(np.float32), atol=1e-5)


def test_softmax_log_softmax_logsumexp_stable_for_large_logits():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0]], np.float32)
    p = np.exp([-2.0, -1.0, 0.0]) / np.exp([-2.0, -1.0, 0.0]).sum()
    check(run(fg.ops.softmax, x), np.array([p, p[::-1]], np.float32))
    check(run(fg.ops.log_softmax, x), np.log(np.array([p, p[::-1]])).astype(np.float32))
    lse = np.log(np.exp([-2.0, -1.0, 0.0]).sum())
    check(run(lambda t: fg.ops.logsumexp(t, axis=-1), x),
          np.array([1002.0 + lse, -1000.0 + lse], np.float32))


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_stable_forms_differentiate_without_the_max(name):
    """The max subtracted for stability has no gradient: the gradient (float64) matches
    central differences, ties in the max included, and the backward graph holds no mask
    of the maxima (``eq``)."""
    fn = getattr(fg.ops, name)
    weights = np.random.default_rng(3).normal(size=4)

    def objective(x):
        return fg.ops.sum(fn(x, axis=-1) * (weights[:1] if name == "logsumexp" else weights))

    @fg.function
    def value_and_grad(x):
        with fg.GradientTape() as tape:
            tape.watch(x)
            y = objective(x)
        return y, tape.gradient(y, x)

    x = np.random.default_rng(4).normal(size=(3, 4)) * 3.0
    x[1, 2] = x[1, 0] = x[1].max() + 1.0                 # a tie for the row's max
    _, grad = value_and_grad(x)
    assert " eq " not in value_and_grad.ir()
    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = (float(value_and_grad(x + step)[0])
                          - float(value_and_grad(x - step)[0])) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (-1, False), (1, True), ((1, 2), False)])
def test_logsumexp(axis, keepdims):
    x = randn(3, 4, 5)
    expected = scipy.special.logsumexp(x.astype(np.float64), axis=axis, keepdims=keepdims)
    check(run(lambda t: fg.ops.logsumexp(t, axis=axis, keepdims=keepdims), x),
          np.asarray(expected, np.float32))


@pytest.mark.parametrize("axes,keepdims", [((0,), False), (-1, True), ((0, 2), False)])
def test_moments(axes, keepdims):
    x = randn(4, 3, 5, scale=2.0) + 1.0
    mean, variance = run(lambda t: fg.ops.moments(t, axes, keepdims=keepdims), x)
    check(mean, x.mean(axis=axes, keepdims=keepdims), atol=1e-5)
    check(variance, x.var(axis=axes, keepdims=keepdims), atol=1e-5)
    mean2, var2 = run(lambda t: fg.ops.nn.moments(t, axes, keepdims=keepdims), x)
    check(mean2, mean)
    check(var2, variance)


# --- elementwise math ----------------------------------------------------------------------
POSITIVE = np.abs(randn(4, 5)) + 0.1
MATH = [
    ("exp", np.exp, None), ("log", np.log, POSITIVE), ("sqrt", np.sqrt, POSITIVE),
    ("rsqrt", lambda x: 1 / np.sqrt(x), POSITIVE), ("tanh", np.tanh, None),
    ("sin", np.sin, None), ("cos", np.cos, None), ("floor", np.floor, None),
    ("abs", np.abs, None), ("absolute", np.abs, None), ("negative", np.negative, None),
    ("sign", np.sign, None), ("square", np.square, None), ("erf", scipy.special.erf, None),
    ("reciprocal", lambda x: 1 / x, POSITIVE), ("log1p", np.log1p, POSITIVE),
]


@pytest.mark.parametrize("name,ref,data", MATH, ids=[m[0] for m in MATH])
def test_unary_math(name, ref, data):
    x = data
    if data is None:
        x = randn(4, 5, scale=2.0)
        x[0, 0] = 0.0  # sign, abs, floor at 0
    check(run(getattr(fg.ops, name), x), ref(x.astype(np.float64)).astype(np.float32))


def test_log1p_is_accurate_for_tiny_inputs():
    x = np.array([[1e-7, -1e-7, 3e-5, 1e-3, -0.5, 0.0, 10.0]], np.float32)
    out = run(fg.ops.log1p, x)
    np.testing.assert_allclose(out, np.log1p(x.astype(np.float64)), rtol=1e-6)


def test_unary_math_on_int_tensors_gives_float32():
    x = np.array([[1, 4, 9]], np.int32)
    check(run(fg.ops.sqrt, x), np.array([[1.0, 2.0, 3.0]], np.float32))
    check(run(fg.ops.abs, -x), x)  # abs keeps ints
    check(run(fg.ops.square, x), x * x)


BINARY = [
    ("add", np.add), ("subtract", np.subtract), ("multiply", np.multiply),
    ("divide", np.divide), ("true_divide", np.divide), ("maximum", np.maximum),
    ("minimum", np.minimum),
]


@pytest.mark.parametrize("name,ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary_math_with_broadcasting(name, ref):
    a, b = randn(4, 3, 5), randn(4, 1, 5) + 3.0
    check(run(getattr(fg.ops, name), a, b), ref(a, b))
    # a tensor with a numpy array, and a Python number
    c = randn(5)
    check(run(lambda t: getattr(fg.ops, name)(t, c), a), ref(a, c))
    check(run(lambda t: getattr(fg.ops, name)(2.5, t), a), ref(np.float32(2.5), a))


def test_power():
    a, b = np.abs(randn(3, 4)) + 0.5, randn(3, 4)
    check(run(fg.ops.power, a, b), np.power(a, b), rtol=1e-5)
    check(run(lambda t: fg.ops.power(t, 3), a), a ** 3, rtol=1e-5)


COMPARISONS = [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
               ("less_equal", np.less_equal), ("greater", np.greater),
               ("greater_equal", np.greater_equal)]


@pytest.mark.parametrize("name,ref", COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons(name, ref):
    a = np.array([[1.0, 2.0, 3.0, 2.0]], np.float32).repeat(3, axis=0)
    b = np.array([[2.0, 2.0, 2.0, 5.0]], np.float32).repeat(3, axis=0)
    check(run(getattr(fg.ops, name), a, b), ref(a, b))
    check(run(lambda t: getattr(fg.ops, name)(t, 2), a), ref(a, 2))


def test_logical_ops():
    a = np.array([[True, True, False, False]])
    b = np.array([[True, False, True, False]])
    check(run(fg.ops.logical_and, a, b), a & b)
    check(run(fg.ops.logical_or, a, b), a | b)
    check(run(fg.ops.logical_not, a), ~a)


def test_where_with_tensors_numbers_and_broadcasting():
    x = randn(4, 5)
    check(run(lambda t: fg.ops.where(t > 0, t, 0.0), x), np.where(x > 0, x, 0).astype(np.float32))
    y = randn(4, 1)
    check(run(lambda t, u: fg.ops.where(t < u, u, t), x, y), np.where(x < y, y, x))
    check(run(lambda t: fg.ops.where(t > 0, 1, -1), x), np.where(x > 0, 1, -1).astype(np.int32))


def test_cast():
    x = np.array([[-1.7, -0.2, 0.0, 0.6, 2.9]], np.float32)
    check(run(lambda t: fg.ops.cast(t, "int32"), x), x.astype(np.int32))  # toward zero
    check(run(lambda t: fg.ops.cast(t, "bool"), x), x.astype(bool))
    check(run(lambda t: fg.ops.cast(t, "float64"), x), x.astype(np.float64))
    assert fg.ops.cast(fg.Input((5,)), "int64").dtype == "int64"


def test_clip():
    x = randn(4, 6, scale=3.0)
    check(run(lambda t: fg.ops.clip(t, -1.0, 0.5), x), np.clip(x, -1.0, 0.5))
    i = np.arange(12, dtype=np.int32).reshape(2, 6)
    check(run(lambda t: fg.ops.clip(t, 2, 8), i), np.clip(i, 2, 8))


# --- reductions --------------------------------------------------------------------------
REDUCTIONS = [("sum", np.sum), ("reduce_sum", np.sum), ("mean", np.mean),
              ("reduce_mean", np.mean), ("max", np.max), ("reduce_max", np.max),
              ("min", np.min), ("reduce_min", np.min)]
AXES = [None, 0, 1, -1, (1, 2), (0, -1), (-3, 1, 2)]


@pytest.mark.parametrize("name,ref", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
def test_reductions_over_axes_with_and_without_keepdims(name, ref):
    x = randn(4, 3, 5)
    fn = getattr(fg.ops, name)
    for axis in AXES:
        for keepdims in (False, True):
            out = run(lambda t: fn(t, axis=axis, keepdims=keepdims), x)
            check(out, ref(x.astype(np.float64), axis=axis, keepdims=keepdims).astype(np.float32))


def test_reductions_on_ints():
    x = np.arange(24, dtype=np.int32).reshape(4, 6) - 10
    check(run(lambda t: fg.ops.sum(t, axis=1), x), x.sum(axis=1).astype(np.int32))
    check(run(lambda t: fg.ops.max(t, axis=0), x), x.max(axis=0))
    check(run(lambda t: fg.ops.mean(t, axis=1), x), x.mean(axis=1).astype(np.float32))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name):
    x = randn(4, 3, 5)
    ref = getattr(np, name)
    fn = getattr(fg.ops, name)
    check(run(lambda t: fn(t, axis=-1), x), ref(x, axis=-1).astype(np.int32))
    check(run(lambda t: fn(t, axis=1, keepdims=True), x),
          ref(x, axis=1, keepdims=True).astype(np.int32))
    # axis=None flattens, which needs every size known: a fixed batch
    check(run(fn, x, batch=False), np.asarray(ref(x), np.int32))


def test_argmax_takes_the_first_of_ties():
    x = np.array([[1.0, 3.0, 3.0, 0.0]], np.float32)
    check(run(lambda t: fg.ops.argmax(t, axis=-1), x), np.array([1], np.int32))


# --- contraction --------------------------------------------------------------------------
def test_matmul_with_weights_and_rank1_operands():
    x, w, v = randn(4, 3), randn(3, 5), randn(3)
    check(run(lambda t: fg.ops.matmul(t, w), x), x @ w, rtol=1e-5, atol=1e-5)
    check(run(lambda t: fg.ops.dot(t, w), x), x @ w, rtol=1e-5, atol=1e-5)
    out = run(lambda t: fg.ops.matmul(t, v), x)  # (B,3) @ (3,) -> (B,)
    check(out, x @ v, rtol=1e-5, atol=1e-5)
    out = run(lambda t: fg.ops.matmul(v, fg.ops.transpose(t)), x)  # (3,) @ (3,B) -> (B,)
    check(out, v @ x.T, rtol=1e-5, atol=1e-5)
    check(run(lambda t: fg.ops.matmul(t, t), v, batch=False), np.float32(v @ v), rtol=1e-5)


def test_batched_matmul_broadcasts_batch_dims():
    a, b, w = randn(4, 2, 3), randn(4, 3, 5), randn(3, 6)
    check(run(fg.ops.matmul, a, b), a @ b, rtol=1e-5, atol=1e-5)
    check(run(lambda t: fg.ops.matmul(t, w), a), a @ w, rtol=1e-5, atol=1e-5)
    c = randn(4, 1, 3, 2)
    check(run(fg.ops.matmul, a, c), np.matmul(a, c), rtol=1e-5, atol=1e-5)


def test_matmul_of_ints_stays_int():
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    w = np.arange(12, dtype=np.int32).reshape(3, 4)
    check(run(lambda t: fg.ops.matmul(t, w), a), a @ w)


# --- movement -----------------------------------------------------------------------------
def test_reshape_with_minus_one_as_the_batch_dim():
    x = randn(4, 2, 6)
    check(run(lambda t: fg.ops.reshape(t, (-1, 3, 4)), x), x.reshape(-1, 3, 4))
    check(run(lambda t: fg.ops.reshape(t, (None, 12)), x), x.reshape(-1, 12))
    check(run(lambda t: fg.ops.reshape(t, (-1, 2, 2, 3)), x), x.reshape(-1, 2, 2, 3))
    t = fg.ops.reshape(fg.Input((2, 6)), (-1, 3, 4))
    assert t.shape == (None, 3, 4)


def test_reshape_with_fixed_shapes():
    x = randn(2, 6)
    check(run(lambda t: fg.ops.reshape(t, (3, 4)), x, batch=False), x.reshape(3, 4))
    check(run(lambda t: fg.ops.reshape(t, (4, -1)), x, batch=False), x.reshape(4, -1))
    check(run(lambda t: fg.ops.reshape(t, -1), x, batch=False), x.reshape(-1))


def test_transpose():
    x = randn(4, 2, 3)
    check(run(fg.ops.transpose, x), x.transpose())
    check(run(lambda t: fg.ops.transpose(t, (0, 2, 1)), x), x.transpose(0, 2, 1))
    check(run(lambda t: fg.ops.transpose(t, (-1, 0, -2)), x), x.transpose(2, 0, 1))


def test_expand_dims_and_squeeze():
    x = randn(4, 3)
    check(run(lambda t: fg.ops.expand_dims(t, 1), x), x[:, None, :])
    check(run(lambda t: fg.ops.expand_dims(t, -1), x), x[:, :, None])
    check(run(lambda t: fg.ops.expand_dims(t, 0), x), x[None])
    y = randn(4, 1, 3, 1)
    check(run(fg.ops.squeeze, y), y.reshape(4, 3))  # the batch dim is not known to be 1
    check(run(lambda t: fg.ops.squeeze(t, axis=1), y), y[:, 0])
    check(run(lambda t: fg.ops.squeeze(t, axis=-1), y), y[..., 0])
    check(run(lambda t: fg.ops.squeeze(t, axis=(1, 3)), y), y.reshape(4, 3))


def test_broadcast_to():
    x = randn(3, 1)
    check(run(lambda t: fg.ops.broadcast_to(t, (2, 3, 4)), x, batch=False),
          np.broadcast_to(x, (2, 3, 4)))


def test_concatenate_and_stack():
    a, b = randn(4, 2, 3), randn(4, 5, 3)
    check(run(lambda s, t: fg.ops.concatenate([s, t], axis=1), a, b),
          np.concatenate([a, b], axis=1))
    c = randn(4, 2, 3)
    check(run(lambda s, t: fg.ops.concatenate([s, t, s], axis=-1), a, c),
          np.concatenate([a, c, a], axis=-1))
    check(run(lambda s, t: fg.ops.stack([s, t], axis=1), a, c), np.stack([a, c], axis=1))
    check(run(lambda s, t: fg.ops.stack([s, t], axis=-1), a, c), np.stack([a, c], axis=-1))
    check(run(lambda s, t: fg.ops.stack([s, t]), a, c), np.stack([a, c]))
    i = np.ones((4, 2, 3), np.int32)
    out = run(lambda s, t: fg.ops.concatenate([s, t], axis=1), i, a)  # promotes to float32
    check(out, np.concatenate([i.astype(np.float32), a], axis=1))


def test_take():
    x = randn(4, 5, 3)
    check(run(lambda t: fg.ops.take(t, [4, 0, 0, 2], axis=1), x), np.take(x, [4, 0, 0, 2], axis=1))
    check(run(lambda t: fg.ops.take(t, np.array([[1, 2], [0, 1]]), axis=-1), x),
          np.take(x, [[1, 2], [0, 1]], axis=-1))
    idx = np.array([[3, 1], [0, 0], [2, 4], [1, 1]], np.int32)
    check(run(lambda t, i: fg.ops.take(t, i, axis=1), x, idx), np.take(x, idx, axis=1))
    check(run(lambda t: fg.ops.take(t, [0, 7, 29]), x[:2], batch=False),
          np.take(x[:2], [0, 7, 29]))


def test_one_hot():
    idx = np.array([[0, 2], [4, 1], [3, 3]], np.int32)
    check(run(lambda t: fg.ops.one_hot(t, 5), idx), np.eye(5, dtype=np.float32)[idx])
    check(run(lambda t: fg.ops.one_hot(t, 5, axis=1), idx),
          np.eye(5, dtype=np.float32)[idx].transpose(0, 2, 1))
    check(run(lambda t: fg.ops.one_hot(t, 5, dtype="int32"), idx), np.eye(5, dtype=np.int32)[idx])
    # an out-of-range index gives a row of zeros (as Keras's one_hot)
    check(run(lambda t: fg.ops.one_hot(t, 3), np.array([[5, 1]], np.int32)),
          np.array([[[0, 0, 0], [0, 1, 0]]], np.float32))


def test_arange():
    x = randn(4, 6)
    f32 = np.float32
    check(run(lambda t: t + fg.ops.arange(6), x), x + np.arange(6, dtype=f32))
    check(run(lambda t: t * fg.ops.arange(2, 14, 2), x), x * np.arange(2, 14, 2, dtype=f32))
    check(run(lambda t: t - fg.ops.arange(1.0, 2.5, 0.25), x), x - np.arange(1.0, 2.5, 0.25, dtype=f32))
    assert fg.ops.arange(5).dtype == "int32" and fg.ops.arange(5).shape == (5,)
    assert fg.ops.arange(0.0, 1.0, 0.3).dtype == "float32"
    assert fg.ops.arange(0, 1, 0.3).shape == (4,)
    assert fg.ops.arange(5, 1).shape == (0,)
    check(run(lambda t: fg.ops.arange(10, 0, -3) + fg.ops.sum(t, axis=-1, keepdims=True), x),
          np.arange(10, 0, -3, dtype=f32) + x.sum(axis=-1, keepdims=True), atol=1e-5)


def test_iota():
    x = randn(2, 3)
    check(run(lambda t: t + fg.ops.iota((2, 3), axis=0), x, batch=False),
          x + np.arange(2, dtype=np.float32)[:, None])


def test_zeros_like_and_ones_like():
    x = randn(4, 3)
    check(run(fg.ops.zeros_like, x), np.zeros_like(x))
    check(run(fg.ops.ones_like, x), np.ones_like(x))
    check(run(lambda t: fg.ops.ones_like(t, dtype="int32"), x), np.ones((4, 3), np.int32))
    check(run(lambda t: fg.ops.zeros_like(t) + t, x), x)


def test_zeros_ones_and_full_take_symbolic_shapes():
    x = randn(4, 3)
    check(run(lambda t: fg.ops.zeros((fg.ops.shape(t)[0], 3)) + t, x), x)
    check(run(lambda t: fg.ops.ones((fg.ops.shape(t)[0], 2), dtype="int32"), x),
          np.ones((4, 2), np.int32))
    check(run(lambda t: fg.ops.full((3,), 2.5) * t, x), x * 2.5)
    check(run(lambda t: fg.ops.ones(3) + t, x), x + 1)
    check(run(lambda t: fg.ops.full_like(t, 7, dtype="int64"), x), np.full((4, 3), 7, np.int64))


def test_convert_to_tensor():
    x = randn(4, 3)
    c = np.array([[1, 2, 3]])
    check(run(lambda t: t + fg.ops.convert_to_tensor(c), x), x + c.astype(np.float32))
    assert fg.ops.convert_to_tensor(c).dtype == "int32"
    assert fg.ops.convert_to_tensor(c, "float64").dtype == "float64"
    assert fg.ops.convert_to_tensor(1.5).shape == ()


# --- Python operators ----------------------------------------------------------------------
def test_arithmetic_operators():
    a, b = randn(4, 3), randn(4, 3)
    check(run(lambda s, t: s + t, a, b), a + b)
    check(run(lambda s, t: s - t, a, b), a - b)
    check(run(lambda s, t: s * t, a, b), a * b)
    check(run(lambda s, t: s / t, a, b), a / b)
    check(run(lambda s, t: -s, a, b), -a)
    check(run(lambda s, t: +s, a, b), a)
    check(run(lambda s, t: abs(s), a, b), np.abs(a))
    p = np.abs(a) + 0.5
    check(run(lambda s: s ** 2, p), p ** 2, rtol=1e-6)
    check(run(lambda s: s ** 0.5, p), np.sqrt(p), rtol=1e-6)
    w = randn(3, 2)
    check(run(lambda s: s @ w, a), a @ w, atol=1e-5)


def test_reflected_operators_with_numbers_and_numpy_arrays():
    a = np.abs(randn(4, 3)) + 0.5
    row = randn(3)
    check(run(lambda s: 2 + s, a), 2 + a)
    check(run(lambda s: 1.5 - s, a), 1.5 - a)
    check(run(lambda s: 3 * s, a), 3 * a)
    check(run(lambda s: 1 / s, a), 1 / a)
    check(run(lambda s: 2 ** s, a), 2 ** a, rtol=1e-6)
    check(run(lambda s: row + s, a), row + a)
    check(run(lambda s: row - s, a), row - a)
    check(run(lambda s: row * s, a), row * a)
    check(run(lambda s: row / s, a), row / a)
    check(run(lambda s: np.float32(2.0) * s, a), 2 * a)
    m = randn(2, 4)
    check(run(lambda s: m @ s, a, batch=False), m @ a, atol=1e-5)
    check(run(lambda s: row < s, a), row < a)


def test_comparison_operators():
    a = np.array([[1.0, 2.0, 3.0]], np.float32)
    b = np.array([[3.0, 2.0, 1.0]], np.float32)
    for op in ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]:
        check(run(lambda s, t: getattr(s, op)(t), a, b), getattr(a, op)(b))
    check(run(lambda s: s == 2.0, a), a == 2.0)
    check(run(lambda s: s != 2.0, a), a != 2.0)
    check(run(lambda s: 2.0 < s, a), 2.0 < a)


def test_boolean_operators():
    a = np.array([[True, True, False, False]])
    b = np.array([[True, False, True, False]])
    check(run(lambda s, t: s & t, a, b), a & b)
    check(run(lambda s, t: s | t, a, b), a | b)
    check(run(lambda s, t: ~s, a, b), ~a)
    x = randn(4, 5)
    check(run(lambda t: (t > -0.5) & (t < 0.5), x), (x > -0.5) & (x < 0.5))


# --- indexing ------------------------------------------------------------------------------
INDEXES = [
    (slice(None), 0), (slice(None), -1), (Ellipsis, 0), (Ellipsis, -2),
    (slice(None), slice(1, 5, 2)), (slice(None), slice(None, None, 3), slice(1, None)),
    (slice(None), None), (None,), (Ellipsis, None), (slice(None), 2, slice(-3, None)),
    (slice(None), slice(10, 20)), (slice(None), slice(-100, 2)), (Ellipsis,),
]


@pytest.mark.parametrize("key", INDEXES, ids=[repr(k) for k in INDEXES])
def test_getitem_matches_numpy(key):
    x = randn(3, 5, 6)
    check(run(lambda t: t[key], x), x[key])


def test_getitem_on_fixed_axes_with_ints():
    x = randn(3, 5, 6)
    check(run(lambda t: t[1], x, batch=False), x[1])
    check(run(lambda t: t[-1, 2:, ::2], x, batch=False), x[-1, 2:, ::2])
    check(run(lambda t: t[0:3:2, -2], x, batch=False), x[0:3:2, -2])


def test_getitem_with_an_int_tensor():
    x = randn(4, 5)
    idx = np.array([3, 0, 3], np.int32)
    check(run(lambda t: t[idx], x, batch=False), x[idx])
    check(run(lambda t: t[[1, -1]], x, batch=False), x[[1, -1]])
    check(run(lambda t: t[fg.ops.argmax(t[:, 0], axis=0)], x, batch=False), x[np.argmax(x[:, 0])])
    # on the batch axis, whose size is unknown while tracing
    check(run(lambda t: t[fg.ops.convert_to_tensor(idx)], x), x[idx])
    check(run(lambda t: t[..., 2], x), x[..., 2])


# --- dtype rules ---------------------------------------------------------------------------
def test_python_float_with_int_tensor_gives_float32():
    i = np.array([[1, 2, 3]], np.int32)
    t = fg.Input((3,), dtype="int32")
    assert (t + 1.5).dtype == "float32"
    assert (1.5 * t).dtype == "float32"
    assert (t + 2).dtype == "int32"
    check(run(lambda s: s + 1.5, i), (i + 1.5).astype(np.float32), dtype=np.float32)
    check(run(lambda s: s * 2, i), i * 2)


def test_int_divided_by_int_gives_float32():
    a = np.array([[7, -7, 1]], np.int32)
    b = np.array([[2, 2, 3]], np.int32)
    assert (fg.Input((3,), dtype="int32") / 2).dtype == "float32"
    check(run(lambda s, t: s / t, a, b), (a / b).astype(np.float32))


def test_tensor_dtype_promotion():
    f32, f64 = randn(2, 3), randn(2, 3).astype(np.float64)
    i32 = np.array([[1, 2, 3], [4, 5, 6]], np.int32)
    i64 = i32.astype(np.int64)
    check(run(lambda s, t: s + t, f32, f64), f32 + f64)  # promotes to float64
    check(run(lambda s, t: s + t, i32, i64), i32 + i64)
    # an int with a float gives that float (Keras), not numpy's float64
    check(run(lambda s, t: s + t, i32, f32), (i32 + f32).astype(np.float32), dtype=np.float32)
    check(run(lambda s, t: s * t, f64, i32), f64 * i32)
    check(run(lambda s: s + np.array([1, 2, 3]), f32), f32 + np.array([1, 2, 3], np.float32))


# --- printed IR ------------------------------------------------------------------------------
def test_printed_ir_of_a_tiny_graph():
    x = fg.Input(shape=(4,), name="x")
    line = lineno() + 1
    y = fg.ops.reduce_mean(fg.ops.square(x - 1.0), axis=-1)
    model = fg.Model(x, y, name="tiny")
    site = f"test_ops.py:{line}"
    expected = textwrap.dedent(f"""\
        graph @tiny(%x: f32[B,4]) -> (f32[B]) {{
          %0: f32[] = constant {{value=1.0, dtype=f32}}                    # {site}
          %1: f32[B,4] = sub %x, %0                                      # {site}
          %2: f32[B,4] = mul %1, %1                                      # {site}
          %3: f32[B] = reduce_mean %2 {{axes=[1], keepdims=false}}         # {site}
          return %3
        }}
        """)
    assert model.ir() == expected
    x_val = randn(3, 4)
    check(model(x_val), ((x_val - 1.0) ** 2).mean(axis=-1))


def test_ops_inside_a_layer_are_attributed_to_it():
    class Shift(fg.layers.Layer):
        def call(self, x):
            return x * 2.0 + 1.0

    x = fg.Input(shape=(3,), name="x")
    model = fg.Model(x, Shift(name="shift")(x), name="m")
    text = model.ir()
    assert text.count(" shift\n") == 4  # two constants, mul, add: each tagged with the layer
    x_val = randn(2, 3)
    check(model(x_val), x_val * 2 + 1)



def test_an_integer_that_does_not_fit_is_refused_not_wrapped():
    """2**40 with an int32 tensor once became 0 (numpy's wraparound): now a ValueError
    at the user's line naming the value and the range."""
    fn = fg.function(lambda a: a + 2 ** 40)
    with pytest.raises(ValueError, match=r"test_ops\.py:\d+: a constant of dtype int32: the "
                                         r"value 1099511627776 does not fit int32 \(the range "
                                         r"is -2147483648 to 2147483647\)"):
        fn(np.ones(2, "int32"))
    fits = fg.function(lambda a: a + (2 ** 31 - 1))(np.zeros(2, "int32"))
    np.testing.assert_array_equal(fits, [2 ** 31 - 1] * 2)
    wide = fg.function(lambda a: a + 2 ** 40)(np.ones(2, "int64"))
    np.testing.assert_array_equal(wide, [2 ** 40 + 1] * 2)
    with pytest.raises(ValueError, match=r"the value -3000000000 does not fit int32"):
        fg.function(lambda a: a * np.array([1, -3_000_000_000]).tolist()[1])(np.ones(2, "int32"))


def test_constants_of_other_dtypes_meeting_a_tensor():
    """A uint8 array meets an int tensor as int32 (uint64 as int64, range-checked); None
    or a string is a TypeError at the user's line (not numpy's dtype('O'))."""
    got = fg.function(lambda a: a + np.array([200, 1], "uint8"),
                      symbolic_batch=False)(np.ones(2, "int32"))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, [201, 2])
    with pytest.raises(ValueError, match=r"test_ops\.py:\d+: a constant of dtype int64: the value "
                                         r"9223372036854775808 does not fit int64 .*\(use a float\)"):
        fg.function(lambda a: a + np.array([2 ** 63], "uint64"))(np.ones(1, "int64"))
    for bad in (None, "abc"):
        with pytest.raises(TypeError, match=r"test_ops\.py:\d+: expected a tensor, a number or "
                                            r"an array of numbers, got "):
            fg.function(lambda a: a + bad)(np.ones(2, "float32"))


def test_normalize_and_l2_normalize_as_keras_and_tensorflow():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-5, 0.0]], np.float32)
    with np.errstate(divide="ignore"):                  # the zero row: 0 * min(inf, 1e7)
        want = x * np.minimum(1 / np.sqrt((x ** 2).sum(-1, keepdims=True)), 1e7)
    np.testing.assert_allclose(np.asarray(fg.ops.normalize(x)), want,
                               rtol=1e-6)                   # Keras's: [1e-5, 0] -> [1, 0]
    np.testing.assert_allclose(np.asarray(fg.ops.normalize(x, axis=0, order=1)),
                               x / np.maximum(np.abs(x).sum(0), 1e-7), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(fg.ops.nn.l2_normalize(x)),
                               x / np.sqrt((x ** 2).sum()), rtol=1e-6)
    with pytest.raises(ValueError, match="order must be 1 or 2, got 3"):
        fg.ops.normalize(x, order=3)
