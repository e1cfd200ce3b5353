"""frontend/regularizers.py and the losses layers add (Layer.add_loss, weight and
activity regularizers): penalties against numpy, and a compiled model's loss is its
compiled loss plus them, as Keras's."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import regularizers

RNG = np.random.default_rng(3)
W = RNG.normal(size=(4, 3)).astype("float32")
X = RNG.normal(size=(8, 3)).astype("float32")
Y = RNG.normal(size=(8, 2)).astype("float32")


def orthogonal(w, factor, axis):
    n = w / np.linalg.norm(w, axis=axis, keepdims=True)
    p = np.abs(n @ n.T if axis == 1 else n.T @ n)
    size = p.shape[0]
    return factor * 0.5 * (p.sum() - np.trace(p)) / (size * (size - 1) / 2)


@pytest.mark.parametrize("regularizer, expected", [
    (regularizers.L1(0.2), 0.2 * np.abs(W).sum()),
    (regularizers.L2(0.3), 0.3 * (W ** 2).sum()),
    (regularizers.L1L2(l1=0.1, l2=0.2), 0.1 * np.abs(W).sum() + 0.2 * (W ** 2).sum()),
    (regularizers.get("l1_l2"), 0.01 * np.abs(W).sum() + 0.01 * (W ** 2).sum()),
    (regularizers.get("l2"), 0.01 * (W ** 2).sum()),
    (regularizers.OrthogonalRegularizer(0.5), orthogonal(W, 0.5, 1)),
    (regularizers.OrthogonalRegularizer(0.5, mode="columns"), orthogonal(W, 0.5, 0)),
])
def test_penalties(regularizer, expected):
    assert float(regularizer(W)) == pytest.approx(expected, rel=1e-5)


def test_a_compiled_loss_adds_weight_and_activity_penalties():
    inputs = fg.Input((3,))
    dense = fg.layers.Dense(2, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5),
                            bias_initializer="ones", activity_regularizer=regularizers.L2(0.1))
    model = fg.Model(inputs, dense(inputs))
    model.compile("sgd", "mse")
    out = model.predict(X, verbose=0)
    expected = (np.mean((out - Y) ** 2) + 0.01 * (dense.kernel.numpy() ** 2).sum()
                + 0.5 * np.abs(dense.bias.numpy()).sum() + 0.1 * (out ** 2).sum())
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == 2             # the weights' penalties (outside a step)


def test_add_loss_in_a_subclassed_model_joins_each_steps_loss():
    class Penalized(fg.Model):
        def __init__(self):
            super().__init__()
            self.dense = fg.layers.Dense(2)

        def call(self, x):
            y = self.dense(x)
            self.add_loss(0.25 * fg.ops.mean(fg.ops.square(y)))
            return y

    model = Penalized()
    model.compile("sgd", "mse")
    out = model.predict(X, verbose=0)
    expected = np.mean((out - Y) ** 2) + 0.25 * np.mean(out ** 2)
    assert model.evaluate(X, Y, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_l2_shrinks_the_weights_it_penalizes():
    def trained(regularizer):
        fg.utils.set_random_seed(0)
        inputs = fg.Input((3,))
        model = fg.Model(inputs, fg.layers.Dense(2, kernel_regularizer=regularizer)(inputs))
        model.compile("sgd", "mse")
        model.fit(X, Y, epochs=20, verbose=0)
        return np.abs(model.weights[0].numpy()).sum()
    assert trained(regularizers.L2(1.0)) < 0.8 * trained(None)


def test_conv_and_embedding_take_regularizers_and_bad_names_are_refused():
    conv = fg.layers.Conv2D(2, 3, kernel_regularizer="l1")
    conv.build((None, 5, 5, 1))
    assert len(conv.losses) == 1
    embedding = fg.layers.Embedding(10, 4, embeddings_regularizer="l2")
    embedding.build((None, 3))
    assert float(embedding.losses[0]) == pytest.approx(
        0.01 * (embedding.embeddings.numpy() ** 2).sum(), rel=1e-5)
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        fg.layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(ValueError, match="`l2` must be a non-negative number"):
        regularizers.L2(-1.0)
