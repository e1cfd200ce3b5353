"""fg.utils.split_dataset: the halves' samples counted by hand (fractions rounded as
Python rounds, counts, the complement, a gap when both are given), shuffles that cover
every sample once and repeat with the seed, arrays/tuples/dicts/Datasets (batched ones
re-batched), and Keras's size checks as errors naming the argument."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.data import Dataset

split = fg.utils.split_dataset
X = np.arange(20, dtype="float32").reshape(10, 2)
Y = np.arange(10)


def rows(dataset):
    return [np.asarray(element).tolist() for element in dataset]


@pytest.mark.parametrize("left, right, sizes", [
    (0.75, None, (8, 2)),          # round(7.5) = 8
    (None, 0.25, (8, 2)),          # round(2.5) = 2 (banker's rounding, as Keras's round)
    (3, None, (3, 7)),
    (None, 4, (6, 4)),
    (0.3, 0.5, (3, 5)),            # both given: the middle 2 samples are left out
    (2, 0.5, (2, 5)),
])
def test_sizes_as_fractions_counts_and_complements(left, right, sizes):
    first, second = split(X, left_size=left, right_size=right)
    assert (len(first), len(second)) == sizes
    assert rows(first) == X[:sizes[0]].tolist() and rows(second) == X[10 - sizes[1]:].tolist()


def test_tuples_lists_and_dicts_of_arrays():
    first, second = split((X, Y), left_size=6)
    assert [(x.tolist(), int(y)) for x, y in second] == [(X[i].tolist(), i) for i in range(6, 10)]
    first, _ = split([X, Y], left_size=6)
    assert all(isinstance(element, tuple) for element in first)    # Keras makes lists tuples
    first, second = split({"x": X, "y": Y}, right_size=0.2)
    assert [int(e["y"]) for e in second] == [8, 9] and len(first) == 8


def test_shuffle_covers_every_sample_once_and_repeats_with_the_seed():
    first, second = split(Y, left_size=0.6, shuffle=True, seed=3)
    taken = [int(v) for v in first] + [int(v) for v in second]
    assert sorted(taken) == list(range(10)) and taken != list(range(10))
    again = split(Y, left_size=0.6, shuffle=True, seed=3)
    assert [int(v) for v in again[0]] == [int(v) for v in first]


def test_datasets_split_by_sample_and_batched_ones_batched_again():
    first, second = split(Dataset.from_tensor_slices((X, Y)), left_size=7)
    assert len(first) == 7 and [int(y) for _, y in second] == [7, 8, 9]
    batched = Dataset.from_tensor_slices((X, Y)).batch(4)
    assert batched.batch_size == 4
    first, second = split(batched, left_size=0.5)
    assert [len(y) for _, y in first] == [4, 1] and [y.tolist() for _, y in second] == \
        [[5, 6, 7, 8], [9]]
    assert first.batch_size == second.batch_size == 4
    model_input = fg.Input((2,))
    model = fg.Model(model_input, fg.layers.Dense(1)(model_input))
    model.compile("sgd", "mse")
    assert len(model.fit(first, epochs=1, verbose=0).history["loss"]) == 1


@pytest.mark.parametrize("kwargs, error, message", [
    ({}, ValueError, r"at least one of `left_size` and `right_size` must be given"),
    ({"left_size": 0}, ValueError, r"`left_size` must be an int in \(0, 10\)"),
    ({"left_size": 10}, ValueError, r"`left_size` must be an int in \(0, 10\) .* got 10"),
    ({"right_size": 1.0}, ValueError, r"`right_size` must be a float in \(0, 1\) .* got 1.0"),
    ({"left_size": "half"}, TypeError, r"`left_size` must be an int, a float or None, got "
                                       r"'half' of type str"),
    ({"left_size": True}, TypeError, r"`left_size` must be an int, a float or None"),
    ({"left_size": 0.6, "right_size": 0.5}, ValueError, r"`left_size` \+ `right_size` must be "
                                                        r"at most 1, got 0.6 \+ 0.5"),
    ({"left_size": 6, "right_size": 5}, ValueError, r"`left_size` \(6\) and `right_size` \(5\) "
                                                    r"take 11 samples; the dataset has 10"),
    ({"left_size": 0.01}, ValueError, r"with 10 samples, left_size=0.01 and right_size=None "
                                      r"leave the left split empty"),
])
def test_bad_sizes_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=r"split_dataset: " + message):
        split(X, **kwargs)


def test_infinite_and_empty_datasets_are_refused():
    with pytest.raises(ValueError, match=r"split_dataset: the Dataset is infinite"):
        split(Dataset.from_tensor_slices(X).repeat(), left_size=0.5)
    with pytest.raises(ValueError, match=r"split_dataset: the Dataset is empty"):
        split(Dataset.from_tensor_slices(X).take(0), left_size=0.5)
