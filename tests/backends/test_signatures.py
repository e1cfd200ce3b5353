"""The argument types kernels are compiled ahead for (backends/numba/signatures.py) are
Numba's types of the arrays their calls pass: a fused op's kernel as the checked path and
the plan call it, the native scatter_add kernel as its runner calls it."""
import numba
import numpy as np
import pytest

from fusegraph.backends.numba.signatures import (kernel_arguments, native_arguments,
                                                 numba_signature)
from fusegraph.backends.numba_cpu import native
from fusegraph.ir import BATCH as B, DType, emit
from fusegraph.passes import fuse

from helpers.backend_checks import graph, param


def test_a_fused_ops_arguments_are_its_operands_outputs_and_sizes():
    x, m, s = param("x", B, 4), param("m", 4, dtype=DType.f64), param("s")
    g = fuse(graph([x, m, s], [emit("mul", emit("cast", x, dtype=DType.f64), m),
                               emit("gt", x, emit("cast", s, dtype=DType.f32))]))
    op = next(o for o in g.ops if o.kind == "fused")
    arguments = kernel_arguments(op, (B,))
    assert len(arguments) == len(op.operands) + len(op.results) + 1
    passed = [np.zeros([3 if d == B else d for d in v.type.shape], v.type.dtype.numpy)
              for v in list(op.operands) + list(op.results)] + [3]
    assert numba_signature(arguments) == tuple(numba.typeof(a) for a in passed)


@pytest.mark.parametrize("axis, x_shape, idx_shape", [(0, (10, 3), (5,)),
                                                     (1, (2, 7, 3), (2, 2))])
def test_the_native_scatter_add_is_compiled_for_what_its_runner_passes(axis, x_shape,
                                                                       idx_shape):
    x = param("x", *x_shape)
    idx = param("i", *idx_shape, dtype=DType.i32)
    updates = param("u", *x_shape[:axis], *idx_shape, *x_shape[axis + 1:])
    op = emit("scatter_add", x, idx, updates, axis=axis).producer
    passed = []
    arrays = [np.zeros(v.type.shape, v.type.dtype.numpy) for v in (x, idx, updates)]
    native.scatter_add_into(lambda *args: passed.extend(args), arrays,
                            [np.empty(x_shape, np.float32)], {"axis": axis}, False)
    assert numba_signature(native_arguments(op)) == tuple(numba.typeof(a) for a in passed)


def test_the_native_segment_rows_is_compiled_for_what_its_runner_passes():
    idx = param("i", 4, 3, dtype=DType.i64)
    updates = param("u", 4, 3, 5)
    op = emit("segment_rows", idx, updates, rows=7)[0].producer
    passed = []
    arrays = [np.zeros(v.type.shape, v.type.dtype.numpy) for v in (idx, updates)]
    outs = [np.empty(r.type.shape, r.type.dtype.numpy) for r in op.results]
    native.segment_rows_into(lambda *args: passed.extend(args), arrays, outs, {"rows": 7}, False)
    assert numba_signature(native_arguments(op)) == tuple(numba.typeof(a) for a in passed)


def test_ops_without_a_native_kernel_have_no_native_arguments():
    assert native_arguments(emit("exp", param("x", 3)).producer) is None


def test_an_unknown_argument_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown kernel argument kind 'tuple'"):
        numba_signature([("tuple",)])


def test_a_kernel_reading_a_transposes_view_is_described_strided_too():
    from fusegraph.backends.numba.signatures import transposed
    x = param("x", 4, 3)
    t = emit("transpose", x, perm=(1, 0))
    flat = emit("reshape", t, shape=(12,))
    y = emit("exp", emit("reshape", flat, shape=(3, 4)))
    assert (transposed(t), transposed(flat), transposed(x), transposed(y)) == ("F", "A", None,
                                                                               None)
    region_in = param("in0", 3, 4)
    from fusegraph.ir import Graph
    region = Graph.from_results("k", [region_in], [emit("exp", region_in)])
    op = emit("fused", t, region=region).producer
    assert kernel_arguments(op, ())[0] == ("array", "float32", 2)
    assert kernel_arguments(op, (), strided=True)[0] == ("array", "float32", 2, "F")
    signature = numba_signature(kernel_arguments(op, (), strided=True))
    assert signature[0] == numba.typeof(np.zeros((4, 3), np.float32).T)
