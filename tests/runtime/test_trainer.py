"""End-to-end training: compile/fit/evaluate/predict/train_on_batch/test_on_batch.

Numbers are checked against plain numpy written here (forward, hand-derived gradients,
Keras 3's update rules from KERAS_COMPAT.md) and against relations that only hold when
the loop is right (per-epoch logs vs per-batch steps, fit vs a manual train_on_batch
loop, validation logs vs evaluate)."""
import re
from pathlib import Path

import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops
from fusegraph.cli import load_user_file
from fusegraph.ir import parse_graph, verify
from fusegraph.ir.errors import ShapeError

ROOT = Path(__file__).resolve().parents[2]


# --- helpers -------------------------------------------------------------------------------
def mlp():
    """Input(3) -> Dense(4, relu) -> Dense(2)."""
    inputs = fg.Input(shape=(3,), name="x")
    hidden = fg.layers.Dense(4, activation="relu")(inputs)
    return fg.Model(inputs, fg.layers.Dense(2)(hidden), name="mlp")


def regression_data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    true_w = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 1.5]], "float32")
    y = (x @ true_w + 0.1 * rng.normal(size=(n, 2))).astype("float32")
    return x, y


def np_forward(weights, x):
    w1, b1, w2, b2 = (np.asarray(w, np.float64) for w in weights)
    pre = x @ w1 + b1
    hidden = np.maximum(pre, 0.0)
    return pre, hidden, hidden @ w2 + b2


def np_mse_and_grads(weights, x, y):
    """Keras's mse (mean over the last axis, then over the batch) and its gradients."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    pre, hidden, out = np_forward(weights, x)
    loss = np.mean((out - y) ** 2)
    d_out = 2.0 * (out - y) / out.size
    w2 = np.asarray(weights[2], np.float64)
    d_hidden = (d_out @ w2.T) * (pre > 0)
    return loss, [x.T @ d_hidden, d_hidden.sum(0), hidden.T @ d_out, d_out.sum(0)]


class NumpyOptimizer:
    """KERAS_COMPAT.md's update rules, per variable, step t from 1."""

    def __init__(self, kind, lr, momentum=0.0, weight_decay=None):
        self.kind, self.lr, self.mu, self.wd = kind, lr, momentum, weight_decay
        self.slots, self.t = {}, 0

    def step(self, weights, grads):
        self.t += 1
        out = []
        for i, (w, g) in enumerate(zip(weights, grads)):
            w = np.asarray(w, np.float64).copy()
            s = self.slots.setdefault(i, {"m": np.zeros_like(w), "v": np.zeros_like(w)})
            lr = self.lr
            if self.kind == "sgd":
                w = w - lr * g
            elif self.kind in ("momentum", "nesterov"):
                s["m"] = self.mu * s["m"] - lr * g
                w = w + (self.mu * s["m"] - lr * g if self.kind == "nesterov" else s["m"])
            elif self.kind == "rmsprop":
                s["v"] = 0.9 * s["v"] + 0.1 * g ** 2
                w = w - lr * g / np.sqrt(s["v"] + 1e-7)
            elif self.kind in ("adam", "adamw"):
                if self.kind == "adamw":
                    w = w - w * self.wd * lr
                alpha = lr * np.sqrt(1 - 0.999 ** self.t) / (1 - 0.9 ** self.t)
                s["m"] = s["m"] + (g - s["m"]) * (1 - 0.9)
                s["v"] = s["v"] + (g ** 2 - s["v"]) * (1 - 0.999)
                w = w - alpha * s["m"] / (np.sqrt(s["v"]) + 1e-7)
            out.append(w)
        return out


def ticket_module():
    return load_user_file(str(ROOT / "examples" / "ticket_classifier.py"))


def compiled_ticket(module):
    model = module.build_model()
    model.compile(optimizer=fg.optimizers.RMSprop(1e-3),
                  loss={"priority": fg.losses.BinaryCrossentropy(from_logits=True),
                        "department": fg.losses.CategoricalCrossentropy(from_logits=True)},
                  loss_weights={"priority": 1.0, "department": 0.2})
    return model


def depends_on(value, target) -> bool:
    """Whether IR ``value`` is computed from ``target`` (or is it)."""
    stack, seen = [value], set()
    while stack:
        v = stack.pop()
        if v is target:
            return True
        if id(v) in seen or v.producer is None:
            continue
        seen.add(id(v))
        stack.extend(v.producer.operands)
    return False


# --- the ticket model: dict x, dict y, weighted losses, one step graph -----------------------
@pytest.fixture(scope="module")
def trained_ticket():
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    module = ticket_module()
    model = compiled_ticket(module)
    x, y = module.load_data(num_samples=256)
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    return model, history


def test_ir_after_a_pass_shows_the_pipeline_of_the_backend_the_step_compiles_on(trained_ticket):
    """numba_cpu's pipeline runs sparse_rows after fusion: its embedding gradients are
    row sums that the optimizer's kernels gather (passes/sparse_rows.py)."""
    model, _ = trained_ticket
    assert model._backend == "numba_cpu"
    fused = model.ir("train_step", after="fusion")
    assert "scatter_add" in fused and "gather_rows" not in fused
    split = model.ir("train_step", after="sparse_rows")
    assert "scatter_add" not in split
    assert split.count("= segment_rows") == 2 and split.count("= gather_rows") == 2


def test_ticket_fit_logs_weighted_and_per_output_losses(trained_ticket):
    model, history = trained_ticket
    h = history.history
    assert set(h) == {"loss", "priority_loss", "department_loss"}
    assert history.epoch == [0, 1]
    assert all(len(v) == 2 for v in h.values())
    assert h["loss"][1] < h["loss"][0]
    for epoch in range(2):
        assert h["loss"][epoch] == pytest.approx(
            h["priority_loss"][epoch] + 0.2 * h["department_loss"][epoch], rel=1e-5)
    # untrained: binary CE of a near-zero logit is about log 2; 4 classes about log 4
    assert h["priority_loss"][0] == pytest.approx(np.log(2), abs=0.05)
    assert h["department_loss"][0] == pytest.approx(np.log(4), abs=0.1)


def test_ticket_train_step_is_one_graph_with_forward_backward_update_and_metrics(trained_ticket):
    model, _ = trained_ticket
    text = model.ir("train_step")
    assert text.startswith("graph @train_step(")
    assert text.count("graph @") == 1
    graph = parse_graph(text)
    verify(graph)
    traced = model._train_function.last_trace
    assert graph == traced.graph
    kinds = {op.kind for op in graph.ops}
    # forward: embeddings, pooling, concat, dense heads
    assert {"take", "reduce_mean", "concatenate", "matmul"} <= kinds
    # backward: the embedding gradient is a scatter_add; ops located at the layers' /grad
    assert "scatter_add" in kinds
    for layer in ("embedding", "embedding_1", "priority", "department", "concatenate"):
        assert re.search(rf"ticket_classifier\.py:\d+ {layer}/grad$", text, re.M), layer
    assert "sqrt" in kinds                                      # RMSprop's root
    params = [p.name for p in graph.params]
    weights = ["embedding/embeddings", "embedding_1/embeddings", "priority/kernel",
               "priority/bias", "department/kernel", "department/bias"]
    slots = [f"rmsprop/{w.replace('/', '_')}_velocity" for w in weights]
    trackers = [f"{m}/{v}" for m in ("loss", "priority_loss", "department_loss")
                for v in ("total", "count")]
    assert set(weights + slots + trackers + ["rmsprop/iteration",
                                             "rmsprop/learning_rate"]) <= set(params)
    # results: the 3 logs, then the new value of every updated variable
    updated = [v.path for v in traced.updated]
    assert set(weights + slots + trackers + ["rmsprop/iteration"]) <= set(updated)
    assert "rmsprop/learning_rate" not in updated
    assert len(graph.results) == 3 + len(updated)
    by_name = {p.name: p for p in graph.params}
    for path, result in zip(updated, graph.results[3:]):
        assert result.producer is not None, path                # computed, not passed through
        assert depends_on(result, by_name[path]), path
    # a slot's new value is computed from that weight's gradient (the backward)
    kernel_velocity = graph.results[3 + updated.index("rmsprop/priority_kernel_velocity")]
    grad_ops = [op for op in graph.ops if op.loc is not None and "priority/grad" in str(op.loc)]
    assert any(depends_on(kernel_velocity, r) for op in grad_ops for r in op.results)


def test_ticket_predict_and_evaluate_keep_names(trained_ticket):
    model, history = trained_ticket
    x, y = ticket_module().load_data(num_samples=40, seed=1)
    pred = model.predict(x, batch_size=16)
    assert set(pred) == {"priority", "department"}
    assert pred["priority"].shape == (40, 1) and pred["department"].shape == (40, 4)
    logs = model.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "priority_loss", "department_loss"}
    z, t = pred["priority"].astype(np.float64), y["priority"]
    bce = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    d = pred["department"].astype(np.float64)
    log_softmax = d - d.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    cce = np.mean(-(y["department"] * log_softmax).sum(1))
    assert logs["priority_loss"] == pytest.approx(bce, rel=1e-4)
    assert logs["department_loss"] == pytest.approx(cce, rel=1e-4)
    assert logs["loss"] == pytest.approx(bce + 0.2 * cce, rel=1e-4)


# --- one step of each optimizer against numpy ------------------------------------------------
OPTIMIZERS = {
    "sgd": (lambda: fg.optimizers.SGD(0.1), dict(kind="sgd", lr=0.1)),
    "momentum": (lambda: fg.optimizers.SGD(0.1, momentum=0.9),
                 dict(kind="momentum", lr=0.1, momentum=0.9)),
    "nesterov": (lambda: fg.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                 dict(kind="nesterov", lr=0.1, momentum=0.9)),
    "rmsprop": (lambda: fg.optimizers.RMSprop(0.01), dict(kind="rmsprop", lr=0.01)),
    "adam": (lambda: fg.optimizers.Adam(0.01), dict(kind="adam", lr=0.01)),
    "adamw": (lambda: fg.optimizers.AdamW(0.01, weight_decay=0.1),
              dict(kind="adamw", lr=0.01, weight_decay=0.1)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_train_on_batch_matches_numpy(name):
    make, config = OPTIMIZERS[name]
    model = mlp()
    model.compile(optimizer=make(), loss="mse")
    x, y = regression_data(8)
    weights = [w.astype(np.float64) for w in model.get_weights()]
    reference = NumpyOptimizer(**config)
    for step in range(2):                                 # two steps: slots, bias correction
        expected_loss, grads = np_mse_and_grads(weights, x, y)
        loss = model.train_on_batch(x, y)
        assert isinstance(loss, float)
        assert loss == pytest.approx(expected_loss, rel=1e-5), step   # before the update
        weights = reference.step(weights, grads)
        for got, want in zip(model.get_weights(), weights):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)
    assert int(model.optimizer.iterations.numpy()) == 2


def test_optimizer_steps_are_not_interchangeable():
    """The rules differ (AdamW decays, nesterov looks ahead): a swapped rule would fail."""
    x, y = regression_data(8)
    finals = {}
    for name in ("adam", "adamw", "momentum", "nesterov"):
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        model = mlp()
        model.compile(optimizer=OPTIMIZERS[name][0](), loss="mse")
        model.train_on_batch(x, y)
        model.train_on_batch(x, y)
        finals[name] = model.get_weights()[0]
    assert np.abs(finals["adam"] - finals["adamw"]).max() > 1e-5
    assert np.abs(finals["momentum"] - finals["nesterov"]).max() > 1e-3


# --- custom train_step -----------------------------------------------------------------------
class Regressor(fg.Model):
    """A subclassed model with its own train_step and two Mean trackers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = fg.layers.Dense(1)
        self.loss_tracker = fg.metrics.Mean(name="loss")
        self.mae_tracker = fg.metrics.Mean(name="mae")

    def call(self, inputs, training=None):
        return self.dense(inputs)

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_tracker]

    def train_step(self, data):
        x, y = data
        with fg.GradientTape() as tape:
            pred = self(x, training=True)
            loss = ops.mean(ops.square(pred - y))
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        self.loss_tracker.update_state(loss)
        self.mae_tracker.update_state(ops.mean(ops.abs(pred - y)))
        return {"loss": self.loss_tracker.result(), "mae": self.mae_tracker.result()}


def test_custom_train_step_trackers_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-1.0], [2.0]]) + 0.5).astype("float32")
    model = Regressor()
    model.compile(optimizer=fg.optimizers.SGD(0.05))
    model(x[:1])                                          # build the weights
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    losses, maes = [], []
    for batch in (slice(0, 10), slice(10, 20)):           # shuffle=False: in order
        xb, yb = x[batch].astype(np.float64), y[batch].astype(np.float64)
        err = xb @ kernel + bias - yb
        losses.append(np.mean(err ** 2))
        maes.append(np.mean(np.abs(err)))
        d = 2 * err / err.size
        kernel, bias = kernel - 0.05 * xb.T @ d, bias - 0.05 * d.sum(0)
    history = model.fit(x, y, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert history.history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-5)
    assert history.history["mae"][0] == pytest.approx(np.mean(maes), rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias, rtol=1e-5, atol=1e-6)
    # the trackers hold the epoch's state: 2 updates of weight 1 each
    assert float(model.loss_tracker.count.numpy()) == 2.0
    assert float(model.loss_tracker.result()) == pytest.approx(np.mean(losses), rel=1e-5)
    later = model.fit(x, y, batch_size=10, epochs=8, shuffle=False, verbose=0).history["loss"]
    assert later[-1] < later[0] < history.history["loss"][0]


def test_the_courses_vae_trains_on_x_alone_and_draws_its_latent_plane(tmp_path):
    """examples/vae.py as the course writes it (Conv2D encoder, Conv2DTranspose decoder,
    a Sampler called on two tensors, a Model with no call and three Mean trackers) on
    28x28 digits; after training, the decoded latent plane as one PNG image."""
    module = load_user_file(str(ROOT / "examples" / "vae.py"))
    vae = module.build_model()
    x, targets = module.load_data()
    assert targets is None and x.shape == (1797, 28, 28, 1) and 0 <= x.min() < x.max() <= 1
    history = vae.fit(x[:128], epochs=3, batch_size=64, verbose=0)
    h = history.history
    assert set(h) == {"total_loss", "reconstruction_loss", "kl_loss"}
    assert h["total_loss"][2] < h["total_loss"][1] < h["total_loss"][0]
    for epoch in range(3):
        assert h["total_loss"][epoch] == pytest.approx(
            h["reconstruction_loss"][epoch] + h["kl_loss"][epoch], rel=1e-5)
    assert all(np.isfinite(w).all() for w in vae.get_weights())
    # the sampling layer's draws are in the step graph
    assert "random_uniform %rng_key" in vae.ir("train_step")
    path = tmp_path / "grid.png"
    module.after_training(vae, history, path=str(path))
    data = path.read_bytes()
    side = module.GRID * 28 + module.GRID - 1
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[16:24] == side.to_bytes(4, "big") * 2


def test_the_courses_vae_trains_alike_on_the_reference_and_numba_cpu():
    """Two steps of the VAE (its sampling draws from the seeded in-graph stream) give the
    same losses and weights on both CPU backends."""
    module = load_user_file(str(ROOT / "examples" / "vae.py"))
    x, _ = module.load_data()
    results = {}
    for backend in ("reference", "numba_cpu"):
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        vae = module.build_model()
        vae.recompile(backend)
        history = vae.fit(x[:64], epochs=2, batch_size=32, shuffle=False, verbose=0)
        results[backend] = (history.history["total_loss"], vae.get_weights())
    np.testing.assert_allclose(results["numba_cpu"][0], results["reference"][0], rtol=1e-4)
    for a, b in zip(results["numba_cpu"][1], results["reference"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


def test_the_courses_filter_visualization_ascends_a_filters_activation(tmp_path,
                                                                        monkeypatch):
    """examples/feature_visualization.py: a feature extractor from model.get_layer(...)
    .output, the course's @fg.function gradient-ascent step with a tape watching the
    image; each drawn pattern excites its filter more than the noise it started from."""
    module = load_user_file(str(ROOT / "examples" / "feature_visualization.py"))
    model = module.build_model()
    (x, y), _ = module.load_data()
    assert x.shape[1:] == (28, 28, 1)
    history = model.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0)
    monkeypatch.setattr(module, "FILTERS", 2)
    path = tmp_path / "patterns.png"
    module.after_training(model, history, path=str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    extractor = fg.Model(model.input, model.get_layer(module.LAYER_NAME).output)
    step = module.make_gradient_ascent_step(extractor)
    noise = np.random.default_rng(0).uniform(0.4, 0.6, (1, 28, 28, 1)).astype("float32")
    alive = int(np.argmax([float(module.compute_loss(extractor, noise, f)) for f in range(8)]))
    before = float(module.compute_loss(extractor, noise, alive))
    drawn = module.generate_filter_pattern(step, alive)[None]
    assert float(module.compute_loss(extractor, drawn, alive)) > before > 0   # a dead
    # (all-zero) filter's gradient is zero: its noise stays noise, as in the course


# --- evaluate / test_on_batch / predict ------------------------------------------------------
@pytest.fixture
def fitted_mlp():
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    x, y = regression_data(40)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return model, x, y


def test_evaluate_test_on_batch_and_predict_match_numpy(fitted_mlp):
    model, x, y = fitted_mlp
    out = np_forward(model.get_weights(), x.astype(np.float64))[2]
    mse, mae = np.mean((out - y) ** 2), np.mean(np.abs(out - y))
    np.testing.assert_allclose(model.predict(x, batch_size=7), out, rtol=1e-5, atol=1e-6)
    assert model.metrics_names == ["loss", "mae"]
    # batches of 16, 16, 8: the running means weight each batch by its size
    values = model.evaluate(x, y, batch_size=16, verbose=0)
    assert values == pytest.approx([mse, mae], rel=1e-5)
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert logs == pytest.approx({"loss": mse, "mae": mae}, rel=1e-5)
    assert model.test_on_batch(x[:5], y[:5]) == pytest.approx(
        [np.mean((out[:5] - y[:5]) ** 2), np.mean(np.abs(out[:5] - y[:5]))], rel=1e-5)
    assert model.test_on_batch(x[:5], y[:5], return_dict=True)["loss"] == pytest.approx(
        np.mean((out[:5] - y[:5]) ** 2), rel=1e-5)
    before = [w.copy() for w in model.get_weights()]
    model.evaluate(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_float64_and_int_data_convert_as_keras_does():
    """numpy's default float64 (and ints for a float input) train as float32."""
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.1), loss="mse")
    x, y = regression_data(8)
    expected, _ = np_mse_and_grads(model.get_weights(), x, y)
    assert model.train_on_batch(x.astype(np.float64), y.astype(np.float64)) == \
        pytest.approx(expected, rel=1e-5)
    assert np.isfinite(model.evaluate(np.ones((4, 3), "int64"), np.zeros((4, 2)), verbose=0))


def test_fit_without_shuffle_equals_train_on_batch_in_order():
    """Also: the last, partial batch (40 = 16 + 16 + 8) is trained on."""
    x, y = regression_data(40)
    models = []
    for _ in range(2):
        fg.utils.clear_session()
        fg.utils.set_random_seed(5)
        model = mlp()
        model.compile(optimizer=fg.optimizers.Adam(0.01), loss="mse")
        models.append(model)
    batch_losses = [models[1].train_on_batch(x[i:i + 16], y[i:i + 16]) for i in (0, 16, 32)]
    seen = []
    history = models[0].fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[
        fg.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))])
    assert seen == [0, 1, 2]
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the epoch's loss is the sample-weighted mean of the batch losses
    assert history.history["loss"][0] == pytest.approx(
        np.average(batch_losses, weights=[16, 16, 8]), rel=1e-5)


def test_shuffled_fit_is_reproducible_under_a_seed():
    x, y = regression_data(40)
    runs = []
    for shuffle in (True, True, False):
        fg.utils.clear_session()
        fg.utils.set_random_seed(3)
        model = mlp()
        model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0)
        runs.append((history.history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert not np.array_equal(runs[0][1][0], runs[2][1][0])     # the order mattered


def test_initial_epoch(capsys):
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(16)
    epochs = []
    history = model.fit(x, y, epochs=3, initial_epoch=1, batch_size=8, verbose=1, callbacks=[
        fg.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: epochs.append(e))])
    assert epochs == [1, 2] and history.epoch == [1, 2]
    assert len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 2/3" in out and "Epoch 3/3" in out and "Epoch 1/3" not in out


def test_validation_data_logs_val_loss_equal_to_evaluate():
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    x, y = regression_data(40)
    xv, yv = regression_data(12, seed=9)
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(xv, yv), verbose=0)
    assert set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert history.history["val_loss"][0] != history.history["val_loss"][1]
    assert model.evaluate(xv, yv, verbose=0, return_dict=True) == pytest.approx(
        {"loss": history.history["val_loss"][-1], "mae": history.history["val_mae"][-1]},
        rel=1e-6)


def test_validation_split_holds_out_the_last_samples():
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
    x, y = regression_data(40)
    batches = []
    history = model.fit(x, y, batch_size=10, epochs=1, validation_split=0.25, shuffle=False,
                        verbose=0, callbacks=[fg.callbacks.LambdaCallback(
                            on_train_batch_end=lambda b, logs: batches.append(b))])
    assert batches == [0, 1, 2]                            # 30 training samples
    out = np_forward(model.get_weights(), x[30:].astype(np.float64))[2]
    assert history.history["val_loss"][0] == pytest.approx(np.mean((out - y[30:]) ** 2),
                                                           rel=1e-5)


def test_dataset_pipeline_as_input():
    x, y = regression_data(40)
    dataset = (fg.data.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=1).batch(16)
               .map(lambda xb, yb: (xb * 1.0, yb)).prefetch(2))
    model = mlp()
    model.compile(optimizer=fg.optimizers.Adam(0.02), loss="mse")
    steps = []
    history = model.fit(dataset, epochs=4, verbose=0, callbacks=[fg.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: steps.append(b))])
    assert steps == [0, 1, 2] * 4
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss = model.evaluate(fg.data.Dataset.from_tensor_slices((x, y)).batch(40), verbose=0)
    out = np_forward(model.get_weights(), x.astype(np.float64))[2]
    assert loss == pytest.approx(np.mean((out - y) ** 2), rel=1e-5)


def test_generator_with_steps_per_epoch():
    x, y = regression_data(40)

    def batches():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    model = mlp()
    model.compile(optimizer=fg.optimizers.Adam(0.02), loss="mse")
    steps = []
    history = model.fit(batches(), steps_per_epoch=3, epochs=3, verbose=0, callbacks=[
        fg.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: steps.append(b))])
    assert steps == [0, 1, 2] * 3 and len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert int(model.optimizer.iterations.numpy()) == 9


# --- callbacks and verbosity -----------------------------------------------------------------
def test_early_stopping_stops_and_lambda_callback_gets_the_logs():
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.0), loss="mse")   # the loss cannot improve
    x, y = regression_data(16)
    calls = []
    stopper = fg.callbacks.EarlyStopping(monitor="loss", patience=1)
    history = model.fit(x, y, batch_size=8, epochs=10, shuffle=False, verbose=0, callbacks=[
        stopper, fg.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: calls.append((epoch, dict(logs))))])
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert [e for e, _ in calls] == [0, 1]
    assert calls[0][1] == {"loss": history.history["loss"][0]}
    expected, _ = np_mse_and_grads(model.get_weights(), x, y)
    assert calls[1][1]["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_verbose_output(verbose, capsys):
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(20)
    model.fit(x, y, batch_size=8, epochs=2, verbose=verbose)
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
        return
    assert re.findall(r"Epoch (\d)/2", out) == ["1", "2"]
    if verbose == 1:         # captured, not a terminal: the bar once per epoch, no \r
        assert "\r" not in out and "━" in out
        assert len(re.findall(r"^3/3 ━{20} \d+s \d+m?u?s/step - loss: \d\.\d{4} *\n", out,
                              re.M)) == 2
    else:
        assert "\r" not in out and "━" not in out
        lines = out.splitlines()
        assert len(lines) == 4
        for line in lines[1::2]:
            assert re.fullmatch(r"3/3 - \d+s - \d+m?u?s/step - loss: \d\.\d{4}", line), line


class Recorder(fg.callbacks.Callback):
    """Records every hook call as (hook, index or None, logs keys or the outputs' shape)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_") and not name.startswith(("on_batch", "on_train_batch")):
            def hook(*args):
                *index, logs = args
                shown = (np.shape(logs["outputs"]) if "outputs" in logs else sorted(logs))
                self.calls.append((name, index[0] if index else None, shown))
            return hook
        return super().__getattribute__(name)


def test_evaluate_dispatches_the_test_hooks_and_shows_a_bar(capsys):
    model = mlp()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = regression_data(20)
    recorder = Recorder()
    logs = model.evaluate(x, y, batch_size=8, callbacks=[recorder], return_dict=True)
    assert recorder.calls == [
        ("on_test_begin", None, []),
        ("on_test_batch_begin", 0, []), ("on_test_batch_end", 0, ["loss", "mae"]),
        ("on_test_batch_begin", 1, []), ("on_test_batch_end", 1, ["loss", "mae"]),
        ("on_test_batch_begin", 2, []), ("on_test_batch_end", 2, ["loss", "mae"]),
        ("on_test_end", None, ["loss", "mae"])]
    assert recorder.model is model and recorder.params == {"epochs": 1, "steps": 3,
                                                           "verbose": 1}
    out = capsys.readouterr().out                       # verbose="auto": a bar, as in Keras
    assert re.search(r"^3/3 ━{20} \d+s \d+m?u?s/step - loss: \d\.\d{4} - mae: \d\.\d{4} *\n$",
                     out), out
    assert f"loss: {logs['loss']:.4f}" in out
    model.evaluate(x, y, batch_size=8, verbose=2)
    assert re.fullmatch(r"3/3 - \d+s - \d+m?u?s/step - loss: \d\.\d{4} - mae: \d\.\d{4}\n",
                        capsys.readouterr().out)
    model.evaluate(x, y, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""


def test_a_callback_stops_evaluation_with_stop_evaluating():
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(40)
    seen = []

    def stop(batch, logs):
        seen.append(batch)
        model.stop_evaluating = batch == 1

    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True, callbacks=[
        fg.callbacks.LambdaCallback(on_test_batch_end=stop)])
    assert seen == [0, 1]
    out = np_forward(model.get_weights(), x[:16].astype(np.float64))[2]
    assert logs["loss"] == pytest.approx(np.mean((out - y[:16]) ** 2), rel=1e-5)


def test_predict_dispatches_the_predict_hooks_and_shows_a_bar(capsys):
    model = mlp()
    x, _ = regression_data(20)
    recorder = Recorder()
    out = model.predict(x, batch_size=8, callbacks=[recorder])
    assert out.shape == (20, 2)
    assert recorder.calls == [
        ("on_predict_begin", None, []),
        ("on_predict_batch_begin", 0, []), ("on_predict_batch_end", 0, (8, 2)),
        ("on_predict_batch_begin", 1, []), ("on_predict_batch_end", 1, (8, 2)),
        ("on_predict_batch_begin", 2, []), ("on_predict_batch_end", 2, (4, 2)),
        ("on_predict_end", None, [])]
    assert re.search(r"^3/3 ━{20} \d+s \d+m?u?s/step *\n$", capsys.readouterr().out)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_validation_in_fit_runs_the_test_hooks_without_a_bar_of_its_own(capsys):
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(16)
    recorder = Recorder()
    model.fit(x, y, batch_size=8, epochs=1, validation_data=(x[:8], y[:8]), verbose=1,
              callbacks=[recorder])
    hooks = [name for name, _, _ in recorder.calls]
    assert hooks == ["on_train_begin", "on_epoch_begin", "on_test_begin",
                     "on_test_batch_begin", "on_test_batch_end", "on_test_end",
                     "on_epoch_end", "on_train_end"]
    assert recorder.calls[-2] == ("on_epoch_end", 0, ["loss", "val_loss"])
    out = capsys.readouterr().out
    assert out.count("\n") == 2 and "val_loss" in out            # "Epoch 1/1" and one bar


# --- the learning rate changed between steps -------------------------------------------------
class Halving(fg.optimizers.schedules.LearningRateSchedule):
    """lr = base / 2**step."""

    def __init__(self, base):
        self.base = base

    def __call__(self, step):
        return self.base / ops.power(2.0, ops.cast(step, "float32"))

    def get_config(self):
        return {"base": self.base}


def test_a_schedule_set_after_the_first_step_takes_effect():
    model = mlp()
    optimizer = fg.optimizers.SGD(0.1)
    model.compile(optimizer=optimizer, loss="mse")
    x, y = regression_data(8)
    weights = [w.astype(np.float64) for w in model.get_weights()]
    for step, set_rate in enumerate([None, 0.05, Halving(0.2), Halving(0.0)]):
        if set_rate is not None:
            optimizer.learning_rate = set_rate
        lr = {0: 0.1, 1: 0.05, 2: 0.2 / 2 ** 2, 3: 0.0}[step]    # iterations is 2 at step 2
        _, grads = np_mse_and_grads(weights, x, y)
        model.train_on_batch(x, y)
        weights = [w - lr * g for w, g in zip(weights, grads)]
        for got, want in zip(model.get_weights(), weights):
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, err_msg=f"step {step}")
    # the float changes reused the graph; each schedule traced the step again
    assert optimizer.trace_version == 2
    params = [p.name for p in parse_graph(model.ir("train_step")).params]
    assert "SGD/iteration" in params and "SGD/learning_rate" not in params
    with pytest.raises(TypeError, match=r"test_trainer\.py:\d+: SGD's learning rate is the "
                                        r"LearningRateSchedule .*not settable to the number"):
        optimizer.learning_rate = 0.1


def test_a_callback_setting_a_schedule_mid_fit_changes_the_next_steps():
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(0.05), loss="mse")
    x, y = regression_data(16)
    initial, snapshots = model.get_weights(), []

    def on_batch_end(batch, logs):
        snapshots.append(model.get_weights())
        if batch == 0:
            model.optimizer.learning_rate = Halving(0.0)          # no more change

    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[
        fg.callbacks.LambdaCallback(on_train_batch_end=on_batch_end)])
    assert not np.array_equal(snapshots[0][0], initial[0])        # the first step trained
    assert len(snapshots) == 4
    for later in snapshots[1:]:
        for a, b in zip(later, snapshots[0]):
            np.testing.assert_array_equal(a, b)


# --- dropout in training ---------------------------------------------------------------------
def test_dropout_draws_in_training_and_is_the_identity_outside():
    inputs = fg.Input(shape=(64,))
    model = fg.Model(inputs, fg.layers.Dropout(0.5)(inputs))
    x = np.ones((32, 64), "float32")
    step = fg.function(lambda batch: model(batch, training=True))
    first, second = step(x), step(x)
    assert not np.array_equal(first, second)
    for out in (first, second):
        assert set(np.unique(out)) <= {0.0, 2.0}            # kept values scaled by 1/(1-rate)
        assert 0.45 < np.mean(out == 0) < 0.55
    fg.utils.set_random_seed(7)
    again = step(x)
    fg.utils.set_random_seed(7)
    np.testing.assert_array_equal(step(x), again)
    np.testing.assert_array_equal(model(x), x)
    np.testing.assert_array_equal(model.predict(x), x)
    np.testing.assert_array_equal(fg.function(lambda b: model(b, training=False))(x), x)


def test_dropout_masks_differ_between_training_steps():
    inputs = fg.Input(shape=(8,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8, activation="relu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(1)(hidden))
    model.compile(optimizer=fg.optimizers.SGD(0.0), loss="mse")   # weights never change
    x, y = np.ones((16, 8), "float32"), np.zeros((16, 1), "float32")
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert len(set(losses)) == 3
    assert model.test_on_batch(x, y) == model.test_on_batch(x, y)



class DropoutNoTrainingArg(fg.Model):
    """A subclassed model whose call takes no `training`: fit's self(x, training=True)
    must still reach its Dropout (Keras 3 drops the argument, keeps the mode)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = fg.layers.Dense(8, activation="relu")
        self.drop = fg.layers.Dropout(0.5)
        self.head = fg.layers.Dense(1)

    def call(self, inputs):
        return self.head(self.drop(self.hidden(inputs)))


def test_fit_a_subclassed_model_whose_call_takes_no_training():
    model = DropoutNoTrainingArg()
    model.compile(optimizer=fg.optimizers.SGD(0.0), loss="mse")   # weights never change
    x, y = np.ones((16, 8), "float32"), np.zeros((16, 1), "float32")
    losses = [model.train_on_batch(x, y) for _ in range(3)]
    assert len(set(losses)) == 3                                   # dropout in training
    assert model.test_on_batch(x, y) == model.test_on_batch(x, y)
    np.testing.assert_array_equal(model.predict(x), model(x))
    model.compile(optimizer=fg.optimizers.SGD(0.01), loss="mse")
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))


def test_custom_train_step_with_trainable_variables_as_in_the_keras_3_guide():
    class Guide(Regressor):
        def train_step(self, data):
            x, y = data
            with fg.GradientTape() as tape:
                pred = self(x, training=True)
                loss = ops.mean(ops.square(pred - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.loss_tracker.update_state(loss)
            return {"loss": self.loss_tracker.result()}

    x, y = regression_data(20)
    y = y[:, :1]
    finals = []
    for cls in (Regressor, Guide):
        fg.utils.clear_session()
        fg.utils.set_random_seed(0)
        model = cls()
        model.compile(optimizer=fg.optimizers.SGD(0.05))
        model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
        finals.append(model.get_weights())
    for a, b in zip(*finals):
        np.testing.assert_allclose(a, b, rtol=1e-6)


# --- bad input -------------------------------------------------------------------------------
@pytest.fixture
def ticket():
    module = ticket_module()
    x, y = module.load_data(num_samples=24)
    return compiled_ticket(module), x, y


def test_wrong_input_keys_are_named(ticket):
    model, x, y = ticket
    bad = {"title": x["title"], "body": x["body"], "tagz": x["tags"]}
    with pytest.raises(KeyError, match=r"missing input\(s\) \['tags'\].*unknown input "
                                       r"name\(s\) \['tagz'\].*\['title', 'body', 'tags'\]"):
        model.fit(bad, y, verbose=0)


def test_wrong_target_keys_are_named(ticket):
    model, x, y = ticket
    with pytest.raises(KeyError, match=r"targets: missing output\(s\) \['department'\].*unknown "
                                       r"output name\(s\) \['dept'\].*\['priority', 'department'\]"):
        model.fit(x, {"priority": y["priority"], "dept": y["department"]}, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_x_and_y_of_different_lengths(ticket):
    model, x, y = ticket
    with pytest.raises(ValueError, match=r"Data cardinality is ambiguous.*x\['title'\]: 24.*"
                                         r"y\['priority'\]: 10"):
        model.fit(x, {k: v[:10] for k, v in y.items()}, verbose=0)


def test_loss_dict_naming_no_output():
    model = ticket_module().build_model()
    with pytest.raises(ValueError, match=r"the key\(s\) \['prio'\] name no output; the "
                                         r"model's outputs are \['priority', 'department'\]"):
        model.compile(loss={"prio": "mse"})


def test_wrong_target_shape_for_a_loss(ticket):
    model, x, y = ticket
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ShapeError, match=r"categorical_crossentropy.*3 classes.*y_pred has 4"):
        model.fit(x, {"priority": y["priority"], "department": y["department"][:, :3]},
                  verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    simple = mlp()
    simple.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match=r"sparse_categorical_crossentropy.*y_true has shape "
                                         r"\(None, 3\).*integer class indices"):
        simple.train_on_batch(np.ones((4, 3), "float32"), np.ones((4, 3), "float32"))


def test_wrong_input_shape_names_the_input():
    model = mlp()
    model.compile(loss="mse")
    with pytest.raises(ValueError, match=r"model 'mlp', input 'x': expected an array of shape "
                                         r"\(None, 3\).*got shape \(4, 5\)"):
        model.fit(np.ones((4, 5), "float32"), np.ones((4, 2), "float32"), verbose=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_training_before_compile(method):
    model = mlp()
    x, y = regression_data(4)
    with pytest.raises(RuntimeError, match=rf"model 'mlp': call compile\(\) before {method}\(\)"):
        getattr(model, method)(x, y)


def test_terminate_on_nan_keeps_the_last_good_weights(capsys):
    x, y = regression_data(40)
    passes = []

    def batches():
        """Epoch 1's second batch holds a NaN."""
        passes.append(len(passes))
        for i in range(0, 40, 10):
            xb = x[i:i + 10].copy()
            if len(passes) == 2 and i == 10:
                xb[3, 1] = np.nan
            yield xb, y[i:i + 10]

    model = mlp()
    model.compile(optimizer=fg.optimizers.Adam(0.01), loss="mse")
    snapshots = []
    terminate = fg.callbacks.TerminateOnNaN()
    history = model.fit(batches, epochs=5, verbose=0, callbacks=[
        terminate, fg.callbacks.LambdaCallback(
            on_train_batch_begin=lambda b, logs: snapshots.append(model.get_weights()))])
    assert "Batch 1: Invalid loss, terminating training" in capsys.readouterr().out
    assert (terminate.stopped_epoch, terminate.stopped_batch) == (1, 1)
    assert model.stop_training and len(passes) == 2 and len(snapshots) == 4 + 2
    last_good = snapshots[-1]                              # taken before the bad step
    assert not np.array_equal(last_good[0], snapshots[0][0])
    for got, want in zip(model.get_weights(), last_good):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)
    assert int(model.optimizer.iterations.numpy()) == 5    # the bad step is not counted
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning",
                            "ignore:invalid value encountered:RuntimeWarning")
def test_a_huge_learning_rate_is_stopped_before_weights_go_bad(capsys):
    model = mlp()
    model.compile(optimizer=fg.optimizers.SGD(1e20), loss="mse")
    x, y = regression_data(16)
    snapshots = []
    model.fit(x, y, batch_size=4, epochs=20, verbose=0, callbacks=[
        fg.callbacks.TerminateOnNaN(), fg.callbacks.LambdaCallback(
            on_train_batch_begin=lambda b, logs: snapshots.append(model.get_weights()))])
    assert re.search(r"Batch \d: Invalid loss, terminating training", capsys.readouterr().out)
    assert len(snapshots) < 80
    for got, want in zip(model.get_weights(), snapshots[-1]):
        np.testing.assert_array_equal(got, want)
        assert np.isfinite(got).all()


# --- inference runs leave the training trajectory alone -----------------------------------
def _dropout_model():
    """A fresh session, so two models built in one test get the same weights and salts."""
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    inputs = fg.Input(shape=(5,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8)(inputs))
    model = fg.Model(inputs, fg.layers.Dense(1)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _dropout_data(n):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 5)).astype("float32"),
            rng.standard_normal((n, 1)).astype("float32"))


def test_interleaved_predict_does_not_change_the_training_trajectory():
    """predict runs the inference graph, which reads no random key: it must not advance
    the run counter the training steps' dropout masks are keyed by."""
    x, y = _dropout_data(8)
    weights = []
    for interleave in (False, True):
        model = _dropout_model()
        for _ in range(3):
            model.train_on_batch(x, y)
            if interleave:
                model.predict(x, verbose=0)
                model(x)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_validation_data_does_not_change_the_training_trajectory():
    x, y = _dropout_data(64)
    weights = []
    for validation in (None, (x[:16], y[:16])):
        model = _dropout_model()
        model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_data=validation)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_dropout_masks_still_differ_from_step_to_step():
    """The training step still reads a fresh key every run."""
    x, y = _dropout_data(8)
    model = _dropout_model()
    model.optimizer.learning_rate = 0.0
    losses = {model.train_on_batch(x, y) for _ in range(3)}
    assert len(losses) == 3


def test_each_new_sequence_length_reuses_the_traced_steps():
    """x is traced with the model's input shapes: Input(shape=(None, 3)) keeps its time
    axis symbolic in the step graphs, so batches of T = 5, 1, 3 trace each step once."""
    inputs = fg.Input(shape=(None, 3))
    hidden = fg.layers.GlobalAveragePooling1D()(fg.layers.Dense(4)(inputs))
    model = fg.Model(inputs, fg.layers.Dense(1)(hidden))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    rng = np.random.default_rng(0)
    y = rng.normal(size=(4, 1)).astype("float32")
    for steps in (5, 1, 3):
        x = rng.normal(size=(4, steps, 3)).astype("float32")
        model.fit(x, y, batch_size=2, verbose=0)
        logs = model.evaluate(x, y, verbose=0, return_dict=True)
        w1, b1, w2, b2 = model.get_weights()
        want = (x @ w1 + b1).mean(axis=1) @ w2 + b2
        np.testing.assert_allclose(logs["loss"], np.mean((want - y) ** 2), rtol=1e-5)
    assert len(model._train_function._traces) == 1
    assert len(model._test_function._traces) == 1
    with pytest.raises(ValueError, match=r"expected an array of shape \(None, None, 3\)"):
        model.fit(np.ones((4, 2, 5), "float32"), y, verbose=0)   # a fixed size still checked


# --- issue 6: labels checked on the host, all of fit checked first, compile all or nothing ---
def _softmax_classifier(name="clf"):
    inputs = fg.Input(shape=(4,), name="features")
    outputs = fg.layers.Dense(3, activation="softmax", name="probs")(inputs)
    model = fg.Model(inputs, outputs, name=name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _class_data(n=8):
    rng = np.random.default_rng(3)
    return rng.normal(size=(n, 4)).astype("float32"), np.arange(n) % 3


def _weights_and_slots(model):
    return [np.array(v.numpy(), copy=True)
            for v in list(model.weights) + list(model.optimizer.variables)]


def _assert_same(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert a.tobytes() == b.tobytes()


def test_out_of_range_sparse_labels_raise_where_they_arrive():
    """Label 3 of 3 classes (or -1) used to add 0 to the loss. fit names the output, the
    value, its position in the user's y and the class count before any step; float
    labels truncate as the graph's cast does (2.9 is class 2, 3.0 is not)."""
    model = _softmax_classifier()
    x, y = _class_data()
    model.train_on_batch(x, y)
    before = _weights_and_slots(model)
    bad = y.copy()
    bad[6] = 3
    with pytest.raises(ValueError, match=r"fit\(\): y\[6\] is 3, not a class index of output "
                                         r"'probs' of model 'clf'.*\[0, 3\) for its 3 classes"):
        model.fit(x, bad, batch_size=4, shuffle=True, verbose=0)
    bad[6] = -1
    with pytest.raises(ValueError, match=r"train_on_batch\(\): y\[6\] is -1"):
        model.train_on_batch(x, bad)
    with pytest.raises(ValueError, match=r"evaluate\(\): y\[6\] is -1"):
        model.evaluate(x, bad, verbose=0)
    floats = y.astype("float32")
    floats[0] = np.nan
    with pytest.raises(ValueError, match=r"y\[0\] is nan"):
        model.test_on_batch(x, floats)
    _assert_same(before, _weights_and_slots(model))
    floats[0] = 2.9
    model.test_on_batch(x, floats)   # truncates to class 2: fine


def test_the_label_check_adds_nothing_to_the_step_graph():
    """The check is numpy on the host: the traced train step of labels in range and the
    graph that ran before the check existed have the same ops (none compares labels)."""
    model = _softmax_classifier()
    x, y = _class_data()
    model.train_on_batch(x, y)
    kinds = {op.kind for op in model.step_graph("train_step").ops}
    assert not kinds & {"less", "greater", "greater_equal", "less_equal", "logical_or"}
    traced = model._train_function.last_trace
    assert [(i, g.num_classes) for i, g in traced.checks] == [(1, 3)]   # y, once (loss+metric)


def test_labels_from_a_dataset_are_checked_per_batch():
    model = _softmax_classifier()
    x, y = _class_data()
    y[5] = 7
    data = fg.data.Dataset.from_tensor_slices((x, y)).batch(4)
    with pytest.raises(ValueError, match=r"fit\(\), epoch 1, batch 1: y\[1\] is 7"):
        model.fit(data, verbose=0)


def test_labels_are_checked_in_a_custom_train_step_and_in_fg_function():
    """A subclassed train_step that calls compute_loss, and an fg.function calling the
    loss on its arguments, have the same host boundary: their array arguments."""
    class Custom(fg.Model):
        def train_step(self, data):
            x, y = data
            with fg.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return {"loss": loss}

    inputs = fg.Input(shape=(4,), name="features")
    model = Custom(inputs, fg.layers.Dense(3, name="logits")(inputs), name="custom")
    model.compile(optimizer="sgd",
                  loss=fg.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _class_data()
    y[2] = 3
    with pytest.raises(ValueError, match=r"y\[2\] is 3, not a class index of output 'logits'"):
        model.fit(x, y, verbose=0)

    @fg.function
    def loss_of(labels, logits):
        return fg.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    logits = np.zeros((8, 3), "float32")
    with pytest.raises(ValueError, match=r"function 'loss_of': arg0\[2\] is 3.*\[0, 3\)"):
        loss_of(y, logits)
    # called eagerly, the labels are named by the parameter they were passed as
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy\(y_true\)\[0\] is -1"):
        fg.losses.sparse_categorical_crossentropy(np.array([-1, 0]), logits[:2])


def test_bad_validation_data_fails_before_the_first_step():
    """validation_data is checked (and the test step traced on it) before training: no
    epoch begins, no weight or slot changes, and the messages name validation_data."""
    model = _softmax_classifier()
    x, y = _class_data()
    model.train_on_batch(x, y)
    before = _weights_and_slots(model)
    epochs = []
    watcher = fg.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs.append(epoch))
    bad_labels = y.copy()
    bad_labels[4] = 5
    cases = [((x,), ValueError, r"fit\(\): validation_data: expected a tuple \(x_val, y_val\)"),
             ("abc", TypeError, r"fit\(\): validation_data: expected .*got str"),
             ((x[:, :3], y), ValueError, r"fit\(\): validation_data: model 'clf', input "
                                         r"'features': expected an array of shape \(None, 4\)"),
             ((x, y[:5]), ValueError, r"validation_data\[0\]: 8, validation_data\[1\]: 5"),
             ((x, bad_labels), ValueError, r"fit\(\): validation_data: validation_data\[1\]\[4\] "
                                           r"is 5"),
             ((x, None), ValueError, r"validation_data: .*no y was given"),
             (fg.data.Dataset.from_tensor_slices((x, bad_labels)).batch(8), ValueError,
              r"fit\(\): validation_data: y\[4\] is 5")]
    for validation, error, message in cases:
        with pytest.raises(error, match=message):
            model.fit(x, y, epochs=2, validation_data=validation, callbacks=[watcher], verbose=0)
    assert epochs == []
    _assert_same(before, _weights_and_slots(model))


def test_fit_arguments_are_checked_with_their_names():
    model = _softmax_classifier()
    x, y = _class_data()
    for kwargs, error, message in [
            ({"epochs": "3"}, TypeError, r"fit\(epochs=\.\.\.\): expected an int >= 0, got '3'"),
            ({"epochs": 2.5}, TypeError, r"fit\(epochs=\.\.\.\): expected an int >= 0, got 2\.5"),
            ({"initial_epoch": -1}, ValueError, r"fit\(initial_epoch=\.\.\.\)"),
            ({"verbose": "loud"}, TypeError, r"fit\(verbose=\.\.\.\): expected 'auto', 0"),
            ({"shuffle": "yes"}, TypeError, r"fit\(shuffle=\.\.\.\): expected True or False"),
            ({"callbacks": [fg.callbacks.History]}, TypeError, r"item 0 is a class: instantiate"),
            ({"validation_split": "0.1"}, TypeError, r"fit\(validation_split=\.\.\.\)")]:
        with pytest.raises(error, match=message):
            model.fit(x, y, **kwargs)
    model.fit(x, y, epochs=np.int64(1), verbose=False, callbacks=fg.callbacks.History())


def test_y_as_float16_is_converted_and_strings_are_named():
    inputs = fg.Input(shape=(4,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    x, _ = _class_data()
    y = np.linspace(0, 1, 8, dtype="float16").reshape(8, 1)
    start = model.get_weights()
    half = model.train_on_batch(x, y)
    model.set_weights(start)
    assert half == model.train_on_batch(x, y.astype("float32"))
    with pytest.raises(TypeError, match=r"^fit\(\): y has dtype <U1; expected numbers"):
        model.fit(x, np.array(list("abcdefgh")).reshape(8, 1), verbose=0)
    with pytest.raises(TypeError, match=r"^train_on_batch\(\): y has dtype <U1"):
        model.train_on_batch(x, np.array(list("abcdefgh")).reshape(8, 1))


def test_a_failed_compile_keeps_the_earlier_compile():
    """A typo in the loss (or a metric, a loss weight, the backend) used to replace the
    optimizer, losing its slots, before failing: now nothing changes."""
    model = _softmax_classifier()
    x, y = _class_data()
    model.train_on_batch(x, y)
    optimizer, slots = model.optimizer, _weights_and_slots(model)
    for kwargs in [{"loss": "sparse_categorical_crossentropyy"},
                   {"loss": "mse", "metrics": ["acuracy"]},
                   {"loss": "mse", "loss_weights": "heavy"},
                   {"loss": "mse", "backend": "tpu"}]:
        with pytest.raises((ValueError, TypeError)):
            model.compile(optimizer="sgd", **kwargs)
        assert model.optimizer is optimizer
        assert model.compiled
    _assert_same(slots, _weights_and_slots(model))
    loss, accuracy = model.train_on_batch(x, y)   # still the Adam step, loss and metric
    assert model.optimizer.iterations.numpy() == 2 and loss > 0


def test_a_subclassed_model_checks_its_compile_arguments_at_compile():
    class Plain(fg.Model):
        def __init__(self):
            super().__init__()
            self.dense = fg.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Plain()
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        model.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])
    assert not model.compiled


def test_a_sparse_accuracy_metric_checks_its_labels_too():
    """Labels that only a sparse metric reads (the loss ignores them) are checked as well:
    an out-of-range label would silently count as a miss."""
    inputs = fg.Input(shape=(4,), name="features")
    model = fg.Model(inputs, fg.layers.Dense(3, name="scores")(inputs), name="metric_only")
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: ops.mean(y_pred, axis=-1),
                  metrics=["sparse_categorical_accuracy"])
    x, y = _class_data()
    y[1] = 3
    with pytest.raises(ValueError, match=r"y\[1\] is 3, not a class index of output 'scores' of "
                                         r"model 'metric_only': metric "
                                         r"'sparse_categorical_accuracy' takes labels in \[0, 3\)"):
        model.evaluate(x, y, verbose=0)


@pytest.mark.parametrize("logs, words", [
    (lambda loss: None, r"train_step must return a dict of metric values .*got NoneType"),
    (lambda loss: {"loss": "abc"}, r"train_step returned \{'loss': \.\.\.\} of 'abc'; the "
                                   r"values of the logs are numbers or numeric arrays"),
])
def test_train_step_logs_that_are_not_numbers_are_named_and_change_nothing(logs, words):
    """Checked before the step's updates are written: the weights and the optimizer's
    iteration count stay as they were, in fit() and in train_on_batch()."""
    class Model(fg.Model):
        def __init__(self):
            super().__init__()
            self.dense = fg.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            with fg.GradientTape() as tape:
                loss = ops.mean(ops.square(self(x) - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return logs(loss)

    x, y = np.ones((4, 2), "float32"), np.ones((4, 1), "float32")
    model = Model()
    model.compile(optimizer="adam")
    model(x)
    before = [w.numpy().copy() for w in model.weights]
    for run, where in [(lambda: model.fit(x, y, verbose=0), r"fit\(\), epoch 1, batch 0: "),
                       (lambda: model.train_on_batch(x, y), r"train_on_batch\(\): ")]:
        with pytest.raises(TypeError, match=where + words):
            run()
        assert all((a == b).all() for a, b in zip(before, [w.numpy() for w in model.weights]))
        assert int(model.optimizer.iterations.numpy()) == 0


def test_a_per_class_metric_logs_an_array_as_keras(tmp_path, capsys):
    """F1Score's default result is one value per class: logged as an array (History,
    CSVLogger's "[a, b, c]"), the progress bar shows its mean (as Keras's), and a callback
    monitoring it says it cannot."""
    features = fg.Input(shape=(2,))
    model = fg.Model(features, fg.layers.Dense(3, activation="softmax")(features))
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["f1_score"],
                  backend="reference")
    x = np.random.default_rng(0).normal(size=(12, 2)).astype("float32")
    y = np.eye(3, dtype="float32")[np.arange(12) % 3]
    log = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=2,
                        callbacks=[fg.callbacks.CSVLogger(str(log))])
    scores = history.history["f1_score"]
    assert len(scores) == 2 and all(np.shape(v) == (3,) for v in scores)
    expected = fg.metrics.F1Score()
    expected.update_state(y, model.predict(x, verbose=0))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0, return_dict=True)["f1_score"],
                               np.asarray(expected.result()), rtol=1e-6)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"f1_score: {float(np.mean(scores[-1])):.4f}" in last
    row = log.read_text().splitlines()[-1]
    assert "[" + ", ".join(map(str, scores[-1].tolist())) + "]" in row
    with pytest.raises(TypeError, match=r"EarlyStopping: monitor 'f1_score' is an array of "
                                        r"shape \(3,\) \(a per-class metric\)"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            fg.callbacks.EarlyStopping(monitor="f1_score")])


def test_labels_of_narrow_int_dtypes_train_as_int32():
    """uint8 labels (MNIST's) and the other narrow ints are read as int32, as x of those
    dtypes is: the same step as int64 labels."""
    features = fg.Input(shape=(2,))
    model = fg.Model(features, fg.layers.Dense(3, activation="softmax")(features))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = np.ones((4, 2), "float32"), np.array([0, 1, 2, 1])
    start = model.get_weights()
    expected = model.train_on_batch(x, y)
    for dtype in ("uint8", "int8", "int16", "uint16", "uint32", "uint64"):
        model.set_weights(start)
        assert model.train_on_batch(x, y.astype(dtype)) == expected


def test_an_op_failing_on_a_batch_is_said_from_the_epoch_and_batch():
    """An op that fails on a batch's values (here an Embedding looking up ids the model
    computes, ids + 1, which no host check sees) is said from fit()'s epoch and batch,
    as label errors are. (Ids straight from an input are checked before the first step:
    tests/frontend/test_guards.py.)"""
    ids = fg.Input(shape=(1,), dtype="int32")
    shifted = ids + 1
    model = fg.Model(ids, fg.layers.Dense(1)(fg.layers.Flatten()(
        fg.layers.Embedding(4, 2)(shifted))))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.array([[1], [2], [7], [0]], "int32"), np.ones((4, 1), "float32")
    with pytest.raises(fg.ir.FusegraphError, match=r"^fit\(\), epoch 1, batch 1: op take .*"
                                                   r"index 8 is out of range \[0, 4\)"):
        model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    with pytest.raises(fg.ir.FusegraphError, match=r"^evaluate\(\), batch 1: op take"):
        model.evaluate(x, y, batch_size=2, verbose=0)


def test_validation_steps_bounds_an_infinite_validation_dataset():
    """Keras's validation_steps: that many batches of the validation data per epoch
    (needed for an infinite Dataset); the validation loss is over those batches."""
    features = fg.Input(shape=(2,))
    model = fg.Model(features, fg.layers.Dense(1)(features))
    model.compile(optimizer="sgd", loss="mse")
    x = np.arange(16, dtype="float32").reshape(8, 2) / 8
    y = np.ones((8, 1), "float32")
    infinite = fg.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()
    logs = model.fit(x[:2], y[:2], validation_data=infinite, validation_steps=2, verbose=0,
                     shuffle=False).history
    expected = model.evaluate(x[:4], y[:4], batch_size=2, verbose=0)
    assert logs["val_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_fit_on_numba_cpu_writes_the_weights_in_place_with_a_copying_runs_numbers():
    """Without rejecters a step writes the new weights into the variables' own arrays
    (numba_cpu's donated parameters); with TerminateOnNaN, whose rejected step must write
    nothing, it makes new ones. Both end with the same weights, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6)).astype("float32")
    y = rng.standard_normal((32, 3)).astype("float32")

    def trained(callbacks):
        fg.utils.set_random_seed(0)
        model = fg.Sequential([fg.Input(shape=(6,)), fg.layers.Dense(8, activation="relu"),
                               fg.layers.Dense(3)])
        model.compile(optimizer="adam", loss="mse", backend="numba_cpu")
        fit = dict(batch_size=8, verbose=0, shuffle=False, callbacks=callbacks)
        model.fit(x, y, epochs=1, **fit)          # each binding's first call: a copy
        arrays = [w.value for w in model.weights]
        model.fit(x, y, epochs=2, **fit)
        return model, [w.value is a for w, a in zip(model.weights, arrays)]

    donating, kept = trained([])
    copying, kept_too = trained([fg.callbacks.TerminateOnNaN()])
    assert all(kept) and not any(kept_too)
    for a, b in zip(donating.get_weights(), copying.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_a_donated_weight_that_is_also_an_argument_is_copied_first():
    """A step given a variable's own array as an input too must read the input's old
    values: with x = v.value, v's new value written in place would change x under the
    kernel that reads it after. The variable's array is not handed over then."""
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function
    v = fg.Variable(np.arange(6, dtype="float32").reshape(2, 3), name="v")
    w = fg.Variable(np.zeros((2, 3), "float32"), name="w")

    def update(x):                          # two kernels, v's first: x read after it
        v.assign(v * 0.5 + 1.0)
        w.assign(x * 2.0 + 1.0)

    step = Function(update, compile_fn=optimizing_compiler("numba_cpu"), symbolic_batch=False)
    for _ in range(3):
        old = v.numpy()
        step(v.value)
        np.testing.assert_array_equal(w.numpy(), old * 2.0 + 1.0)
        np.testing.assert_array_equal(v.numpy(), old * 0.5 + 1.0)
    executable = step.last_trace.traced_graph.executable()
    assert executable.in_place              # v's kernel writes in place when v is given up


def test_a_donated_weight_whose_view_is_an_argument_is_copied_first():
    """As above with a view of the variable's array as the input (v.value.T)."""
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function
    v = fg.Variable(np.arange(6, dtype="float32").reshape(2, 3), name="v")
    w = fg.Variable(np.zeros((3, 2), "float32"), name="w")

    def update(x):
        v.assign(v * 0.5 + 1.0)
        w.assign(x * 2.0 + 1.0)

    step = Function(update, compile_fn=optimizing_compiler("numba_cpu"), symbolic_batch=False)
    for _ in range(3):
        old = v.numpy()
        step(v.value.T)
        np.testing.assert_array_equal(w.numpy(), old.T * 2.0 + 1.0)
        np.testing.assert_array_equal(v.numpy(), old * 0.5 + 1.0)


def test_a_compile_function_of_one_graph_compiles_a_step_that_updates_variables():
    from fusegraph.backends import get_backend
    from fusegraph.frontend.function import Function
    v = fg.Variable(np.ones(3, "float32"), name="v")
    step = Function(lambda x: v.assign(v + x), compile_fn=lambda graph: get_backend("reference")(graph),
                    symbolic_batch=False)
    step(np.full(3, 2.0, "float32"))
    np.testing.assert_array_equal(v.numpy(), [3.0, 3.0, 3.0])


def test_a_ctrl_c_during_a_step_is_raised_after_its_commit(monkeypatch):
    """A step that wrote weights in place is committed whole (the optimizer's iteration
    count too) before a Ctrl-C that arrived meanwhile is raised."""
    import os
    import signal
    from fusegraph.frontend.function import Function
    fg.utils.set_random_seed(0)
    model = fg.Sequential([fg.Input(shape=(4,)), fg.layers.Dense(3)])
    model.compile(optimizer="adam", loss="mse", backend="numba_cpu")
    x, y = np.ones((8, 4), "float32"), np.zeros((8, 3), "float32")
    model.train_on_batch(x, y)                   # the plan exists: later steps write in place
    step = Function.step

    def interrupted(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)       # arrives after the writes, before the commit
        return out

    monkeypatch.setattr(Function, "step", interrupted)
    kernel = model.layers[0].kernel
    before = kernel.numpy()
    with pytest.raises(KeyboardInterrupt):
        model.train_on_batch(x, y)
    assert int(model.optimizer.iterations.numpy()) == 2
    assert not np.array_equal(kernel.numpy(), before)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_layers_made_inside_call_train_nothing_and_say_so():
    """The course's "don't do this": a call() that creates its Dense layers each time runs
    under fit as in Keras: fresh layers, no trainable weights, a constant loss, and a
    warning that those weights are not tracked (fit with several batches once raised
    "comes from another trace")."""
    class Careless(fg.Model):
        def call(self, inputs):
            x = fg.layers.Dense(8, activation="relu")(inputs)
            return fg.layers.Dense(1)(x)

    model = Careless()
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    with pytest.warns(UserWarning, match=r"test_trainer\.py:\d+: layer 'dense' \(Dense\) was "
                                         r"created while a step or function was being traced"):
        history = model.fit(x, x[:, :1], batch_size=16, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert model.trainable_weights == [] and np.isfinite(losses).all()
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) == pytest.approx(losses[2], rel=1e-6)


def test_predict_on_batch_is_one_forward_pass_as_numpy():
    model = mlp()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    got = model.predict_on_batch(x)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-6)


def test_class_weight_weighs_each_sample_by_its_class():
    x = np.random.default_rng(1).normal(size=(6, 3)).astype("float32")
    labels = np.array([0, 1, 1, 2, 0, 1])
    fits = {}
    for name, kwargs in (("class", {"class_weight": {0: 2.0, 2: 0.5}}),
                         ("sample", {"sample_weight": np.array([2, 1, 1, .5, 2, 1], "float32")})):
        fg.utils.set_random_seed(0)
        inputs = fg.Input((3,))
        model = fg.Model(inputs, fg.layers.Dense(3, activation="softmax")(inputs))
        model.compile("sgd", "sparse_categorical_crossentropy")
        fits[name] = (model.fit(x, labels, epochs=2, batch_size=6, verbose=0,
                                shuffle=False, **kwargs).history["loss"],
                      model.weights[0].numpy())
    np.testing.assert_allclose(fits["class"][0], fits["sample"][0], rtol=1e-6)
    np.testing.assert_allclose(fits["class"][1], fits["sample"][1], rtol=1e-6)
    with pytest.raises(ValueError, match="class_weight and sample_weight cannot be given"):
        model.fit(x, labels, class_weight={0: 1.0}, sample_weight=np.ones(6), verbose=0)


def test_validation_freq_validates_on_the_epochs_it_names():
    model = mlp()
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(20)
    validated = []
    watcher = fg.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: validated.append("val_loss" in logs))
    model.fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=2,
              callbacks=[watcher])
    assert validated == [False, True, False, True]
    validated.clear()
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), validation_freq=[1, 3],
              callbacks=[watcher])
    assert validated == [True, False, True]
    with pytest.raises(ValueError, match=r"fit\(validation_freq=...\)"):
        model.fit(x, y, validation_freq=0, verbose=0)
