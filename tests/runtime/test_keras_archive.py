"""Whole models in .keras files (runtime/keras_archive.py): what the zip holds, a loaded
model predicting and training on as the saved one, atomic saves, and the errors."""
import json
import os
import zipfile

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import keras_archive


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, (x[:, :1] > 0).astype("int32").ravel()


def classifier(dropout=0.25):
    """A compiled classifier; ``dropout=0`` for one whose training has no random draws
    (a loaded model's draws come from call sites numbered anew)."""
    inputs = fg.Input((4,), name="features")
    x = fg.layers.Dense(8, activation="relu", kernel_regularizer="l2")(inputs)
    x = fg.layers.BatchNormalization()(x)
    outputs = fg.layers.Dense(2, activation="softmax")(fg.layers.Dropout(dropout)(x))
    model = fg.Model(inputs, outputs)
    model.compile(optimizer=fg.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], backend="reference")
    return model


def test_the_archive_holds_keras_files_and_a_compiled_model_loads_as_it_was(tmp_path,
                                                                          monkeypatch):
    # the loaded model compiles on the default backend (the file names none, as Keras's)
    monkeypatch.setenv("FUSEGRAPH_BACKEND", "reference")
    x, y = data()
    model = classifier(dropout=0.0)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
    assert metadata["keras_version"] == keras_archive.KERAS_FORMAT_VERSION
    assert config["class_name"] == "Functional"
    assert config["compile_config"]["loss"] == "sparse_categorical_crossentropy"
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    loaded = fg.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(loaded.optimizer.iterations.numpy()) == 8
    assert all(np.array_equal(a.numpy(), b.numpy())
               for a, b in zip(model.optimizer.variables, loaded.optimizer.variables))
    # the loaded model trains on exactly as the saved one does
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_an_uncompiled_load_and_a_sequential_and_load_weights_from_a_keras_file(tmp_path):
    model = fg.Sequential([fg.Input((3,)), fg.layers.Dense(2)])
    fg.models.save_model(model, str(tmp_path / "s.keras"))
    loaded = fg.saving.load_model(str(tmp_path / "s.keras"), compile=False)
    assert getattr(loaded, "optimizer", None) is None
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])
    other = fg.Sequential([fg.Input((3,)), fg.layers.Dense(2)])
    other.load_weights(tmp_path / "s.keras")
    np.testing.assert_array_equal(other.get_weights()[0], model.get_weights()[0])


def test_a_failed_save_leaves_the_previous_file_and_an_unsavable_model_writes_nothing(
        tmp_path, monkeypatch):
    model = classifier()
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.keras"]
    inputs = fg.Input((2,))
    with pytest.raises(ValueError, match=r"cannot be saved as a config"):
        fg.Model(inputs, fg.ops.zeros_like(inputs)).save(tmp_path / "op.keras")
    with pytest.raises(FileExistsError, match=r"m\.keras exists and overwrite=False"):
        model.save(path, overwrite=False)
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_load_errors_name_the_file_and_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.keras: no such file"):
        fg.models.load_model(tmp_path / "nope.keras")
    (tmp_path / "bad.keras").write_text("not a zip")
    with pytest.raises(ValueError, match=r"bad\.keras: not a \.keras file .*expected a zip "
                                         r"holding config\.json and model\.weights\.h5"):
        fg.models.load_model(tmp_path / "bad.keras")
    with pytest.raises(ValueError, match=r"w\.weights\.h5: load_model reads Keras's \.keras "
                                         r"files; a weights file"):
        fg.models.load_model(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"model\.save writes Keras's \.keras format"):
        classifier().save(tmp_path / "m.npz")


def test_lambda_layers_load_only_with_safe_mode_off(tmp_path):
    inputs = fg.Input((2,))
    model = fg.Model(inputs, fg.layers.Lambda(lambda t: t * 3.0)(inputs))
    model.save(tmp_path / "l.keras")
    with pytest.raises(ValueError, match=r"refusing to load a Lambda layer's Python bytecode"):
        fg.models.load_model(tmp_path / "l.keras")
    loaded = fg.models.load_model(tmp_path / "l.keras", safe_mode=False)
    np.testing.assert_array_equal(np.asarray(loaded(np.ones((1, 2), "float32"))), [[3.0, 3.0]])


def test_model_checkpoint_saves_the_whole_model_to_a_keras_path(tmp_path):
    x, y = data()
    model = classifier()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x, y), callbacks=[
        fg.callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.keras"))])
    assert sorted(os.listdir(tmp_path)) == ["best-1.keras", "best-2.keras"]
    loaded = fg.models.load_model(tmp_path / "best-2.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@fg.saving.register_keras_serializable("ArchiveTest")
def halved_mse(y_true, y_pred):
    return fg.ops.mean(fg.ops.square(y_true - y_pred), axis=-1) * 0.5


def test_custom_loss_functions_are_saved_by_record_and_lambdas_refused(tmp_path):
    inputs = fg.Input((2,))
    model = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss=halved_mse, metrics=[fg.losses.mean_absolute_error])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        compiled = json.loads(archive.read("config.json"))["compile_config"]
    assert compiled["loss"]["config"] == "ArchiveTest>halved_mse"
    assert compiled["metrics"] == ["mean_absolute_error"]
    loaded = fg.models.load_model(tmp_path / "m.keras")
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0),
                               model.evaluate(x, y, verbose=0), rtol=1e-6)
    model.compile(optimizer="sgd", loss=lambda t, p: fg.ops.mean(p))
    with pytest.raises(ValueError, match=r"cannot serialize the function .*lambda"):
        model.save(tmp_path / "lambda.keras")
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]


def test_a_call_given_training_keeps_it_through_our_files_not_keras_records(tmp_path):
    """Dropout(x, training=True) drops at prediction too; a file fusegraph wrote keeps that
    (a Keras file's recorded flags are Keras's own, which its models ignore)."""
    inputs = fg.Input((64,))
    model = fg.Model(inputs, fg.layers.Dropout(0.5)(inputs, training=True))
    model.save(tmp_path / "mc.keras")
    x = np.ones((4, 64), "float32")
    for m in (model, fg.models.load_model(tmp_path / "mc.keras")):
        dropped = float(np.mean(m.predict(x, verbose=0) == 0))
        assert 0.3 < dropped < 0.7
    with zipfile.ZipFile(tmp_path / "mc.keras") as archive:
        config = json.loads(archive.read("config.json"))
    with zipfile.ZipFile(tmp_path / "keras-like.keras", "w") as archive:   # no fusegraph_version
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(config))
    plain = fg.models.load_model(tmp_path / "keras-like.keras")
    np.testing.assert_array_equal(plain.predict(x, verbose=0), x)
