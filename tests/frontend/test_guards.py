"""Host guards (frontend/guards.py): what a traced function requires of its array
arguments, checked with numpy before the graph runs."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.guards import ClassIndices, LabelRangeError


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
    with pytest.raises(LabelRangeError) as caught:
        guard.check(labels, "y", "here")
    error = caught.value
    assert (error.index, error.value) == bad
    assert str(error).startswith(f"here: y[{', '.join(map(str, bad[0]))}] is {bad[1]}, "
                                 f"not a class index of output 'o': loss 'l' takes labels in "
                                 f"[0, 3) for its 3 classes")


def test_nan_is_never_a_class_index():
    with pytest.raises(LabelRangeError, match=r"y\[1\] is nan"):
        ClassIndices(2, "loss 'l'", "the labels").check(np.array([1.0, np.nan]), "y", "here")


def test_a_requirement_on_a_computed_tensor_is_not_checked():
    """Labels the function computes (here label + 5) have no host boundary: the
    Function records no check for them, and only guards on arguments run."""
    @fg.function
    def shifted(labels, logits):
        return fg.losses.sparse_categorical_crossentropy(labels + 5, logits, from_logits=True)

    shifted(np.array([0, 1]), np.zeros((2, 3), "float32"))
    assert shifted.last_trace.checks == ()
