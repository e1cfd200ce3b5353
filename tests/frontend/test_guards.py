"""Host guards (frontend/guards.py): what a traced function requires of its array
arguments, checked with numpy before the graph runs."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.guards import ClassIndices, IndexRangeError


@pytest.mark.parametrize("labels, bad", [
    (np.array([0, 1, 2]), None),
    (np.array([[0], [2]]), None),
    (np.array([0.0, 2.9, -0.5]), None),          # the graph's cast truncates: classes 0, 2, 0
    (np.array([True, False]), None),
    (np.zeros((0,), "int64"), None),
    (np.array([0, 3, 1]), ((1,), 3)),
    (np.array([[0], [-1]]), ((1, 0), -1)),
    (np.array([0.0, 3.0]), ((1,), 3.0)),
    (np.array([-1.0, 0.0]), ((0,), -1.0)),
])
def test_class_indices_accept_exactly_what_truncates_into_range(labels, bad):
    guard = ClassIndices(3, "loss 'l'", "output 'o'")
    if bad is None:
        guard.check(labels, "y", "here")
        return
    with pytest.raises(IndexRangeError) as caught:
        guard.check(labels, "y", "here")
    error = caught.value
    assert (error.index, error.value) == bad
    assert str(error).startswith(f"here: y[{', '.join(map(str, bad[0]))}] is {bad[1]}, "
                                 f"not a class index of output 'o': loss 'l' takes labels in "
                                 f"[0, 3) for its 3 classes")


def test_nan_is_never_a_class_index():
    with pytest.raises(IndexRangeError, match=r"y\[1\] is nan"):
        ClassIndices(2, "loss 'l'", "the labels").check(np.array([1.0, np.nan]), "y", "here")


def test_a_requirement_on_a_computed_tensor_is_not_checked():
    """Labels the function computes (here label + 5) have no host boundary: the
    Function records no check for them, and only guards on arguments run."""
    @fg.function
    def shifted(labels, logits):
        return fg.losses.sparse_categorical_crossentropy(labels + 5, logits, from_logits=True)

    shifted(np.array([0, 1]), np.zeros((2, 3), "float32"))
    assert shifted.last_trace.checks == ()


def _token_model(input_dim=5):
    """Embedding(input_dim) on int ids of shape (2,), then Dense(1): a model to fit."""
    ids = fg.Input(shape=(2,), dtype="int32", name="title")
    vectors = fg.layers.Embedding(input_dim, 3, name="emb")(ids)
    model = fg.Model(ids, fg.layers.Dense(1, name="out")(fg.layers.Flatten()(vectors)))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _weights(model):
    return [np.array(w.numpy(), copy=True) for w in model.weights]


def _ids(bad_at=None, value=None, n=8):
    x = np.arange(n * 2).reshape(n, 2) % 5
    if bad_at is not None:
        x[bad_at] = value
    return x.astype("int32")


def test_fit_checks_all_token_ids_before_the_first_step():
    """A bad id in the LAST batch: fit raises before any batch trains, naming the
    position in the user's x, the value, the layer and input_dim."""
    model = _token_model()
    before = _weights(model)
    with pytest.raises(IndexRangeError) as caught:
        model.fit(_ids((7, 1), 5), np.zeros((8, 1), "float32"), batch_size=2, verbose=0)
    assert str(caught.value) == (
        "fit(): x[7, 1] is 5, not a token id of Embedding 'emb': its ids pick rows of a "
        "table of input_dim=5 rows, so they lie in [0, 5)")
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, _weights(model)))


def test_token_ids_of_a_dict_input_are_named_by_the_input():
    model = _token_model()
    with pytest.raises(IndexRangeError, match=r"^evaluate\(\): x\['title'\]\[3, 0\] is -1, "):
        model.evaluate({"title": _ids((3, 0), -1)}, np.zeros((8, 1), "float32"), verbose=0)


def test_a_generator_batch_is_checked_before_it_runs():
    """Batches a generator yields are checked one by one, before each runs: the error
    names the epoch and the batch, and the batch before it trained."""
    model = _token_model()
    y = np.zeros((2, 1), "float32")

    def batches():
        yield _ids(n=2), y
        yield _ids((1, 1), 5, n=2), y

    before = _weights(model)
    with pytest.raises(IndexRangeError, match=r"^fit\(\), epoch 1, batch 1: x\[1, 1\] is 5, "
                                              r"not a token id of Embedding 'emb'"):
        model.fit(batches(), epochs=1, verbose=0)
    assert any(a.tobytes() != b.tobytes() for a, b in zip(before, _weights(model)))


@pytest.mark.parametrize("value", [5, -1, 5.0, -1.0])
def test_predict_checks_token_ids(value):
    model = _token_model()
    x = _ids().astype("float32" if isinstance(value, float) else "int32")
    x[6, 0] = value
    with pytest.raises(IndexRangeError, match=rf"^predict\(\): x\[6, 0\] is {value}, "
                                              rf"not a token id .* \[0, 5\)"):
        model.predict(x, batch_size=2, verbose=0)


def test_the_last_row_of_the_table_is_a_token_id():
    model = _token_model()
    x = np.full((4, 2), 4, "int32")
    model.fit(x, np.zeros((4, 1), "float32"), verbose=0)
    assert model.predict(x, verbose=0).shape == (4, 1)


def test_a_function_checks_an_embedding_on_its_argument():
    table = fg.layers.Embedding(3, 2, name="lookup")

    @fg.function
    def look(ids):
        return table(ids)

    assert look(np.array([[0, 2]])).shape == (1, 2, 2)
    with pytest.raises(IndexRangeError, match=r"^function 'look': arg0\[0, 1\] is 3, not a "
                                              r"token id of Embedding 'lookup'"):
        look(np.array([[0, 3]]))


def test_a_computed_token_id_is_not_checked_and_still_runs():
    """Ids the function computes (ids - 3) have no host boundary: no check is
    recorded, and the function runs on arguments out of the table's range."""
    table = fg.layers.Embedding(3, 2)

    @fg.function
    def look(ids):
        return table(ids - 3)

    out = look(np.array([[4, 5]]))
    assert look.last_trace.checks == ()
    np.testing.assert_array_equal(out, table.embeddings.numpy()[[1, 2]][None])


def test_only_the_models_own_layers_check_a_shared_input():
    """Two models on one Input: the Embedding of one does not check the other's x."""
    ids = fg.Input(shape=(2,), dtype="int32")
    fg.Model(ids, fg.layers.Embedding(3, 2)(ids))
    plain = fg.Model(ids, fg.layers.Dense(1)(fg.layers.Flatten()(ids)))
    plain.compile(optimizer="sgd", loss="mse")
    plain.fit(np.full((4, 2), 9, "int32"), np.zeros((4, 1), "float32"), verbose=0)
    assert plain.predict(np.full((4, 2), 9, "int32"), verbose=0).shape == (4, 1)
