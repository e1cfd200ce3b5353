"""frontend/iou_metrics.py: IoU and MeanIoU against Keras's documented examples and a
numpy confusion matrix (out-of-range ids, ignore_class, dense inputs by argmax, image-
shaped inputs, weights truncated by the default int32 dtype); state, config, errors."""
import warnings

import numpy as np
import pytest

import fusegraph as fg

RNG = np.random.default_rng(0)
T = RNG.integers(-1, 5, (6, 5))     # -1 and 4 are outside 4 classes
P = RNG.integers(0, 4, (6, 5))


def expected(t, p, num_classes, w=None, ignore_class=None, target_class_ids=None):
    t, p = t.ravel(), p.ravel()
    w = np.ones(t.shape) if w is None else np.broadcast_to(np.ravel(w), t.shape)
    cm = np.zeros((num_classes, num_classes))
    for ti, pi, wi in zip(t, p, w):
        if 0 <= ti < num_classes and 0 <= pi < num_classes and ti != ignore_class:
            cm[ti, pi] += wi
    tp = np.diag(cm)
    denominator = cm.sum(0) + cm.sum(1) - tp
    ids = target_class_ids if target_class_ids is not None else range(num_classes)
    tp, denominator = tp[list(ids)], denominator[list(ids)]
    seen = denominator > 1e-9
    iou = np.where(seen, tp / (denominator + 1e-7), 0.0)
    return iou.sum() / (seen.sum() + 1e-7)


def result(metric, t, p, sample_weight=None, times=1):
    for _ in range(times):
        metric.update_state(t, p, sample_weight=sample_weight)
    return float(np.asarray(metric.result()))


def test_keras_documented_examples():
    # cm [[1, 1], [1, 1]]: each class 1 / (2 + 2 - 1)
    assert result(fg.metrics.MeanIoU(2), [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3)
    assert result(fg.metrics.IoU(2, [0]), [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3)
    # cm [[0.3, 0.3], [0.3, 0.1]]: 0.3 / 0.9 and 0.1 / 0.7
    weights = [0.3, 0.3, 0.3, 0.1]
    got = result(fg.metrics.MeanIoU(2, dtype="float32"), [0, 0, 1, 1], [0, 1, 0, 1], weights)
    assert got == pytest.approx((1 / 3 + 1 / 7) / 2)


def test_int32_default_truncates_float_weights_with_a_warning():
    metric = fg.metrics.MeanIoU(2)
    with pytest.warns(UserWarning, match="truncated to integers"):
        assert result(metric, [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 1.5, 2.0, 0.9]) == \
            pytest.approx(expected(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2,
                                   np.array([0, 1, 2, 0])))
    assert metric.total_cm.numpy().dtype == np.int32


def test_against_numpy():
    w = RNG.integers(0, 3, (6, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # integer weights: no warning
        assert result(fg.metrics.MeanIoU(4), T, P, w, times=2) == \
            pytest.approx(expected(T, P, 4, w), abs=1e-6)
    assert result(fg.metrics.MeanIoU(4, ignore_class=2), T, P) == \
        pytest.approx(expected(T, P, 4, ignore_class=2), abs=1e-6)
    assert result(fg.metrics.MeanIoU(6), T, P) == pytest.approx(expected(T, P, 6), abs=1e-6)
    assert result(fg.metrics.IoU(4, [0, 2]), T, P, w) == \
        pytest.approx(expected(T, P, 4, w, target_class_ids=[0, 2]), abs=1e-6)
    scores_t, scores_p = RNG.random((6, 5, 4)), RNG.random((6, 5, 4))
    metric = fg.metrics.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False)
    assert result(metric, scores_t, scores_p) == pytest.approx(
        expected(scores_t.argmax(-1), scores_p.argmax(-1), 4), abs=1e-6)
    # image-shaped: (batch, h, w, 1) labels against (batch, h, w, classes) scores
    labels, scores = RNG.integers(0, 3, (2, 3, 4, 1)), RNG.random((2, 3, 4, 3))
    assert result(fg.metrics.MeanIoU(3, sparse_y_pred=False), labels, scores) == \
        pytest.approx(expected(labels, scores.argmax(-1), 3), abs=1e-6)


def test_state_and_config():
    metric = fg.metrics.MeanIoU(3, name="miou")
    assert [v.path for v in metric.variables] == ["miou/total_confusion_matrix"]
    result(metric, [0, 1], [0, 1])
    metric.reset_state()
    assert metric.total_cm.numpy().sum() == 0 and float(metric.result()) == 0.0
    assert metric.get_config() == {"name": "miou", "dtype": "int32", "num_classes": 3,
                                   "ignore_class": None, "sparse_y_true": True,
                                   "sparse_y_pred": True, "axis": -1}
    config = fg.metrics.IoU(3, (2,), name="i").get_config()
    assert config == {"name": "i", "dtype": "int32", "num_classes": 3,
                      "target_class_ids": [2], "ignore_class": None,
                      "sparse_y_true": True, "sparse_y_pred": True, "axis": -1}
    assert fg.metrics.IoU.from_config(config).target_class_ids == [2]


def test_bad_arguments():
    for make, message in ((lambda: fg.metrics.MeanIoU(0), "`num_classes` must be a positive"),
                          (lambda: fg.metrics.IoU(3, [3]), "`target_class_ids` must be a"),
                          (lambda: fg.metrics.IoU(3, []), "`target_class_ids` must be a"),
                          (lambda: fg.metrics.MeanIoU(3, ignore_class=0.5), "`ignore_class` "
                                                                             "must be an int"),
                          (lambda: fg.metrics.get("mean_io_u"), r"MeanIoU\(num_classes=...\)")):
        with pytest.raises(ValueError, match=message):
            make()
