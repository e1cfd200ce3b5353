"""Metrics: update/result/reset eagerly on numpy arrays (Keras's examples and numpy
formulas written here), inside traced functions (state accumulating across calls and
batch sizes, one graph for all), naming and variables, ``get`` and the resolution of
``"accuracy"`` as ``compile`` does it."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import losses, metrics
from fusegraph.frontend.dispatch import eager_functions
from fusegraph.frontend.function import function
from fusegraph.ir.errors import ShapeError

RNG = np.random.default_rng(1)


# --- Mean -----------------------------------------------------------------------------------
def test_mean_update_result_reset_eagerly():
    m = metrics.Mean()
    assert m.name == "mean"
    m.update_state([1, 3, 5, 7])
    result = m.result()
    assert isinstance(result, np.floating) and result == 4.0
    m.update_state(np.array([10.0]))
    assert m.result() == pytest.approx(26 / 5)
    m.reset_state()
    assert m.result() == 0.0  # count 0 gives 0, not nan
    m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(2.0)


def test_mean_of_higher_rank_values_and_scalars():
    m = metrics.Mean()
    values = RNG.normal(size=(4, 3)).astype("float32")
    m.update_state(values)  # per-sample means, each sample counts 1
    assert m.result() == pytest.approx(values.mean(), rel=1e-5)
    m.update_state(2.5)  # a scalar counts 1
    assert float(m.count.numpy()) == 5.0
    assert m.result() == pytest.approx((values.mean(-1).sum() + 2.5) / 5, rel=1e-5)
    m.reset_state()
    m.update_state(np.float32(3.0), sample_weight=4.0)  # scalar weight: counts 4
    assert (float(m.total.numpy()), float(m.count.numpy())) == (12.0, 4.0)


def test_metric_variables_are_non_trainable_with_paths_under_the_metric_name():
    m = metrics.Mean(name="loss")
    assert [v.path for v in m.variables] == ["loss/total", "loss/count"]
    assert not any(v.trainable for v in m.variables)
    other = metrics.Mean(name="loss")  # a second metric of the same name: paths stay unique
    assert [v.path for v in other.variables] == ["loss/total_1", "loss/count_1"]


def test_reset_state_restores_initial_values_at_once():
    class Counter(metrics.Metric):
        def __init__(self, name="counter"):
            super().__init__(name=name)
            self.n = self.add_variable((2,), initializer="ones", name="n")

        def update_state(self, values):
            self.n.assign_add(fg.ops.stack([fg.ops.sum(values), fg.ops.max(values)]))

        def result(self):
            return fg.ops.sum(self.n.read_value())

    c = Counter()
    assert c.variables[0].path == "counter/n"
    np.testing.assert_array_equal(c.n.numpy(), [1.0, 1.0])
    c.update_state(np.array([1.0, 2.0, 3.0], "float32"))
    np.testing.assert_array_equal(c.n.numpy(), [7.0, 4.0])
    assert c.result() == 11.0
    c.reset_state()
    np.testing.assert_array_equal(c.n.numpy(), [1.0, 1.0])


def test_call_updates_then_returns_the_result():
    m = metrics.MeanSquaredError()
    y, p = np.zeros((2, 2), "float32"), np.array([[1, 1], [2, 2]], "float32")
    assert m(y, p) == pytest.approx(2.5)
    assert m.name == "mean_squared_error"


# --- accuracy metrics (Keras's documented examples, and numpy) ------------------------------------
def test_accuracy():
    m = metrics.Accuracy()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]], sample_weight=[1, 1, 0, 0])
    assert m.result() == pytest.approx(0.5)


def test_binary_accuracy():
    m = metrics.BinaryAccuracy()
    assert m.name == "binary_accuracy"
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    strict = metrics.BinaryAccuracy(threshold=0.7)
    strict.update_state(np.array([1, 1, 0, 0]), np.array([[0.98], [0.65], [0.0], [0.6]]))
    assert strict.result() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.5)


def test_categorical_accuracy():
    m = metrics.CategoricalAccuracy()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
                   sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "float32"])
def test_sparse_categorical_accuracy_against_numpy(label_dtype):
    m = metrics.SparseCategoricalAccuracy()
    total, count = 0.0, 0
    for batch in (7, 3):
        labels = RNG.integers(0, 4, size=batch)
        pred = RNG.normal(size=(batch, 4)).astype("float32")
        y = labels.astype(label_dtype)
        m.update_state(y if batch == 7 else y[:, None], pred)
        total += (pred.argmax(-1) == labels).sum()
        count += batch
    assert m.result() == pytest.approx(total / count)
    m.reset_state()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)


def test_sparse_categorical_accuracy_shape_error():
    y, p = fg.Input(shape=(4,)), fg.Input(shape=(4,))
    with pytest.raises(ShapeError, match=r"sparse_categorical_accuracy.*\(None, 4\)"):
        metrics.sparse_categorical_accuracy(y, p)


def test_mean_metric_wrapper_of_a_loss_function():
    m = metrics.MeanMetricWrapper(losses.mean_absolute_error, name="mae")
    y, p = RNG.normal(size=(5, 2)).astype("float32"), RNG.normal(size=(5, 2)).astype("float32")
    m.update_state(y, p)
    assert m.result() == pytest.approx(np.abs(y - p).mean(), rel=1e-5)
    assert metrics.MeanMetricWrapper(losses.mean_absolute_error).name == "mean_metric_wrapper"


# --- inside a traced function ------------------------------------------------------------------------
def test_metric_in_a_traced_function_accumulates_across_calls_and_batch_sizes():
    acc = metrics.SparseCategoricalAccuracy(name="accuracy")
    loss_tracker = metrics.Mean(name="loss")
    seen = {}

    @function
    def step(y, logits):
        loss = losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        loss_tracker.update_state(loss)
        acc.update_state(y, logits)
        seen["result"] = acc.result()
        return {"loss": loss_tracker.result(), "accuracy": acc.result()}

    hits, n, losses_sum = 0, 0, 0.0
    for batch in (8, 5, 8, 1):
        y = RNG.integers(0, 3, size=batch)
        logits = RNG.normal(size=(batch, 3)).astype("float32")
        logs = step(y, logits)
        hits += (logits.argmax(-1) == y).sum()
        n += batch
        shifted = logits - logits.max(-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
        losses_sum += -log_probs[np.arange(batch), y].sum()
        assert logs["accuracy"] == pytest.approx(hits / n)
        assert logs["loss"] == pytest.approx(losses_sum / n, rel=1e-5)
    assert isinstance(seen["result"], fg.SymbolicTensor)  # result() inside the trace
    assert len(step._traces) == 1  # one graph for every batch size
    # the state was written back: eager result() outside the trace agrees
    assert acc.result() == pytest.approx(hits / n)
    assert float(acc.count.numpy()) == n
    acc.reset_state()
    assert acc.result() == 0.0


def test_mean_counts_an_unweighted_batch_with_dim_size():
    m = metrics.Mean()

    @function
    def update(values):
        m.update_state(values)
        return m.result()

    assert update(np.array([1.0, 2.0, 6.0], "float32")) == pytest.approx(3.0)
    assert update(np.array([7.0], "float32")) == pytest.approx(4.0)
    assert float(m.count.numpy()) == 4.0
    kinds = [op.kind for op in update.last_trace.graph.ops]
    assert kinds.count("dim_size") == 1            # the batch size read from the shape ...
    assert "broadcast_to" not in kinds             # ... not a sum over a tensor of ones


def test_reset_state_inside_a_trace_is_part_of_the_step():
    m = metrics.Mean()

    @function
    def fresh_mean(values):
        m.reset_state()
        m.update_state(values)
        return m.result()

    m.update_state([100.0])
    assert fresh_mean(np.array([1.0, 2.0], "float32")) == pytest.approx(1.5)
    assert fresh_mean(np.array([5.0], "float32")) == pytest.approx(5.0)
    assert float(m.count.numpy()) == 1.0


def test_eager_calls_reuse_one_function_per_method_and_one_graph_per_signature():
    m = metrics.CategoricalAccuracy()
    for batch in (4, 9, 2):
        y = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=batch)]
        m.update_state(y, RNG.normal(size=(batch, 3)).astype("float32"))
        m.result()
    fns = list(eager_functions(m).values())
    assert len(fns) == 2 and all(len(f._traces) == 1 for f in fns)
    assert sorted(f.name for f in fns) == ["categorical_accuracy_result",
                                           "categorical_accuracy_update_state"]


# --- get and accuracy resolution ----------------------------------------------------------------------
@pytest.mark.parametrize("identifier,cls,name", [
    ("accuracy", metrics.Accuracy, "accuracy"),
    ("acc", metrics.Accuracy, "acc"),
    ("binary_accuracy", metrics.BinaryAccuracy, "binary_accuracy"),
    ("categorical_accuracy", metrics.CategoricalAccuracy, "categorical_accuracy"),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy,
     "sparse_categorical_accuracy"),
    ("mse", metrics.MeanSquaredError, "mse"),
    ("mae", metrics.MeanAbsoluteError, "mae"),
    ("BinaryAccuracy", metrics.BinaryAccuracy, "binary_accuracy"),
    (metrics.CategoricalAccuracy, metrics.CategoricalAccuracy, "categorical_accuracy"),
])
def test_get(identifier, cls, name):
    m = metrics.get(identifier)
    assert type(m) is cls and m.name == name


def test_get_instance_callable_and_unknown():
    m = metrics.Mean(name="x")
    assert metrics.get(m) is m

    def twice_error(y_true, y_pred):
        return fg.ops.mean(fg.ops.abs(y_true - y_pred), axis=-1) * 2.0

    wrapped = metrics.get(twice_error)
    assert isinstance(wrapped, metrics.MeanMetricWrapper) and wrapped.name == "twice_error"
    wrapped.update_state(np.ones((3, 2), "float32"), np.zeros((3, 2), "float32"))
    assert wrapped.result() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown metric 'accuracyy'"):
        metrics.get("accuracyy")


@pytest.mark.parametrize("loss,shape,cls", [
    ("binary_crossentropy", (None, 3), metrics.BinaryAccuracy),
    (losses.BinaryCrossentropy(from_logits=True), (None, 3), metrics.BinaryAccuracy),
    ("mse", (None, 1), metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", (None, 10), metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy, (None, 10), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (None, 10), metrics.CategoricalAccuracy),
    (losses.categorical_crossentropy, (None, 10), metrics.CategoricalAccuracy),
    ("mse", (None, 4), metrics.Accuracy),
    (None, (None, 4), metrics.Accuracy),
])
def test_resolve_accuracy_by_loss_and_output_shape(loss, shape, cls):
    for identifier in ("accuracy", "acc"):
        m = metrics.resolve_accuracy(identifier, loss, shape)
        assert type(m) is cls and m.name == identifier


def test_resolve_accuracy_with_target_shape_follows_keras_3_for_other_losses():
    assert type(metrics.resolve_accuracy("accuracy", "mse", (None, 4), (None,))) is \
        metrics.SparseCategoricalAccuracy
    assert type(metrics.resolve_accuracy("accuracy", "mse", (None, 4), (None, 4))) is \
        metrics.CategoricalAccuracy
    other = metrics.resolve_accuracy("mae", "mse", (None, 4))
    assert type(other) is metrics.MeanAbsoluteError and other.name == "mae"


B = fg.ir.BATCH


@pytest.mark.parametrize("loss,target,output,cls", [
    # Keras 3's compile_utils rule: the shapes decide, the loss does not
    ("mse", (B, 4), (B, 4), metrics.CategoricalAccuracy),
    ("binary_crossentropy", (B, 3), (B, 3), metrics.CategoricalAccuracy),
    (None, (B,), (B, 4), metrics.SparseCategoricalAccuracy),
    ("mse", (B, 1), (B, 4), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", (B, 1), (B, 1), metrics.BinaryAccuracy),
    ("mse", (B,), (B, 1), metrics.BinaryAccuracy),
    ("mse", (B, 7, 1), (B, 7, 5), metrics.SparseCategoricalAccuracy),
])
def test_resolve_accuracy_by_target_and_prediction_shapes(loss, target, output, cls):
    m = metrics.resolve_accuracy("Accuracy", loss, output, target)
    assert type(m) is cls and m.name == "Accuracy"


def test_a_metric_without_super_init_says_so():
    class Forgetful(fg.metrics.Metric):
        def __init__(self):
            self.total = self.add_variable((), name="total")

    with pytest.raises(RuntimeError, match=r"Forgetful.__init__ did not call super\(\).__init__"):
        Forgetful()


@pytest.mark.parametrize("metric, targets, want", [
    ("sparse_categorical_accuracy", lambda p: np.arange(p.shape[0] * p.shape[1]).reshape(
        p.shape[:2]) % 3, lambda p, y: np.mean(p.argmax(-1) == y)),
    ("categorical_accuracy", lambda p: np.eye(3, dtype="float32")[
        np.arange(p.shape[0] * p.shape[1]).reshape(p.shape[:2]) % 3],
     lambda p, y: np.mean(p.argmax(-1) == y.argmax(-1))),
    ("binary_accuracy", lambda p: (np.arange(p.size).reshape(p.shape) % 2).astype("float32"),
     lambda p, y: np.mean((p > 0.5) == y)),
])
def test_accuracies_of_fixed_length_targets_against_a_symbolic_length(metric, targets, want):
    inputs = fg.Input(shape=(None, 2))
    model = fg.Model(inputs, fg.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile(optimizer="sgd", loss="mse" if metric != "sparse_categorical_accuracy"
                  else "sparse_categorical_crossentropy", metrics=[metric])
    x = np.random.default_rng(2).normal(size=(4, 6, 2)).astype("float32")
    probs = model.predict(x, verbose=0)
    y = targets(probs)
    got = model.evaluate(x, y, verbose=0, return_dict=True)[metric]
    np.testing.assert_allclose(got, want(probs, y), rtol=1e-6)


def test_top_k_accuracies_count_ties_at_the_boundary_as_in():
    p = np.array([[0.1, 0.5, 0.3, 0.1], [0.4, 0.1, 0.2, 0.3], [0.2, 0.2, 0.2, 0.4]], "float32")
    labels = np.array([2, 1, 0])
    # above the label's score: 1 class, 3 classes, 1 class (the tie at 0.2 is not above)
    for k, want in ((1, 0.0), (2, 2 / 3), (4, 1.0)):
        sparse = fg.metrics.SparseTopKCategoricalAccuracy(k=k)
        sparse.update_state(labels, p)
        one_hot = fg.metrics.TopKCategoricalAccuracy(k=k)
        one_hot.update_state(np.eye(4, dtype="float32")[labels], p)
        assert float(sparse.result()) == pytest.approx(want)
        assert float(one_hot.result()) == pytest.approx(want)
    assert isinstance(fg.metrics.get("sparse_top_k_categorical_accuracy"),
                      fg.metrics.SparseTopKCategoricalAccuracy)
    with pytest.raises(ValueError, match="k"):
        fg.metrics.TopKCategoricalAccuracy(k=0)


def test_root_mean_squared_error_weighs_samples():
    y = np.array([[1.0, 2.0], [3.0, 4.0]], "float32")
    p = np.array([[1.0, 3.0], [3.0, 7.0]], "float32")
    metric = fg.metrics.RootMeanSquaredError()
    metric.update_state(y, p, sample_weight=np.array([1.0, 3.0], "float32"))
    # squared errors (0, 1) weigh 1 each, (0, 9) weigh 3 each: (1 + 27) / 8
    assert float(metric.result()) == pytest.approx(np.sqrt(28 / 8), rel=1e-6)
    model_inputs = fg.Input((2,))
    model = fg.Model(model_inputs, fg.layers.Dense(2)(model_inputs))
    model.compile("sgd", "mse", metrics=["root_mean_squared_error"])
    logs = model.evaluate(y, p, verbose=0, return_dict=True)
    assert logs["root_mean_squared_error"] == pytest.approx(np.sqrt(logs["loss"]), rel=1e-5)
