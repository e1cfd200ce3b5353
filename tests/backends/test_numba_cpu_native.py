"""numba_cpu's hand-written kernels (backends/numba_cpu/native.py): scatter_add equals the
reference's bit for bit, in a plan, for every axis, index dtype and zero or given start."""
import numpy as np
import pytest

from fusegraph.backends import numba_cpu
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph

from helpers.plan_source import plain_run

GIVEN_START = """
    graph @scatter(%x: f32[6,B,3], %i: {idx}[4,2], %u: {updates}) -> (f32[6,B,3]) {{
      %0: f32[6,B,3] = scatter_add %x, %i, %u {{axis={axis}}}
      return %0
    }}
"""

ZERO_START = """
    graph @grad(%i: i32[B,5], %u: f64[B,5,3]) -> (f64[7,3]) {
      %0: f64[] = constant {value=0.0, dtype=f64}
      %1: f64[7,3] = broadcast_to %0 {shape=[7, 3]}
      %2: f64[7,3] = scatter_add %1, %i, %u {axis=0}
      return %2
    }
"""


@pytest.mark.parametrize("axis, updates, idx_dtype", [
    (0, "f32[4,2,B,3]", "i32"),
    (1, "f32[6,4,2,3]", "i64"),
    (2, "f32[6,B,4,2]", "i32"),
])
def test_scatter_add_equals_the_reference_bit_for_bit(axis, updates, idx_dtype):
    g = parse_graph(GIVEN_START.format(idx=idx_dtype, updates=updates, axis=axis))
    rng = np.random.default_rng(axis)
    x = rng.standard_normal((6, 5, 3)).astype(np.float32)
    size = x.shape[axis]
    idx = rng.integers(0, size, (4, 2)).astype(np.dtype(idx_dtype.replace("i", "int")))
    idx[0, 0] = idx[1, 1] = idx[2, 0]            # repeated rows accumulate
    u_shape = x.shape[:axis] + idx.shape + x.shape[axis + 1:]
    u = rng.standard_normal(u_shape).astype(np.float32)
    exe = numba_cpu.compile(g)
    want = reference(g)(x, idx, u)[0]
    for _ in range(3):                            # the checked call, then the plan
        got = exe(x, idx, u)[0]
        np.testing.assert_array_equal(got, want)
    assert exe.plan_errors == []
    kept = x.copy()
    exe(x, idx, u)
    np.testing.assert_array_equal(x, kept)        # x is not written
    native = [line for line in plain_run(exe.plan_source()).splitlines() if "# scatter_add" in line]
    assert len(native) == 1 and native[0].split("#")[0].rstrip().endswith("False)")


def test_a_zero_start_is_filled_not_read_and_the_plan_runs_natively():
    g = parse_graph(ZERO_START)
    exe = numba_cpu.compile(g)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, (4, 5)).astype(np.int32)
    u = rng.standard_normal((4, 5, 3))
    want = reference(g)(idx, u)[0]
    first, second = exe(idx, u)[0], exe(idx, u)[0]
    np.testing.assert_array_equal(first, want)
    np.testing.assert_array_equal(second, want)
    source = exe.plan_source(4)
    line = next(line for line in source.splitlines() if "# scatter_add" in line)
    assert line.split("#")[0].rstrip().endswith("True)"), line     # zero start: not read
    assert exe.plan_errors == []


def test_an_index_out_of_range_is_the_reference_error_and_nothing_is_returned():
    g = parse_graph(ZERO_START)
    exe = numba_cpu.compile(g)
    idx = np.zeros((2, 5), np.int32)
    u = np.ones((2, 5, 3))
    exe(idx, u)                                   # the plan exists now
    idx[1, 3] = 7
    with pytest.raises(Exception, match=r"scatter_add.*index 7 is out of range \[0, 7\)"):
        exe(idx, u)
    idx[1, 3] = -1
    with pytest.raises(Exception, match=r"index -1 is out of range"):
        exe(idx, u)
    idx[1, 3] = 2                                 # and the plan still works afterwards
    np.testing.assert_array_equal(exe(idx, u)[0], reference(g)(idx, u)[0])
