"""frontend/fscore_metrics.py: FBetaScore and F1Score against Keras's documented example
and a numpy model of Keras 3's formula (every average, a threshold or the row's
maximum, sample weights); state, config and errors."""
import numpy as np
import pytest

import fusegraph as fg

EPS = 1e-7
Y_TRUE = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]], "int32")
Y_PRED = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]], "float32")
RNG = np.random.default_rng(0)
Y = (RNG.random((10, 4)) > 0.5).astype("float32")
P = RNG.random((10, 4)).astype("float32")
P[3] = 0.0                   # a row of zeros: nothing positive with threshold=None
P[4, :2] = 0.9               # a tie for the row's maximum: both positive
W = RNG.random(10).astype("float32")


def expected(y, p, w=None, average=None, beta=1.0, threshold=None):
    positive = (p > threshold) if threshold is not None else \
        (p >= p.max(-1, keepdims=True)) & (np.abs(p) > 1e-9)
    w = np.ones(len(y)) if w is None else w
    axis = None if average == "micro" else 0
    tp, fp, fn, support = (np.sum(v * w[:, None], axis=axis) for v in (
        positive * y, positive * (1 - y), (1 - positive) * y, y))
    precision, recall = tp / (tp + fp + EPS), tp / (tp + fn + EPS)
    f = (1 + beta ** 2) * precision * recall / (beta ** 2 * precision + recall + EPS)
    if average == "weighted":
        return np.sum(f * support / (support.sum() + EPS))
    return f if average is None else np.mean(f)


def score(cls=fg.metrics.FBetaScore, y=Y, p=P, sample_weight=None, times=1, **kwargs):
    metric = cls(**kwargs)
    for _ in range(times):
        metric.update_state(y, p, sample_weight=sample_weight)
    return np.asarray(metric.result())


def test_keras_documented_examples():
    np.testing.assert_allclose(score(y=Y_TRUE, p=Y_PRED, beta=2.0, threshold=0.5),
                               [0.3846154, 0.90909094, 0.8333334], rtol=1e-6)
    np.testing.assert_allclose(score(fg.metrics.F1Score, Y_TRUE, Y_PRED, threshold=0.5),
                               [0.5, 0.8, 0.6666667], rtol=1e-6)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
def test_against_numpy(average):
    for beta in (1.0, 2.0, 0.5):
        for threshold in (None, 0.5, 0.3):
            for w in (None, W):
                got = score(sample_weight=w, times=2, average=average, beta=beta,
                            threshold=threshold)
                want = expected(Y, P, w, average, beta, threshold)
                np.testing.assert_allclose(got, want, atol=1e-6, err_msg=str(
                    (beta, threshold, w is not None)))
    np.testing.assert_allclose(score(fg.metrics.F1Score, average=average),
                               expected(Y, P, average=average), atol=1e-6)


def test_state_and_config():
    metric = fg.metrics.F1Score(average="micro")
    assert metric.variables == []                   # made on the first update
    metric.update_state(Y, P)
    assert [v.path for v in metric.variables] == [
        "f1_score/true_positives", "f1_score/false_positives", "f1_score/false_negatives",
        "f1_score/intermediate_weights"]
    assert all(v.numpy().shape == () for v in metric.variables)
    metric.reset_state()
    assert float(metric.result()) == 0.0
    assert fg.metrics.FBetaScore(average="macro", beta=2, threshold=0.4).get_config() == {
        "name": "fbeta_score", "dtype": "float32", "average": "macro", "beta": 2.0,
        "threshold": 0.4}
    assert fg.metrics.F1Score().get_config() == {"name": "f1_score", "dtype": "float32",
                                                 "average": None, "threshold": None}
    assert fg.metrics.F1Score.from_config(fg.metrics.F1Score(threshold=0.3).get_config()
                                          ).threshold == 0.3


def test_bad_arguments():
    for kwargs, message in (({"average": "samples"}, "`average` must be one of"),
                            ({"beta": 0.0}, "`beta` must be a number > 0.0"),
                            ({"threshold": 0.0}, r"`threshold` must be a number > 0.0 and <= 1.0"),
                            ({"threshold": 1.5}, "`threshold` must be a number")):
        with pytest.raises(ValueError, match=message):
            fg.metrics.FBetaScore(**kwargs)
    with pytest.raises(ValueError, match=r"inputs of shape \(batch, classes\)"):
        fg.metrics.F1Score().update_state(np.ones(3), np.ones(3))
