"""Crash safety: a process saving weights (``save_weights`` in a loop, or ``ModelCheckpoint``
every epoch) is SIGKILLed at random moments; after every kill the file loads and holds one
whole generation (every weight equal to one generation number of that run), and the
temporary files of killed saves do not pile up: at most the one of the last kill, which
the next save removes.

The saving processes are forked by one helper subprocess (this file run as a script) that
imports fusegraph and builds the model once, so that a kill costs a fork, not a start.
"""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

KILLS = 20
ROUND = 100_000          # generations of kill round r are r * ROUND + 1, + 2, ... (exact in f32)


def build_model():
    """About 4 MB of weights, so that a kill often lands inside a save."""
    import fusegraph as fg
    inputs = fg.Input(shape=(256,))
    hidden = fg.layers.Dense(4096)(inputs)
    model = fg.Model(inputs, fg.layers.Dense(2)(hidden))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _stamp(model, generation):
    model.set_weights([np.full(w.shape, generation, w.dtype) for w in model.get_weights()])


def _save_forever(mode, model, path, base):
    """A worker's life: save generation base + 1, base + 2, ... until killed; says
    ``saved`` once the first save is whole."""
    import fusegraph as fg

    def saved_once():
        print("saved", flush=True)

    if mode == "save_weights":
        generation = base + 1
        _stamp(model, generation)
        model.save_weights(path)
        saved_once()
        while True:
            generation += 1
            _stamp(model, generation)
            model.save_weights(path)

    first = [True]

    def stamp(epoch, logs):                # runs before the checkpoint saves the epoch
        _stamp(model, base + epoch + 1)

    def announce(epoch, logs):
        if first[0]:
            first[0] = False
            saved_once()
    x, y = np.ones((4, 256), np.float32), np.zeros((4, 2), np.float32)
    model.fit(x, y, epochs=10 ** 9, batch_size=4, verbose=0, callbacks=[
        fg.callbacks.LambdaCallback(on_epoch_end=stamp),
        fg.callbacks.ModelCheckpoint(path),
        fg.callbacks.LambdaCallback(on_epoch_end=announce)])


def _serve(mode, path):
    """The helper process: build the model, then for each ``go BASE`` line fork a worker,
    print ``pid N``, wait for it (it is killed) and print ``reaped``."""
    model = build_model()
    if mode == "ModelCheckpoint":          # compile the step once, before the forks
        model.fit(np.ones((4, 256), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    print("ready", flush=True)
    for line in sys.stdin:
        base = int(line.split()[1])
        pid = os.fork()
        if pid == 0:
            try:
                _save_forever(mode, model, path, base)
            finally:
                os._exit(1)
        print(f"pid {pid}", flush=True)
        os.waitpid(pid, 0)
        print("reaped", flush=True)


def _generation(model, path) -> int:
    """The one generation number every weight of the file ``path`` holds."""
    model.load_weights(path)
    values = np.unique(np.concatenate([w.ravel() for w in model.get_weights()]))
    assert len(values) == 1, f"{path} mixes generations {values[:5]}"
    return int(values[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the helper forks its savers")
@pytest.mark.parametrize("mode", ["save_weights", "ModelCheckpoint"])
def test_a_killed_saver_leaves_one_whole_generation_and_no_pile_of_temporaries(tmp_path, mode):
    path = tmp_path / "w.npz"
    helper = subprocess.Popen([sys.executable, __file__, mode, str(path)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert helper.stdout.readline() == "ready\n"
        model, rng, killed_inside_a_save = build_model(), random.Random(6), 0
        for r in range(KILLS):
            helper.stdin.write(f"go {r * ROUND}\n")
            helper.stdin.flush()
            lines = sorted([helper.stdout.readline(), helper.stdout.readline()])
            assert lines[1] == "saved\n", lines
            pid = int(lines[0].split()[1])
            time.sleep(rng.uniform(0.0, 0.05))
            os.kill(pid, signal.SIGKILL)
            assert helper.stdout.readline() == "reaped\n"
            assert r * ROUND < _generation(model, path) < (r + 1) * ROUND
            temps = sorted(set(os.listdir(tmp_path)) - {"w.npz"})
            assert all(name.startswith(".w.npz.tmp-") and f"-{pid}-" in name
                       for name in temps), temps         # earlier kills' are gone
            assert len(temps) <= 1, temps
            killed_inside_a_save += len(temps)
        assert killed_inside_a_save > 0                  # the kills did land inside saves
    finally:
        helper.stdin.close()
        helper.wait(timeout=60)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
