"""fg.utils.PyDataset: fit/evaluate/predict read its batches by index (the order a fit
with shuffle visits, epoch hooks counted by hand), train as the same arrays do, fetch
ahead in threads with workers > 1 (in order, never more than max_queue_size ahead, and
cancelled when a loop stops), and refuse what Keras refuses, naming it."""
import threading
import time
import warnings

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.runtime.py_dataset import pass_batches

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 3)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5]], "float32")).astype("float32")
W = RNG.uniform(0, 2, size=40).astype("float32")


class Batches(fg.utils.PyDataset):
    """Batches of 8 rows of X, Y (and W), recording what the loops asked for."""

    def __init__(self, weights=False, delay=0.0, length=5, **kwargs):
        super().__init__(**kwargs)
        self.weights, self.delay, self.length = weights, delay, length
        self.calls, self.threads, self.hooks = [], set(), []

    def __len__(self):
        return self.length

    def __getitem__(self, index):
        self.calls.append(index)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        rows = slice(8 * (index % 5), 8 * (index % 5) + 8)
        return (X[rows], Y[rows], W[rows]) if self.weights else (X[rows], Y[rows])

    def on_epoch_begin(self):
        self.hooks.append("begin")

    def on_epoch_end(self):
        self.hooks.append("end")


def model():
    fg.utils.set_random_seed(0)
    inputs = fg.Input((3,))
    net = fg.Model(inputs, fg.layers.Dense(1)(inputs))
    net.compile(fg.optimizers.SGD(0.05), "mse")
    return net


@pytest.mark.parametrize("workers", [1, 3])
def test_fit_trains_as_the_same_arrays_in_order(workers):
    data = Batches(weights=True, workers=workers, max_queue_size=2)
    by_dataset = model()
    history = by_dataset.fit(data, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert data.calls == list(range(5)) * 2 and data.hooks == ["begin", "end"] * 2
    by_arrays = model()
    expected = by_arrays.fit(X, Y, sample_weight=W, batch_size=8, epochs=2, shuffle=False,
                             verbose=0).history["loss"]
    np.testing.assert_allclose(history, expected, rtol=1e-6)
    for mine, theirs in zip(by_dataset.get_weights(), by_arrays.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    if workers > 1:
        assert {name.split("_")[0] for name in data.threads} == {"PyDataset"}


def test_fit_shuffles_the_batch_order_every_epoch_and_evaluate_predict_do_not():
    data = Batches()
    net = model()
    net.fit(data, epochs=3, verbose=0)            # shuffle=True is fit's default, as Keras's
    epochs = [data.calls[i:i + 5] for i in (0, 5, 10)]
    assert all(sorted(order) == list(range(5)) for order in epochs)
    assert len({tuple(order) for order in epochs}) > 1
    assert data.hooks == ["begin", "end"] * 3
    data.calls, data.hooks = [], []
    loss = net.evaluate(data, verbose=0)
    assert data.calls == list(range(5)) and data.hooks == ["begin", "end"]
    np.testing.assert_allclose(loss, net.evaluate(X, Y, batch_size=8, verbose=0), rtol=1e-6)
    data.calls = []
    np.testing.assert_allclose(net.predict(data, verbose=0), net.predict(X, verbose=0),
                               rtol=1e-6)
    assert data.calls == list(range(5))


def test_the_shuffled_orders_repeat_with_the_seed():
    orders = []
    for _ in range(2):
        data = Batches()
        model().fit(data, epochs=2, verbose=0, seed=7)
        orders.append(data.calls)
    assert orders[0] == orders[1]


def test_validation_data_and_steps_per_epoch():
    data, validation = Batches(), Batches()
    history = model().fit(data, validation_data=validation, epochs=2, steps_per_epoch=3,
                          shuffle=False, verbose=0)
    assert data.calls == [0, 1, 2, 3, 4, 0]
    assert validation.calls == [0] + list(range(5)) * 2      # batch 0 first checks the trace
    assert data.hooks == ["begin", "end"] * 2 and len(history.history["val_loss"]) == 2


def test_an_infinite_dataset_runs_with_steps_per_epoch():
    class Endless(Batches):
        num_batches = None

    data = Endless()
    with pytest.warns(UserWarning, match="shuffle=True` was passed, but will be ignored"):
        model().fit(data, epochs=2, steps_per_epoch=4, verbose=0)
    assert data.calls == list(range(8))
    with pytest.raises(ValueError, match=r"the PyDataset Endless is infinite \(num_batches is "
                                         r"None\): pass steps_per_epoch"):
        model().fit(Endless(), epochs=1, verbose=0)


def test_workers_fetch_ahead_at_most_max_queue_size_and_stop_with_the_loop():
    data = Batches(length=100, delay=0.002, workers=2, max_queue_size=3)
    batches = pass_batches(data)
    for _ in range(2):
        next(batches)
    batches.close()
    time.sleep(0.05)
    assert len(data.calls) <= 2 + 3


def test_bad_arguments_and_batches_are_named():
    with pytest.raises(ValueError, match=r"y must not be given when x is a PyDataset \(Batches\)"):
        model().fit(Batches(), Y, verbose=0)
    with pytest.raises(ValueError, match=r"batch_size must not be given when x is a PyDataset"):
        model().evaluate(Batches(), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"Batches: use_multiprocessing=True is not supported "
                                         r"by fusegraph .* pass workers=N"):
        Batches(use_multiprocessing=True)
    with pytest.raises(ValueError, match=r"Batches: `workers` must be an int >= 0, got -1"):
        Batches(workers=-1)
    with pytest.raises(ValueError, match=r"`max_queue_size` must be an int >= 1, got 0"):
        Batches(max_queue_size=0)
    with pytest.raises(ValueError, match=r"the PyDataset Batches has no batches"):
        model().fit(Batches(length=0), verbose=0)

    class FourParts(Batches):
        def __getitem__(self, index):
            return X[:8], Y[:8], W[:8], W[:8]

    with pytest.raises(ValueError, match=r"FourParts.__getitem__\(0\) returned a tuple of "
                                         r"length 4; expected \(inputs,\), \(inputs, targets\)"):
        model().fit(FourParts(), verbose=0, shuffle=False)


def test_a_subclass_that_skips_super_init_gets_the_defaults_and_keras_warning():
    class NoInit(fg.utils.PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 5

        def __getitem__(self, index):
            return X[8 * index:8 * index + 8], Y[8 * index:8 * index + 8]

    data = NoInit()
    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        assert data.workers == 1
    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__"):
        assert data.max_queue_size == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # once per setting
        assert data.workers == 1
    assert fg.utils.Sequence is fg.utils.PyDataset
    assert [np.asarray(x).shape for x, _ in data] == [(8, 3)] * 5     # iterates in order
