"""Weights files: round trip, atomic writes, mismatches that change nothing, ModelCheckpoint."""
import os
import re

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import checkpoints


def mlp(units=4):
    inputs = fg.Input(shape=(3,))
    hidden = fg.layers.Dense(units, activation="relu")(inputs)
    model = fg.Model(inputs, fg.layers.Dense(2)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_save_and_load_round_trip(tmp_path):
    a, b = mlp(), mlp()
    path = tmp_path / "w.weights.npz"
    a.save_weights(path)
    assert not np.array_equal(a.get_weights()[0], b.get_weights()[0])   # the kernels differ
    b.load_weights(path)
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(a(x), b(x))


def test_a_suffix_is_added_and_no_temporary_file_stays(tmp_path):
    mlp().save_weights(tmp_path / "weights")
    assert sorted(os.listdir(tmp_path)) == ["weights.npz"]


def test_a_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model = mlp()
    path = tmp_path / "w.npz"
    model.save_weights(path)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(checkpoints.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_saved_file_gets_the_umasks_usual_mode_not_mkstemps_private_one(tmp_path):
    old = os.umask(0o027)
    try:
        mlp().save_weights(tmp_path / "w.npz")
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o640
        os.umask(0o022)
        mlp().save_weights(tmp_path / "w.npz")       # over an existing file too
        assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o644
        assert os.umask(0o022) == 0o022               # the umask is left as it was
    finally:
        os.umask(old)


def test_a_shape_mismatch_names_the_weight_and_changes_nothing(tmp_path):
    mlp(units=5).save_weights(tmp_path / "w.npz")
    model = mlp(units=4)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"w\.npz: model 'functional_1': weight 0 "
                                         r"'dense_2/kernel' has shape \(3, 4\), but the saved "
                                         r"weight 0 'dense/kernel' has shape \(3, 5\)$"):
        model.load_weights(tmp_path / "w.npz")
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_a_count_mismatch_names_the_file_and_changes_nothing(tmp_path):
    inputs = fg.Input(shape=(3,))
    fg.Model(inputs, fg.layers.Dense(2)(inputs)).save_weights(tmp_path / "w.npz")
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"^\S*w\.npz: model 'functional_1' has 4 weights, "
                                         r"the file holds 2 \('dense/kernel', 'dense/bias'\)$"):
        model.load_weights(tmp_path / "w.npz")
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


def _write_npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _write_npy(path, array):
    with open(path, "wb") as f:
        np.save(f, array)


@pytest.mark.parametrize("write, what", [
    (lambda p: _write_npz(p, w0000=np.ones(3)), r"it has no 'paths'; its keys are \['w0000'\]"),
    (lambda p: _write_npz(p, paths=np.array(["a", "b"]), w0000=np.ones(3)),
     r"for its 2 paths, missing \['w0001'\]"),
    (lambda p: _write_npz(p, paths=np.array(["a"]), w0000=np.ones(3), extra=np.ones(1)),
     r"for its 1 paths, unexpected \['extra'\]"),
    (lambda p: _write_npz(p, paths=np.array("a"), w0000=np.ones(3)),
     r"'paths' has shape \(\), not one path per weight"),
    (lambda p: p.write_bytes(b"not a zip"), r"numpy cannot read it as an .npz"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"), r"numpy cannot read it as an .npz"),
    (lambda p: _write_npy(p, np.ones((2, 2))), r"it holds a single array of shape \(2, 2\)"),
    (lambda p: _write_npz(p, paths=np.array(["a"]), w0000=np.array([None], dtype=object)),
     r"numpy cannot read its array 'w0000' \(Object arrays cannot be loaded"),
], ids=["no_paths", "missing_array", "extra_key", "scalar_paths", "not_a_zip", "bad_zip",
        "one_array", "object_array"])
def test_a_malformed_file_is_a_value_error_naming_it_and_the_expected_keys(tmp_path, write, what):
    path = tmp_path / "bad.npz"
    write(path)
    model = mlp()
    before = model.get_weights()
    with pytest.raises(ValueError) as info:
        model.load_weights(path)
    message = str(info.value)
    assert message.startswith(f"{path} is not a weights file written by save_weights: ")
    assert re.search(what, message), message
    assert message.endswith("expected an .npz holding 'paths' (the weights' paths) and 'w0000', "
                            "'w0001', ... (one array per path)")
    for x, y in zip(before, model.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_model_checkpoint_saves_each_epoch_or_only_the_best(tmp_path):
    model = mlp()
    x = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
    y = x[:, :2] * 2.0
    every = fg.callbacks.ModelCheckpoint(str(tmp_path / "e{epoch:02d}.npz"), monitor="loss")
    best = fg.callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="loss",
                                        save_best_only=True)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[every, best])
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "e01.npz", "e02.npz", "e03.npz"]
    assert best.best == min(history.history["loss"])
    restored = mlp()
    restored.load_weights(tmp_path / "e03.npz")
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="saves weights only"):
        fg.callbacks.ModelCheckpoint("x.npz", save_weights_only=False)
