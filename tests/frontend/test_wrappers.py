"""frontend/layers/wrappers.py: TimeDistributed (the wrapped layer on every step, one scan,
masks, gradients, what it refuses) and Bidirectional (a numpy SimpleRNN run both ways,
every merge mode, states, initial states, masks zeroing sequence steps as Keras, the
weights' order and names), each trained with fit on the reference and numba_cpu."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir import parse_graph, print_graph, verify
from helpers.training import trains_alike_on_both_backends

L = fg.layers


def _rand(*shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# --- TimeDistributed ----------------------------------------------------------------------
def test_time_distributed_dense_is_the_dense_of_each_step_in_one_scan():
    inputs = fg.Input((None, 3))
    layer = L.TimeDistributed(L.Dense(5, activation="tanh"))
    model = fg.Model(inputs, layer(inputs))
    kernel, bias = layer.get_weights()
    assert (kernel.shape, bias.shape) == ((3, 5), (5,))          # the Dense's, as Keras
    assert [w.path for w in layer.weights] == [w.path for w in layer.layer.weights]
    for steps in (1, 6):                                         # any number of steps
        x = _rand(2, steps, 3, seed=steps)
        np.testing.assert_allclose(model.predict(x, verbose=0), np.tanh(x @ kernel + bias),
                                   rtol=1e-5, atol=1e-6)
    graph = model.graph
    verify(graph)
    assert parse_graph(print_graph(graph)) == graph
    assert [op.kind for op in graph.ops] == ["scan"]


def test_time_distributed_conv2d_runs_the_conv_on_each_frame():
    conv = L.Conv2D(4, 3, padding="same")
    x = _rand(2, 3, 5, 6, 2)
    y = np.asarray(L.TimeDistributed(conv)(x))
    assert y.shape == (2, 3, 5, 6, 4)
    for t in range(3):
        np.testing.assert_allclose(y[:, t], np.asarray(conv(x[:, t])), rtol=1e-5, atol=1e-5)


def test_time_distributed_keeps_the_mask_and_gives_each_step_its_slice():
    ids = np.array([[1, 2, 0], [3, 0, 0]], np.int32)
    inputs = fg.Input((3,), dtype="int32")
    embedded = L.Embedding(5, 4, mask_zero=True)(inputs)
    out = L.TimeDistributed(L.Dense(2))(embedded)
    assert out._keras_mask is not None
    # a (batch, time, steps) mask: each step's (batch, steps) slice reaches the layer
    x = _rand(2, 3, 4, 2)
    mask = np.array([[[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]],
                     [[0, 1, 0, 1], [1, 1, 1, 0], [0, 0, 1, 0]]], bool)
    got = np.asarray(L.TimeDistributed(L.GlobalAveragePooling1D())(x, mask=mask))
    want = (x * mask[..., None]).sum(2) / mask.sum(2)[..., None]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    model = fg.Model(inputs, out)
    assert model.predict(ids, verbose=0).shape == (2, 3, 2)


def test_time_distributed_gradients_sum_over_the_steps():
    """d(sum(ct * TD(Dense)(x))) / d(kernel, bias, x) = (sum_t x_t^T ct_t, sum ct, ct @ K^T)."""
    layer = L.TimeDistributed(L.Dense(3, dtype="float64"), dtype="float64")
    x, ct = _rand(2, 4, 5, dtype="float64"), _rand(2, 4, 3, seed=1, dtype="float64")
    layer(x)
    kernel = layer.get_weights()[0]
    for run in (fg.function, lambda f: f):             # traced, then eager (a tape)
        def grads(x_, ct_):
            x_ = fg.ops.convert_to_tensor(x_, "float64")
            with fg.GradientTape() as tape:
                tape.watch(x_)
                loss = fg.ops.sum(fg.ops.multiply(layer(x_), ct_))
            return tape.gradient(loss, [*layer.trainable_weights, x_])
        g_kernel, g_bias, g_x = (np.asarray(g) for g in run(grads)(x, ct))
        np.testing.assert_allclose(g_kernel, np.einsum("bti,bto->io", x, ct), rtol=1e-10)
        np.testing.assert_allclose(g_bias, ct.sum((0, 1)), rtol=1e-10)
        np.testing.assert_allclose(g_x, ct @ kernel.T, rtol=1e-10)


def test_time_distributed_trains_alike_on_both_backends():
    x = _rand(48, 5, 3)
    y = np.tanh(x.sum(-1, keepdims=True))

    def build():
        inputs = fg.Input((5, 3))
        h = L.TimeDistributed(L.Dense(6, activation="relu"))(inputs)
        return fg.Model(inputs, L.TimeDistributed(L.Dense(1))(h))

    trains_alike_on_both_backends(build, x, y, "mse")


def test_time_distributed_refuses_what_a_step_loop_cannot_do():
    with pytest.raises(ValueError, match=r"`layer` must be a Layer instance, got 3"):
        L.TimeDistributed(3)
    with pytest.raises(Exception, match=r"expected an input of rank >= 3"):
        L.TimeDistributed(L.Dense(2))(fg.Input((4,)))
    x = _rand(2, 3, 4)
    with pytest.raises(ValueError, match=r"updates \['batch_normalization/moving_mean', "
                                         r"'batch_normalization/moving_variance'\]"):
        L.TimeDistributed(L.BatchNormalization(name="batch_normalization"))(x, training=True)
    with pytest.raises(ValueError, match=r"reads a tensor other than its input and its "
                                         r"weights \(the training flag"):
        L.TimeDistributed(L.Dropout(0.5))(fg.Input((3, 4)))


# --- Bidirectional --------------------------------------------------------------------------
def np_simple_rnn(x, kernel, recurrent, bias, backwards=False, h=None, mask=None):
    """Keras's SimpleRNN: (the outputs in time order, the final h); a masked step keeps h."""
    h = np.zeros((x.shape[0], kernel.shape[1]), x.dtype) if h is None else h
    outputs = [None] * x.shape[1]
    for t in (reversed(range(x.shape[1])) if backwards else range(x.shape[1])):
        new = np.tanh(x[:, t] @ kernel + bias + h @ recurrent)
        h = new if mask is None else np.where(mask[:, t, None], new, h)
        outputs[t] = h
    return np.stack(outputs, 1), h


MERGES = {"concat": lambda a, b: np.concatenate([a, b], -1), "sum": np.add,
          "mul": np.multiply, "ave": lambda a, b: (a + b) / 2}


@pytest.mark.parametrize("merge_mode", [*MERGES, None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merges_a_forward_and_a_backward_run(merge_mode, return_sequences):
    x = _rand(3, 5, 2)
    layer = L.Bidirectional(L.SimpleRNN(4, return_sequences=return_sequences),
                            merge_mode=merge_mode)
    layer(x)
    layer.set_weights([_rand(*w.shape, seed=i) * 0.5 for i, w in enumerate(layer.get_weights())])
    weights = layer.get_weights()
    fwd_seq, fwd_h = np_simple_rnn(x, *weights[:3])
    bwd_seq, bwd_h = np_simple_rnn(x, *weights[3:], backwards=True)
    a, b = (fwd_seq, bwd_seq) if return_sequences else (fwd_h, bwd_h)
    got = layer(x)
    if merge_mode is None:
        np.testing.assert_allclose(np.asarray(got[0]), a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(got[1]), b, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(np.asarray(got), MERGES[merge_mode](a, b), rtol=1e-5,
                                   atol=1e-6)


def test_bidirectional_weights_are_the_forward_layers_then_the_backward_layers():
    lstm = L.LSTM(3, name="enc")
    layer = L.Bidirectional(lstm)
    layer(_rand(2, 4, 5))
    assert [w.path for w in layer.weights] == [
        f"{side}_enc/{name}" for side in ("forward", "backward")
        for name in ("kernel", "recurrent_kernel", "bias")]
    assert [w.shape for w in layer.get_weights()] == [(5, 12), (3, 12), (12,)] * 2
    assert (layer.forward_layer.go_backwards, layer.backward_layer.go_backwards) == (False, True)
    assert not lstm.built                    # the given layer is copied, never called
    given = [_rand(*w.shape, seed=i) for i, w in enumerate(layer.get_weights())]
    again = L.Bidirectional(L.LSTM(3), weights=given)
    again(_rand(2, 4, 5))
    for got, want in zip(again.get_weights(), given):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_states_and_initial_states(kind):
    """Outputs [merged, forward states..., backward states...]; initial_state split in
    halves; each half equals the sublayer run on its own."""
    cls = {"lstm": L.LSTM, "gru": L.GRU}[kind]
    n = 2 if kind == "lstm" else 1
    x = _rand(2, 4, 3)
    initial = [_rand(2, 5, seed=10 + i) for i in range(2 * n)]
    layer = L.Bidirectional(cls(5, return_state=True), merge_mode="sum")
    merged, *states = layer(x, initial_state=initial)
    forward = layer.forward_layer(x, initial_state=initial[:n])
    backward = layer.backward_layer(x, initial_state=initial[n:])
    np.testing.assert_allclose(np.asarray(merged), np.asarray(forward[0]) + np.asarray(backward[0]),
                               rtol=1e-5, atol=1e-6)
    for got, want in zip(states, [*forward[1:], *backward[1:]]):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=rf"initial_state must hold {2 * n} tensors"):
        layer(x, initial_state=initial[:1])


def test_bidirectional_masks_zero_the_masked_sequence_steps_as_keras():
    ids = np.array([[3, 5, 0, 0, 2], [0, 0, 4, 1, 6]], np.int32)
    inputs = fg.Input((5,), dtype="int32")
    embedding = L.Embedding(10, 2, mask_zero=True)
    layer = L.Bidirectional(L.SimpleRNN(3, return_sequences=True, return_state=True),
                            merge_mode=None)
    outputs = layer(embedding(inputs))
    assert [t._keras_mask is not None for t in outputs] == [True, True, False, False]
    model = fg.Model(inputs, outputs)
    weights = layer.get_weights()
    x, mask = embedding.get_weights()[0][ids], ids != 0
    fwd_seq, fwd_h = np_simple_rnn(x, *weights[:3], mask=mask)
    bwd_seq, bwd_h = np_simple_rnn(x, *weights[3:], backwards=True, mask=mask)
    want = [fwd_seq * mask[..., None], bwd_seq * mask[..., None], fwd_h, bwd_h]
    for got, w in zip(model.predict(ids, verbose=0), want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)


def test_bidirectional_trains_alike_on_both_backends():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 10, size=(48, 6)).astype(np.int32)
    ids[:24, 4:] = 0                                          # padding
    y = (ids[:, 0] > 5).astype(np.int32)

    def build():
        inputs = fg.Input((6,), dtype="int32")
        embedded = L.Embedding(10, 3, mask_zero=True)(inputs)
        h = L.Bidirectional(L.GRU(4, return_sequences=True))(embedded)
        h = L.Bidirectional(L.LSTM(3), merge_mode="ave")(h)
        return fg.Model(inputs, L.Dense(2, activation="softmax")(h))

    trains_alike_on_both_backends(build, ids, y, "sparse_categorical_crossentropy")


def test_bidirectional_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`layer` must be a SimpleRNN or LSTM or GRU instance"):
        L.Bidirectional(L.Dense(3))
    with pytest.raises(ValueError, match=r"`merge_mode` must be one of"):
        L.Bidirectional(L.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"must have different go_backwards, both have True"):
        L.Bidirectional(L.LSTM(3, go_backwards=True))
    with pytest.raises(ValueError, match=r"the same return_sequences, got False and True"):
        L.Bidirectional(L.LSTM(3), backward_layer=L.LSTM(3, go_backwards=True,
                                                         return_sequences=True))
