"""Hashing, StringLookup and IntegerLookup: data layers (numpy in, numpy out, refused on
symbolic tensors). Expected vocabularies and ids are written by hand from Keras 3.15's
rules (index layout, adapt's order: count then token, both high to low; idf = log(1 +
docs / (1 + docs with the token))); hash bins are the values TensorFlow's
``to_hash_bucket_fast`` / ``_strong`` (what Keras calls) gives for these strings."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.data import Dataset
from fusegraph.frontend.layers.string_hashing import fingerprint64, hash_buckets, siphash64

L = fg.layers

STRINGS = ["", "a", "ab", "abc", "abcd", "hello", "hellowor", "hello wor", "0123456789abcdef",
           "0123456789abcdefg", "x" * 31, "y" * 32, "z" * 33, "q" * 63, "w" * 64, "e" * 65,
           "r" * 127, "t" * 128, "u" * 129, "The quick brown fox jumps over the lazy dog" * 5,
           "é€😀", "123", "-5"]
# tf.strings.to_hash_bucket_fast(STRINGS, 1000000007) and _strong(..., key=[1, 2])
FAST = [912170738, 384735799, 721800305, 775161712, 474124279, 359589692, 494541284,
        343933207, 17283694, 22729400, 768991963, 933503607, 726094078, 67401729, 610705115,
        646201227, 711009299, 732137182, 882386094, 450200470, 373401382, 822550316, 985805412]
STRONG = [436933189, 142192448, 718731812, 170813715, 671295651, 889399473, 751602240,
          941527955, 21715976, 652610955, 22030472, 401440574, 973314436, 213409141, 275576019,
          213370995, 721740491, 158627746, 61361440, 550096190, 785835349, 296105946, 88498519]


def test_hashes_equal_tensorflows_for_every_length_branch():
    strings = np.array(STRINGS)
    assert hash_buckets(strings, 1000000007).tolist() == FAST
    assert hash_buckets(strings, 1000000007, key=[1, 2]).tolist() == STRONG
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F          # farmhash's k2 for no bytes
    # SipHash-2-4's reference vector: key 00..0f, message 00..0e
    key = (int.from_bytes(bytes(range(8)), "little"), int.from_bytes(bytes(range(8, 16)), "little"))
    assert siphash64(key, bytes(range(15))) == 0xA129CA6149BE45E5


def test_hashing_bins_masks_and_encodings():
    names = np.array([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])
    out = L.Hashing(num_bins=3)(names)
    assert out.dtype == np.int64 and out.tolist() == [[2], [2], [0], [1], [0]]
    # integers hash as decimal strings; the mask value takes bin 0, the rest 1 + hash % 6
    assert L.Hashing(7, mask_value=0)(np.array([[0, 1, 2, 3, -4, 100]])).tolist() == \
        [[0, 4, 2, 4, 5, 4]]
    assert L.Hashing(11)(np.array([1.7, -2.2, 3.0])).tolist() == [8, 1, 4]   # truncated
    assert L.Hashing(11, salt=7)(["a", "b", "c"]).tolist() == [8, 8, 5]
    hot = L.Hashing(5, output_mode="multi_hot")(np.array([[1, 2, 3], [4, 4, 5]]))
    assert hot.dtype == np.float32 and hot.tolist() == [[0, 1, 0, 0, 1], [0, 1, 0, 1, 0]]
    assert L.Hashing(5, output_mode="count")(np.array([[1, 1, 3]])).tolist() == [[0, 1, 0, 0, 2]]
    assert L.Hashing(5, output_mode="one_hot")(np.array([1, 2, 3])).tolist() == \
        [[0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 1, 0, 0, 0]]


DATA = np.array([["b", "a", "c"], ["a", "d", "b"], ["a", "e", "z"]])


def test_string_lookup_adapt_orders_by_count_then_token_high_to_low():
    layer = L.StringLookup()
    layer.adapt(DATA)
    assert layer.get_vocabulary() == ["[UNK]", "a", "b", "z", "e", "d", "c"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["a", "b", "z", "e", "d", "c"]
    assert layer.vocabulary_size() == 7 and layer.lookup_tokens[0] == "a"
    out = layer(np.array([["a", "q", "z"]]))
    assert out.dtype == np.int64 and out.tolist() == [[1, 0, 3]]
    assert layer("b").tolist() == 2 and layer(["c", b"d"]).tolist() == [6, 5]


def test_string_lookup_mask_several_oov_indices_and_max_tokens():
    layer = L.StringLookup(max_tokens=4, mask_token="[M]", num_oov_indices=2)
    layer.adapt(DATA)
    assert layer.get_vocabulary() == ["[M]", "[UNK]", "[UNK]", "a"]
    # the mask is 0; unknown tokens take 1 + fingerprint % 2
    assert layer(np.array([["a", "[M]", "qq", "zz", "e"]])).tolist() == [[3, 0, 2, 1, 2]]
    oov3 = L.StringLookup(vocabulary=["a", "b"], num_oov_indices=3)
    assert oov3(["a", "x", "y", "zz", "hello"]).tolist() == [3, 2, 2, 1, 1]
    salted = L.StringLookup(vocabulary=["a", "b"], num_oov_indices=3, salt=5)
    assert salted(["a", "x", "y", "zz", "hello"]).tolist() == [3, 2, 2, 0, 1]
    strict = L.StringLookup(vocabulary=["a", "b"], num_oov_indices=0, mask_token="m")
    assert strict(["a", "m"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="num_oov_indices=0.*'c'"):
        strict(["a", "c"])


def test_string_lookup_encodings_and_invert():
    assert L.StringLookup(vocabulary=["a", "b"], output_mode="multi_hot")(
        np.array([["a", "x", "a"], ["b", "b", "b"]])).tolist() == [[1, 1, 0], [0, 0, 1]]
    counted = L.StringLookup(vocabulary=["a", "b"], output_mode="count", mask_token="[M]")
    assert counted.get_vocabulary() == ["[UNK]", "a", "b"]        # no mask index here
    out = counted(np.array([["a", "[M]", "a"], ["b", "x", "b"]]))
    assert out.dtype == np.int64 and out.tolist() == [[0, 2, 0], [1, 0, 2]]
    one_hot = L.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    assert one_hot(["a", "x", "b"]).tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    padded = L.StringLookup(vocabulary=["a", "b"], pad_to_max_tokens=True, max_tokens=6,
                            output_mode="multi_hot")
    assert padded([["a"]]).tolist() == [[0, 1, 0, 0, 0, 0]]
    inverse = L.StringLookup(vocabulary=["a", "b", "c"], invert=True, mask_token="[M]")
    assert inverse(np.array([[0, 1, 2, 3, 4, 7]])).tolist() == [
        ["[M]", "[UNK]", "a", "b", "c", "[UNK]"]]
    assert L.StringLookup(vocabulary=["[UNK]", "a", "b"]).get_vocabulary() == ["[UNK]", "a", "b"]


def test_string_lookup_tf_idf():
    layer = L.StringLookup(output_mode="tf_idf")
    layer.adapt(DATA)                       # 3 documents: a in 3, b in 2, the rest in 1
    idf = np.log(1 + 3 / (1 + np.array([3, 2, 1, 1, 1, 1])))
    np.testing.assert_allclose(layer.idf_weights, np.r_[idf.mean(), idf], rtol=1e-6)
    out = layer(np.array([["a", "a", "q"], ["b", "e", "e"]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[idf.mean(), 2 * idf[0], 0, 0, 0, 0, 0],
                                     [0, 0, idf[1], 0, 2 * idf[3], 0, 0]], rtol=1e-6)
    given = L.StringLookup(output_mode="tf_idf", vocabulary=["a", "b"], idf_weights=[.5, .25])
    np.testing.assert_allclose(given([["a", "a", "q"]]), [[.375, 1., 0.]])
    # a rank-1 batch of a dataset is one document (Keras's rule)
    batched = L.StringLookup(output_mode="tf_idf")
    batched.adapt(Dataset.from_tensor_slices(np.array(["a", "b", "a", "c"])).batch(2))
    np.testing.assert_allclose(batched.idf_weights[1:], np.log(1 + 2 / (1 + np.array(
        [2, 1, 1]))), rtol=1e-6)


def test_integer_lookup():
    layer = L.IntegerLookup()
    layer.adapt(np.array([12, 36, 1138, 42, 42, 1138, 1138, 7]))
    assert layer.get_vocabulary() == [-1, 1138, 42, 36, 12, 7]
    assert layer(np.array([[12, 1138, 42], [42, 1000, 36]])).tolist() == [[4, 1, 2], [2, 0, 3]]
    # floormod OOV indices after the mask: 5 % 3 = 2, 6 % 3 = 0, -1 % 3 = 2 (+ 1)
    masked = L.IntegerLookup(vocabulary=[12, 36], num_oov_indices=3, mask_token=0)
    assert masked(np.array([0, 12, 5, 6, 7, -1, 36])).tolist() == [0, 4, 3, 1, 2, 3, 5]
    assert masked.get_vocabulary() == [0, -1, -1, -1, 12, 36]
    hashed = L.IntegerLookup(vocabulary=[12, 36], num_oov_indices=3, oov_method="farmhash")
    assert hashed(np.array([12, 5, 6, 7, -1, 36])).tolist() == [3, 1, 2, 1, 0, 4]
    inverse = L.IntegerLookup(vocabulary=[12, 36], invert=True)
    assert inverse(np.array([0, 1, 2, 5])).tolist() == [-1, 12, 36, -1]
    assert L.IntegerLookup(vocabulary=[3, 2])(np.array([3.0, 2.5])).tolist() == [1, 2]


def test_adapt_leaves_special_tokens_out_and_refuses_a_given_vocabulary():
    layer = L.StringLookup(mask_token="[M]", oov_token="[O]")
    layer.adapt(np.array([["[M]", "[O]", "x", "x", "y"]]))
    assert layer.get_vocabulary(include_special_tokens=False) == ["x", "y"]
    with pytest.raises(ValueError, match="cannot adapt"):
        L.StringLookup(vocabulary=["a"]).adapt(["a"])


@pytest.mark.parametrize("make,message", [
    (lambda: L.StringLookup(vocabulary=["a", "a"]), "repeats"),
    (lambda: L.StringLookup(vocabulary=["a", "[M]"], mask_token="[M]"), "reserved"),
    (lambda: L.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3), "max_tokens"),
    (lambda: L.StringLookup(output_mode="tf_idf", vocabulary=["a"]), "idf_weights"),
    (lambda: L.StringLookup(invert=True, output_mode="count"), "invert"),
    (lambda: L.StringLookup(output_mode="binary_hot"), "output_mode"),
    (lambda: L.StringLookup(pad_to_max_tokens=True), "max_tokens"),
    (lambda: L.IntegerLookup(salt=3), "farmhash"),
    (lambda: L.IntegerLookup(num_oov_indices=-1), "num_oov_indices"),
    (lambda: L.Hashing(0), "num_bins"),
    (lambda: L.Hashing(3, salt="x"), "salt"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_data_layers_refuse_symbolic_tensors_and_wrong_types():
    with pytest.raises(TypeError, match="before the model's graph"):
        L.StringLookup(vocabulary=["a"])(fg.Input(shape=(2,)))
    with pytest.raises(TypeError, match="takes strings"):
        L.StringLookup(vocabulary=["a"])(np.array([1, 2]))
    with pytest.raises(RuntimeError, match="adapt"):
        L.StringLookup(output_mode="multi_hot")(["a"])


def test_a_lookup_feeds_a_trained_model_through_a_dataset():
    lookup = L.StringLookup(vocabulary=["red", "green", "blue"], output_mode="one_hot")
    colors = np.array(["red", "blue", "green", "red", "pink", "blue"] * 4)
    y = (colors == "red").astype("float32")[:, None]
    data = Dataset.from_tensor_slices((colors, y)).batch(8).map(lambda x, t: (lookup(x), t))
    inputs = fg.Input(shape=(4,))
    model = fg.Model(inputs, L.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer=fg.optimizers.Adam(0.1), loss="binary_crossentropy")
    history = model.fit(data, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
