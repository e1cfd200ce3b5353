"""Bad input while tracing and calling models: each mistake gets an error that says what
was wrong, where (the layer or op, the user's file:line, the input name), what was
expected and what was given. The line asserted is the exact line of the offending call
in this file."""
import inspect

import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.errors import ShapeError

HERE = "test_tracing_errors.py"


def next_line() -> str:
    """``test_tracing_errors.py:N`` for the line after the caller's."""
    return f"{HERE}:{inspect.currentframe().f_back.f_lineno + 1}"


# --- shape mismatches on symbolic tensors ---------------------------------------------
def test_dense_built_for_3_features_called_on_5():
    dense = fg.layers.Dense(4, name="proj")
    dense(fg.Input(shape=(3,)))
    wide = fg.Input(shape=(5,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        dense(wide)
    msg = str(err.value)
    assert site in msg
    assert "layer 'proj'" in msg and "Dense" in msg
    assert "size 3" in msg  # expected
    assert "(None, 5)" in msg  # given


def test_add_of_shapes_that_do_not_broadcast():
    x, y = fg.Input(shape=(3,)), fg.Input(shape=(4,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        x + y
    msg = str(err.value)
    assert site in msg
    assert "add" in msg and "broadcast" in msg
    assert "f32[B,3]" in msg and "f32[B,4]" in msg


def test_op_error_inside_a_layer_names_the_layer_and_the_line_in_call():
    class Halves(fg.layers.Layer):
        def call(self, x):
            self.site = next_line()
            return x * x[:, :2]

    layer = Halves(name="halves")
    with pytest.raises(ShapeError) as err:
        layer(fg.Input(shape=(3,)))
    msg = str(err.value)
    assert layer.site in msg
    assert "layer 'halves'" in msg and "mul" in msg
    assert "f32[B,3]" in msg and "f32[B,2]" in msg


def test_matmul_inner_dim_mismatch():
    x = fg.Input(shape=(3,))
    w = np.ones((4, 2), np.float32)
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.matmul(x, w)
    msg = str(err.value)
    assert site in msg
    assert "matmul" in msg
    assert "f32[B,3]" in msg and "f32[4,2]" in msg and "3 vs 4" in msg


def test_matmul_operator_inner_dim_mismatch_in_batched_form():
    x, y = fg.Input(shape=(2, 3)), fg.Input(shape=(5, 4))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        x @ y
    msg = str(err.value)
    assert site in msg and "matmul" in msg and "f32[B,2,3]" in msg and "f32[B,5,4]" in msg


def test_reshape_minus_one_to_an_incompatible_size():
    x = fg.Input(shape=(2, 3))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.reshape(x, (-1, 4))
    msg = str(err.value)
    assert site in msg
    assert "reshape" in msg and "f32[B,2,3]" in msg and "(-1, 4)" in msg
    assert "multiply to 6" in msg and "got 4" in msg


def test_reshape_fixed_shape_to_an_incompatible_size():
    x = fg.Input(batch_shape=(2, 3))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.reshape(x, (4,))
    msg = str(err.value)
    assert site in msg and "reshape" in msg and "f32[2,3]" in msg and "(4,)" in msg


def test_reshape_layer_to_an_incompatible_size():
    x = fg.Input(shape=(6,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.layers.Reshape((4,), name="to4")(x)
    msg = str(err.value)
    assert site in msg and "'to4'" in msg and "(4,)" in msg and "(None, 6)" in msg


# --- Python control flow on symbolic tensors ---------------------------------------------
def test_if_on_a_symbolic_tensor():
    x = fg.Input(shape=(3,), name="feat")
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        if fg.ops.sum(x) > 0:
            pass
    msg = str(err.value)
    assert site in msg and "bool" in msg and "fg.ops.where" in msg


def test_bool_of_a_symbolic_tensor():
    x = fg.Input(shape=(3,), name="feat")
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        bool(x)
    msg = str(err.value)
    assert site in msg and "'feat'" in msg and "f32[B,3]" in msg and "fg.ops.where" in msg


def test_and_or_on_symbolic_tensors():
    x = fg.Input(shape=(3,))
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        (x > 0) and (x < 1)
    assert site in str(err.value) and "fg.ops.where" in str(err.value)


def test_while_on_a_symbolic_tensor():
    x = fg.Input(shape=(3,))
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        while fg.ops.max(x) > 1.0:
            x = x / 2.0
    assert site in str(err.value) and "fg.ops.where" in str(err.value)


def test_for_loop_over_a_symbolic_tensor():
    x = fg.Input(shape=(3,), name="feat")
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        for row in x:
            pass
    msg = str(err.value)
    assert site in msg and "iterate" in msg and "'feat'" in msg
    assert "x.shape[1]" in msg  # what to write instead


def test_len_of_a_symbolic_tensor():
    x = fg.Input(shape=(3,))
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        len(x)
    assert site in str(err.value) and "x.shape[0]" in str(err.value)


@pytest.mark.parametrize("convert", [int, float, range], ids=["int", "float", "range"])
def test_symbolic_tensor_as_a_python_number(convert):
    x = fg.ops.sum(fg.Input(shape=(3,)))
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        convert(x)
    msg = str(err.value)
    assert site in msg and "Python number" in msg
    assert "x.shape" in msg and "fg.ops.where" in msg


def test_symbolic_tensor_as_a_list_index():
    x = fg.ops.argmax(fg.Input(shape=(3,)), axis=-1)
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        [1, 2, 3][x]
    assert site in str(err.value)


def test_symbolic_tensor_passed_to_numpy():
    x = fg.Input(shape=(3,), name="feat")
    with pytest.raises(fg.TraceError) as err:
        site = next_line()
        np.mean(x)
    msg = str(err.value)
    assert site in msg and "numpy" in msg and "fg.ops" in msg and "'feat'" in msg


def test_trace_error_inside_a_layer_points_at_the_layer_code():
    class Gate(fg.layers.Layer):
        def call(self, x):
            self.site = next_line()
            return x if fg.ops.mean(x) > 0 else -x

    layer = Gate()
    with pytest.raises(fg.TraceError) as err:
        layer(fg.Input(shape=(3,)))
    assert layer.site in str(err.value)


# --- calling a model with the wrong data ---------------------------------------------------
def two_input_model():
    a = fg.Input(shape=(3,), name="a")
    ids = fg.Input(shape=(2,), name="ids", dtype="int32")
    total = fg.ops.cast(fg.ops.sum(ids, axis=-1, keepdims=True), "float32")
    return fg.Model({"a": a, "ids": ids}, a * 2.0 + total, name="two")


def good_data(n=2):
    return {"a": np.ones((n, 3), np.float32), "ids": np.ones((n, 2), np.int32)}


def test_two_input_model_runs_on_good_data():
    np.testing.assert_allclose(two_input_model()(good_data()), np.full((2, 3), 4.0))


def test_dict_with_a_missing_input_name():
    model = two_input_model()
    with pytest.raises(KeyError) as err:
        model({"a": np.ones((2, 3), np.float32)})
    msg = str(err.value)
    assert "model 'two'" in msg and "missing" in msg and "['ids']" in msg
    assert "['a', 'ids']" in msg  # the model's input names


def test_dict_with_an_unknown_input_name():
    model = two_input_model()
    with pytest.raises(KeyError) as err:
        model({**good_data(), "idz": np.ones((2, 2))})
    msg = str(err.value)
    assert "unknown" in msg and "['idz']" in msg and "['a', 'ids']" in msg
    assert "missing" not in msg


def test_dict_with_a_misspelled_input_name_lists_both():
    model = two_input_model()
    with pytest.raises(KeyError) as err:
        model({"a": np.ones((2, 3)), "idz": np.ones((2, 2), np.int32)})
    msg = str(err.value)
    assert "missing input(s) ['ids']" in msg and "unknown input name(s) ['idz']" in msg


def test_wrong_number_of_inputs():
    model = two_input_model()
    with pytest.raises(ValueError) as err:
        model([np.ones((2, 3), np.float32)])
    msg = str(err.value)
    assert "model 'two'" in msg and "expects 2 input(s)" in msg and "got 1" in msg
    assert "['a', 'ids']" in msg


def test_wrong_rank():
    model = two_input_model()
    with pytest.raises(ValueError) as err:
        model({**good_data(), "a": np.ones((2, 3, 1), np.float32)})
    msg = str(err.value)
    assert "model 'two'" in msg and "input 'a'" in msg
    assert "(None, 3)" in msg and "(2, 3, 1)" in msg


def test_wrong_fixed_dimension():
    model = two_input_model()
    with pytest.raises(ValueError) as err:
        model({**good_data(), "a": np.ones((2, 4), np.float32)})
    msg = str(err.value)
    assert "input 'a'" in msg and "(None, 3)" in msg and "(2, 4)" in msg


def test_float_array_for_an_int32_input_is_an_error():
    model = two_input_model()
    with pytest.raises(TypeError) as err:
        model({**good_data(), "ids": np.ones((2, 2), np.float64)})
    msg = str(err.value)
    assert "input 'ids'" in msg and "int32" in msg and "float64" in msg


def test_float64_array_for_a_float32_input_is_converted():
    model = two_input_model()
    data = {"a": np.full((2, 3), 0.25, np.float64), "ids": np.array([[1, 2], [3, 4]], np.int64)}
    out = model(data)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[3.5] * 3, [7.5] * 3])


# --- building a functional model wrongly ------------------------------------------------------
def test_output_needs_an_input_not_passed_in_inputs():
    a = fg.Input(shape=(3,), name="a")
    b = fg.Input(shape=(3,), name="extra")
    with pytest.raises(ValueError) as err:
        fg.Model(inputs=a, outputs=a + b)
    msg = str(err.value)
    assert "'extra'" in msg and "'a'" in msg and "inputs=" in msg


def test_model_inputs_not_made_by_input():
    a = fg.Input(shape=(3,))
    with pytest.raises(TypeError) as err:
        fg.Model(inputs=a * 2.0, outputs=a)
    assert "fg.Input" in str(err.value) and "input 0" in str(err.value)
    with pytest.raises(TypeError) as err:
        fg.Model(inputs=[a, np.ones(3)], outputs=a)
    assert "input 1" in str(err.value) and "fg.Input" in str(err.value)


def test_model_with_empty_outputs():
    a = fg.Input(shape=(3,))
    with pytest.raises(ValueError, match="`outputs` is empty"):
        fg.Model(inputs=a, outputs=[])


# --- bad layer and op arguments ----------------------------------------------------------------
def test_unknown_activation_name():
    with pytest.raises(ValueError) as err:
        site = next_line()
        fg.layers.Dense(3, activation="relux")
    msg = str(err.value)
    assert site in msg and "'relux'" in msg and "'relu'" in msg and "callable" in msg


def test_unknown_initializer_name():
    """Refused when the layer is constructed (not at its first call, far from the typo),
    naming the argument, with the user's line."""
    with pytest.raises(ValueError) as err:
        site = next_line()
        fg.layers.Dense(3, kernel_initializer="glorot_unifrom", name="head")
    msg = str(err.value)
    assert site in msg and "Dense: `kernel_initializer`" in msg
    assert "'glorot_unifrom'" in msg and "'glorot_uniform'" in msg


def test_dense_with_zero_units():
    with pytest.raises(ValueError) as err:
        fg.layers.Dense(units=0)
    assert "Dense" in str(err.value) and "positive" in str(err.value) and "got 0" in str(err.value)


def test_dropout_rate_out_of_range():
    with pytest.raises(ValueError) as err:
        fg.layers.Dropout(rate=1.5)
    assert "Dropout" in str(err.value) and "[0, 1)" in str(err.value) and "1.5" in str(err.value)


@pytest.mark.parametrize("fn,kind", [(fg.ops.sum, "reduce_sum"), (fg.ops.reduce_mean, "reduce_mean"),
                                     (fg.ops.max, "reduce_max"), (fg.ops.argmax, "argmax"),
                                     (fg.ops.softmax, "softmax"), (fg.ops.logsumexp, "logsumexp")])
def test_reduction_axis_out_of_range(fn, kind):
    x = fg.Input(shape=(3,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fn(x, axis=2)
    msg = str(err.value)
    assert site in msg and kind in msg
    assert "axis 2" in msg and "rank 2" in msg and "[-2, 2)" in msg


def test_reduction_axis_repeated_or_not_an_int():
    x = fg.Input(shape=(3, 4))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.sum(x, axis=(1, -2))
    assert site in str(err.value) and "repeats" in str(err.value)
    with pytest.raises(TypeError) as err:
        site = next_line()
        fg.ops.mean(x, axis="1")
    assert site in str(err.value) and "'1'" in str(err.value) and "int" in str(err.value)


def test_transpose_with_bad_axes():
    x = fg.Input(shape=(3, 4))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.transpose(x, (0, 3, 1))
    assert site in str(err.value) and "transpose" in str(err.value) and "axis 3" in str(err.value)
    with pytest.raises(ShapeError) as err:
        fg.ops.transpose(x, (0, 1))
    assert "transpose" in str(err.value) and "f32[B,3,4]" in str(err.value)


def test_too_many_indices():
    x = fg.Input(shape=(3,))
    with pytest.raises(IndexError) as err:
        site = next_line()
        x[:, 1, 2]
    msg = str(err.value)
    assert site in msg and "too many indices" in msg and "f32[B,3]" in msg
    assert "at most 2" in msg and "got 3" in msg


def test_int_index_on_the_symbolic_batch_dim():
    x = fg.Input(shape=(3,))
    with pytest.raises(IndexError) as err:
        site = next_line()
        x[0]
    msg = str(err.value)
    assert site in msg and "symbolic dimension B" in msg and "(:)" in msg


def test_index_out_of_bounds_and_unsupported_indices():
    x = fg.Input(shape=(3,))
    with pytest.raises(IndexError) as err:
        site = next_line()
        x[:, 3]
    assert site in str(err.value) and "[-3, 3)" in str(err.value) and "index 3" in str(err.value)
    with pytest.raises(IndexError, match="negative slice steps"):
        x[:, ::-1]
    with pytest.raises(IndexError, match="unsupported index 0.5"):
        x[:, 0.5]
    with pytest.raises(IndexError, match="fg.ops.where"):
        x[x > 0]
    with pytest.raises(IndexError, match=r"out of range .* \[-3, 3\)"):
        fg.ops.take(x, [0, 5], axis=1)


def test_axis_none_on_a_tensor_with_unknown_sizes():
    x = fg.Input(shape=(3,))
    with pytest.raises(ShapeError) as err:
        site = next_line()
        fg.ops.argmax(x)
    assert site in str(err.value) and "axis=None" in str(err.value) and "pass an axis" in str(err.value)
