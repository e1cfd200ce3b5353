"""AUC, FBetaScore/F1Score and IoU/MeanIoU against real Keras 3 on the same arrays
(results, and the configs' keys and values). Keras is not a fusegraph dependency: this
module is skipped where it is not installed."""
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402

RNG = np.random.default_rng(3)
Y = (RNG.random((16, 3)) > 0.5).astype("float32")
P = RNG.random((16, 3)).astype("float32")
P[0, 0], P[1, 1], P[2, 2] = 0.5, 0.0, 1.0          # at thresholds and ends
W = RNG.random(16).astype("float32")


def both(name, kwargs, y, p, sample_weight=None, times=2):
    results = []
    for module in (keras.metrics, fg.metrics):
        metric = getattr(module, name)(**kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(times):
                metric.update_state(y, p, sample_weight=sample_weight)
        results.append((np.asarray(metric.result()), metric.get_config()))
    (want, want_config), (got, got_config) = results
    np.testing.assert_allclose(got, want, atol=2e-6, err_msg=f"{name} {kwargs}")
    want_config.pop("name"), got_config.pop("name")
    assert got_config.keys() == want_config.keys()


@pytest.mark.parametrize("kwargs", [
    {}, {"num_thresholds": 3}, {"num_thresholds": 3, "curve": "PR"}, {"curve": "PR"},
    {"curve": "PR", "summation_method": "minoring"},
    {"summation_method": "majoring"}, {"curve": "PRGAIN"}, {"thresholds": [0.1, 0.45, 0.9]},
    {"thresholds": [0.25, 0.5, 0.75]}, {"multi_label": True},
    {"multi_label": True, "num_labels": 3, "label_weights": [1.0, 2.0, 0.5]},
    {"label_weights": [1.0, 2.0, 0.5]}, {"from_logits": True}])
def test_auc(kwargs):
    both("AUC", kwargs, Y, P * 6 - 3 if kwargs.get("from_logits") else P, W)


def test_auc_at_the_ends_of_0_1():
    both("AUC", {"num_thresholds": 5}, [0, 1, 1, 0], [-0.1, 1.2, 0.5, 0.25])
    both("AUC", {"thresholds": [0.3, 0.5]}, [0, 1, 1, 0], [-0.1, 1.2, 0.5, 0.3])


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_f_scores(average):
    for threshold in (None, 0.5):
        both("F1Score", {"average": average, "threshold": threshold}, Y, P, W)
        both("FBetaScore", {"average": average, "beta": 2.0, "threshold": threshold}, Y, P)


def test_iou():
    t, p = RNG.integers(-1, 5, (6, 5)), RNG.integers(0, 4, (6, 5))
    weights = RNG.random((6, 5)).astype("float32")
    both("MeanIoU", {"num_classes": 4}, t, p)
    both("MeanIoU", {"num_classes": 4}, t, p, weights)                # truncated to 0
    both("MeanIoU", {"num_classes": 4, "dtype": "float32", "ignore_class": 1}, t, p, weights)
    both("IoU", {"num_classes": 4, "target_class_ids": [0, 3]}, t, p)
    scores = RNG.random((6, 5, 4)).astype("float32")
    both("MeanIoU", {"num_classes": 4, "sparse_y_pred": False}, t, scores)
