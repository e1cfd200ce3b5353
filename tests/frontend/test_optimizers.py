"""Optimizers against plain-numpy implementations of Keras 3's update rules
(``shared/KERAS_COMPAT.md``, "Optimizer updates"), applied eagerly with numpy gradients
and inside one traced ``fg.function`` with GradientTape gradients; clipping, weight
decay, schedules, None gradients, and bad calls that must change nothing."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import optimizers
from fusegraph.frontend import ops
from fusegraph.frontend.dispatch import eager_functions
from fusegraph.frontend.tensor import TraceError

W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], np.float32)
B0 = np.array([0.1, -0.2, 0.3], np.float32)
_rng = np.random.default_rng(7)
# three steps of fixed gradients for (w, b)
GRADS = [(_rng.normal(size=W0.shape).astype(np.float32),
          _rng.normal(size=B0.shape).astype(np.float32)) for _ in range(3)]
# the quadratic loss of the traced tests: 0.5 * sum(C * (x - T)**2), gradient C * (x - T)
C_W = np.array([[1.0, 2.0, 0.5], [3.0, 1.0, 0.25]], np.float32)
T_W = np.full(W0.shape, 0.3, np.float32)
C_B, T_B = np.array([2.0, 0.5, 1.0], np.float32), np.array([1.0, -1.0, 0.0], np.float32)


# --- the Keras rules in plain numpy (float64) ---------------------------------------------------
def np_clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum(np.sum(g * g) for g in grads))
        return [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class NumpyOptimizer:
    """Keras 3's rules, written from the formulas: w, g, lr, t (from 1)."""

    def __init__(self, kind, learning_rate, momentum=0.0, nesterov=False, rho=0.9,
                 epsilon=1e-7, centered=False, beta_1=0.9, beta_2=0.999, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.kind, self.lr = kind, learning_rate
        self.momentum, self.nesterov, self.rho, self.epsilon = momentum, nesterov, rho, epsilon
        self.centered, self.beta_1, self.beta_2, self.amsgrad = centered, beta_1, beta_2, amsgrad
        self.weight_decay = weight_decay
        self.clip = dict(clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm)
        self.t = 0
        self.slots: dict = {}

    def slot(self, i, name, like):
        return self.slots.setdefault((i, name), np.zeros_like(like, np.float64))

    def step(self, params, grads):
        lr = self.lr(self.t) if callable(self.lr) else self.lr
        self.t += 1
        t = self.t
        grads = np_clip([np.asarray(g, np.float64) for g in grads], **self.clip)
        params = [np.asarray(p, np.float64) for p in params]
        if self.weight_decay is not None:
            params = [p - p * self.weight_decay * lr for p in params]
        out = []
        for i, (w, g) in enumerate(zip(params, grads)):
            if self.kind == "sgd":
                if self.momentum:
                    m = self.momentum * self.slot(i, "m", w) - lr * g
                    self.slots[(i, "m")] = m
                    w = w + (self.momentum * m - lr * g if self.nesterov else m)
                else:
                    w = w - lr * g
            elif self.kind == "rmsprop":
                v = self.rho * self.slot(i, "v", w) + (1 - self.rho) * g * g
                self.slots[(i, "v")] = v
                if self.centered:
                    a = self.rho * self.slot(i, "a", w) + (1 - self.rho) * g
                    self.slots[(i, "a")] = a
                    increment = lr * g / np.sqrt(v - a * a + self.epsilon)
                else:
                    increment = lr * g / np.sqrt(v + self.epsilon)
                if self.momentum:
                    mom = self.momentum * self.slot(i, "mom", w) + increment
                    self.slots[(i, "mom")] = mom
                    w = w - mom
                else:
                    w = w - increment
            else:  # adam / adamw (the decay was applied above)
                alpha = lr * np.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
                m = self.slot(i, "m", w)
                m = m + (g - m) * (1 - self.beta_1)
                v = self.slot(i, "v", w)
                v = v + (g * g - v) * (1 - self.beta_2)
                self.slots[(i, "m")], self.slots[(i, "v")] = m, v
                if self.amsgrad:
                    v = np.maximum(self.slot(i, "vhat", w), v)
                    self.slots[(i, "vhat")] = v
                w = w - alpha * m / (np.sqrt(v) + self.epsilon)
            out.append(w)
        return out


CASES = {
    "sgd": (optimizers.SGD, "sgd", dict(learning_rate=0.1)),
    "sgd_momentum": (optimizers.SGD, "sgd", dict(learning_rate=0.1, momentum=0.9)),
    "sgd_nesterov": (optimizers.SGD, "sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": (optimizers.SGD, "sgd", dict(learning_rate=0.1, weight_decay=0.05)),
    "rmsprop": (optimizers.RMSprop, "rmsprop", dict(learning_rate=0.01)),
    "rmsprop_momentum": (optimizers.RMSprop, "rmsprop", dict(learning_rate=0.01, momentum=0.5)),
    "rmsprop_centered": (optimizers.RMSprop, "rmsprop", dict(learning_rate=0.01, centered=True)),
    "rmsprop_centered_momentum": (optimizers.RMSprop, "rmsprop",
                                  dict(learning_rate=0.01, centered=True, momentum=0.5, rho=0.8)),
    "adam": (optimizers.Adam, "adam", dict(learning_rate=0.05)),
    "adam_amsgrad": (optimizers.Adam, "adam", dict(learning_rate=0.05, amsgrad=True)),
    "adamw": (optimizers.AdamW, "adam", dict(learning_rate=0.05)),
    "adamw_strong_decay": (optimizers.AdamW, "adam", dict(learning_rate=0.05, weight_decay=0.5,
                                                          beta_1=0.8, beta_2=0.99)),
}


def make(case):
    cls, kind, kwargs = CASES[case]
    ref_kwargs = dict(kwargs)
    if cls is optimizers.AdamW:
        ref_kwargs.setdefault("weight_decay", 0.004)  # AdamW's default
    return cls(**kwargs), NumpyOptimizer(kind, **ref_kwargs)


def variables():
    return (fg.Variable(W0, "kernel", "dense/kernel"), fg.Variable(B0, "bias", "dense/bias"))


def traced_apply(opt, vs):
    """Apply gradients given as arrays inside one ``fg.function``. ``fg.function`` makes an
    array argument's first axis symbolic (the batch), so each gradient travels with a
    leading axis of 1 that the traced function sums away."""
    @fg.function
    def apply_step(*grads):
        opt.apply_gradients(zip([ops.sum(g, axis=0) for g in grads], vs))

    return lambda *grads: apply_step(*[np.asarray(g)[np.newaxis] for g in grads])


def eager_apply(opt, vs):
    return lambda *grads: opt.apply_gradients(zip(grads, vs))


def eager_traces(opt) -> int:
    """How many update graphs the optimizer's eager steps traced (0: none ran)."""
    return sum(len(f._traces) for f in eager_functions(opt).values())


def assert_close(actual, expected, start):
    # compare the change too: the updates are small next to the weights
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(actual - start, expected - start, rtol=2e-4, atol=2e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_three_eager_steps_match_numpy(case):
    opt, ref = make(case)
    w, b = variables()
    params = [W0, B0]
    for step, (gw, gb) in enumerate(GRADS):
        result = opt.apply_gradients([(gw, w), (gb, b)])
        params = ref.step(params, [gw, gb])
        assert result is opt.iterations
        assert int(opt.iterations.numpy()) == step + 1
        assert_close(w.numpy(), params[0], W0)
        assert_close(b.numpy(), params[1], B0)
    assert w.numpy().dtype == np.float32
    assert eager_traces(opt) == 1  # one compiled update, reused every step


@pytest.mark.parametrize("case", sorted(CASES))
def test_three_steps_inside_one_function_match_numpy(case):
    opt, ref = make(case)
    w, b = variables()

    @fg.function
    def train_step():
        with fg.GradientTape() as tape:
            dw, db = w.read_value() - T_W, b.read_value() - T_B
            loss = 0.5 * ops.sum(C_W * dw * dw) + 0.5 * ops.sum(C_B * db * db)
        grads = tape.gradient(loss, [w, b])
        opt.apply_gradients(zip(grads, [w, b]))
        return loss

    params = [W0.astype(np.float64), B0.astype(np.float64)]
    for step in range(3):
        loss = train_step()
        expected_loss = 0.5 * np.sum(C_W * (params[0] - T_W) ** 2) + \
            0.5 * np.sum(C_B * (params[1] - T_B) ** 2)
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
        params = ref.step(params, [C_W * (params[0] - T_W), C_B * (params[1] - T_B)])
        assert int(opt.iterations.numpy()) == step + 1
        assert_close(w.numpy(), params[0], W0)
        assert_close(b.numpy(), params[1], B0)
    # the optimizer's state is in the step graph: its slots are parameters and results
    text = train_step.ir()
    for v in opt.variables:
        assert f"%{v.path}:" in text
    assert eager_traces(opt) == 0  # nothing ran outside the trace


def test_eager_and_traced_give_the_same_numbers():
    results = []
    for traced in (False, True):
        fg.utils.clear_session()
        opt = optimizers.Adam(0.1, amsgrad=True)
        w, b = variables()
        step = (traced_apply if traced else eager_apply)(opt, (w, b))
        for gw, gb in GRADS:
            step(gw, gb)
        results.append([v.numpy() for v in (w, b, *opt.variables)])
    for eager, traced in zip(*results):
        np.testing.assert_array_equal(eager, traced)


@pytest.mark.parametrize("clip", [dict(clipnorm=0.5), dict(clipvalue=0.3),
                                  dict(global_clipnorm=0.8), dict(clipnorm=100.0),
                                  dict(global_clipnorm=100.0)])
@pytest.mark.parametrize("traced", [False, True])
def test_clipping(clip, traced):
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.5, **clip)
    ref = NumpyOptimizer("sgd", learning_rate=0.1, momentum=0.5, **clip)
    w, b = variables()
    step = (traced_apply if traced else eager_apply)(opt, (w, b))
    params = [W0, B0]
    for gw, gb in GRADS:
        step(gw * 3, gb * 3)
        params = ref.step(params, [gw * 3, gb * 3])
    assert_close(w.numpy(), params[0], W0)
    assert_close(b.numpy(), params[1], B0)


def test_clipnorm_rescales_each_gradient_to_the_norm():
    opt = optimizers.SGD(learning_rate=1.0, clipnorm=1.0)
    w, b = variables()
    opt.apply_gradients([(np.full(W0.shape, 3.0, np.float32), w),
                         (np.full(B0.shape, 1e-3, np.float32), b)])
    np.testing.assert_allclose(np.linalg.norm(W0 - w.numpy()), 1.0, rtol=1e-6)  # clipped
    np.testing.assert_allclose(B0 - b.numpy(), 1e-3, atol=1e-7)  # under the norm: unchanged


@pytest.mark.parametrize("traced", [False, True])
def test_global_clipnorm_is_keras_formula_to_the_last_bit(traced):
    """Keras scales by c * min(1 / norm, 1 / c): within the norm, c * (1 / c), which is
    0.99999994 in float32 for c = 0.03, not 1 (c / max(norm, c) would leave g as is).
    The weights start at 0 and lr is 1, so they become -g * scale exactly."""
    c = 0.03
    gw, gb = np.full(W0.shape, 1e-3, np.float32), np.full(B0.shape, -2e-3, np.float32)
    for factor in (1, 100):                     # within the norm, past it
        opt = optimizers.SGD(learning_rate=1.0, global_clipnorm=c)
        vs = (fg.Variable(np.zeros_like(W0)), fg.Variable(np.zeros_like(B0)))
        (traced_apply if traced else eager_apply)(opt, vs)(gw * factor, gb * factor)
        norm = np.sqrt(np.sum(np.square(gw * factor)) + np.sum(np.square(gb * factor)),
                       dtype=np.float32)
        scale = np.float32(c) * np.minimum(np.float32(1) / norm, np.float32(1 / c))
        if factor == 1:
            assert scale == np.float32(0.99999994)
            np.testing.assert_array_equal(vs[0].numpy(), -gw * scale)
            np.testing.assert_array_equal(vs[1].numpy(), -gb * scale)
        else:     # the norm's float32 sum may round differently: to a few ulps
            np.testing.assert_allclose(vs[0].numpy(), -gw * factor * scale, rtol=1e-6)


def test_only_one_clip_argument():
    with pytest.raises(ValueError, match="only one of `clipnorm`, `clipvalue` and "
                                         "`global_clipnorm`.*clipnorm=1.0, clipvalue=0.5"):
        optimizers.Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="`clipnorm` must be a number >= 0"):
        optimizers.SGD(clipnorm=-1.0)


# --- learning rates and schedules --------------------------------------------------------------
def test_keras_defaults():
    sgd, rms, adam, adamw = (optimizers.SGD(), optimizers.RMSprop(), optimizers.Adam(),
                             optimizers.AdamW())
    assert np.isclose(sgd.learning_rate, 0.01) and sgd.momentum == 0.0 and not sgd.nesterov
    assert np.isclose(rms.learning_rate, 0.001) and (rms.rho, rms.momentum, rms.epsilon) == \
        (0.9, 0.0, 1e-7) and not rms.centered
    assert np.isclose(adam.learning_rate, 0.001) and (adam.beta_1, adam.beta_2, adam.epsilon) == \
        (0.9, 0.999, 1e-7) and not adam.amsgrad and adam.weight_decay is None
    assert np.isclose(adamw.learning_rate, 0.001) and adamw.weight_decay == 0.004
    assert [o.name for o in (sgd, rms, adam, adamw)] == ["SGD", "rmsprop", "adam", "adamw"]
    assert isinstance(adam.learning_rate, np.float32)


def test_default_adam_first_step_matches_keras_rule():
    w = fg.Variable(np.array([1.0, -2.0], np.float32), "w", "w")
    optimizers.Adam().apply_gradients([(np.array([0.5, -4.0], np.float32), w)])
    # t = 1: alpha = lr * sqrt(1 - b2) / (1 - b1); m = 0.1 g; v = 0.001 g^2
    g = np.array([0.5, -4.0])
    alpha = 0.001 * np.sqrt(1 - 0.999) / (1 - 0.9)
    expected = np.array([1.0, -2.0]) - alpha * 0.1 * g / (np.sqrt(0.001 * g * g) + 1e-7)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("traced", [False, True])
def test_setting_the_learning_rate_applies_to_the_next_step_without_retracing(traced):
    opt = optimizers.SGD(0.1)
    w = fg.Variable(np.zeros(3, np.float32), "w", "w")
    g = np.ones(3, np.float32)
    traces = []

    @fg.function
    def apply_step(g):
        traces.append(1)  # runs only when fg.function traces
        opt.apply_gradients([(ops.sum(g, axis=0), w)])

    run = (lambda g: apply_step(g[np.newaxis])) if traced else eager_apply(opt, [w])
    run(g)
    np.testing.assert_allclose(w.numpy(), -0.1)
    opt.learning_rate = 0.5
    assert np.isclose(opt.learning_rate, 0.5)
    run(g)
    np.testing.assert_allclose(w.numpy(), -0.6, rtol=1e-6)
    assert len(traces) == (1 if traced else 0)
    assert eager_traces(opt) == (0 if traced else 1)


def test_trace_version_counts_the_changes_a_traced_step_cannot_see():
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(0.1)
    w = fg.Variable(np.zeros(3, np.float32), "w", "w")
    assert opt.trace_version == 0
    opt.learning_rate = 0.5                      # a number: the graph reads the variable
    assert opt.trace_version == 0
    opt.learning_rate = schedule                 # a schedule is computed in the graph
    assert opt.trace_version == 1
    opt.learning_rate = schedule                 # the same one again: nothing changes
    assert opt.trace_version == 1
    eager_apply(opt, [w])(np.ones(3, np.float32))     # the eager step uses the schedule
    np.testing.assert_allclose(w.numpy(), -0.1)
    opt.learning_rate = optimizers.schedules.ExponentialDecay(1.0, 2, 0.5)
    assert opt.trace_version == 2 and eager_traces(opt) == 0
    with pytest.raises(TypeError, match=r"test_optimizers\.py:\d+: SGD's learning rate is "
                                        r"the LearningRateSchedule ExponentialDecay.*not "
                                        r"settable to the number 0\.01"):
        opt.learning_rate = 0.01
    assert opt.trace_version == 2


@pytest.mark.parametrize("traced", [False, True])
def test_schedule_as_learning_rate(traced):
    schedule = optimizers.schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    opt = optimizers.SGD(learning_rate=schedule, momentum=0.9)
    ref = NumpyOptimizer("sgd", learning_rate=lambda t: 0.1 * 0.5 ** (t / 2), momentum=0.9)
    w, b = variables()
    step = (traced_apply if traced else eager_apply)(opt, (w, b))
    params = [W0, B0]
    for i, (gw, gb) in enumerate(GRADS):
        np.testing.assert_allclose(opt.learning_rate, 0.1 * 0.5 ** (i / 2), rtol=1e-6)
        step(gw, gb)
        params = ref.step(params, [gw, gb])
        assert_close(w.numpy(), params[0], W0)
        assert_close(b.numpy(), params[1], B0)
    assert [v.path for v in opt.variables][:1] == ["SGD/iteration"]
    assert "SGD/learning_rate" not in [v.path for v in opt.variables]
    with pytest.raises(TypeError, match="LearningRateSchedule.*not settable"):
        opt.learning_rate = 0.01


def test_cosine_decay_with_warmup_drives_adamw():
    schedule = optimizers.schedules.CosineDecay(0.0, decay_steps=4, warmup_target=0.1,
                                                warmup_steps=2)
    lrs = [0.0, 0.05, 0.1]  # warmup 0 -> 0.1 over 2 steps, then the decay starts at 0.1
    opt = optimizers.AdamW(learning_rate=schedule, weight_decay=0.1)
    ref = NumpyOptimizer("adam", learning_rate=lambda t: lrs[t], weight_decay=0.1)
    w, b = variables()
    params = [W0, B0]
    for gw, gb in GRADS:
        opt.apply_gradients([(gw, w), (gb, b)])
        params = ref.step(params, [gw, gb])
    assert_close(w.numpy(), params[0], W0)
    assert_close(b.numpy(), params[1], B0)


def test_learning_rate_must_be_a_number_or_schedule():
    with pytest.raises(TypeError, match="must be a float or a LearningRateSchedule"):
        optimizers.SGD(learning_rate=lambda: 0.1)
    with pytest.raises(ValueError, match="`learning_rate` must be a number >= 0"):
        optimizers.SGD(learning_rate="fast")
    with pytest.raises(ValueError, match="`momentum` must be a number >= 0.0 and <= 1.0"):
        optimizers.SGD(momentum=1.5)


# --- variables ---------------------------------------------------------------------------------
def test_variables_iterations_and_slots():
    opt = optimizers.Adam(amsgrad=True)
    assert [v.path for v in opt.variables] == ["adam/iteration", "adam/learning_rate"]
    it = opt.iterations
    assert it.dtype.keras_name == "int64" and it.shape == () and not it.trainable
    assert int(it.numpy()) == 0 and not opt.built
    w, b = variables()
    opt.apply_gradients([(GRADS[0][0], w), (GRADS[0][1], b)])
    assert opt.built
    paths = [v.path for v in opt.variables]
    assert paths == ["adam/iteration", "adam/learning_rate",
                     "adam/dense_kernel_momentum", "adam/dense_kernel_velocity",
                     "adam/dense_kernel_velocity_hat", "adam/dense_bias_momentum",
                     "adam/dense_bias_velocity", "adam/dense_bias_velocity_hat"]
    for v in opt.variables[2:]:
        assert not v.trainable and v.dtype.keras_name == "float32"
    assert opt.variables[2].shape == W0.shape and opt.variables[5].shape == B0.shape
    assert opt.get_slot(w, "velocity") is opt.variables[3]


def test_slots_per_option():
    w, _ = variables()
    cases = [(optimizers.SGD, {}, []), (optimizers.SGD, dict(momentum=0.9), ["momentum"]),
             (optimizers.RMSprop, {}, ["velocity"]),
             (optimizers.RMSprop, dict(momentum=0.9, centered=True),
              ["velocity", "momentum", "average_gradient"]),
             (optimizers.Adam, {}, ["momentum", "velocity"])]
    for i, (cls, kwargs, slots) in enumerate(cases):
        opt = cls(name=f"opt{i}", **kwargs)
        opt.apply_gradients([(GRADS[0][0], w)])
        assert [v.path for v in opt.variables[2:]] == [f"opt{i}/dense_kernel_{s}" for s in slots]


def test_two_optimizers_keep_separate_state():
    w, _ = variables()
    a, b = optimizers.Adam(0.1), optimizers.Adam(0.1)
    a.apply_gradients([(GRADS[0][0], w)])
    b.apply_gradients([(GRADS[0][0], w)])
    assert a.name == b.name == "adam"
    assert len({v.path for v in a.variables + b.variables}) == 8  # paths stay unique


def test_built_optimizer_refuses_other_variables():
    opt = optimizers.SGD()
    w, b = variables()
    opt.apply_gradients([(GRADS[0][0], w)])
    with pytest.raises(ValueError, match=r"built for other variables.*\['dense/bias'\]"):
        opt.apply_gradients([(GRADS[0][1], b)])


def test_apply_without_variables_uses_the_built_ones():
    opt = optimizers.SGD(0.1)
    w, b = variables()
    with pytest.raises(ValueError, match="must already be built"):
        opt.apply([GRADS[0][0], GRADS[0][1]])
    opt.build([w, b])
    opt.apply([GRADS[0][0], GRADS[0][1]])
    np.testing.assert_allclose(w.numpy(), W0 - 0.1 * GRADS[0][0], rtol=1e-6)
    with pytest.raises(ValueError, match="got 1 gradients for 2 variables"):
        opt.apply([GRADS[0][0]])


def test_weight_decay_exclusion():
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    w, b = variables()
    opt.exclude_from_weight_decay(var_names=["bias"])
    zero = [np.zeros_like(W0), np.zeros_like(B0)]
    opt.apply_gradients(zip(zero, (w, b)))
    np.testing.assert_allclose(w.numpy(), W0 * (1 - 0.05), rtol=1e-6)
    np.testing.assert_array_equal(b.numpy(), B0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_list=[w])


def test_adamw_needs_weight_decay():
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)


# --- None gradients ------------------------------------------------------------------------------
def test_none_gradients_are_skipped():
    opt = optimizers.Adam(0.1)
    w, b = variables()
    with pytest.warns(UserWarning, match=r"\['dense/bias'\]"):
        opt.apply_gradients([(GRADS[0][0], w), (None, b)])
    np.testing.assert_array_equal(b.numpy(), B0)
    assert not np.allclose(w.numpy(), W0)
    assert int(opt.iterations.numpy()) == 1
    # slots exist for every variable passed (built on the first call), the bias's untouched
    np.testing.assert_array_equal(opt.get_slot(b, "momentum").numpy(), 0)
    with pytest.raises(ValueError, match="no gradients provided for any variable"):
        opt.apply_gradients([(None, w), (None, b)])
    assert int(opt.iterations.numpy()) == 1


def test_unconnected_variable_is_skipped_inside_a_function():
    opt = optimizers.SGD(0.1, momentum=0.9)
    w, b = variables()

    @fg.function
    def train_step():
        with fg.GradientTape() as tape:
            loss = ops.sum(ops.square(w.read_value()))
        grads = tape.gradient(loss, [w, b])
        opt.apply_gradients(zip(grads, [w, b]))
        return loss

    with pytest.warns(UserWarning, match="dense/bias"):
        train_step()
    train_step()
    np.testing.assert_array_equal(b.numpy(), B0)
    m = -0.1 * 2 * W0
    expected = W0 + m
    expected = expected + (0.9 * m - 0.1 * 2 * expected)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)


# --- bad calls change nothing ---------------------------------------------------------------------
def state_of(opt, *vs):
    return [v.numpy() for v in (*vs, *opt.variables)]


def test_gradient_of_the_wrong_shape_is_named_and_nothing_is_applied():
    opt = optimizers.Adam(0.1)
    w, b = variables()
    with pytest.raises(ValueError, match=r"gradient for variable 'dense/bias' has shape \(4,\), "
                                         r"expected the variable's shape \(3,\)"):
        opt.apply_gradients([(GRADS[0][0], w), (np.ones(4, np.float32), b)])
    assert not opt.built and [v.path for v in opt.variables] == ["adam/iteration",
                                                                 "adam/learning_rate"]
    np.testing.assert_array_equal(w.numpy(), W0)
    assert int(opt.iterations.numpy()) == 0
    # once built and stepped, a bad call still changes nothing
    opt.apply_gradients([(GRADS[0][0], w), (GRADS[0][1], b)])
    before = state_of(opt, w, b)
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(3, 2\), expected the "
                                         r"variable's shape \(2, 3\)"):
        opt.apply_gradients([(GRADS[1][0].T, w), (GRADS[1][1], b)])
    for old, new in zip(before, state_of(opt, w, b)):
        np.testing.assert_array_equal(old, new)


def test_wrong_shape_inside_a_function_changes_nothing():
    opt = optimizers.RMSprop(0.1)
    w, b = variables()

    @fg.function
    def train_step():
        with fg.GradientTape() as tape:
            loss = ops.sum(ops.square(w.read_value()))
        (gw,) = tape.gradient(loss, [w])
        opt.apply_gradients([(gw, w), (ops.sum(gw, axis=0), b)])  # (3,) fits b: fine
        opt.apply_gradients([(gw, w), (gw, b)])  # (2, 3) for b: wrong

    with pytest.raises(ValueError, match=r"'dense/bias' has shape \(2, 3\), expected the "
                                         r"variable's shape \(3,\)"):
        train_step()
    np.testing.assert_array_equal(w.numpy(), W0)
    np.testing.assert_array_equal(b.numpy(), B0)
    assert int(opt.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in opt.variables[2:])


def test_symbolic_gradients_outside_a_trace():
    opt = optimizers.SGD()
    w, _ = variables()
    g = fg.Input(batch_shape=W0.shape)
    with pytest.raises(TraceError, match="symbolic gradients outside a traced step"):
        opt.apply_gradients([(g, w)])
    assert int(opt.iterations.numpy()) == 0 and not opt.built


def test_bad_pairs_and_variables():
    opt = optimizers.SGD()
    w, _ = variables()
    with pytest.raises(TypeError, match=r"\(gradient, variable\) pairs; item 0"):
        opt.apply_gradients([GRADS[0][0]])
    with pytest.raises(TypeError, match="updates Variables"):
        opt.apply_gradients([(GRADS[0][0], W0)])
    with pytest.raises(ValueError, match="'dense/kernel' is listed twice"):
        opt.apply_gradients([(GRADS[0][0], w), (GRADS[0][0], w)])
    with pytest.raises(NotImplementedError, match="loss_scale_factor"):
        optimizers.Adam(loss_scale_factor=128.0)
    optimizers.Adam(loss_scale_factor=None, gradient_accumulation_steps=None)  # Keras's config
    with pytest.raises(TypeError, match="not recognized"):
        optimizers.Adam(betas=(0.9, 0.99))


# --- get ------------------------------------------------------------------------------------------
def test_get():
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert type(optimizers.get("adam")) is optimizers.Adam
    assert isinstance(optimizers.get("adamw"), optimizers.AdamW)
    opt = optimizers.SGD(0.3)
    assert optimizers.get(opt) is opt
    restored = optimizers.get({"class_name": "Adam", "config": optimizers.Adam(
        0.02, amsgrad=True, clipnorm=1.0).get_config()})
    assert isinstance(restored, optimizers.Adam) and restored.amsgrad and restored.clipnorm == 1.0
    assert np.isclose(restored.learning_rate, 0.02)
    schedule = optimizers.schedules.CosineDecay(0.1, 10)
    restored = optimizers.SGD.from_config(optimizers.SGD(schedule).get_config())
    assert isinstance(restored._learning_rate, optimizers.schedules.CosineDecay)
    with pytest.raises(ValueError, match=r"unknown optimizer 'adadeltas'; expected one of "
                                         r"\['adadelta', 'adagrad', 'adam', 'adamax', 'adamw', "
                                         r"'ftrl', 'lion', 'nadam', 'rmsprop', 'sgd'\]"):
        optimizers.get("adadeltas")
    with pytest.raises(ValueError, match="could not interpret optimizer identifier 3"):
        optimizers.get(3)


def test_public_namespace():
    from fusegraph.optimizers.schedules import ExponentialDecay
    assert ExponentialDecay is optimizers.schedules.ExponentialDecay
    assert optimizers.schedules.LearningRateSchedule is not None
