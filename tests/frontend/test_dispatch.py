"""The eager-or-traced dispatch (``frontend/dispatch.py``): when a call counts as traced,
how eager arguments become arrays, and the decorator's cached Functions (per owner and
method, one trace per signature), on functions and on methods."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops
from fusegraph.frontend.dispatch import (clear_eager_functions, eager_argument,
                                         eager_functions, eager_or_traced, traced_call,
                                         tracing)
from fusegraph.frontend.tensor import SymbolicTensor, TraceError
from fusegraph.ir import BATCH


def counting_function():
    """A dispatched function ``f(x, scale, square=False)`` (x data, the rest static) and
    the list its body appends to once per trace or direct call."""
    calls = []

    @eager_or_traced(data=("x",))
    def f(x, scale=1.0, square=False):
        calls.append(getattr(x, "shape", x))
        x = ops.convert_to_tensor(x)
        return (x * x if square else x) * scale

    return f, calls


# --- the predicate ------------------------------------------------------------------------
def test_tracing_inside_a_function_and_inside_a_layers_symbolic_call():
    seen = []

    class Probe(fg.layers.Layer):
        def call(self, inputs):
            seen.append(("layer", tracing()))
            return inputs

    assert not tracing()
    fg.function(lambda x: seen.append(("function", tracing())) or x)(np.ones((2, 3), "float32"))
    Probe()(fg.Input(shape=(3,)))                     # building a model: no state trace
    Probe()(np.ones((2, 3), "float32"))               # an eager layer call traces too
    assert seen == [("function", True), ("layer", True), ("layer", True)]
    assert not tracing()


def test_traced_call_looks_for_symbolic_leaves_in_the_data():
    x = fg.Input(shape=(3,))
    v = fg.Variable(np.zeros(3, "float32"), "v", "dispatch_v")
    assert not traced_call(np.ones(3), [1.0, 2.0], None, {"a": 1})
    assert traced_call(x) and traced_call([np.ones(3), (x,)]) and traced_call({"k": x})
    assert traced_call(v)                                # a Variable stands for its value
    assert traced_call((BATCH, 4))                       # a symbolic dim has no value now


def test_eager_argument():
    a = np.ones((2, 3), "float16")
    assert eager_argument(a) is a
    for x, dtype in ((np.float32(2.5), np.float32), (2.5, np.float64), (3, np.int64),
                     ([1, 2], np.int64), ((1.0, 2.0), np.float64), ([True, False], np.bool_)):
        converted = eager_argument(x)
        assert isinstance(converted, np.ndarray) and converted.dtype == dtype
        np.testing.assert_array_equal(converted, np.asarray(x))
    assert eager_argument(np.float32(2.5)).shape == ()
    for static in (True, False, None, "sum", {"a": 1}):    # flags and the rest stay
        assert eager_argument(static) is static


# --- the decorator on a function ----------------------------------------------------------
def test_eager_calls_reuse_one_function_and_one_trace_per_signature():
    f, calls = counting_function()
    a = np.arange(6, dtype="float32").reshape(2, 3)
    out = f(a, 2.0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, a * 2)
    np.testing.assert_array_equal(f(a + 1, 2.0), (a + 1) * 2)
    np.testing.assert_array_equal(f(np.ones((5, 3), "float32"), 2.0), np.full((5, 3), 2.0))
    assert calls == [(None, 3)]                         # one trace, the batch axis symbolic
    (function,) = eager_functions(f).values()
    assert function.name == "f" and len(function._traces) == 1
    f(a, 3.0)                                           # a static value is in the graph
    f(a, scale=3.0)                                     # ... however it is passed
    np.testing.assert_array_equal(f(a, 2.0, square=True), a * a * 2)
    assert len(calls) == 3 and len(function._traces) == 3
    assert f.symbolic.__name__ == "f" and f.__name__ == "f"


def test_python_numbers_in_data_are_arrays_not_static_values():
    f, calls = counting_function()
    assert f(2.0) == 2.0 and f(5.0) == 5.0 and f([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert calls == [(), (None,)]                       # one trace per rank, not per value
    assert f(2.0).dtype == np.float64                   # numpy's dtype for a Python float


def test_static_numpy_scalars_are_python_values():
    f, calls = counting_function()
    np.testing.assert_array_equal(f(np.ones(2, "float32"), np.float32(3.0)), [3.0, 3.0])
    (function,) = eager_functions(f).values()
    assert ("static", "float", "3.0") in next(iter(function._traces))
    assert "constant {value=3.0" in function.ir()


def test_symbolic_arguments_or_a_trace_call_the_implementation_directly():
    f, calls = counting_function()
    x = fg.Input(shape=(3,))
    assert isinstance(f(x, 2.0), SymbolicTensor)        # a symbolic argument
    g = fg.function(lambda a: f(np.ones(3, "float32"), 2.0) + a)   # numpy, but in a trace
    np.testing.assert_array_equal(g(np.zeros((1, 3), "float32")), np.full((1, 3), 2.0))
    assert not eager_functions(f)                       # neither ran eagerly

    @eager_or_traced(data=())
    def draw(shape):
        return ops.broadcast_to(0.0, shape)

    assert isinstance(draw((BATCH, 2)), SymbolicTensor)  # a symbolic dim in a static
    assert draw((2, 2)).shape == (2, 2)


def test_a_bad_call_raises_pythons_own_error():
    f, _ = counting_function()
    with pytest.raises(TypeError, match=r"f\(\) got an unexpected keyword argument 'nope'"):
        f(np.ones(2), nope=1)


def test_options_symbolic_batch_and_eager_kwargs():
    @eager_or_traced(data=("x", "w"), symbolic_batch=False, eager_kwargs={"eager": True},
                     name="affine")
    def affine(x, w, eager=False):
        return ops.matmul(x, w) + (1.0 if eager else 0.0)

    x, w = np.ones((2, 3), "float32"), np.ones((3, 4), "float32")
    np.testing.assert_array_equal(affine(x, w), np.full((2, 4), 4.0))    # eager: told so
    (function,) = eager_functions(affine).values()
    assert function.name == "affine" and "%arg0: f32[2,3]" in function.ir()
    assert fg.function(lambda a: affine(a, w))(x)[0, 0] == 3.0           # traced: not


# --- the decorator on methods --------------------------------------------------------------
class Counter:
    """A stateful owner: ``add`` accumulates, ``total`` reads (as numpy scalars eagerly)."""

    def __init__(self, name):
        self.name = name
        self.sum = fg.Variable(np.zeros((), "float32"), "sum", f"{name}/sum")

    @eager_or_traced(method=True)
    def add(self, values, weight=1.0):
        self.sum.assign_add(ops.sum(ops.convert_to_tensor(values, "float32")) * weight)

    @eager_or_traced(method=True, eager_result=lambda out: out[()],
                     name=lambda owner: f"{owner.name}_read")
    def total(self):
        return self.sum.read_value()


def test_methods_cache_one_function_per_owner_and_method():
    a, b = Counter("a"), Counter("b")
    a.add([1.0, 2.0])
    a.add(np.array([3.0, 4.0, 5.0]), 2.0)              # every argument is data here
    b.add([10.0])
    total = a.total()
    assert total == 27.0 and isinstance(total, np.float32)
    assert b.total() == 10.0
    names = {owner.name: sorted(f.name for f in eager_functions(owner).values())
             for owner in (a, b)}
    assert names == {"a": ["a_add", "a_read"], "b": ["b_add", "b_read"]}
    (add,) = [f for f in eager_functions(a).values() if f.name == "a_add"]
    assert len(add._traces) == 1                         # lists, arrays, numbers: one trace
    clear_eager_functions(a)
    assert not eager_functions(a) and eager_functions(b)
    a.add([1.0])
    assert a.total() == 28.0


def test_methods_inside_a_trace_emit_ops_and_record_updates():
    c = Counter("c")

    @fg.function
    def step(values):
        c.add(values)
        return c.total()

    assert step(np.array([1.0, 2.0], "float32")) == 3.0
    assert step(np.array([4.0], "float32")) == 7.0 and float(c.sum.numpy()) == 7.0
    assert not eager_functions(c)


def test_an_update_inside_a_layers_symbolic_call_is_an_error_not_applied_once():
    c = Counter("in_layer")

    class Counting(fg.layers.Layer):
        def call(self, inputs):
            c.sum.assign_add(1.0)                        # concrete, but in a traced call
            return inputs

    with pytest.raises(TraceError, match=r"variable 'in_layer/sum' was assigned a symbolic "
                                         r"value outside a traced step \(in layer "
                                         r"'counting_probe'"):
        Counting(name="counting_probe")(fg.Input(shape=(3,)))
    assert float(c.sum.numpy()) == 0.0
    c.sum.assign_add(1.0)                                # outside any trace: numpy, now
    assert float(c.sum.numpy()) == 1.0

