"""Weights files: round trip, atomic writes and their temporary files, mismatches and foreign
files that change nothing, ModelCheckpoint."""
import os
import pickle
import re
import signal
import stat
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import atomic_file, checkpoints


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
    (lambda p: p.write_bytes(b"not a zip\nsecond line"),
     r"it is a text file \(21 bytes\) beginning 'not a zip'; "),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated"),
     r"numpy cannot read it as an .npz, a truncated or damaged zip file \(File is not a zip"),
    (lambda p: p.write_bytes(b""), r"it is empty \(0 bytes\)"),
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(8)),
     r"it is an HDF5 file \(16 bytes\), such as Keras's .weights.h5"),
    (lambda p: p.write_bytes(bytes([0, 1, 2, 255, 254])),
     r"it is 5 bytes of binary data beginning 00 01 02 ff fe"),
    (lambda p: _write_npy(p, np.ones((2, 2))), r"it holds a single array of shape \(2, 2\)"),
    (lambda p: _write_npz(p, paths=np.array(["a"]), w0000=np.array([None], dtype=object)),
     r"numpy cannot read its array 'w0000' \(Object arrays cannot be loaded"),
], ids=["no_paths", "missing_array", "extra_key", "scalar_paths", "text", "bad_zip", "empty",
        "hdf5", "binary", "one_array", "object_array"])
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


class _Planted:
    """Unpickling this creates the file ``path``: proof that a pickle was loaded."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def test_a_pickle_is_named_and_never_unpickled(tmp_path):
    path, planted = tmp_path / "w.npz", tmp_path / "planted"
    path.write_bytes(pickle.dumps(_Planted(planted), protocol=4))
    model = mlp()
    with pytest.raises(ValueError, match=r"w\.npz is not a weights file written by save_weights: "
                                         r"it is a Python pickle \(\d+ bytes\), which is never "
                                         r"loaded \(it could run code\); expected an .npz"):
        model.load_weights(path)
    assert not planted.exists()


def test_load_reads_the_npz_save_writes_else_the_path_as_given(tmp_path):
    a, b = mlp(), mlp()
    a.save_weights(tmp_path / "w")                        # writes w.npz
    (tmp_path / "w").write_text("a stray file of the same stem")
    b.load_weights(tmp_path / "w")                        # reads w.npz, as save wrote it
    np.testing.assert_array_equal(b.get_weights()[0], a.get_weights()[0])
    (tmp_path / "notes.txt").write_text("epoch 3: 0.25\n")
    with pytest.raises(ValueError, match=r"notes\.txt is not a weights file written by "
                                         r"save_weights: it is a text file \(14 bytes\) "
                                         r"beginning 'epoch 3: 0.25'; expected an .npz"):
        b.load_weights(tmp_path / "notes.txt")            # only the path as given exists


def test_a_missing_file_or_a_folder_is_named_with_what_was_expected(tmp_path):
    model = mlp()
    before = model.get_weights()
    with pytest.raises(FileNotFoundError, match=r"^no weights file '\S*nothing\.npz' or "
                                                r"'\S*nothing' exists; expected an .npz written "
                                                r"by save_weights, holding 'paths'"):
        model.load_weights(tmp_path / "nothing")
    (tmp_path / "ckpt.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"ckpt\.npz is a folder, not a weights file; "
                                                r"expected an .npz written by save_weights"):
        model.load_weights(tmp_path / "ckpt")
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


def _data():
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    return x, x[:, :2] * 2.0


def test_model_checkpoint_with_a_missing_monitor_warns_once_and_saves_nothing(tmp_path):
    model = mlp()
    checkpoint = fg.callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="val_nothing",
                                              save_best_only=True)
    with pytest.warns(UserWarning) as caught:
        history = model.fit(*_data(), epochs=3, batch_size=8, verbose=0, callbacks=[checkpoint])
    assert [str(w.message) for w in caught] == [
        "Can save best model only with val_nothing available, skipping. "
        "Available metrics are: loss"]
    assert len(history.history["loss"]) == 3                 # training went on
    assert os.listdir(tmp_path) == [] and checkpoint.best is None


def test_model_checkpoint_never_takes_a_nan_for_the_best(tmp_path):
    checkpoint = fg.callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.npz"),
                                              monitor="loss", save_best_only=True)
    checkpoint.set_model(mlp())
    checkpoint.on_train_begin()
    for epoch, loss in enumerate([float("nan"), 2.0, float("nan"), 1.0, 1.5]):
        checkpoint.on_epoch_end(epoch, {"loss": loss})
    assert sorted(os.listdir(tmp_path)) == ["best-2.npz", "best-4.npz"]
    assert checkpoint.best == 1.0


@pytest.mark.parametrize("filepath, why", [
    ("w-{epoch.npz", r"expected '\}' before end of string"),
    ("w-{}.npz", r"fields must be names, got \[''\]"),
    ("w-{0}.npz", r"fields must be names, got \['0'\]"),
    ("w-{logs.loss}.npz", r"fields must be names, got \['logs.loss'\]"),
    ("w-{loss:d}.npz", r"Unknown format code 'd' for object of type 'float'"),
])
def test_model_checkpoint_refuses_a_malformed_filepath_before_training(filepath, why):
    with pytest.raises(ValueError, match=rf"^ModelCheckpoint filepath '{re.escape(filepath)}': "
                                         rf"{why}; expected a str.format pattern of 'epoch'"):
        fg.callbacks.ModelCheckpoint(filepath)


@pytest.mark.parametrize("pattern, missing, hint", [
    ("w-{epoch}-{val_loss:.2f}.npz", "val_loss", " \\(val_ keys come only with validation_data"),
    ("w-{epoc}.npz", "epoc", ""),
])
def test_model_checkpoint_names_a_filepath_field_the_logs_lack_before_training(
        tmp_path, pattern, missing, hint):
    """fit knows its epoch logs' keys once it traced the step on the first batch: a field
    they lack is refused before the first step, so nothing trains."""
    model = mlp()
    before = [w.numpy().copy() for w in model.weights]
    checkpoint = fg.callbacks.ModelCheckpoint(str(tmp_path / pattern))
    with pytest.raises(KeyError, match=rf"fit\(\): callbacks: ModelCheckpoint filepath .* names "
                                       rf"\['{missing}'\], which the epoch logs of this fit\(\) "
                                       rf"will not have{hint}.*; they have \['loss'\]"):
        model.fit(*_data(), epochs=2, batch_size=8, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path) == []
    assert all((a == b).all() for a, b in zip(before, [w.numpy() for w in model.weights]))
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, validation_data=(x, y), callbacks=[
        fg.callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}-{val_loss:.2f}.npz"))])
    assert len(os.listdir(tmp_path)) == 1


def test_model_checkpoint_field_missing_from_a_generators_logs_is_found_at_epoch_end(tmp_path):
    """A generator's first batch is not traced before training: the keys are known only
    at the end of the first epoch, where the field is refused before any file is written."""
    model = mlp()
    x, y = _data()
    checkpoint = fg.callbacks.ModelCheckpoint(str(tmp_path / "w-{val_loss:.2f}.npz"))
    with pytest.raises(KeyError, match=r"names \['val_loss'\], which the logs of epoch 1 do "
                                       r"not have; they have \['loss'\]"):
        model.fit(iter([(x, y)]), epochs=1, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path) == []


def test_model_checkpoint_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match=r"x\.keras', save_weights_only=True\): a \.keras "
                                         r"file holds a whole model"):
        fg.callbacks.ModelCheckpoint("x.keras", save_weights_only=True)


# --- temporary files: named after their destination, stale ones removed ----------------------
def _temp_prefix(name):
    return f".{name}.tmp-{atomic_file._host()}-"


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_temporary_file_is_named_after_its_destination_and_writer(tmp_path, monkeypatch):
    seen, savez = [], np.savez

    def spy(f, **arrays):
        seen.extend(os.listdir(tmp_path))
        savez(f, **arrays)
    monkeypatch.setattr(checkpoints.np, "savez", spy)
    mlp().save_weights(tmp_path / "w.npz")
    (temp,) = seen
    assert re.fullmatch(re.escape(_temp_prefix("w.npz")) + rf"{os.getpid()}-[0-9a-f]{{8}}", temp)
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


def test_a_save_removes_the_stale_temporary_files_of_its_destination_only(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    prefix = _temp_prefix("w.npz")
    stale = [f"{prefix}{dead}-0badc0de",                 # its writer is gone
             f"{prefix}{os.getpid()}-0badc0de"]          # this pid, but not this process's
    kept = [f"{prefix}{live}-0badc0de",                  # a live writer of the same path
            f"{_temp_prefix('other.npz')}{dead}-0badc0de",   # another destination
            f".w.npz.tmp-another_host-{dead}-0badc0de",  # another host: its pids mean nothing
            f"{prefix}{dead}-notours",                   # not a name we make
            "w.npz.notes"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x" * 100)
    mlp().save_weights(tmp_path / "w.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["w.npz"])


def test_concurrent_saves_of_one_path_in_one_process_leave_one_whole_file(tmp_path):
    """Threads of one process share a pid: none may take another's temporary file for a
    stale one."""
    model, errors = mlp(), []

    def save_many():
        try:
            for _ in range(15):
                model.save_weights(tmp_path / "w.npz")
        except Exception as e:     # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=save_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]
    mlp().load_weights(tmp_path / "w.npz")


def test_a_name_near_the_file_system_limit_still_saves(tmp_path):
    name = "w" * 250 + ".npz"                                  # 254 bytes: a temp must be cut
    model = mlp()
    model.save_weights(tmp_path / name)
    model.save_weights(tmp_path / name)
    assert os.listdir(tmp_path) == [name]


@pytest.mark.skipif(os.name != "posix", reason="folders are fsynced on POSIX")
def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced, fsync = [], os.fsync

    def spy(fd):
        synced.append((stat.S_ISDIR(os.fstat(fd).st_mode), os.path.exists(tmp_path / "w.npz")))
        fsync(fd)
    monkeypatch.setattr(atomic_file.os, "fsync", spy)
    mlp().save_weights(tmp_path / "w.npz")
    assert synced == [(False, False), (True, True)]      # the data, then the folder's rename


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_child_forked_while_a_thread_saves_can_save(tmp_path):
    """The lock a saving thread holds at the fork is not the child's."""
    model, path = mlp(), tmp_path / "w.npz"
    with atomic_file._lock:                                  # as a thread mid-save would
        pid = os.fork()
        if pid == 0:
            try:
                model.save_weights(path)
            finally:
                os._exit(0 if path.exists() else 1)
    for _ in range(300):                                     # a deadlocked child: 30 s, then fail
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the lock held at the fork")
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("name, why", [
    ("model.keras", r"a \.keras file holds a whole model: write it with model\.save\(path\)"),
    ("w.hdf5", r"Keras 2's legacy HDF5 files are not supported"),
    ("w.h5", r"Keras 2's legacy HDF5 files are not supported"),
    ("w.bin", r"unknown suffix '\.bin'")])
def test_a_suffix_naming_no_weights_format_is_an_error_naming_the_formats(tmp_path, name, why):
    """save_weights("w.weights.h5") had written w.weights.h5.npz without a word; now the
    suffix picks the format and one naming none is refused, with nothing written."""
    formats = r"; weights files end in \.weights\.h5 \(Keras 3's HDF5 layout\) or \.npz"
    with pytest.raises(ValueError, match=f"{name}: {why}{formats}"):
        mlp().save_weights(tmp_path / name)
    if name != "model.keras":               # a .keras checkpoint saves the whole model
        with pytest.raises(ValueError, match=why):
            fg.callbacks.ModelCheckpoint(str(tmp_path / name))
    assert os.listdir(tmp_path) == []


def test_a_number_after_the_last_dot_is_no_suffix_so_npz_is_added(tmp_path):
    """A checkpoint named by its loss (``ck-{loss}``) ends in digits after a dot: that is
    no format's suffix, and the save appends .npz (it had failed after the first epoch)."""
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    model = mlp()
    model.compile(optimizer="sgd", loss="mse", backend="reference")
    model.fit(x, x[:, :2], epochs=1, verbose=0, callbacks=[
        fg.callbacks.ModelCheckpoint(str(tmp_path / "ck-{loss}")),
        fg.callbacks.ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}-{loss:.3f}"))])
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and all(n.startswith("ck-") and n.endswith(".npz") for n in names)
    model.save_weights(tmp_path / "w-3.5")
    assert (tmp_path / "w-3.5.npz").exists()
