import numpy as np
import pytest

import fusegraph as fg
from fusegraph.data import INFINITE_CARDINALITY, Dataset
from fusegraph.runtime.data import make_adapter, train_validation_split, unpack_x_y_sample_weight


def _eq(a, b):
    """Structures of arrays equal leaf by leaf (and in structure)."""
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_eq(p, q) for p, q in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_eq(a[k], b[k]) for k in a)
    if a is None or b is None:
        return a is b
    return np.array_equal(np.asarray(a), np.asarray(b))


def _firsts(batches):
    return [np.asarray(b[0]).tolist() for b in batches]


# --- Dataset ------------------------------------------------------------------------------

def test_from_tensor_slices_array_rows():
    ds = Dataset.from_tensor_slices(np.arange(6).reshape(3, 2))
    assert [e.tolist() for e in ds] == [[0, 1], [2, 3], [4, 5]]
    assert len(ds) == 3 and ds.cardinality() == 3


def test_from_tensor_slices_nested_structures():
    x = {"a": np.arange(3), "b": (np.arange(3) * 10, [np.arange(3) + 0.5])}
    elements = list(Dataset.from_tensor_slices((x, np.arange(3) - 1)))
    assert len(elements) == 3
    assert _eq(elements[2], ({"a": 2, "b": (20, [2.5])}, 1))


def test_from_tensor_slices_lengths_differ():
    with pytest.raises(ValueError, match=r"tensors\[0\]: 3, tensors\[1\]: 4"):
        Dataset.from_tensor_slices((np.zeros(3), np.zeros(4)))


def test_batch_keeps_partial_last_batch_and_drops_on_request():
    ds = Dataset.from_tensor_slices((np.arange(7), np.arange(7) * 2))
    batches = list(ds.batch(3))
    assert _eq(batches, [(np.array([0, 1, 2]), np.array([0, 2, 4])),
                         (np.array([3, 4, 5]), np.array([6, 8, 10])),
                         (np.array([6]), np.array([12]))])
    assert len(ds.batch(3)) == 3
    dropped = ds.batch(3, drop_remainder=True)
    assert len(dropped) == 2 and _firsts(dropped) == [[0, 1, 2], [3, 4, 5]]


def test_batch_stacks_dict_elements():
    ds = Dataset.from_tensor_slices({"a": np.arange(4).reshape(4, 1), "b": np.arange(4)}).batch(2)
    assert _eq(list(ds), [{"a": np.array([[0], [1]]), "b": np.array([0, 1])},
                          {"a": np.array([[2], [3]]), "b": np.array([2, 3])}])


def test_batch_size_must_be_positive_int():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        Dataset.from_tensor_slices(np.arange(3)).batch(0)


def test_shuffle_full_buffer_is_the_seeded_permutation_and_reshuffles_each_iteration():
    ds = Dataset.from_tensor_slices(np.arange(10)).shuffle(10, seed=7)
    first, second = [int(e) for e in ds], [int(e) for e in ds]
    assert first == np.random.default_rng([7, 0]).permutation(10).tolist()
    assert second == np.random.default_rng([7, 1]).permutation(10).tolist()
    assert first != second and sorted(first) == sorted(second) == list(range(10))


def test_shuffle_is_reproducible_with_a_seed():
    def orders():
        ds = Dataset.from_tensor_slices(np.arange(20)).shuffle(5, seed=3).batch(4)
        return [[b.tolist() for b in ds] for _ in range(2)]

    assert orders() == orders()
    assert orders()[0] != orders()[1]
    assert sorted(sum(orders()[0], [])) == list(range(20))


def test_shuffle_without_reshuffle_repeats_the_first_order():
    ds = Dataset.from_tensor_slices(np.arange(8)).shuffle(8, seed=1, reshuffle_each_iteration=False)
    first = np.random.default_rng([1, 0]).permutation(8).tolist()
    assert first != list(range(8))                  # so an unshuffled order would fail below
    assert [int(e) for e in ds] == first
    assert [int(e) for e in ds] == first            # the second pass: the same order again


def test_shuffle_buffer_of_one_keeps_the_order():
    assert [int(e) for e in Dataset.from_tensor_slices(np.arange(5)).shuffle(1, seed=0)] == \
        [0, 1, 2, 3, 4]


def test_dataset_shuffle_without_seed_follows_the_global_seed():
    def order(seed):
        fg.utils.set_random_seed(seed)
        return [int(e) for e in Dataset.from_tensor_slices(np.arange(10)).shuffle(10)]

    assert order(11) == order(11)
    assert order(11) != order(12)                   # the seed decides the order
    assert order(11) != list(range(10)) and sorted(order(11)) == list(range(10))


def test_map_unpacks_tuples_and_applies_per_batch_after_batch():
    ds = Dataset.from_tensor_slices((np.arange(4), np.arange(4) * 10))
    mapped = ds.map(lambda x, y: (x + 1, y * 2))
    assert [(int(a), int(b)) for a, b in mapped] == [(1, 0), (2, 20), (3, 40), (4, 60)]
    sizes = ds.batch(3).map(lambda x, y: x.shape[0])
    assert list(sizes) == [3, 1]
    assert len(sizes) == 2


def test_map_passes_a_dict_element_whole():
    ds = Dataset.from_tensor_slices({"a": np.arange(3)}).map(lambda d: d["a"] * 2)
    assert [int(e) for e in ds] == [0, 2, 4]


def test_take_repeat_and_prefetch():
    ds = Dataset.from_tensor_slices(np.arange(3))
    assert [int(e) for e in ds.take(2)] == [0, 1] and len(ds.take(2)) == 2
    assert len(ds.take(10)) == 3 and len(ds.take(-1)) == 3
    assert [int(e) for e in ds.repeat(2)] == [0, 1, 2, 0, 1, 2] and len(ds.repeat(2)) == 6
    forever = ds.repeat()
    assert forever.cardinality() == INFINITE_CARDINALITY
    with pytest.raises(TypeError, match="infinite"):
        len(forever)
    assert [int(e) for e in forever.take(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert len(forever.take(7)) == 7
    assert ds.prefetch(2) is ds


def test_repeat_reshuffles_each_pass():
    ds = Dataset.from_tensor_slices(np.arange(6)).shuffle(6, seed=2).repeat(2)
    order = [int(e) for e in ds]
    assert order[:6] == np.random.default_rng([2, 0]).permutation(6).tolist()
    assert order[6:] == np.random.default_rng([2, 1]).permutation(6).tolist()


def test_repeat_forever_of_an_empty_dataset_ends():
    empty = Dataset.from_tensor_slices(np.arange(3)).take(0)
    assert list(empty.repeat()) == [] and empty.repeat().cardinality() == 0


# --- unpack_x_y_sample_weight -------------------------------------------------------------

def test_unpack_x_y_sample_weight():
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    assert unpack_x_y_sample_weight(x) == (x, None, None)
    assert unpack_x_y_sample_weight((x,)) == (x, None, None)
    assert unpack_x_y_sample_weight((x, y)) == (x, y, None)
    assert unpack_x_y_sample_weight([x, y, w]) == (x, y, w)
    d = {"a": x}
    assert unpack_x_y_sample_weight(d) == (d, None, None)
    with pytest.raises(ValueError, match="length 4"):
        unpack_x_y_sample_weight((x, y, w, w))


# --- array adapter ------------------------------------------------------------------------

def test_arrays_in_order_with_partial_last_batch():
    x, y = np.arange(10), np.arange(10) * 2
    adapter = make_adapter(x, y, batch_size=4)
    batches = list(adapter.epoch_batches())
    assert _eq(batches, [(np.array([0, 1, 2, 3]), np.array([0, 2, 4, 6]), None),
                         (np.array([4, 5, 6, 7]), np.array([8, 10, 12, 14]), None),
                         (np.array([8, 9]), np.array([16, 18]), None)])
    assert adapter.num_batches == 3 and adapter.num_samples == 10
    assert _eq(list(adapter.epoch_batches()), batches)


def test_default_batch_size_is_32():
    adapter = make_adapter(np.zeros((70, 3)))
    assert [b[0].shape for b in adapter.epoch_batches()] == [(32, 3), (32, 3), (6, 3)]
    assert adapter.num_batches == 3


def test_shuffle_reorders_every_epoch_reproducibly_and_keeps_pairs():
    x, y = np.arange(10), np.arange(10) * 10
    adapter = make_adapter(x, y, batch_size=4, shuffle=True, seed=5)
    epochs = [list(adapter.epoch_batches()) for _ in range(2)]
    for k, batches in enumerate(epochs):
        order = np.concatenate([b[0] for b in batches]).tolist()
        assert order == np.random.default_rng([5, k]).permutation(10).tolist()
        assert [len(b[0]) for b in batches] == [4, 4, 2]
        for bx, by, _ in batches:
            assert by.tolist() == (bx * 10).tolist()
    assert _firsts(epochs[0]) != _firsts(epochs[1])
    again = make_adapter(x, y, batch_size=4, shuffle=True, seed=5)
    assert _eq([list(again.epoch_batches()) for _ in range(2)], epochs)


def test_adapter_shuffle_without_seed_follows_the_global_seed():
    def first_epoch():
        fg.utils.set_random_seed(4)
        return _firsts(make_adapter(np.arange(12), batch_size=5, shuffle=True).epoch_batches())

    assert first_epoch() == first_epoch()
    assert first_epoch() != [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]


def test_structures_dicts_lists_and_sample_weight():
    x = {"ids": np.arange(5), "mask": np.arange(5) * 2}
    y = [np.arange(5) + 100, np.arange(5) + 200]
    w = np.linspace(0, 1, 5)
    batches = list(make_adapter(x, y, w, batch_size=3).epoch_batches())
    assert _eq(batches[1], ({"ids": np.array([3, 4]), "mask": np.array([6, 8])},
                            [np.array([103, 104]), np.array([203, 204])],
                            np.array([0.75, 1.0])))


def test_lengths_differ_names_both():
    with pytest.raises(ValueError, match=r"same number of samples, got x: 10, y: 9"):
        make_adapter(np.zeros(10), np.zeros(9))


def test_lengths_differ_in_a_dict_names_the_keys():
    with pytest.raises(ValueError, match=r"x\['a'\]: 10, x\['b'\]: 8, y: 10"):
        make_adapter({"a": np.zeros(10), "b": np.zeros(8)}, np.zeros(10))


def test_a_list_of_numbers_is_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"x\[0\] is a single value .*np.array"):
        make_adapter([1.0, 2.0, 3.0])


def test_bad_batch_size_and_empty_data():
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        make_adapter(np.zeros(4), batch_size=2.5)
    with pytest.raises(ValueError, match="no samples"):
        make_adapter(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="x is required"):
        make_adapter(None, np.zeros(3))


def test_steps_per_epoch_carries_on_and_starts_a_new_pass():
    adapter = make_adapter(np.arange(5), batch_size=2, steps_per_epoch=2)
    assert adapter.num_batches == 2
    epochs = [_firsts(adapter.epoch_batches()) for _ in range(3)]
    assert epochs == [[[0, 1], [2, 3]], [[4], [0, 1]], [[2, 3], [4]]]


# --- Dataset adapter ----------------------------------------------------------------------

def test_dataset_of_x_y_pairs():
    ds = Dataset.from_tensor_slices((np.arange(5), np.arange(5) * 3)).batch(2)
    adapter = make_adapter(ds)
    assert adapter.num_batches == 3 and adapter.num_samples is None
    assert _eq(list(adapter.epoch_batches()),
               [(np.array([0, 1]), np.array([0, 3]), None),
                (np.array([2, 3]), np.array([6, 9]), None),
                (np.array([4]), np.array([12]), None)])


def test_dataset_of_x_only_and_of_triples():
    only_x = make_adapter(Dataset.from_tensor_slices(np.arange(3)).batch(3))
    assert _eq(list(only_x.epoch_batches()), [(np.array([0, 1, 2]), None, None)])
    triples = Dataset.from_tensor_slices((np.arange(2), np.arange(2), np.ones(2))).batch(2)
    assert _eq(list(make_adapter(triples).epoch_batches()),
               [(np.array([0, 1]), np.array([0, 1]), np.ones(2))])


def test_dataset_reshuffles_between_epochs():
    ds = Dataset.from_tensor_slices(np.arange(8)).shuffle(8, seed=9).batch(8)
    adapter = make_adapter(ds)
    first, second = (list(adapter.epoch_batches())[0][0].tolist() for _ in range(2))
    assert first == np.random.default_rng([9, 0]).permutation(8).tolist()
    assert second == np.random.default_rng([9, 1]).permutation(8).tolist()


def test_dataset_with_y_or_batch_size_is_refused():
    ds = Dataset.from_tensor_slices((np.arange(4), np.arange(4))).batch(2)
    with pytest.raises(ValueError, match="y and sample_weight must come from the Dataset"):
        make_adapter(ds, np.arange(4))
    with pytest.raises(ValueError, match=r"batch_size must not be given when x is a Dataset"):
        make_adapter(ds, batch_size=2)


def test_infinite_dataset_needs_steps_per_epoch_and_then_carries_on():
    ds = Dataset.from_tensor_slices(np.arange(3)).batch(1).repeat()
    with pytest.raises(ValueError, match="infinite.*steps_per_epoch"):
        make_adapter(ds)
    adapter = make_adapter(ds, steps_per_epoch=2)
    assert adapter.num_batches == 2
    assert [_firsts(adapter.epoch_batches()) for _ in range(2)] == [[[0], [1]], [[2], [0]]]


# --- generators ---------------------------------------------------------------------------

def _batches(n):
    for i in range(n):
        yield np.full(2, i), np.full(2, -i)


def _gen_three():
    yield from _batches(3)


def test_generator_function_is_called_each_epoch_and_learns_its_length():
    adapter = make_adapter(_gen_three)
    assert adapter.num_batches is None
    assert _firsts(adapter.epoch_batches()) == [[0, 0], [1, 1], [2, 2]]
    assert adapter.num_batches == 3
    assert _firsts(adapter.epoch_batches()) == [[0, 0], [1, 1], [2, 2]]


def test_generator_object_is_consumed_by_the_first_epoch():
    adapter = make_adapter(_batches(2))
    first = list(adapter.epoch_batches())
    assert _eq(first, [(np.full(2, 0), np.full(2, 0), None), (np.full(2, 1), np.full(2, -1), None)])
    with pytest.raises(ValueError, match="used up.*steps_per_epoch.*loops forever"):
        list(adapter.epoch_batches())


def test_looping_generator_with_steps_per_epoch_carries_on():
    def forever():
        i = 0
        while True:
            yield np.array([i]), np.array([i])
            i += 1

    adapter = make_adapter(forever(), steps_per_epoch=2)
    assert [_firsts(adapter.epoch_batches()) for _ in range(3)] == [[[0], [1]], [[2], [3]],
                                                                    [[4], [5]]]


def test_generator_running_out_warns_and_stops():
    adapter = make_adapter(_batches(3), steps_per_epoch=2)
    assert len(list(adapter.epoch_batches())) == 2 and not adapter.ran_out_of_data
    with pytest.warns(UserWarning, match="ran out of data"):
        assert _firsts(adapter.epoch_batches()) == [[2, 2]]
    assert adapter.ran_out_of_data
    assert list(adapter.epoch_batches()) == []


def test_an_iterable_is_iterated_again_each_epoch():
    class Batches:
        def __iter__(self):
            return iter([(np.array([1]), np.array([2])), (np.array([3]), np.array([4]))])

    adapter = make_adapter(Batches())
    assert [_firsts(adapter.epoch_batches()) for _ in range(2)] == [[[1], [3]]] * 2


def test_generator_with_y_or_batch_size_is_refused():
    with pytest.raises(ValueError, match="must come from the generator"):
        make_adapter(_batches(2), np.zeros(2))
    with pytest.raises(ValueError, match="batch_size must not be given when x is a generator"):
        make_adapter(_batches(2), batch_size=4)


def test_generator_batches_become_numpy():
    adapter = make_adapter(iter([([1.0, 2.0], [3.0, 4.0])]))
    (x, y, w), = adapter.epoch_batches()
    assert isinstance(x, list) and isinstance(x[0], np.ndarray) and w is None


# --- train_validation_split ---------------------------------------------------------------

def test_validation_split_takes_the_last_samples():
    x, y, w = np.arange(10), np.arange(10) * 2, np.arange(10) / 10
    (xt, yt, wt), (xv, yv, wv) = train_validation_split(x, y, w, 0.25)  # floor(7.5) train
    assert xt.tolist() == list(range(7)) and xv.tolist() == [7, 8, 9]
    assert yv.tolist() == [14, 16, 18] and wt.tolist() == (np.arange(7) / 10).tolist()
    assert wv.tolist() == [0.7, 0.8, 0.9]


def test_validation_split_of_structures_with_no_y():
    x = {"a": np.arange(5), "b": [np.arange(5) * 2]}
    (xt, yt, wt), (xv, yv, wv) = train_validation_split(x, None, None, 0.4)
    assert _eq(xt, {"a": np.arange(3), "b": [np.array([0, 2, 4])]})
    assert _eq(xv, {"a": np.array([3, 4]), "b": [np.array([6, 8])]})
    assert yt is yv is wt is wv is None


@pytest.mark.parametrize("split", [0, 1, 1.5, -0.1, "0.2"])
def test_validation_split_outside_the_unit_interval(split):
    with pytest.raises(ValueError, match=r"validation_split must be a float in \(0, 1\)"):
        train_validation_split(np.zeros(10), np.zeros(10), None, split)


def test_validation_split_refuses_datasets_and_too_few_samples():
    ds = Dataset.from_tensor_slices(np.arange(4)).batch(2)
    with pytest.raises(ValueError, match="only supported for array data.*Dataset"):
        train_validation_split(ds, None, None, 0.5)
    with pytest.raises(ValueError, match="contains 3 samples, which is not sufficient"):
        train_validation_split(np.zeros(3), np.zeros(3), None, 0.7)
