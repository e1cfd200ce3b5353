"""Losses against real Keras 3 on the same tensors: the focal cross-entropies (every
argument), and every reduction with every shape of sample weight Keras accepts, for
each loss class. Skipped where Keras is not installed (CI has none); the core tests
(tests/frontend/test_loss*.py) use numpy formulas instead."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

import fusegraph as fg  # noqa: E402

RNG = np.random.default_rng(11)
ONE_HOT = np.eye(4, dtype="float32")[RNG.integers(0, 4, 6)]
BINARY = (RNG.random((6, 4)) < 0.5).astype("float32")
LOGITS = (RNG.normal(size=(6, 4)) * 2).astype("float32")
PROBS = (np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("name, kwargs", [
    ("CategoricalFocalCrossentropy", {}),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "gamma": 1.5}),
    ("CategoricalFocalCrossentropy", {"alpha": [0.1, 0.2, 0.3, 0.4], "label_smoothing": 0.1}),
    ("CategoricalFocalCrossentropy", {"from_logits": True, "axis": 0, "label_smoothing": 0.2}),
    ("BinaryFocalCrossentropy", {}),
    ("BinaryFocalCrossentropy", {"from_logits": True, "gamma": 3.0}),
    ("BinaryFocalCrossentropy", {"apply_class_balancing": True, "alpha": 0.4,
                                 "label_smoothing": 0.1}),
    ("BinaryFocalCrossentropy", {"from_logits": True, "apply_class_balancing": True,
                                 "axis": 0}),
])
def test_focal_losses_match_keras(name, kwargs):
    targets = ONE_HOT if name.startswith("Categorical") else BINARY
    predictions = LOGITS if kwargs.get("from_logits") else PROBS
    ours, theirs = getattr(fg.losses, name)(**kwargs), getattr(keras.losses, name)(**kwargs)
    np.testing.assert_allclose(ours(targets, predictions), theirs(targets, predictions),
                               rtol=1e-5, atol=1e-6)
    assert sorted(ours.get_config()) == sorted(theirs.get_config())


WEIGHTS = [None, 2.0, RNG.uniform(size=6).astype("float32"),
           RNG.uniform(size=(6, 1)).astype("float32")]
REDUCTIONS = ["sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", None, "none"]


@pytest.mark.parametrize("name", ["MeanSquaredError", "BinaryCrossentropy",
                                  "CategoricalCrossentropy", "Huber", "KLDivergence",
                                  "CategoricalFocalCrossentropy", "BinaryFocalCrossentropy"])
def test_every_reduction_and_weight_shape_matches_keras(name):
    targets = BINARY if "Binary" in name else ONE_HOT
    for reduction in REDUCTIONS:
        ours = getattr(fg.losses, name)(reduction=reduction)
        theirs = getattr(keras.losses, name)(reduction=reduction)
        for weight in WEIGHTS:
            np.testing.assert_allclose(ours(targets, PROBS, sample_weight=weight),
                                       theirs(targets, PROBS, sample_weight=weight),
                                       rtol=1e-5, atol=1e-6, err_msg=f"{reduction} {weight}")
