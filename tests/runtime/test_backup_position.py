"""What BackupAndRestore carries over to a new process, piece by piece: a data adapter's
position (runtime/data.py: ``position``/``move_to``) for arrays, Datasets with a
shuffle, generator functions and PyDatasets, in whole-pass epochs and with steps_per_epoch; and
fusegraph's random state (frontend/random_state.py: ``get_state``/``set_state``). Then a
fit on a shuffled Dataset resumed from a backup ends bitwise as an uninterrupted one."""
import json

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend import random_state
from fusegraph.runtime.data import Dataset, make_adapter


def arrays():
    return np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10, dtype=np.float32)


SOURCES = {
    "arrays": lambda: make_adapter(*arrays(), batch_size=3, shuffle=True, seed=4),
    "arrays, 4 steps": lambda: make_adapter(*arrays(), batch_size=3, shuffle=True, seed=4,
                                            steps_per_epoch=4),
    "Dataset": lambda: make_adapter(Dataset.from_tensor_slices(arrays()).shuffle(10, seed=4)
                                    .batch(3)),
    "generator function, 4 steps": lambda: make_adapter(_batches, steps_per_epoch=4),
    "PyDataset, shuffled": lambda: make_adapter(Batches(), shuffle=True, seed=4),
}


class Batches(fg.utils.PyDataset):
    """Batches of 3 rows (the last of 1), read by index, so seekable."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        x, y = arrays()
        return x[3 * index:3 * index + 3], y[3 * index:3 * index + 3]


def _batches():
    x, y = arrays()
    for start in range(0, 10, 3):
        yield x[start:start + 3], y[start:start + 3]


def first_samples(adapter, epochs, done=0) -> list:
    """The first x value of each batch of ``epochs`` epochs (the first less ``done``)."""
    return [[float(batch[0][0, 0]) for batch in adapter.epoch_batches(done if e == 0 else 0)]
            for e in range(epochs)]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("epochs_before, batches_into", [(2, 0), (1, 2), (0, 1)])
def test_an_adapter_moved_to_a_position_yields_what_followed_it(source, epochs_before,
                                                                batches_into):
    """Whole epochs then, as a backup in the middle of an epoch stands, some batches of
    the next one: a fresh adapter moved to that position yields the same batches after."""
    uninterrupted = first_samples(SOURCES[source](), epochs_before + 3)
    adapter = SOURCES[source]()
    first_samples(adapter, epochs_before)
    batches = adapter.epoch_batches()
    taken = [float(next(batches)[0][0, 0]) for _ in range(batches_into)]
    assert taken == uninterrupted[epochs_before][:batches_into]
    position = json.loads(json.dumps(adapter.position()))     # as a backup keeps it
    resumed = SOURCES[source]()
    resumed.move_to(position)
    assert first_samples(resumed, 3, batches_into) == \
        [uninterrupted[epochs_before][batches_into:]] + uninterrupted[epochs_before + 1:]


def test_positions_count_passes_and_the_batches_taken_from_the_last():
    adapter = SOURCES["arrays"]()
    assert adapter.position() == [0, None, 4]                # the shuffle's seed last
    first_samples(adapter, 2)
    assert adapter.position() == [2, None, 4]                # between passes
    stepping = SOURCES["arrays, 4 steps"]()
    first_samples(stepping, 2)
    assert stepping.position() == [2, 4, 4]                  # 8 batches: 4 + 4 of the 2nd
    assert SOURCES["Dataset"]().position() == [0, None, None]


def test_moving_to_a_position_takes_its_shuffle_seed():
    """A fit run again in the same process draws another seed for its shuffle: the
    backup's position brings back the first fit's."""
    moved = make_adapter(*arrays(), batch_size=3, shuffle=True, seed=5)
    moved.move_to([1, None, 4])
    expected = first_samples(SOURCES["arrays"](), 2)[1:]
    assert first_samples(moved, 1) == expected != first_samples(
        make_adapter(*arrays(), batch_size=3, shuffle=True, seed=5), 2)[1:]


def test_the_random_state_round_trips_through_json():
    fg.utils.set_random_seed(11)
    random_state.next_run_key()
    random_state.generator().normal()
    saved = json.loads(json.dumps(random_state.get_state()))
    expected = (random_state.next_run_key(), random_state.generator().normal())
    fg.utils.set_random_seed(99)
    random_state.set_state(saved)
    assert (random_state.next_run_key(), random_state.generator().normal()) == expected
    fg.utils.set_random_seed(random_state.DEFAULT_SEED)


def fit_on_a_dataset(callbacks=()):
    fg.utils.set_random_seed(5)
    x = np.random.default_rng(1).normal(size=(40, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    data = Dataset.from_tensor_slices((x, y)).shuffle(40).batch(8)
    inputs = fg.Input(shape=(3,))
    outputs = fg.layers.Dense(1)(fg.layers.Dropout(0.3)(fg.layers.Dense(6)(inputs)))
    model = fg.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse", backend="reference")
    model.fit(data, epochs=4, verbose=0, callbacks=list(callbacks))
    return model


def test_a_fit_on_a_shuffled_dataset_resumes_bitwise(tmp_path):
    """The Dataset's shuffle draws its seed when it is made and reorders every pass: the
    resumed fit replays the passes before it, so its orders are the uninterrupted ones."""
    reference = fit_on_a_dataset()
    folder = str(tmp_path / "backup")

    def interrupt(epoch, logs):
        if epoch == 2:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        fit_on_a_dataset([fg.callbacks.BackupAndRestore(folder, save_freq=3),
                          fg.callbacks.LambdaCallback(on_epoch_begin=interrupt)])
    model = fit_on_a_dataset([fg.callbacks.BackupAndRestore(folder, save_freq=3)])
    for a, b in zip(model.weights + model.optimizer.variables,
                    reference.weights + reference.optimizer.variables):
        assert np.array_equal(a.numpy(), b.numpy())
