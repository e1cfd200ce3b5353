"""SimpleRNN, LSTM and GRU against the Keras equations written here in numpy from each
layer's own weights (every return_sequences / return_state / go_backwards combination,
initial states, GRU's two reset conventions), their weights (shapes, order, Keras's
initializers), the one ``scan`` they trace to, their gradients in float64 against
central differences, training with ``fit`` on the reference and numba_cpu backends, the
LSTM ticket example, and the errors for what they do not support."""
from pathlib import Path

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.initializers import Orthogonal
from fusegraph.ir import parse_graph, print_graph, verify

L = fg.layers
RTOL, ATOL = 1e-5, 1e-5
ROOT = Path(__file__).resolve().parents[2]


def _rand(*shape, seed=0, scale=1.0, dtype="float32"):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(dtype)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# --- the Keras equations, in numpy ---------------------------------------------------------
def np_recurrent(kind, weights, x, initial=None, go_backwards=False, reset_after=True,
                 act=np.tanh, rec=sigmoid, mask=None):
    """(the per-step outputs in processing order (B, T, u), the final states) of a Keras
    SimpleRNN / LSTM / GRU with these weights (kernel, recurrent_kernel[, bias]); with a
    (B, T) ``mask``, a masked step keeps the states and outputs the previous h."""
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) > 2 else None
    batch, steps, _ = x.shape
    u = recurrent.shape[0]
    states = [np.zeros((batch, u), x.dtype) for _ in range(2 if kind == "lstm" else 1)]
    if initial is not None:
        states = [np.asarray(s) for s in initial]
    outputs = []
    for t in (reversed(range(steps)) if go_backwards else range(steps)):
        xt = x[:, t]
        before = states
        if kind == "simple_rnn":
            (h,) = states
            h = act(xt @ kernel + (0 if bias is None else bias) + h @ recurrent)
            states = [h]
        elif kind == "lstm":
            h, c = states
            z = xt @ kernel + h @ recurrent + (0 if bias is None else bias)
            i, f, g, o = (z[:, k * u:(k + 1) * u] for k in range(4))
            c = rec(f) * c + rec(i) * act(g)
            h = rec(o) * act(c)
            states = [h, c]
        else:
            (h,) = states
            if reset_after:
                b_in, b_rec = (0, 0) if bias is None else (bias[0], bias[1])
                mx, mh = xt @ kernel + b_in, h @ recurrent + b_rec
                z = rec(mx[:, :u] + mh[:, :u])
                r = rec(mx[:, u:2 * u] + mh[:, u:2 * u])
                n = act(mx[:, 2 * u:] + r * mh[:, 2 * u:])
            else:
                mx = xt @ kernel + (0 if bias is None else bias)
                z = rec(mx[:, :u] + h @ recurrent[:, :u])
                r = rec(mx[:, u:2 * u] + h @ recurrent[:, u:2 * u])
                n = act(mx[:, 2 * u:] + (r * h) @ recurrent[:, 2 * u:])
            h = z * h + (1 - z) * n
            states = [h]
        if mask is not None:
            keep = mask[:, t][:, None]
            states = [np.where(keep, s, b) for s, b in zip(states, before)]
        outputs.append(states[0])
    sequence = np.stack(outputs, axis=1) if outputs else np.zeros((batch, 0, u), x.dtype)
    return sequence, states


LAYERS = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}


def _check(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)


# --- outputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_outputs_follow_the_keras_equations(kind, return_sequences, return_state, go_backwards):
    layer = LAYERS[kind](5, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards)
    x = _rand(3, 6, 4)
    layer(x)
    # random weights everywhere (the default biases are mostly zeros)
    layer.set_weights([_rand(*w.shape, seed=7 + i, scale=0.5)
                       for i, w in enumerate(layer.get_weights())])
    got = layer(x)
    sequence, states = np_recurrent(kind, layer.get_weights(), x, go_backwards=go_backwards)
    output = sequence if return_sequences else states[0]
    if return_state:
        assert isinstance(got, (list, tuple)) and len(got) == 1 + len(states)
        _check(list(got), [output, *states])
    else:
        _check([np.asarray(got)], [output])


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_initial_state_replaces_the_zero_states(kind):
    n_states = 2 if kind == "lstm" else 1
    x_in = fg.Input(shape=(4, 3))
    s_in = [fg.Input(shape=(6,), name=f"s{i}") for i in range(n_states)]
    layer = LAYERS[kind](6, return_sequences=True, return_state=True)
    model = fg.Model([x_in, *s_in], layer(x_in, initial_state=s_in))
    x = _rand(2, 4, 3, seed=1)
    states = [_rand(2, 6, seed=2 + i) for i in range(n_states)]
    sequence, final = np_recurrent(kind, layer.get_weights(), x, initial=states)
    _check([np.asarray(a) for a in model.predict([x, *states], verbose=0)], [sequence, *final])
    if n_states == 1:       # a single tensor is accepted as well as a list
        fg.utils.clear_session()
        layer = LAYERS[kind](6)
        got = layer(x, initial_state=states[0])
        _check([np.asarray(got)], [np_recurrent(kind, layer.get_weights(), x, states)[1][0]])


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gru_reset_conventions_and_no_bias(reset_after, use_bias):
    layer = L.GRU(4, reset_after=reset_after, use_bias=use_bias, return_sequences=True,
                  bias_initializer="random_normal")
    x = _rand(2, 5, 3)
    got = layer(x)
    weights = layer.get_weights()
    assert len(weights) == (3 if use_bias else 2)
    if use_bias:
        assert weights[2].shape == ((2, 12) if reset_after else (12,))
    sequence, _ = np_recurrent("gru", weights, x, reset_after=reset_after)
    _check([np.asarray(got)], [sequence])


def test_activations_and_no_bias():
    layer = L.LSTM(3, activation="relu", recurrent_activation="hard_sigmoid", use_bias=False)
    x = _rand(2, 4, 2)
    got = layer(x)
    hard_sigmoid = lambda v: np.clip(v / 6.0 + 0.5, 0.0, 1.0)   # noqa: E731 (Keras 3's)
    _, (h, _) = np_recurrent("lstm", layer.get_weights(), x, act=lambda v: np.maximum(v, 0.0),
                             rec=hard_sigmoid)
    _check([np.asarray(got)], [h])
    layer = L.SimpleRNN(3, activation=None)
    got = layer(x)
    _, (h,) = np_recurrent("simple_rnn", layer.get_weights(), x, act=lambda v: v)
    _check([np.asarray(got)], [h])


def test_a_variable_length_input_runs_any_number_of_steps():
    inputs = fg.Input(shape=(None, 3))
    layer = L.LSTM(4, return_sequences=True, go_backwards=True)
    model = fg.Model(inputs, layer(inputs))
    assert model.graph.params[0].type.shape[1] != 7      # a symbol, not a size
    for steps in (1, 7):
        x = _rand(2, steps, 3, seed=steps)
        sequence, _ = np_recurrent("lstm", layer.get_weights(), x, go_backwards=True)
        _check([np.asarray(model.predict(x, verbose=0))], [sequence])


# --- weights --------------------------------------------------------------------------------
def test_weights_shapes_order_and_initial_values():
    x = _rand(1, 2, 7)
    shapes = {}
    for kind, cls in LAYERS.items():
        layer = cls(10)
        layer(x)
        shapes[kind] = [w.shape for w in layer.get_weights()]
        kernel, recurrent, bias = layer.get_weights()
        assert [w.path.rsplit("/", 1)[1] for w in layer.weights] == ["kernel", "recurrent_kernel",
                                                                     "bias"]
        limit = np.sqrt(6 / (7 + kernel.shape[1]))                    # glorot_uniform
        assert np.abs(kernel).max() <= limit and kernel.std() > limit / 3
        # orthogonal: (u, k·u) has orthonormal rows
        np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(10), atol=1e-5)
        if kind == "lstm":       # unit_forget_bias: the forget gate's block starts at 1
            np.testing.assert_array_equal(bias, np.r_[np.zeros(10), np.ones(10), np.zeros(20)])
        else:
            np.testing.assert_array_equal(bias, np.zeros_like(bias))
        assert all(w.dtype == np.float32 for w in layer.get_weights())
    assert shapes == {"simple_rnn": [(7, 10), (10, 10), (10,)],
                      "lstm": [(7, 40), (10, 40), (40,)],
                      "gru": [(7, 30), (10, 30), (2, 30)]}
    layer = L.LSTM(2, unit_forget_bias=False)
    layer(x)
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(8))


def test_set_weights_from_keras_order():
    layer = L.LSTM(3)
    x = _rand(2, 4, 5)
    layer(x)
    new = [_rand(*w.shape, seed=i, scale=0.3) for i, w in enumerate(layer.get_weights())]
    layer.set_weights(new)
    _, (h, _) = np_recurrent("lstm", new, x)
    _check([np.asarray(layer(x))], [h])


def test_orthogonal_initializer():
    for shape in [(6, 6), (8, 3), (3, 8), (2, 3, 4)]:
        w = Orthogonal(seed=1)(shape)
        assert w.shape == shape and w.dtype == np.float32
        m = w.reshape(-1, shape[-1])
        small = min(m.shape)
        gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    # Keras's algorithm: Q of the QR of a standard normal draw, signs fixed so that R's
    # diagonal is positive (Q^T a is then upper triangular with a positive diagonal)
    for shape in [(5, 3), (3, 5)]:
        a = np.random.default_rng(2).normal(0.0, 1.0, (5, 3))   # R has negative entries
        q = Orthogonal(seed=2)(shape).astype(np.float64)
        q = q if shape[0] >= shape[1] else q.T
        r = q.T @ a
        np.testing.assert_allclose(np.tril(r, -1), 0, atol=1e-5)
        assert (np.diag(r) > 0).all()
    np.testing.assert_array_equal(Orthogonal(seed=3)((4, 4)), Orthogonal(seed=3)((4, 4)))
    np.testing.assert_allclose(Orthogonal(gain=2.0, seed=3)((4, 4)),
                               2 * Orthogonal(seed=3)((4, 4)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"orthogonal initializer needs a shape of rank >= 2"):
        Orthogonal()((5,))
    from fusegraph.frontend import initializers
    assert isinstance(initializers.get("orthogonal"), Orthogonal)


# --- the graph ------------------------------------------------------------------------------
def _model(kind, steps, **kwargs):
    inputs = fg.Input(shape=(steps, 3))
    return fg.Model(inputs, L.Dense(1)(LAYERS[kind](4, **kwargs)(inputs)))


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_each_layer_is_one_scan_whatever_the_length(kind):
    short, long = _model(kind, 3).graph, _model(kind, 50).graph
    for graph in (short, long):
        verify(graph)
        assert parse_graph(print_graph(graph)) == graph
        scans = [op for op in graph.ops if op.kind == "scan"]
        assert len(scans) == 1 and scans[0].attrs["axis"] == 1
        assert scans[0].region.name == f"{kind}_cell"
        # the input projection is one matmul before the loop; the body has the recurrent one
        assert [op.kind for op in graph.ops].count("matmul") == 2
        assert [op.kind for op in scans[0].region.ops].count("matmul") == 1
    assert len(short.ops) == len(long.ops)                   # never unrolled


def test_gradients_in_float64_match_central_differences():
    """d(sum(ct · LSTM(x))) / d(x, kernel, recurrent_kernel, bias), through one scan."""
    layer = L.LSTM(3, return_sequences=True, go_backwards=True, dtype="float64")
    x = _rand(2, 4, 2, seed=3, dtype="float64")
    ct = _rand(2, 4, 3, seed=4, dtype="float64")
    layer(x)

    @fg.function
    def grads(x_, ct_):
        with fg.GradientTape() as tape:
            loss = fg.ops.sum(fg.ops.multiply(layer(x_), ct_))
        return tape.gradient(loss, [x_, *layer.trainable_weights])

    got = grads(x, ct)
    weights = layer.get_weights()

    def f(arrays):
        return (np_recurrent("lstm", arrays[1:], arrays[0], go_backwards=True)[0] * ct).sum()

    arrays = [x, *weights]
    for i, g in enumerate(got):
        want = np.zeros_like(arrays[i])
        for j in np.ndindex(arrays[i].shape):
            for step, sign in ((1e-6, 1), (-1e-6, -1)):
                moved = [a.copy() for a in arrays]
                moved[i][j] += step
                want[j] += sign * f(moved) / 2e-6
        np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-8, err_msg=f"array {i}")


# --- training -------------------------------------------------------------------------------
def _sequence_task(n=96, steps=6, seed=0):
    """y = the mean of the first feature over time, plus the last step's second feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) + x[:, -1, 1])[:, None].astype("float32")
    return x, y


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_fit_makes_the_loss_fall(kind):
    x, y = _sequence_task()
    inputs = fg.Input(shape=(6, 3))
    h = LAYERS[kind](8, return_sequences=True)(inputs)
    model = fg.Model(inputs, L.Dense(1)(LAYERS[kind](8)(h)))
    model.compile(optimizer=fg.optimizers.Adam(2e-2), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=6, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0], history


def _train_lstm(backend):
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    x, y = _sequence_task(n=48)
    inputs = fg.Input(shape=(None, 3))
    model = fg.Model(inputs, L.Dense(1)(L.LSTM(5)(inputs)))
    model.compile(optimizer=fg.optimizers.Adam(1e-2), loss="mse", backend=backend)
    losses = [model.train_on_batch(x[:16], y[:16]) for _ in range(2)]
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    return model, losses, history


def test_an_lstm_trains_identically_on_numba_cpu_and_the_reference():
    ref_model, ref_losses, ref_history = _train_lstm("reference")
    model, losses, history = _train_lstm("numba_cpu")
    from fusegraph.backends import numba_cpu
    exe = model._train_function.last_trace.traced_graph._executable
    assert isinstance(exe, numba_cpu.Executable)
    assert any(op.kind == "scan" for op in exe.graph.ops)     # run by the reference's ref
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-5)
    for w, ref_w in zip(model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(w, ref_w, rtol=1e-5, atol=1e-6)


def test_the_step_graph_has_a_forward_saving_and_backward_loop_per_layer():
    inputs = fg.Input(shape=(5, 3))
    model = fg.Model(inputs, L.Dense(1)(L.GRU(4)(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    x, y = _rand(4, 5, 3), _rand(4, 1)
    model.train_on_batch(x, y)
    graph = model._train_function.last_trace.graph
    verify(graph)
    assert parse_graph(print_graph(graph)) == graph
    names = sorted(op.region.name for op in graph.ops if op.kind == "scan")
    assert names == ["gru_cell", "gru_cell_grad", "gru_cell_saving"]
    # the pipeline runs the forward loop once (the saving scan stands for the forward
    # scan: merge_scans), and optimizes each body keeping the scan's signature
    # (scan_bodies), fusion leaving the bodies' ops unfused; the hoist_ passes, which
    # change a loop's carries and invariants, are tested in tests/passes/test_hoist_*.py
    from fusegraph.passes import FUSION_PIPELINE, run_pipeline
    fused, _ = run_pipeline(graph, [p for p in FUSION_PIPELINE if not p.startswith("hoist_")])
    before = {op.region.name: op.region for op in graph.ops if op.kind == "scan"}
    after = [op for op in fused.ops if op.kind == "scan"]
    assert sorted(op.region.name for op in after) == ["gru_cell_grad", "gru_cell_saving"]
    for op in after:
        body = before[op.region.name]
        assert [p.type for p in op.region.params] == [p.type for p in body.params]
        assert [r.type for r in op.region.results] == [r.type for r in body.results]
        assert not any(o.kind == "fused" for o in op.region.ops)
    assert any(op.kind == "fused" for op in fused.ops)
    assert not any(o.kind == "scan" for op in fused.ops if op.kind == "fused" for o in op.region.ops)


# --- the ticket example ---------------------------------------------------------------------
def test_ticket_classifier_lstm_example_dumps_and_trains(capsys):
    from fusegraph.cli import load_user_file, main
    path = ROOT / "examples" / "ticket_classifier_lstm.py"
    assert main(["dump", str(path)]) == 0
    text = capsys.readouterr().out
    graph = parse_graph(text)
    verify(graph)
    assert [op.region.name for op in graph.ops if op.kind == "scan"] == ["lstm_cell"] * 2
    assert main(["dump", str(path), "--stage", "train_step", "--after", "fusion"]) == 0
    verify(parse_graph(capsys.readouterr().out))
    fg.utils.clear_session()
    module = load_user_file(str(path))
    model = module.build_model()
    x, y = module.load_data(num_samples=64)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    weights = [w.shape for w in model.get_weights()]
    assert (64, 4 * module.TITLE_UNITS) in weights and (module.BODY_UNITS, 4 * module.BODY_UNITS) \
        in weights


# --- inlined: in fixed-shape functions, nested models, training ----------------------------------
def test_a_model_with_an_lstm_inside_a_fixed_shape_function():
    inputs = fg.Input(shape=(7, 3))
    model = fg.Model(inputs, L.LSTM(4)(inputs))
    x = _rand(5, 7, 3)
    got = fg.function(lambda a: model(a), symbolic_batch=False)(x)
    _check(got, np_recurrent("lstm", model.get_weights(), x)[1][0])


def _backwards_sequences_model():
    inputs = fg.Input(shape=(None, 3))
    return fg.Model(inputs, L.LSTM(4, go_backwards=True, return_sequences=True)(inputs))


def test_go_backwards_sequences_of_any_length_nest_in_another_model():
    """The output's time reversal reads an iota of the input's length symbol; inlined, it
    reads the new input's."""
    model = _backwards_sequences_model()
    outer_in = fg.Input(shape=(None, 3))
    outer = fg.Model(outer_in, model(outer_in))
    x = _rand(2, 5, 3)
    want = np_recurrent("lstm", model.get_weights(), x, go_backwards=True)[0]
    _check(outer.predict(x, verbose=0), want)
    _check(fg.function(lambda a: model(a), symbolic_batch=False)(x), want)


def test_go_backwards_sequences_of_any_length_train():
    x, y = _sequence_task()
    inner = _backwards_sequences_model()
    inputs = fg.Input(shape=(None, 3))
    model = fg.Model(inputs, L.Dense(1)(L.LSTM(8)(inner(inputs))))
    model.compile(optimizer=fg.optimizers.Adam(2e-2), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0], history


# --- errors ---------------------------------------------------------------------------------
def test_unsupported_arguments_and_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"LSTM\(dropout=0.2, unroll=True\) is not supported"):
        L.LSTM(4, dropout=0.2, unroll=True)
    with pytest.raises(ValueError, match=r"GRU: `units` must be a positive int, got 0"):
        L.GRU(0)
    with pytest.raises(Exception, match=r"expected a rank-3 input \(batch, timesteps, features\)"):
        L.SimpleRNN(3)(fg.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"has 2 state\(s\) \(h, c\), but initial_state has 1"):
        L.LSTM(3)(fg.Input(shape=(4, 2)), initial_state=[fg.Input(shape=(3,))])
    with pytest.raises(Exception, match=r"initial state 'h' must have shape \(batch, 3\)"):
        L.GRU(3)(fg.Input(shape=(4, 2)), initial_state=fg.Input(shape=(5,)))


def test_a_scan_body_must_not_read_outer_tensors():
    from fusegraph.frontend.layers.recurrent import scan
    outer = fg.Input(shape=(2,))
    with pytest.raises(ValueError, match=r"the body of scan @cell reads a tensor it was not "
                                         r"given; pass it as an invariant"):
        scan(lambda c, x, w: ([fg.ops.add(c[0], outer)], []), [outer], [fg.Input(shape=(3, 2))])


@pytest.mark.parametrize("kind", sorted(LAYERS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_masked_step_keeps_the_states_as_keras(kind, go_backwards):
    """From Embedding(mask_zero=True): masked steps (padding at either end, and inside)
    keep the states and repeat the last output; the sequence output keeps the mask."""
    ids = np.array([[3, 5, 0, 0, 2], [0, 0, 4, 1, 6], [7, 0, 8, 0, 9]], np.int32)
    inputs = fg.Input(shape=(5,), dtype="int32")
    embedding = L.Embedding(10, 4, mask_zero=True)
    layer = LAYERS[kind](3, return_sequences=True, return_state=True, go_backwards=go_backwards)
    sequence, *states = layer(embedding(inputs))
    assert sequence._keras_mask is not None and all(s._keras_mask is None for s in states)
    model = fg.Model(inputs, [sequence, *states])
    layer.set_weights([_rand(*w.shape, seed=3 + i, scale=0.5)
                       for i, w in enumerate(layer.get_weights())])
    x = embedding.get_weights()[0][ids]
    want_sequence, want_states = np_recurrent(kind, layer.get_weights(), x,
                                              go_backwards=go_backwards, mask=ids != 0)
    _check(model.predict(ids, verbose=0), [want_sequence, *want_states])


def test_a_masked_lstm_trains_identically_on_numba_cpu_and_the_reference():
    from helpers.training import trains_alike_on_both_backends
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 10, size=(48, 6)).astype(np.int32)
    ids[:, 4:] = 0                                          # padding
    y = (ids[:, 0] > 5).astype(np.int32)

    def build():
        inputs = fg.Input(shape=(6,), dtype="int32")
        h = L.LSTM(4)(L.Embedding(10, 3, mask_zero=True)(inputs))
        return fg.Model(inputs, L.Dense(2, activation="softmax")(h))

    trains_alike_on_both_backends(build, ids, y, "sparse_categorical_crossentropy")


@pytest.mark.parametrize("zero", [False, True])
def test_zero_output_for_mask_zeroes_masked_steps_of_the_sequence(zero):
    """Keras's flag (Bidirectional sets it on its layers): masked steps of a sequence
    output are zeros; without it they repeat the last unmasked step's output."""
    tokens = fg.Input((4,), dtype="int32")
    embedded = fg.layers.Embedding(5, 3, mask_zero=True)(tokens)
    rnn = fg.layers.SimpleRNN(2, return_sequences=True, zero_output_for_mask=zero)
    model = fg.Model(tokens, rnn(embedded))
    out = np.asarray(model(np.array([[1, 2, 0, 0]], "int32")))
    if zero:
        np.testing.assert_array_equal(out[0, 2:], 0.0)
    else:
        np.testing.assert_array_equal(out[0, 2], out[0, 1])
        np.testing.assert_array_equal(out[0, 3], out[0, 1])
    assert rnn.get_config()["zero_output_for_mask"] is zero
