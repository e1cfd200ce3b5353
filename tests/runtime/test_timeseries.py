"""fg.utils.timeseries_dataset_from_array: windows and targets against hand-written index
arithmetic (Keras's documented examples among them), shuffling that keeps the windows
and repeats with its seed, training on it, and Keras's argument checks."""
import numpy as np
import pytest

import fusegraph as fg

windows_of = fg.utils.timeseries_dataset_from_array


def test_keras_documented_example_targets_ten_steps_ahead():
    data = np.arange(100)
    batches = list(windows_of(data[:-10], data[10:], sequence_length=10))
    inputs, targets = batches[0]
    assert np.array_equal(inputs[0], data[:10]) and targets[0] == data[10]
    assert sum(len(b[0]) for b in batches) == 81 and len(batches[0][0]) == 81  # batch_size 128


def test_stride_sampling_rate_start_and_end_index_by_hand():
    data = np.arange(200).reshape(100, 2)
    targets = np.arange(100) * 10
    dataset = windows_of(data, targets, sequence_length=4, sequence_stride=3, sampling_rate=2,
                         batch_size=4, start_index=5, end_index=50)
    count = 50 - 5 - 3 * 2                       # 39 possible starts, every third: 13 windows
    starts = 5 + np.arange(0, count, 3)
    batches = list(dataset)
    assert len(dataset) == 4 and [len(b[0]) for b in batches] == [4, 4, 4, 1]
    inputs = np.concatenate([b[0] for b in batches])
    assert np.array_equal(inputs, data[starts[:, None] + np.arange(4) * 2])
    assert np.array_equal(np.concatenate([b[1] for b in batches]), targets[starts])
    assert inputs.max() < 100                    # row 49 at most, before end_index


def test_no_targets_and_no_batching_give_single_windows():
    data = np.arange(30, dtype="float32").reshape(10, 3)
    elements = list(windows_of(data, None, sequence_length=3, batch_size=None))
    assert len(elements) == 8 and elements[7].shape == (3, 3)
    assert np.array_equal(elements[7], data[7:10])


def test_shuffle_keeps_the_windows_reorders_them_every_pass_and_repeats_with_the_seed():
    data = np.arange(60)
    dataset = windows_of(data, None, sequence_length=5, batch_size=8, shuffle=True, seed=4)
    first, second = (np.concatenate(list(dataset)) for _ in range(2))
    plain = np.concatenate(list(windows_of(data, None, sequence_length=5, batch_size=8)))
    for shuffled in (first, second):
        assert sorted(map(tuple, shuffled)) == sorted(map(tuple, plain))
    assert not np.array_equal(first, plain) and not np.array_equal(first, second)
    again = windows_of(data, None, sequence_length=5, batch_size=8, shuffle=True, seed=4)
    assert np.array_equal(np.concatenate(list(again)), first)


def test_a_model_trains_on_the_windows():
    fg.utils.set_random_seed(0)
    series = np.sin(np.arange(300) / 8).astype("float32")[:, None]
    dataset = windows_of(series[:-6], series[6:, 0], sequence_length=6, batch_size=32)
    inputs = fg.Input((6, 1))
    model = fg.Model(inputs, fg.layers.Dense(1)(fg.layers.Flatten()(inputs)))
    model.compile(fg.optimizers.Adam(0.02), "mse")
    losses = model.fit(dataset, epochs=3, verbose=0).history["loss"]
    assert losses[-1] < losses[0] / 2


@pytest.mark.parametrize("kwargs, message", [
    ({"sampling_rate": 0}, r"`sampling_rate` must be an int >= 1 and lower than the length of "
                           r"the data \(20\), got 0"),
    ({"sequence_stride": 20}, r"`sequence_stride` must be an int >= 1 and lower than"),
    ({"sequence_length": 0}, r"`sequence_length` must be an int >= 1, got 0"),
    ({"batch_size": 2.5}, r"`batch_size` must be an int >= 1, got 2.5"),
    ({"start_index": -1}, r"`start_index` must be an int >= 0, got -1"),
    ({"start_index": 20}, r"`start_index` must be lower than the length of the data \(20\)"),
    ({"start_index": 8, "end_index": 8}, r"`end_index` must be higher than `start_index` \(8\) "
                                         r"and lower than the length of the data \(20\), got 8"),
    ({"end_index": 20}, r"`end_index` must be higher .* got 20"),
])
def test_bad_arguments_name_the_argument_and_the_value(kwargs, message):
    arguments = {"sequence_length": 3, **kwargs}
    with pytest.raises(ValueError, match=r"timeseries_dataset_from_array: " + message):
        windows_of(np.arange(20), np.arange(20), **arguments)


def test_targets_too_short_for_the_windows():
    with pytest.raises(ValueError, match=r"`targets` has 12 entries, but the window starting at "
                                         r"data\[13\] needs targets\[13\]"):
        windows_of(np.arange(20), np.arange(12), sequence_length=3, start_index=2)
