"""What ``compile`` resolves per output: ``"accuracy"`` by Keras 3's shape rule (from the
traced target and prediction, on the first step), metric naming and copies for several
outputs (the user's Metric never renamed), and the batch size read with ``dim_size``.
Numbers are checked against numpy written here."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import metrics
from fusegraph.frontend.function import function
from fusegraph.runtime import compile_config

RNG = np.random.default_rng(3)


def softmax_model(classes=4):
    inputs = fg.Input(shape=(3,), name="x")
    return fg.Model(inputs, fg.layers.Dense(classes, activation="softmax", name="probs")(inputs))


def two_output_model():
    inputs = fg.Input(shape=(3,), name="x")
    return fg.Model(inputs, [fg.layers.Dense(2, name="a")(inputs),
                             fg.layers.Dense(2, name="b")(inputs)])


def compiled_metric(model, name="accuracy"):
    return next(m for m in model.metrics if model.metrics_names[model.metrics.index(m)] == name)


# --- "accuracy" by the shapes of the target and the prediction --------------------------------
def test_accuracy_with_mse_on_softmax_and_one_hot_targets_is_categorical():
    """Keras 3: a target of the prediction's shape means categorical accuracy, whatever
    the loss (it used to fall back to exact matches and log 0.0)."""
    model = softmax_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    x = RNG.normal(size=(20, 3)).astype("float32")
    y = np.eye(4, dtype="float32")[RNG.integers(0, 4, 20)]
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert type(compiled_metric(model)) is metrics.CategoricalAccuracy
    want = np.mean(np.argmax(model.predict(x, verbose=0), -1) == np.argmax(y, -1))
    assert want > 0
    assert logs["accuracy"] == pytest.approx(want)


def test_accuracy_with_a_custom_loss_on_integer_labels_is_sparse():
    model = softmax_model()

    def my_loss(y_true, y_pred):
        return fg.losses.sparse_categorical_crossentropy(y_true, y_pred)

    model.compile(optimizer="sgd", loss=my_loss, metrics=["acc"])
    x = RNG.normal(size=(16, 3)).astype("float32")
    labels = RNG.integers(0, 4, 16).astype("int32")
    logs = model.evaluate(x, labels, verbose=0, return_dict=True)
    assert type(compiled_metric(model, "acc")) is metrics.SparseCategoricalAccuracy
    want = np.mean(np.argmax(model.predict(x, verbose=0), -1) == labels)
    assert logs["acc"] == pytest.approx(want)


def test_accuracy_with_one_output_unit_is_binary():
    inputs = fg.Input(shape=(3,))
    model = fg.Model(inputs, fg.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=["accuracy"])
    x = RNG.normal(size=(16, 3)).astype("float32")
    y = (RNG.random((16, 1)) < 0.5).astype("float32")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert type(compiled_metric(model)) is metrics.BinaryAccuracy
    want = np.mean((model.predict(x, verbose=0) > 0.5) == y)
    assert logs["accuracy"] == pytest.approx(want)


def test_compile_still_checks_metric_names_before_the_first_step():
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        softmax_model().compile(loss="mse", metrics=["acuracy"])
    with pytest.raises(TypeError, match="a metric must be a name, a Metric or a callable"):
        softmax_model().compile(loss="mse", metrics=[3])


# --- several outputs: names and copies ------------------------------------------------------
def two_output_data(n=12):
    x = RNG.normal(size=(n, 3)).astype("float32")
    return x, [RNG.normal(size=(n, 2)).astype("float32"), RNG.normal(size=(n, 2)).astype("float32")]


def test_a_metric_instance_in_a_flat_list_gets_a_copy_per_output_and_keeps_its_name():
    model = two_output_model()
    mae = metrics.MeanAbsoluteError()
    x, (ya, yb) = two_output_data()
    for _ in range(2):                                  # a recompile does not grow the names
        model.compile(optimizer="sgd", loss="mse", metrics=[mae])
        logs = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
        assert mae.name == "mean_absolute_error"
        assert list(logs) == ["loss", "a_loss", "b_loss", "a_mean_absolute_error",
                              "b_mean_absolute_error"]
        assert model.metrics_names == list(logs)
    pa, pb = model.predict(x, verbose=0)
    assert logs["a_mean_absolute_error"] == pytest.approx(np.mean(np.abs(pa - ya)), rel=1e-5)
    assert logs["b_mean_absolute_error"] == pytest.approx(np.mean(np.abs(pb - yb)), rel=1e-5)
    copies = [m for m in model.metrics if isinstance(m, metrics.MeanAbsoluteError)]
    assert len(copies) == 2 and mae not in copies
    assert [m.name for m in copies] == ["a_mean_absolute_error", "b_mean_absolute_error"]
    assert float(mae.count.numpy()) == 0.0               # the user's instance is untouched


def test_a_metric_instance_for_one_output_is_used_as_is_and_logs_with_the_output_name():
    model = two_output_model()
    mae = metrics.MeanAbsoluteError(name="err")
    model.compile(optimizer="sgd", loss="mse", metrics={"b": [mae, "mse"]})
    x, (ya, yb) = two_output_data()
    logs = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
    assert list(logs) == ["loss", "a_loss", "b_loss", "b_err", "b_mse"]
    assert mae.name == "err" and mae in model.metrics
    pb = model.predict(x, verbose=0)[1]
    assert float(mae.result()) == pytest.approx(np.mean(np.abs(pb - yb)), rel=1e-5)
    assert logs["b_err"] == pytest.approx(float(mae.result()))


def test_copies_keep_the_config_and_repeated_names_get_a_suffix():
    model = two_output_model()
    bce = metrics.BinaryCrossentropy(from_logits=True)
    model.compile(optimizer="sgd", loss="mse", metrics=[bce, "mae", "mae"])
    x, (ya, yb) = two_output_data()
    ya, yb = (ya > 0).astype("float32"), (yb > 0).astype("float32")
    logs = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
    assert list(logs)[3:] == ["a_binary_crossentropy", "a_mae", "a_mae_1",
                              "b_binary_crossentropy", "b_mae", "b_mae_1"]
    copies = [m for m in model.metrics if isinstance(m, metrics.BinaryCrossentropy)]
    assert all(c.get_config()["from_logits"] is True for c in copies)
    z = model.predict(x, verbose=0)[0].astype(np.float64)
    bce_a = np.mean(np.maximum(z, 0) - z * ya + np.log1p(np.exp(-np.abs(z))))
    assert logs["a_binary_crossentropy"] == pytest.approx(bce_a, rel=1e-5)


def test_a_metric_class_without_a_copyable_config_says_how_to_fix_it():
    class Scaled(metrics.MeanAbsoluteError):   # a metric of y_true and y_pred
        def __init__(self, scale):
            super().__init__(name="scaled")
            self.scale = scale

    model = two_output_model()
    model.compile(optimizer="sgd", loss="mse", metrics=[Scaled(2.0)])
    x, y = two_output_data()
    with pytest.raises(TypeError, match=r"cannot copy metric 'scaled' \(Scaled\).*get_config"):
        model.evaluate(x, y, verbose=0)


# --- the batch size, counted with dim_size -----------------------------------------------------
def test_batch_size_of_reads_the_symbolic_batch_with_dim_size():
    step = function(lambda batch: compile_config.batch_size_of(batch))
    assert float(step(np.zeros((5, 3), "float32"))) == 5.0
    assert float(step(np.zeros((2, 3), "float32"))) == 2.0
    kinds = [op.kind for op in step.last_trace.graph.ops]
    assert kinds == ["dim_size"], kinds          # not a sum over a tensor of ones
