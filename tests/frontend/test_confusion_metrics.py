"""frontend/confusion_metrics.py: Precision and Recall against counts made by hand, with
thresholds, top_k, class_id and sample weights, and compiled by name."""
import numpy as np
import pytest

import fusegraph as fg

Y_TRUE = np.array([[0, 1, 1, 0], [1, 0, 1, 1]], "float32")
Y_PRED = np.array([[0.6, 0.8, 0.3, 0.1], [0.9, 0.4, 0.7, 0.2]], "float32")


def result(metric, sample_weight=None):
    metric.update_state(Y_TRUE, Y_PRED, sample_weight=sample_weight)
    return np.asarray(metric.result())


def test_precision_and_recall():
    # above 0.5: (0.6 false, 0.8 true), (0.9 true, 0.7 true); trues missed: 0.3, 0.2
    assert result(fg.metrics.Precision()) == pytest.approx(3 / 4)
    assert result(fg.metrics.Recall()) == pytest.approx(3 / 5)
    np.testing.assert_allclose(result(fg.metrics.Recall(thresholds=[0.25, 0.5])), [4 / 5, 3 / 5])
    assert result(fg.metrics.Precision(top_k=1)) == pytest.approx(1.0)     # 0.8 and 0.9
    assert result(fg.metrics.Recall(top_k=2)) == pytest.approx(3 / 5)
    # class 2: a miss weighing 1 (0.3), a hit weighing 2 (0.7)
    assert result(fg.metrics.Recall(class_id=2), np.array([1.0, 2.0])) == pytest.approx(2 / 3)
    assert result(fg.metrics.Precision(thresholds=0.95)) == 0.0          # nothing positive


def test_compiled_by_name_and_checked():
    inputs = fg.Input((4,))
    model = fg.Model(inputs, fg.layers.Dense(4, activation="sigmoid")(inputs))
    model.compile("sgd", "binary_crossentropy", metrics=["precision", "recall"])
    logs = model.evaluate(Y_PRED, Y_TRUE, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "precision", "recall"}
    assert 0.0 <= logs["precision"] <= 1.0 and 0.0 <= logs["recall"] <= 1.0
    with pytest.raises(ValueError, match="thresholds must be numbers in"):
        fg.metrics.Precision(thresholds=[1.5])
    with pytest.raises(ValueError, match="top_k must be a positive int"):
        fg.metrics.Recall(top_k=0)


def test_confusion_counts_per_threshold():
    """The shared counting: weighted tp/fp/fn/tn strictly above each threshold, summed
    over everything or kept per label."""
    from fusegraph.frontend.confusion_metrics import counts_per_threshold
    weight = np.array([[1.0], [2.0]], "float32")
    counts = counts_per_threshold(Y_TRUE, Y_PRED, [0.25, 0.6], weight,
                                  ("tp", "fp", "fn", "tn"), "float32")
    # at 0.25: row 0 tp 0.8 0.3 fp 0.6 tn 0.1; row 1 (x2) tp 0.9 0.7, fp 0.4, fn 0.2
    # at 0.6: 0.6 is not above; row 0 tp 0.8, fn 0.3; row 1 tp 0.9 0.7, fn 0.2, tn 0.4
    expected = {"tp": [2 + 4, 1 + 4], "fp": [1 + 2, 0], "fn": [0 + 2, 1 + 2],
                "tn": [1 + 0, 2 + 2]}
    for kind, want in expected.items():
        np.testing.assert_allclose(np.asarray(counts[kind]), want, err_msg=kind)
    per_label = counts_per_threshold(Y_TRUE, Y_PRED, [0.5], 1.0, ("tp",), "float32",
                                     per_label=True)
    np.testing.assert_allclose(np.asarray(per_label["tp"]), [[1, 1, 1, 0]])
