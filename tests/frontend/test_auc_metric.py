"""frontend/auc_metric.py: AUC against hand counts (Keras's documented examples and the
bucket rule at the ends of [0, 1]) and against a numpy model of the curves written from
Keras 3's definitions: ROC/PR/PRGAIN, the three summation methods, given thresholds,
multi_label with label weights, logits, sample weights; state, config and errors."""
import numpy as np
import pytest

import fusegraph as fg

EPS = 1e-7
RNG = np.random.default_rng(0)
# predictions away from every threshold used here, so "p > t" is the whole rule
Y = (RNG.random((12, 3)) > 0.5).astype("float32")
P = ((RNG.integers(0, 40, (12, 3)) + 0.5) / 40).astype("float32")
W = RNG.random(12).astype("float32")


def counts(y, p, w, thresholds, per_label):
    """tp, fp, tn, fn at each threshold (a prediction is positive strictly above it)."""
    axes = 1 if per_label else (1, 2)
    above = p[None] > np.asarray(thresholds)[:, None, None]
    truth, weight = y[None] > 0, np.broadcast_to(w, p.shape)[None]
    return [np.sum(weight * (truth == t) * (above == a), axis=axes)
            for t, a in ((1, 1), (0, 1), (0, 0), (1, 0))]


def div(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def expected_auc(y, p, w=None, num_thresholds=200, curve="ROC", summation="interpolation",
                 thresholds=None, multi_label=False, label_weights=None):
    w = np.ones(len(p)) if w is None else w
    w = w[:, None] * (1 if multi_label or label_weights is None else np.asarray(label_weights))
    inner = list(thresholds) if thresholds is not None else \
        [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    tp, fp, tn, fn = counts(y, p, w, [-EPS] + inner + [1 + EPS], multi_label)
    if curve == "PR" and summation == "interpolation":
        pos = tp + fp
        dtp = tp[:-1] - tp[1:]
        slope = div(dtp, np.maximum(pos[:-1] - pos[1:], 0))
        intercept = tp[1:] - slope * pos[1:]
        ratio = np.where((pos[:-1] > 0) & (pos[1:] > 0), div(pos[:-1], pos[1:]), 1.0)
        pieces = div(slope * (dtp + intercept * np.log(ratio)), tp[1:] + fn[1:])
    else:
        recall = div(tp, tp + fn)
        if curve == "ROC":
            x, h = div(fp, fp + tn), recall
        elif curve == "PR":
            x, h = recall, div(tp, tp + fp)
        else:
            scale = div(tp + fn, tn + fp)
            x = np.maximum(np.where(tp == 0, 0.0, 1 - scale * div(fn, tp)), 0)
            h = np.where(tp == 0, 1.0, 1 - scale * div(fp, tp))
        pair = np.stack([h[:-1], h[1:]])
        heights = {"interpolation": pair.mean(0), "minoring": pair.min(0),
                   "majoring": pair.max(0)}[summation]
        pieces = (x[:-1] - x[1:]) * heights
    if not multi_label:
        return pieces.sum()
    by_label = pieces.sum(0)
    if label_weights is None:
        return by_label.mean()
    return np.sum(by_label * label_weights) / np.sum(label_weights)


def auc(y=Y, p=P, sample_weight=None, times=1, **kwargs):
    metric = fg.metrics.AUC(**kwargs)
    for _ in range(times):
        metric.update_state(y, p, sample_weight=sample_weight)
    return float(np.asarray(metric.result()))


def test_keras_documented_example():
    # thresholds [-eps, 0.5, 1 + eps]: 0.5 is not above 0.5; tp [2, 1, 0], fp [2, 0, 0]
    assert auc([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], num_thresholds=3) == pytest.approx(0.75)
    assert auc([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], [1, 0, 0, 1], num_thresholds=3) == 1.0


def test_bucketed_counting_at_the_ends_of_0_1():
    """Evenly spaced thresholds count as Keras's buckets (predictions clipped to [0, 1],
    all positive at -eps, none at 1 + eps); uneven ones compare plainly."""
    y, p = [0, 1], [-0.1, 1.2]
    # evenly: tp [1, 1, 0], fp [1, 0, 0]: recall [1, 1, 0], fp rate [1, 0, 0]
    assert auc(y, p, num_thresholds=3) == 1.0
    assert auc(y, p, thresholds=[0.5]) == 1.0          # [0, 0.5, 1] is even too
    # uneven: -0.1 is below every threshold and 1.2 above all: recall 1, fp rate 0
    assert auc(y, p, thresholds=[0.3, 0.5]) == 0.0


@pytest.mark.parametrize("curve", ["ROC", "PR", "PRGAIN"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
def test_curves_and_summations_against_numpy(curve, summation):
    for kwargs in ({"num_thresholds": 9}, {"thresholds": [0.3, 0.41, 0.7]}):
        for w in (None, W):
            got = auc(sample_weight=w, times=2, curve=curve, summation_method=summation,
                      **kwargs)
            want = expected_auc(Y, P, w, curve=curve, summation=summation, **kwargs)
            assert got == pytest.approx(want, abs=1e-5), (kwargs, w is not None)


def test_multi_label_label_weights_and_logits():
    for curve in ("ROC", "PR"):
        got = auc(multi_label=True, curve=curve, num_thresholds=11)
        assert got == pytest.approx(expected_auc(Y, P, None, 11, curve, multi_label=True),
                                    abs=1e-5)
    lw = [1.0, 2.0, 0.5]
    got = auc(sample_weight=W, multi_label=True, num_labels=3, label_weights=lw)
    assert got == pytest.approx(expected_auc(Y, P, W, multi_label=True, label_weights=lw),
                                abs=1e-5)
    # flattened: the label weights weigh each label's entries
    assert auc(sample_weight=W, label_weights=lw) == pytest.approx(
        expected_auc(Y, P, W, label_weights=lw), abs=1e-5)
    logits = np.log(P / (1 - P))
    assert auc(p=logits, from_logits=True, num_thresholds=7) == pytest.approx(
        expected_auc(Y, P, None, 7), abs=1e-5)


def test_state_reset_and_config():
    metric = fg.metrics.AUC(multi_label=True)
    assert [v.name for v in metric.variables] == []          # made on the first update
    metric.update_state(Y, P)
    assert [v.numpy().shape for v in metric.variables] == [(200, 3)] * 4
    first = float(metric.result())
    metric.update_state(1 - Y, P)
    assert float(metric.result()) != pytest.approx(first)
    metric.reset_state()
    metric.update_state(Y, P)
    assert float(metric.result()) == pytest.approx(first)
    config = fg.metrics.AUC(thresholds=[0.6, 0.2], curve="pr", name="a").get_config()
    assert config == {"name": "a", "dtype": "float32", "num_thresholds": 4, "curve": "PR",
                      "summation_method": "interpolation", "multi_label": False,
                      "num_labels": None, "label_weights": None, "from_logits": False,
                      "thresholds": [0.2, 0.6]}
    copy = fg.metrics.AUC.from_config(config)
    assert copy.thresholds == [-EPS, 0.2, 0.6, 1 + EPS]
    assert fg.metrics.AUC(num_thresholds=5).thresholds[1:-1] == [0.25, 0.5, 0.75]


def test_bad_arguments():
    cases = [({"curve": "LIFT"}, "`curve` must be one of"),
             ({"summation_method": "trapezoid"}, "`summation_method` must be one of"),
             ({"num_thresholds": 1}, "`num_thresholds` must be an int >= 2"),
             ({"thresholds": [0.2, 1.5]}, "`thresholds` must be a list of numbers in"),
             ({"num_labels": 3}, "`num_labels` is needed only when `multi_label` is True"),
             ({"multi_label": True, "num_labels": 2, "label_weights": [1, 2, 3]},
              "`label_weights` must be a list of 2 non-negative"),
             ({"label_weights": [1, -1]}, "non-negative")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            fg.metrics.AUC(**kwargs)
    with pytest.raises(ValueError, match=r"y_pred must have shape \(batch, labels\)"):
        fg.metrics.AUC(multi_label=True).update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    metric = fg.metrics.AUC(multi_label=True, num_labels=3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3\), got shape \(None, 2\)"):
        metric.update_state(np.zeros((2, 2)), np.zeros((2, 2)))
