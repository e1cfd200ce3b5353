"""runtime/backup.py: BackupAndRestore. A fit of 5 epochs interrupted in its third (by an
error from a callback, by os._exit, by SIGKILL) and run again resumes where the backup
stood and ends with the weights and optimizer state of an uninterrupted fit, bit for bit,
with Dropout and shuffle=True, on the reference and numba_cpu backends; the resumed
epochs log what the uninterrupted ones logged. A save cut short leaves the previous
backup in force; double_checkpoint falls back to the backup before a damaged one; the
backup folder goes when fit ends (delete_checkpoint); only rank 0 writes.

Run as a script (``BACKEND BACKUP_DIR OUT KILL``), this file is the training script of
the subprocess tests: it fits with a BackupAndRestore, dies at batch 1 of epoch 2 as
KILL says (``exit``: os._exit, ``sigkill``, ``none``) and saves the final weights to OUT.
"""
import json
import os
import signal
import subprocess
import sys
import types

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime import backup, distribute

KILL_AT = (2, 1)            # (epoch, batch): the third epoch of five, its second batch


def train(backend="reference", callbacks=(), steps=None, epochs=5):
    """The fit under test, from ``set_random_seed`` on: (model, history)."""
    fg.utils.set_random_seed(7)
    inputs = fg.Input(shape=(4,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8, activation="relu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  backend=backend)
    return model, fit(model, callbacks, steps, epochs)


def fit(model, callbacks=(), steps=None, epochs=5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    return model.fit(x, y, batch_size=16, epochs=epochs, shuffle=True, verbose=0,
                     validation_split=0.2, steps_per_epoch=steps, callbacks=list(callbacks))


class Interrupt(fg.callbacks.Callback):
    """Ends the fit at the start of batch ``batch`` of epoch ``epoch``: ``how`` is
    ``raise`` (a RuntimeError), ``exit`` (os._exit(3)) or ``sigkill``."""

    def __init__(self, how="raise", at=KILL_AT):
        super().__init__()
        self.how, self.at, self.epoch = how, at, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) != self.at:
            return
        if self.how == "exit":
            os._exit(3)
        if self.how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise RuntimeError("interrupted")


def state(model) -> list:
    return [np.array(v.numpy()) for v in model.weights + model.optimizer.variables]


def assert_same_state(model, reference):
    ours, theirs = state(model), state(reference)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"variable {i} differs"


def interrupted(backup_dir, steps=None, interrupt=True, **kwargs):
    """A fit with a BackupAndRestore(backup_dir, **kwargs) that ends in a RuntimeError
    'interrupted': raised at KILL_AT (``interrupt``), else by something else."""
    callbacks = [fg.callbacks.BackupAndRestore(backup_dir, **kwargs)]
    with pytest.raises(RuntimeError, match="interrupted"):
        train(callbacks=callbacks + ([Interrupt()] if interrupt else []), steps=steps)


def backup_files(backup_dir) -> list[str]:
    return sorted(n for n in os.listdir(backup_dir) if not n.startswith("."))


def saved_state(backup_dir, generation) -> dict:
    with open(os.path.join(backup_dir, f"backup-{generation:06d}.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("backend", ["reference", "numba_cpu"])
def test_a_fit_interrupted_in_epoch_3_of_5_resumes_to_the_uninterrupted_weights(
        tmp_path, backend):
    reference, full = train(backend)
    folder = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        train(backend, [fg.callbacks.BackupAndRestore(folder), Interrupt()])
    assert backup_files(folder) == ["backup-000002.json", "backup-000002.weights.npz"]
    assert saved_state(folder, 2)["epoch"] == 2 and saved_state(folder, 2)["batch"] == 0
    model, history = train(backend, [fg.callbacks.BackupAndRestore(folder)])
    assert_same_state(model, reference)
    assert history.epoch == [2, 3, 4]          # as Keras: the History holds the epochs run
    for key, values in history.history.items():
        assert values == full.history[key][2:], key
    assert not os.path.exists(folder)          # delete_checkpoint=True


def test_the_same_model_fit_again_in_the_same_process_resumes_bitwise(tmp_path):
    """As Keras's example: the interrupted model's fit is called again. The random state
    and the shuffle's seed, drawn anew by the second fit, come from the backup."""
    reference, _ = train()
    folder = str(tmp_path / "backup")
    callback = fg.callbacks.BackupAndRestore(folder)
    with pytest.raises(RuntimeError, match="interrupted"):
        train(callbacks=[callback, Interrupt()])
    model = callback.model
    history = fit(model, [callback])
    assert history.epoch == [2, 3, 4]
    assert_same_state(model, reference)


@pytest.mark.parametrize("steps", [None, 4])
def test_save_freq_batches_resumes_at_the_batch_after_the_backup(tmp_path, steps):
    """Every 2 batches; with 3 batches a pass, and with steps_per_epoch=4 (epochs that
    carry on through the passes). The newest backup holds all of epoch 1's batches but
    not its end: the resumed fit ends epoch 1 (validation, its logs) first."""
    reference, full = train(steps=steps)
    folder = str(tmp_path / "backup")
    interrupted(folder, save_freq=2, steps=steps)
    newest = saved_state(folder, max(int(n[7:13]) for n in backup_files(folder)))
    assert (newest["epoch"], newest["batch"]) == ((1, 3) if steps is None else (1, 4))
    model, history = train(callbacks=[fg.callbacks.BackupAndRestore(folder, save_freq=2)],
                           steps=steps)
    assert_same_state(model, reference)
    assert history.epoch == [1, 2, 3, 4]
    for key, values in history.history.items():
        assert values == full.history[key][1:], key


def test_a_backup_in_the_middle_of_an_epoch_resumes_its_running_metrics(tmp_path):
    """save_freq=1: the backup before the interruption is batch 0 of epoch 2; the resumed
    epoch 2 logs the running means over all of its batches, as the uninterrupted did."""
    reference, full = train()
    folder = str(tmp_path / "backup")
    interrupted(folder, save_freq=1)
    newest = saved_state(folder, 7)      # 3 batches in epochs 0 and 1, then batch 0
    assert (newest["epoch"], newest["batch"]) == (2, 1)
    model, history = train(callbacks=[fg.callbacks.BackupAndRestore(folder, save_freq=1)])
    assert_same_state(model, reference)
    assert history.history["accuracy"] == full.history["accuracy"][2:]
    assert history.history["loss"] == full.history["loss"][2:]


def test_a_save_cut_short_leaves_the_previous_backup_in_force(tmp_path, monkeypatch):
    """The save at epoch 2's end dies between its weights file and its JSON: the
    backup of epoch 1's end is the one restored, and the fit still ends as the
    uninterrupted one."""
    reference, _ = train()
    folder = str(tmp_path / "backup")
    writes = []
    real_write = backup.write_atomically

    def dies_on_the_third(path, write):
        writes.append(path)
        if len(writes) == 3:
            raise RuntimeError("interrupted")
        real_write(path, write)

    monkeypatch.setattr(backup, "write_atomically", dies_on_the_third)
    interrupted(folder, interrupt=False)
    monkeypatch.undo()
    assert backup_files(folder) == ["backup-000002.json", "backup-000002.weights.npz",
                                    "backup-000003.weights.npz"]
    model, history = train(callbacks=[fg.callbacks.BackupAndRestore(folder)])
    assert history.epoch == [2, 3, 4]
    assert_same_state(model, reference)


def test_double_checkpoint_restores_the_backup_before_a_damaged_one(tmp_path):
    reference, _ = train()
    folder = str(tmp_path / "backup")
    interrupted(folder, double_checkpoint=True)
    assert backup_files(folder) == ["backup-000001.json", "backup-000001.weights.npz",
                                    "backup-000002.json", "backup-000002.weights.npz"]
    with open(os.path.join(folder, "backup-000002.weights.npz"), "wb") as f:
        f.write(b"damaged")
    with pytest.warns(UserWarning, match=r"backup-000002.weights.npz is not a weights file "
                                         r".*; restored the one before it"):
        model, history = train(callbacks=[fg.callbacks.BackupAndRestore(
            folder, double_checkpoint=True)])
    assert history.epoch == [1, 2, 3, 4]
    assert_same_state(model, reference)


def test_a_damaged_backup_without_a_previous_one_is_an_error_naming_it(tmp_path):
    folder = str(tmp_path / "backup")
    interrupted(folder)
    with open(os.path.join(folder, "backup-000002.json"), "w") as f:
        f.write("{")
    with pytest.raises(ValueError, match=r"backup-000002.json: not a backup written by "
                                         r"BackupAndRestore"):
        train(callbacks=[fg.callbacks.BackupAndRestore(folder)])
    with open(os.path.join(folder, "backup-000002.json"), "w") as f:
        f.write('{"epoch": 2}')
    with pytest.raises(ValueError, match=r"expected a JSON object with the keys \['batch', "
                                         r"'data', .*got \['epoch'\]"):
        train(callbacks=[fg.callbacks.BackupAndRestore(folder)])


def test_a_backup_of_another_model_is_refused_before_anything_changes(tmp_path):
    folder = str(tmp_path / "backup")
    interrupted(folder)
    fg.utils.set_random_seed(7)
    inputs = fg.Input(shape=(4,))
    model = fg.Model(inputs, fg.layers.Dense(2)(inputs))
    model.compile(optimizer="adam", loss="mse", backend="reference")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"with its optimizer 'adam' has 8 weights, the file "
                                         r"holds 14"):
        model.fit(np.ones((8, 4)), np.ones((8, 2)), verbose=0,
                  callbacks=[fg.callbacks.BackupAndRestore(folder)])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_a_backup_failing_after_its_weights_loaded_leaves_nothing_of_it(tmp_path):
    """A malformed data position is found only after the weights were assigned: they and
    the optimizer's variables go back to what they were before the restore."""
    folder = str(tmp_path / "backup")
    interrupted(folder)
    path = os.path.join(folder, "backup-000002.json")
    with open(path) as f:
        broken = json.load(f)
    broken["data"] = "nowhere"
    with open(path, "w") as f:
        json.dump(broken, f)
    fg.utils.set_random_seed(7)
    inputs = fg.Input(shape=(4,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(8, activation="relu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(1, activation="sigmoid")(hidden))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"],
                  backend="reference")
    model.optimizer.build(model.trainable_weights)
    before = state(model)

    class Spy(fg.callbacks.Callback):        # what fit holds after the failed restore
        def on_train_begin(self, logs=None):
            raise AssertionError("the restore should have failed first")

    with pytest.raises((ValueError, TypeError)):
        fit(model, [fg.callbacks.BackupAndRestore(folder), Spy()])
    assert all(np.array_equal(a, b) for a, b in zip(state(model), before))


def test_without_delete_checkpoint_the_last_backup_stays_and_a_rerun_trains_no_more(tmp_path):
    folder = str(tmp_path / "backup")
    keep = fg.callbacks.BackupAndRestore(folder, delete_checkpoint=False)
    model, _ = train(callbacks=[keep])
    assert backup_files(folder) == ["backup-000005.json", "backup-000005.weights.npz"]
    assert saved_state(folder, 5)["epoch"] == 5
    again, history = train(callbacks=[keep])
    assert history.epoch == [] and history.history == {}
    assert_same_state(again, model)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"backup_dir": ""}, ValueError, "Empty `backup_dir` argument passed"),
    ({"backup_dir": 3}, TypeError, r"`backup_dir` must be a folder's path .* got 3"),
    ({"backup_dir": "b", "save_freq": 0}, ValueError, r"save_freq=0\. Expected either "
                                                      r"'epoch' or an integer value >= 1"),
    ({"backup_dir": "b", "save_freq": False}, ValueError, r"save_freq=False\. .*preemption"),
    ({"backup_dir": "b", "save_freq": "batch"}, ValueError, r"save_freq='batch'"),
    ({"backup_dir": "b", "double_checkpoint": "yes"}, TypeError,
     r"`double_checkpoint` must be a bool, got 'yes'"),
    ({"backup_dir": "b", "delete_checkpoint": None}, TypeError,
     r"`delete_checkpoint` must be a bool, got None"),
])
def test_bad_arguments_are_errors_naming_them(kwargs, error, match):
    with pytest.raises(error, match=match):
        fg.callbacks.BackupAndRestore(**kwargs)


def test_keras_attributes():
    callback = fg.callbacks.BackupAndRestore("b", save_freq=np.int64(3))
    assert (callback.backup_dir, callback.save_freq, callback.double_checkpoint,
            callback.delete_checkpoint) == ("b", 3, False, True)


def test_only_rank_0_writes_and_every_rank_restores(tmp_path, monkeypatch):
    """Rank 1 of a data-parallel job writes no backup and leaves rank 0's in place at
    the end; it restores one as rank 0 does."""
    folder = str(tmp_path / "backup")
    monkeypatch.setattr(distribute, "_STRATEGY", types.SimpleNamespace(rank=1, size=2))
    interrupted(folder)
    assert not os.path.exists(folder)
    monkeypatch.undo()
    interrupted(folder)                                   # rank 0 writes it
    reference, _ = train()
    monkeypatch.setattr(distribute, "_STRATEGY", types.SimpleNamespace(rank=1, size=2))
    model, history = train(callbacks=[fg.callbacks.BackupAndRestore(folder)])
    assert history.epoch == [2, 3, 4]
    assert_same_state(model, reference)
    assert os.path.exists(folder)


def _run_script(*args):
    return subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("backend, how", [("reference", "sigkill"), ("numba_cpu", "exit")])
def test_a_killed_process_run_again_ends_as_an_uninterrupted_fit(tmp_path, backend, how):
    folder, out = tmp_path / "backup", tmp_path / "final.npz"
    killed = _run_script(backend, folder, out, how)
    assert killed.returncode == (-signal.SIGKILL if how == "sigkill" else 3), killed.stderr
    assert not out.exists() and backup_files(folder) == ["backup-000002.json",
                                                         "backup-000002.weights.npz"]
    again = _run_script(backend, folder, out, "none")
    assert again.returncode == 0, again.stderr
    reference, _ = train(backend)
    with np.load(out) as final:
        finals = [final[f"v{i}"] for i in range(len(final.files))]
    assert len(finals) == len(state(reference))
    assert all(np.array_equal(a, b) for a, b in zip(finals, state(reference)))
    assert not folder.exists()


if __name__ == "__main__":
    _backend, _folder, _out, _kill = sys.argv[1:]
    _callbacks = [fg.callbacks.BackupAndRestore(_folder)]
    _model, _ = train(_backend, _callbacks + ([] if _kill == "none" else [Interrupt(_kill)]))
    np.savez(_out, **{f"v{i}": v for i, v in enumerate(state(_model))})
