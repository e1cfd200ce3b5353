"""runtime/array_utils.py: to_categorical and pad_sequences against hand-written
expectations of Keras 3's behaviour."""
import numpy as np
import pytest

import fusegraph as fg


def test_to_categorical():
    got = fg.utils.to_categorical([1, 0, 3])
    np.testing.assert_array_equal(got, [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    assert got.dtype == np.float64
    assert fg.utils.to_categorical(np.array([[2], [1]]), 4).shape == (2, 4)   # (n, 1): squeezed
    assert fg.utils.to_categorical(np.zeros((2, 3), int), 5).shape == (2, 3, 5)
    with pytest.raises(ValueError, match=r"class id 5 is outside \[0, 3\)"):
        fg.utils.to_categorical([0, 5], 3)
    with pytest.raises(ValueError, match="integer class ids"):
        fg.utils.to_categorical([0.5])


def test_pad_sequences():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(fg.utils.pad_sequences(seqs),
                                  [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(
        fg.utils.pad_sequences(seqs, maxlen=3, padding="post", truncating="post", value=-1),
        [[1, 2, 3], [4, -1, -1], [5, 6, 7]])
    np.testing.assert_array_equal(fg.utils.pad_sequences(seqs, maxlen=2), [[2, 3], [0, 4], [8, 9]])
    vectors = fg.utils.pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32")
    assert vectors.shape == (2, 2, 3) and vectors.dtype == np.float32 and vectors[1, 0].sum() == 0
    assert fg.utils.pad_sequences([[], [1]]).tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post', got 'middle'"):
        fg.utils.pad_sequences(seqs, padding="middle")
