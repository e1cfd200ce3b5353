"""BatchNormalization: Keras's weights and formula, batch statistics in training and
moving statistics in inference, and how the moving-statistics updates reach a step.

A functional model's layers are called once, at construction, outside any traced step:
the updates BatchNormalization makes there are kept on the call's record, the model's
graph carries them, and each traced step the model runs in (fit's train_step, an
fg.function, an outer model) issues them again as assignments. These tests follow the
moving statistics through ``fit`` (numpy recursion written here), ``evaluate``,
``predict``, eager calls, nested and shared models, Sequential and subclassed models,
and both backends.
"""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.tensor import TraceError
from fusegraph.frontend.variables import Variable

L = fg.layers
MOMENTUM, EPS = 0.99, 1e-3


def _rand(*shape, seed=0, loc=0.0, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale + loc).astype("float32")


def np_bn(x, gamma, beta, mean, var, eps=EPS):
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def np_moving(batches, axes, mean=None, var=None, momentum=MOMENTUM):
    """The moving statistics after one training step per batch (biased batch variance)."""
    for b in batches:
        b = b.astype(np.float64)
        m, v = b.mean(axis=axes), b.var(axis=axes)
        mean = np.zeros_like(m) if mean is None else mean
        var = np.ones_like(v) if var is None else var
        mean, var = mean * momentum + m * (1 - momentum), var * momentum + v * (1 - momentum)
    return mean, var


def _bn_model(features=3, name="bn"):
    """Input -> BatchNormalization -> Dense: the BN input is the data itself, so the
    moving statistics after fit are a numpy recursion over the batches."""
    inputs = fg.Input(shape=(features,))
    h = L.BatchNormalization(name=name)(inputs)
    outputs = L.Dense(1)(h)
    model = fg.Model(inputs, outputs)
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
    return model


def test_weights_shapes_order_and_defaults():
    layer = L.BatchNormalization()
    layer(_rand(4, 2, 5))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in layer.weights] == [(5,)] * 4
    assert [w.trainable for w in layer.weights] == [True, True, False, False]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    gamma, beta, mean, var = layer.get_weights()
    np.testing.assert_array_equal(np.stack([gamma, beta, mean, var]),
                                  [[1] * 5, [0] * 5, [0] * 5, [1] * 5])
    assert (layer.momentum, layer.epsilon, layer.axis) == (MOMENTUM, EPS, -1)
    no_affine = L.BatchNormalization(center=False, scale=False)
    no_affine(_rand(4, 5))
    assert [w.name for w in no_affine.weights] == ["moving_mean", "moving_variance"]


def test_eager_calls_training_and_inference():
    """training=True: batch statistics, and the moving ones take one step; otherwise
    the moving statistics, unchanged."""
    layer = L.BatchNormalization()
    x = _rand(8, 4, loc=2.0, scale=3.0)
    layer(x)                                                      # build
    gamma, beta = _rand(4, seed=1), _rand(4, seed=2)
    layer.set_weights([gamma, beta, _rand(4, seed=3), np.full(4, 2.0, "float32")])
    mean0, var0 = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    np.testing.assert_allclose(layer(x), np_bn(x, gamma, beta, mean0, var0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer(x, training=False), np_bn(x, gamma, beta, mean0, var0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mean0)      # no update
    y = layer(x, training=True)
    np.testing.assert_allclose(y, np_bn(x, gamma, beta, x.mean(0), x.var(0)), rtol=1e-4,
                               atol=1e-5)
    mean1, var1 = np_moving([x], (0,), mean0.astype(np.float64), var0.astype(np.float64))
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean1, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), var1, rtol=1e-5)


@pytest.mark.parametrize("axis,shape", [(-1, (6, 3, 4, 2)), (1, (6, 3, 4, 2)), (-2, (5, 4, 3))])
def test_axis_and_statistics_over_every_other_axis(axis, shape):
    layer = L.BatchNormalization(axis=axis)
    x = _rand(*shape, loc=1.0, scale=2.0)
    y = layer(x, training=True)
    feature = axis % len(shape)
    axes = tuple(a for a in range(len(shape)) if a != feature)
    view = [1] * len(shape)
    view[feature] = shape[feature]
    mean, var = x.mean(axis=axes).reshape(view), x.var(axis=axes).reshape(view)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + EPS), rtol=1e-4, atol=1e-5)
    assert layer.moving_mean.shape == (shape[feature],)
    np.testing.assert_allclose(layer.moving_mean.numpy(), np_moving([x], axes)[0], rtol=1e-5)


def test_fit_updates_moving_statistics_as_numpy_and_inference_uses_them():
    model = _bn_model()
    x = _rand(40, 3, loc=[1.0, -2.0, 0.5], scale=[2.0, 0.5, 1.0])
    y = _rand(40, 1, seed=1)
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    bn = model.get_layer("bn")
    batches = [x[i:i + 16] for i in range(0, 40, 16)] * 3            # last batch: 8 rows
    mean, var = np_moving(batches, (0,))
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5, atol=1e-6)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # inference (predict, a plain call, evaluate) uses them and changes nothing
    gamma, beta, *_ = bn.get_weights()
    kernel, bias = model.layers[-1].get_weights()
    expected = np_bn(x, gamma, beta, mean, var) @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-5)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    # the forward graph computes outputs only; the step graph returns the new statistics
    assert len(model.graph.results) == 1
    updated = model._train_fn().last_trace.updated
    assert any(v is bn.moving_mean for v in updated)
    assert any(v is bn.moving_variance for v in updated)


def test_evaluation_steps_neither_compute_nor_write_back_the_moving_statistics():
    """``test_step`` calls the model with ``training=False``: the recorded updates are not
    issued there (they would assign the unchanged values), so the step graph has no
    results for the moving statistics, and a model called with ``training=False``
    inside another carries none into that one's steps."""
    model = _bn_model()
    x, y = _rand(8, 3, loc=1.0), _rand(8, 1, seed=1)
    bn = model.get_layer("bn")
    moving = {id(bn.moving_mean), id(bn.moving_variance)}
    model.evaluate(x, y, verbose=0)
    trace = model._test_function.last_trace
    assert not any(id(v) in moving for v in trace.updated)
    assert not any(id(v) in moving for v in
                   fg.function(lambda a: model(a, training=np.False_)).run(x)[1])
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))

    inputs = fg.Input(shape=(3,))
    outer = fg.Model(inputs, L.Dense(1)(model(inputs, training=False)))
    assert len(outer.graph.results) == 1 and outer._functional.updated == []
    outer.compile(optimizer="sgd", loss="mse")
    outer.train_on_batch(x, y)
    assert not any(id(v) in moving for v in outer._train_fn().last_trace.updated)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    model.train_on_batch(x, y)                                   # training still updates
    assert any(id(v) in moving for v in model._train_fn().last_trace.updated)
    np.testing.assert_allclose(bn.moving_mean.numpy(), np_moving([x], (0,))[0], rtol=1e-5)


def test_eager_model_call_with_training_true_updates_once():
    model = _bn_model()
    x = _rand(10, 3, loc=3.0)
    bn = model.get_layer("bn")
    model(x)
    model.predict(x, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    model(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), np_moving([x], (0,))[0], rtol=1e-5)


def test_train_on_batch_and_the_step_graph_issue_the_update():
    model = _bn_model()
    x, y = _rand(8, 3, loc=1.0), _rand(8, 1, seed=1)
    model.train_on_batch(x, y)
    model.train_on_batch(x * 2, y)
    mean, var = np_moving([x, x * 2], (0,))
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-5, atol=1e-6)


def test_an_open_training_flag_selects_statistics_and_update():
    """A functional model's graph is built with training open: the flag selects the
    statistics, and the update is where(flag, new, old)."""
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, L.BatchNormalization(name="bn")(inputs))
    kinds = [op.kind for op in model.graph.ops]
    assert "where" in kinds
    bn = model.get_layer("bn")
    x = _rand(6, 2, loc=5.0)

    @fg.function
    def run(x, training_value):
        return model(x, training=training_value)

    np.testing.assert_allclose(run(x, False), np_bn(x, 1, 0, 0, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), [0, 0])
    np.testing.assert_allclose(run(x, True), np_bn(x, 1, 0, x.mean(0), x.var(0)), rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), np_moving([x], (0,))[0], rtol=1e-5)

    @fg.function
    def run_open(x):
        return model(x)                                           # flag left to the run

    before = bn.moving_mean.numpy()
    run_open(x)                                                   # runs with training off
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)


def test_model_called_twice_in_one_step_updates_in_program_order():
    inputs = fg.Input(shape=(2,))
    model = fg.Model(inputs, L.BatchNormalization(name="bn")(inputs))
    a, b = _rand(5, 2, loc=1.0), _rand(5, 2, seed=1, loc=-3.0)

    @fg.function
    def twice(a, b):
        return model(a, training=True), model(b, training=True)

    twice(a, b)
    np.testing.assert_allclose(model.get_layer("bn").moving_mean.numpy(),
                               np_moving([a, b], (0,))[0], rtol=1e-5)


def test_nested_models_sequential_and_custom_layers_carry_the_updates():
    x, y = _rand(12, 3, loc=2.0), _rand(12, 1, seed=1)
    expected = np_moving([x[:6], x[6:]], (0,))[0]

    inner_in = fg.Input(shape=(3,))
    inner = fg.Model(inner_in, L.BatchNormalization(name="inner_bn")(inner_in))
    outer_in = fg.Input(shape=(3,))
    outer = fg.Model(outer_in, L.Dense(1)(inner(outer_in)))
    outer.compile(optimizer="sgd", loss="mse")
    outer.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    np.testing.assert_allclose(inner.get_layer("inner_bn").moving_mean.numpy(), expected,
                               rtol=1e-5)

    seq = fg.Sequential([fg.Input(shape=(3,)), L.BatchNormalization(name="seq_bn"), L.Dense(1)])
    seq.compile(optimizer="sgd", loss="mse")
    seq.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    np.testing.assert_allclose(seq.get_layer("seq_bn").moving_mean.numpy(), expected, rtol=1e-5)

    class Block(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = L.BatchNormalization()

        def call(self, inputs):
            return self.norm(inputs)

    block_in = fg.Input(shape=(3,))
    block = Block()
    model = fg.Model(block_in, L.Dense(1)(block(block_in)))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    np.testing.assert_allclose(block.norm.moving_mean.numpy(), expected, rtol=1e-5)


def test_a_layer_shared_by_two_branches_keeps_the_last_calls_update():
    """Each call traced at build time computes its update from the value before the step
    (the calls cannot see each other's); the step keeps the last call's, as a state trace
    keeps the last assignment."""
    a_in, b_in = fg.Input(shape=(2,), name="a"), fg.Input(shape=(2,), name="b")
    bn = L.BatchNormalization()
    model = fg.Model([a_in, b_in], L.Add()([bn(a_in), bn(b_in)]))
    a, b = _rand(4, 2, loc=1.0), _rand(4, 2, seed=1, loc=-2.0)

    @fg.function
    def step(a, b):
        return model([a, b], training=True)

    step(a, b)
    np.testing.assert_allclose(bn.moving_mean.numpy(), np_moving([b], (0,))[0], rtol=1e-5)


def test_subclassed_model_updates_in_its_traced_call():
    class Net(fg.Model):
        def __init__(self):
            super().__init__()
            self.norm = L.BatchNormalization()
            self.out = L.Dense(1)

        def call(self, inputs, training=None):
            return self.out(self.norm(inputs, training=training))

    x, y = _rand(12, 3, loc=-1.0), _rand(12, 1, seed=1)
    net = Net()
    net.compile(optimizer="sgd", loss="mse")
    net.fit(x, y, batch_size=6, shuffle=False, verbose=0)
    np.testing.assert_allclose(net.norm.moving_mean.numpy(), np_moving([x[:6], x[6:]], (0,))[0],
                               rtol=1e-5)
    before = net.norm.moving_mean.numpy()
    net(x)                                                       # inference: no update
    np.testing.assert_array_equal(net.norm.moving_mean.numpy(), before)
    net(x, training=True)
    np.testing.assert_allclose(net.norm.moving_mean.numpy(),
                               np_moving([x], (0,), before.astype(np.float64))[0], rtol=1e-5)


def test_frozen_layer_runs_in_inference_mode_and_updates_nothing():
    """``trainable = False`` set before the model is built (a functional model's graph is
    traced once, at construction), and Keras's fine-tuning recipe: a built model called
    with ``training=False`` inside a new one."""
    x, y = _rand(8, 3, loc=4.0), _rand(8, 1, seed=1)
    inputs = fg.Input(shape=(3,))
    bn = L.BatchNormalization()
    bn.trainable = False
    model = fg.Model(inputs, L.Dense(1)(bn(inputs)))
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(bn.get_weights()[0], np.ones(3))   # gamma not trained

    base = _bn_model()
    base.trainable = False
    inputs = fg.Input(shape=(3,))
    head = L.Dense(1, name="head")
    model = fg.Model(inputs, head(base(inputs, training=False)))
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    frozen = base.get_layer("bn")
    np.testing.assert_array_equal(frozen.moving_mean.numpy(), np.zeros(3))
    assert [w.path for w in model.trainable_weights] == [w.path for w in head.weights]


def test_updating_a_foreign_variable_while_building_a_model_is_still_an_error():
    counter = Variable(np.zeros(()), "count", "probe/count", trainable=False)

    class Counting(L.Layer):
        def call(self, inputs):
            counter.assign(counter.read_value() + 1.0)
            return inputs

    with pytest.raises(TraceError, match="only its own weights"):
        Counting()(fg.Input(shape=(2,)))


def test_a_convnet_with_batch_normalization_trains_on_both_backends():
    """Loss falls, the moving statistics move, and the two backends agree (losses,
    weights with the moving statistics, predictions with them)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 6, 1)).astype("float32")
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype("int32")
    results = {}
    for name in ("reference", "numba_cpu"):
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        inputs = fg.Input(shape=(6, 6, 1))
        h = L.Conv2D(4, 3, padding="same", use_bias=False)(inputs)   # BN centers anyway
        h = L.BatchNormalization(name="bn")(h)
        h = L.Activation("relu")(h)
        h = L.MaxPooling2D()(h)
        h = L.GlobalAveragePooling2D()(h)
        outputs = L.Dense(2, activation="softmax")(h)
        model = fg.Model(inputs, outputs)
        model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                      backend=name)
        history = model.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)
        results[name] = (history.history["loss"], model.get_weights(),
                         model.predict(x, verbose=0))
    losses, weights, predictions = results["numba_cpu"]
    assert losses[-1] < 0.9 * losses[0]
    bn_mean = weights[3]                                     # kernel, gamma, beta, moving_mean
    assert np.abs(bn_mean).max() > 1e-3
    np.testing.assert_allclose(losses, results["reference"][0], rtol=1e-4)
    for a, b in zip(weights, results["reference"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(predictions, results["reference"][2], rtol=1e-3, atol=1e-4)
