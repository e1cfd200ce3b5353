"""Weights in Keras 3's HDF5 layout (runtime/keras_weights.py): the object-tree paths as
Keras's saving library walks them, and loading that checks everything first."""
import h5py
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import keras_weights


def paths(model, **kwargs):
    return [(path, [tuple(w.shape) for w in ws]) for path, ws, _ in
            keras_weights.weight_groups(model, **kwargs) if ws]


def test_functional_layers_are_named_by_class_with_counters_and_cells_mapped():
    inputs = fg.Input((5, 4))
    x = fg.layers.MultiHeadAttention(2, 3)(inputs, inputs)
    x = fg.layers.LSTM(3, return_sequences=True)(x)
    x = fg.layers.BatchNormalization()(x)
    x = fg.layers.Dense(2)(fg.layers.Dense(3)(x))
    model = fg.Model(inputs, x)
    assert paths(model) == [
        ("layers/multi_head_attention/key_dense", [(4, 2, 3), (2, 3)]),
        ("layers/multi_head_attention/output_dense", [(2, 3, 4), (4,)]),
        ("layers/multi_head_attention/query_dense", [(4, 2, 3), (2, 3)]),
        ("layers/multi_head_attention/value_dense", [(4, 2, 3), (2, 3)]),
        ("layers/lstm/cell", [(4, 12), (3, 12), (12,)]),
        ("layers/batch_normalization", [(3,), (3,), (3,), (3,)]),
        ("layers/dense", [(3, 3), (3,)]),
        ("layers/dense_1", [(3, 2), (2,)])]


def test_subclassed_attributes_sort_with_layers_at_its_place_and_private_last():
    class Net(fg.Model):
        def __init__(self):
            super().__init__()
            self.zeta = fg.layers.Dense(2)
            self.alpha = fg.layers.Dense(3)
            self.blocks = [fg.layers.Dense(4), fg.layers.Dense(5)]
            self._hidden = fg.layers.Dense(6)

        def call(self, x):
            x = self.alpha(x)
            for block in self.blocks:
                x = block(x)
            return self.zeta(self._hidden(x))

    model = Net()
    model(np.ones((1, 7), "float32"))
    # as Keras 3.15 writes it: alpha, blocks/..., then `layers` (before zeta and _hidden;
    # its counter counts every Dense it lists, those already saved included)
    assert [p for p, _ in paths(model)] == ["alpha", "blocks/dense", "blocks/dense_1",
                                            "layers/dense", "layers/dense_4"]
    assert paths(model)[3][1] == [(6, 2), (2,)]          # zeta, in `layers` after _hidden
    assert paths(model)[4][1] == [(5, 6), (6,)]


def test_a_file_of_another_model_changes_nothing_and_names_what_differs(tmp_path):
    def mlp(width):
        inputs = fg.Input((3,))
        return fg.Model(inputs, fg.layers.Dense(2)(fg.layers.Dense(width)(inputs)))

    source, target = mlp(4), mlp(5)
    source.save_weights(tmp_path / "w.weights.h5")
    before = target.get_weights()
    with pytest.raises(ValueError, match=r"weight '.*kernel' has shape \(3, 5\), the file's "
                                         r"'layers/dense/vars' holds shape \(3, 4\)"):
        target.load_weights(tmp_path / "w.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(before, target.get_weights()))
    with h5py.File(tmp_path / "w.weights.h5", "a") as h5:
        h5.create_dataset("layers/extra/vars/0", data=np.zeros(2))
    other = mlp(4)
    with pytest.raises(ValueError, match=r"has no weights where the file holds "
                                         r"\['layers/extra/vars'\]"):
        other.load_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as h5:
        del h5["layers/extra"]
        del h5["layers/dense_1/vars/1"]
    with pytest.raises(ValueError, match=r"'layers/dense_1' has 2 weights, the file holds 1"):
        other.load_weights(tmp_path / "w.weights.h5")


def test_weights_and_optimizer_state_round_trip_through_weights_h5(tmp_path):
    def model():
        inputs = fg.Input((3,))
        m = fg.Model(inputs, fg.layers.Dense(1)(fg.layers.Dense(4, activation="relu")(inputs)))
        m.compile(optimizer=fg.optimizers.Adam(0.05), loss="mse", backend="reference")
        return m

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    a = model()
    a.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    a.save_weights(tmp_path / "a.weights.h5")
    with h5py.File(tmp_path / "a.weights.h5") as h5:
        assert h5["optimizer/vars"].attrs["name"] == a.optimizer.name
        assert int(h5["optimizer/vars/0"][()]) == 4              # iterations
    b = model()
    b.load_weights(tmp_path / "a.weights.h5")
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
    assert all(np.array_equal(u.numpy(), v.numpy())
               for u, v in zip(a.optimizer.variables, b.optimizer.variables))
    a.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    b.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_weights_load_into_a_model_with_another_optimizer_with_a_warning(tmp_path):
    """Keras's "load pretrained weights, fine-tune with another optimizer": the weights
    load, the optimizer keeps its own state and a warning says why."""
    def model(optimizer):
        inputs = fg.Input((3,))
        m = fg.Model(inputs, fg.layers.Dense(2)(inputs))
        m.compile(optimizer=optimizer, loss="mse", backend="reference")
        return m

    x = np.ones((4, 3), "float32")
    adam = model("adam")
    adam.fit(x, np.zeros((4, 2), "float32"), verbose=0)
    adam.save_weights(tmp_path / "w.weights.h5")
    sgd = model(fg.optimizers.SGD(momentum=0.9))
    with pytest.warns(UserWarning, match=r"the optimizer's variables were not loaded: .*"
                                         r"'optimizer' has 4 weights, the file holds 6"):
        sgd.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(sgd.get_weights()[0], adam.get_weights()[0])
    assert int(sgd.optimizer.iterations.numpy()) == 0
