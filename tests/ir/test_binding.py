"""Binding arrays to a graph's parameters (ir/binding.py): the fast generated check
accepts only what ``bind_inputs`` surely accepts, and ``Binder`` gives the same arrays,
sizes and errors as ``bind_inputs``."""
import numpy as np
import pytest

from fusegraph.ir import BATCH as B, DType, Graph, Sym, TensorType, Value, emit
from fusegraph.ir.binding import Binder, InputError, bind_inputs, fast_binder, param_symbols

N = Sym("N")
f32, i32 = np.float32, np.int32


def param(name, *shape, dtype=DType.f32):
    return Value(TensorType(shape, dtype), name=name)


def three_params():
    x, y, s = param("x", B, 3), param("y", B, N, dtype=DType.i32), param("s")
    return Graph.from_results("g", [x, y, s], [x, y, s])


GOOD = (np.ones((4, 3), f32), np.ones((4, 7), i32), np.array(1, f32))
REFUSED = [(np.ones((4, 3), f32), np.ones((5, 7), i32), np.array(1, f32)),   # B twice
           (np.ones((4, 2), f32), np.ones((4, 7), i32), np.array(1, f32)),   # static dim
           (np.ones((4, 3), f32), np.ones((4, 7), np.int64), np.array(1, f32)),
           (np.ones((4, 3, 1), f32), np.ones((4, 7), i32), np.array(1, f32)),
           (np.ones((4, 3), f32), np.ones((4, 7), i32), np.ones(1, f32)),
           (np.ones((4, 3), f32), np.ones((4, 7), i32), f32(1)),            # a scalar
           (np.ones((4, 3), f32), np.ones((4, 7), i32)),
           ([[1.0] * 3], np.ones((1, 7), i32), np.array(1, f32))]


def test_the_fast_binder_accepts_only_what_bind_inputs_surely_accepts():
    graph = three_params()
    bind = fast_binder(graph, (B, N))
    assert bind(GOOD) == (4, 7)
    for arrays in REFUSED:
        assert bind(arrays) is None
    assert fast_binder(Graph.from_results("c", [], [emit("constant", value=1.0)]), ())(()) == ()


def test_the_symbols_are_the_params_in_order_of_first_appearance():
    assert param_symbols(three_params()) == (B, N)


def test_the_binder_agrees_with_bind_inputs_on_everything():
    graph = three_params()
    binder = Binder(graph)
    arrays, sizes = binder(GOOD)
    assert sizes == (4, 7) and all(a is b for a, b in zip(arrays, GOOD))
    for refused in REFUSED:
        try:
            want = bind_inputs(graph, refused, {})
        except InputError as e:
            with pytest.raises(InputError) as got:
                binder(refused)
            assert str(got.value) == str(e)
        else:   # accepted by the reference (the numpy scalar): the same arrays and sizes
            arrays, sizes = binder(refused)
            assert sizes == tuple(want[1][s] for s in binder.symbols)
            assert all(np.array_equal(a, b) and type(a) is type(b)
                       for a, b in zip(arrays, want[0]))
