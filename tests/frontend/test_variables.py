"""fg.Variable: Keras's constructor, the older positional form, and operators that go
through read_value inside a trace and the numpy value outside one."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.frontend.initializers import Orthogonal
from fusegraph.frontend.tensor import TraceError


def test_keras_constructor_from_a_value_and_from_an_initializer():
    v = fg.Variable(np.arange(3.0))
    assert v.dtype.keras_name == "float32" and v.trainable and v.path == v.name
    np.testing.assert_array_equal(v.numpy(), [0.0, 1.0, 2.0])
    w = fg.Variable("ones", (2, 2), "float64", False, "w")
    assert (w.shape, w.dtype.keras_name, w.trainable, w.name) == ((2, 2), "float64", False, "w")
    np.testing.assert_array_equal(w.numpy(), np.ones((2, 2)))
    z = fg.Variable(initializer=lambda shape, dtype: np.full(shape, 7.0), shape=(3,), name="z")
    np.testing.assert_array_equal(z.numpy(), [7.0, 7.0, 7.0])


def test_the_older_positional_form_still_gives_name_and_path():
    v = fg.Variable(np.zeros(2), "count", "probe_metric/count", trainable=False, dtype="int64")
    assert (v.name, v.path, v.trainable, v.dtype.keras_name) == (
        "count", "probe_metric/count", False, "int64")


@pytest.mark.parametrize("call, error, words", [
    (lambda: fg.Variable("zeros"), ValueError, ["initializer", "needs `shape`"]),
    (lambda: fg.Variable(np.ones(3), shape=(2,)), ValueError, ["`shape` is (2,)", "(3,)"]),
    (lambda: fg.Variable(np.ones(3), name="a/b"), ValueError, ["`name`", "'a/b'"]),
    (lambda: fg.Variable(np.array(["a"])), TypeError, ["numbers", "<U1"]),
    (lambda: fg.Variable("zeros", (-1, 2)), ValueError, ["`shape`", "(-1, 2)"]),
    (lambda: fg.Variable(np.ones(3), (3,), dtype="float64", shape=(3,)), TypeError,
     ["multiple values", "shape"]),
])
def test_bad_constructor_arguments(call, error, words):
    with pytest.raises(error) as caught:
        call()
    for word in words:
        assert word in str(caught.value)


def test_assigning_strings_is_refused_and_changes_nothing():
    v = fg.Variable(np.ones(3))
    with pytest.raises(TypeError, match="takes numbers, got an array of dtype <U1"):
        v.assign(np.array(["a", "b", "c"]))
    np.testing.assert_array_equal(v.numpy(), np.ones(3))


def test_operators_outside_a_trace_compute_on_the_value():
    v, u = fg.Variable(np.array([1.0, -2.0, 3.0])), fg.Variable(np.array([2.0, 2.0, 2.0]))
    a = np.array([1.0, -2.0, 3.0], "float32")
    cases = [(v + 1, a + 1), (1 + v, 1 + a), (v - u, a - 2), (2.0 - v, 2 - a), (v * u, a * 2),
             (np.float32(3) * v, 3 * a), (v / 2, a / 2), (6 / u, np.full(3, 3.0)),
             (v ** 2, a ** 2), (2 ** u, np.full(3, 4.0)), (-v, -a), (+v, a), (abs(v), abs(a)),
             (v > 0, a > 0), (v <= 1, a <= 1), (v == u, a == 2), (v != u, a != 2), (v[1:], a[1:]),
             (np.asarray(v), a)]
    for got, want in cases:
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="read-only"):
        v[1:][0] = 5.0            # a view of the value is never written through
    np.testing.assert_array_equal(v.numpy(), a)
    assert len({v, u}) == 2       # still hashable, by identity


def test_operators_inside_a_layer_call_are_traced():
    """The probe's layer: ``a + w * 2.0`` (was a TypeError), and the unary, reflected,
    comparison and indexing forms, all reading the weight as a graph parameter (a new
    value of the weight changes the result without a retrace)."""
    class Scale(fg.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, a):
            return (a + self.w * 2.0 - (-self.w) + 3.0 / self.w + self.w ** 2 + self.w[0]
                    + fg.ops.cast(self.w > 0.5, "float32") + abs(self.w) @ fg.ops.ones((3, 3)))

    layer = Scale()
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(layer(x), np.full((2, 3), 1 + 2 + 1 + 3 + 1 + 1 + 1 + 3))
    layer.w.assign(np.full(3, 2.0))
    np.testing.assert_allclose(layer(x), np.full((2, 3), 1 + 4 + 2 + 1.5 + 4 + 2 + 1 + 6))


def test_operators_inside_fg_function_read_the_latest_assigned_value():
    v = fg.Variable(np.zeros(2))

    @fg.function(symbolic_batch=False)
    def step(a):
        v.assign(v + a)
        return v * 10.0

    np.testing.assert_allclose(step(np.ones(2, "float32")), [10.0, 10.0])
    np.testing.assert_allclose(v.numpy(), [1.0, 1.0])


def test_iterating_a_variable_in_a_trace_is_refused_not_an_endless_loop():
    v = fg.Variable(np.arange(3.0))
    assert [float(x) for x in v] == [0.0, 1.0, 2.0]

    @fg.function(symbolic_batch=False)
    def total(a):
        return sum(v) + a

    with pytest.raises(TraceError, match="cannot iterate over a symbolic tensor"):
        total(np.ones(2, "float32"))


def test_values_are_c_contiguous_whatever_order_they_come_in():
    # kernels compile per array layout: an F-ordered weight (an orthogonal draw with
    # fewer rows than columns is a transpose) would compile a second kernel
    wide = Orthogonal(seed=1)((3, 5))
    assert wide.flags.f_contiguous and not wide.flags.c_contiguous
    v = fg.Variable(Orthogonal(seed=1), shape=(3, 5))
    np.testing.assert_array_equal(v.numpy(), wide)
    assert v.value.flags.c_contiguous
    v.assign(np.asfortranarray(np.arange(15, dtype="float32").reshape(3, 5)))
    assert v.value.flags.c_contiguous
    np.testing.assert_array_equal(v.value, np.arange(15).reshape(3, 5))
