"""TextVectorization: vocabularies and ids written by hand from Keras 3.15's rules (ASCII
lowering and punctuation stripping, splitting on ASCII whitespace only, n-grams width by
width, index 0 padding and 1 OOV, adapt's order: count then token, high to low)."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.data import Dataset

L = fg.layers

DOCS = np.array(["The Cat sat.", "the dog, the CAT!", "A ÄB\u00a0c\tD\ne"])
# counts: the 3, cat 2; then one each, high to low by UTF-8 bytes ("Äb\xa0c" first: the
# no-break space does not split, and "Ä" is not ASCII so it stays upper case)
VOCABULARY = ["", "[UNK]", "the", "cat", "Äb\xa0c", "sat", "e", "dog", "d", "a"]


def test_adapt_and_int_output_padded_to_the_longest():
    layer = L.TextVectorization()
    layer.adapt(DOCS)
    assert layer.get_vocabulary() == VOCABULARY
    assert layer.vocabulary_size() == 10
    assert layer.lookup_layer.lookup_tokens == VOCABULARY[2:]
    out = layer(DOCS)
    assert out.dtype == np.int64 and out.tolist() == [[2, 3, 5, 0], [2, 7, 2, 3], [9, 4, 8, 6]]
    assert layer(np.array([["the Bird"], ["cat"]])).tolist() == [[2, 1], [3, 0]]
    assert layer("sat the").tolist() == [5, 2]
    assert layer(np.array(["", "  "])).shape == (2, 0)


def test_output_sequence_length_and_max_tokens():
    layer = L.TextVectorization(output_sequence_length=3, max_tokens=5)
    layer.adapt(DOCS)
    assert layer.get_vocabulary() == VOCABULARY[:5]
    assert layer(np.array(["the cat x y z w", "dog"])).tolist() == [[2, 3, 1], [1, 0, 0]]


def test_ngrams_come_width_by_width():
    layer = L.TextVectorization(ngrams=2)
    layer.adapt(np.array(["the cat sat", "the cat"]))
    # the 2, cat 2, "the cat" 2; then sat, "cat sat"
    assert layer.get_vocabulary() == ["", "[UNK]", "the cat", "the", "cat", "sat", "cat sat"]
    assert layer(np.array(["the cat sat"])).tolist() == [[3, 4, 5, 2, 6]]
    widths = L.TextVectorization(ngrams=(2, 3), vocabulary=["a b", "a b c"])
    assert widths(np.array(["a b c"])).tolist() == [[2, 1, 3]]


def test_multi_hot_count_one_hot_and_tf_idf():
    layer = L.TextVectorization(output_mode="multi_hot")
    layer.adapt(DOCS)
    assert layer.get_vocabulary()[:3] == ["[UNK]", "the", "cat"]       # no padding index
    out = layer(np.array([["the cat the"], ["zz"]]))
    assert out.dtype == np.int64 and out.tolist() == [[0, 1, 1] + [0] * 6, [1] + [0] * 8]
    counted = L.TextVectorization(output_mode="count", vocabulary=["a", "b"])
    assert counted(np.array(["a b a", "c"])).tolist() == [[0, 2, 1], [1, 0, 0]]
    one_hot = L.TextVectorization(output_mode="one_hot", vocabulary=["a", "b"])
    assert one_hot(np.array(["a b", "b"])).tolist() == [[[0, 1, 0], [0, 0, 1]],
                                                        [[0, 0, 1], [0, 0, 0]]]
    tf_idf = L.TextVectorization(output_mode="tf_idf")
    tf_idf.adapt(DOCS)                          # 3 documents: the in 2, dog in 1
    idf_the, idf_dog = np.log(1 + 3 / 3), np.log(1 + 3 / 2)
    out = tf_idf(np.array(["the cat the", "zz dog"]))
    np.testing.assert_allclose(out[0, 1], 2 * idf_the, rtol=1e-6)
    np.testing.assert_allclose(out[1, 6], idf_dog, rtol=1e-6)
    np.testing.assert_allclose(out[1, 0], np.mean(tf_idf.lookup_layer.idf_weights[1:]),
                               rtol=1e-6)


def test_standardize_and_split_options():
    given = L.TextVectorization(vocabulary=["cat", "dog"])
    assert given(np.array(["Dog, cat; bird"])).tolist() == [[3, 2, 1]]
    whole = L.TextVectorization(split=None, vocabulary=["cat", "dog"])
    assert whole(np.array(["Dog", "bird"])).tolist() == [3, 1]
    chars = L.TextVectorization(split="character", vocabulary=["a", "b"])
    assert chars(np.array(["ab a", "b"])).tolist() == [[2, 3, 1, 2], [3, 0, 0, 0]]
    raw = L.TextVectorization(standardize=None, vocabulary=["Cat", "cat."])
    assert raw(np.array(["Cat cat. cat"])).tolist() == [[2, 3, 1]]
    custom = L.TextVectorization(standardize=lambda texts: np.char.upper(texts),
                                 vocabulary=["CAT"])
    assert custom(np.array(["cat"])).tolist() == [[2]]


def test_adapt_from_a_dataset_then_vectorize_in_the_pipeline():
    texts = np.array(["good movie", "bad movie", "good good fun", "bad plot"] * 4)
    y = np.array([1, 0, 1, 0] * 4, dtype="float32")[:, None]
    layer = L.TextVectorization(output_mode="multi_hot")
    layer.adapt(Dataset.from_tensor_slices((texts, y)).batch(4))
    # good 12 times; movie and bad 8 times each (ties high to low)
    assert layer.get_vocabulary()[:4] == ["[UNK]", "good", "movie", "bad"]
    data = Dataset.from_tensor_slices((texts, y)).batch(8).map(lambda x, t: (layer(x), t))
    inputs = fg.Input(shape=(layer.vocabulary_size(),))
    model = fg.Model(inputs, L.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer=fg.optimizers.Adam(0.1), loss="binary_crossentropy")
    history = model.fit(data, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("make,message", [
    (lambda: L.TextVectorization(standardize="upper"), "standardize"),
    (lambda: L.TextVectorization(split="comma"), "split"),
    (lambda: L.TextVectorization(ngrams=0), "ngrams"),
    (lambda: L.TextVectorization(output_mode="count", output_sequence_length=3),
     "output_sequence_length"),
    (lambda: L.TextVectorization(ragged=True), "ragged"),
    (lambda: L.TextVectorization(sparse=True, output_mode="count"), "sparse"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs_are_named():
    layer = L.TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match=r"\(batch, 1\)"):
        layer(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="before the model's graph"):
        layer(fg.Input(shape=(1,)))
