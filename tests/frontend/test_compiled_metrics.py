"""AUC, F1Score and MeanIoU inside compiled steps (``compile(metrics=[...])``): fit runs
on the reference and numba_cpu backends, and evaluate's logs equal the same metrics
updated eagerly on the model's predictions."""
import numpy as np
import pytest

import fusegraph as fg

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = (X[:, :3] + 0.5 * RNG.normal(size=(40, 3)) > 0).astype("float32")


def eager(metric, y, p):
    metric.update_state(y, p)
    return float(np.asarray(metric.result()))


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_auc_and_f1_score_in_fit_and_evaluate(backend):
    def metrics():
        return [fg.metrics.AUC(name="roc_auc"),
                fg.metrics.AUC(curve="PR", multi_label=True, name="pr_auc"),
                fg.metrics.F1Score(average="macro", threshold=0.5), "auc"]

    inputs = fg.Input((4,))
    model = fg.Model(inputs, fg.layers.Dense(3, activation="sigmoid")(inputs))
    model.compile(fg.optimizers.SGD(0.1), "binary_crossentropy", metrics=metrics(),
                  backend=backend)
    history = model.fit(X, Y, batch_size=16, epochs=2, verbose=0).history
    assert set(history) == {"loss", "roc_auc", "pr_auc", "f1_score", "auc"}
    assert all(0.0 <= v <= 1.0 for key in ("roc_auc", "pr_auc", "f1_score") for v in history[key])
    logs = model.evaluate(X, Y, batch_size=16, verbose=0, return_dict=True)
    predictions = model.predict(X, verbose=0)
    for key, metric in zip(("roc_auc", "pr_auc", "f1_score"), metrics()):
        assert logs[key] == pytest.approx(eager(metric, Y, predictions), abs=1e-6), key
    assert logs["auc"] == logs["roc_auc"]           # "auc": AUC() by name


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_mean_iou_in_a_compiled_step(backend):
    """int32 state: the confusion matrix of one-hot rows, cast, in the step graph."""
    labels = (X[:, 0] > 0).astype("float32")
    inputs = fg.Input((4,))
    model = fg.Model(inputs, fg.layers.Dense(2, activation="softmax")(inputs))
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=[fg.metrics.MeanIoU(2, name="miou", sparse_y_pred=False)],
                  backend=backend)
    model.fit(X, labels, batch_size=16, epochs=1, verbose=0)
    logs = model.evaluate(X, labels, batch_size=16, verbose=0, return_dict=True)
    expected = eager(fg.metrics.MeanIoU(2, sparse_y_pred=False), labels,
                     model.predict(X, verbose=0))
    assert logs["miou"] == pytest.approx(expected, abs=1e-6)
