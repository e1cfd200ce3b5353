"""numba_cpu's contractions into kept buffers (backends/numba_cpu/contractions.py):
tensordot over leading axes as one GEMM, other pairings through numpy, both equal to the
reference."""
import numpy as np
import pytest

from fusegraph.backends import numba_cpu
from fusegraph.backends.reference import compile as reference
from fusegraph.ir import parse_graph

TENSORDOT = """
    graph @g(%a: f32[{a}], %b: f32[{b}]) -> (f32[{out}]) {{
      %0: f32[{out}] = tensordot %a, %b {{axes_a={axes_a}, axes_b={axes_b}}}
      return %0
    }}
"""


@pytest.mark.parametrize("a, b, axes_a, axes_b, out, sizes", [
    ("B,7,3", "B,7,5", [0, 1], [0, 1], "3,5", ((4, 7, 3), (4, 7, 5))),     # the fast path
    ("B,7,3", "B,7,5", [0, 1], [0, 1], "3,5", ((0, 7, 3), (0, 7, 5))),     # nothing summed
    ("2,3,4", "4,5,2", [0, 2], [2, 0], "3,5", ((2, 3, 4), (4, 5, 2))),     # numpy's path
])
def test_tensordot_in_a_plan_equals_the_reference(a, b, axes_a, axes_b, out, sizes):
    g = parse_graph(TENSORDOT.format(a=a, b=b, out=out, axes_a=axes_a, axes_b=axes_b))
    rng = np.random.default_rng(0)
    xa, xb = (rng.standard_normal(s).astype(np.float32) for s in sizes)
    exe = numba_cpu.compile(g)
    want = reference(g)(xa, xb)[0]
    for _ in range(3):                      # the checked call, then the plan
        np.testing.assert_allclose(exe(xa, xb)[0], want, rtol=1e-5, atol=1e-6)
    assert exe.plan_errors == []
    assert "tensordot" in exe.plan_source()


def test_the_leading_axes_path_reads_a_transposed_operand_correctly():
    """A non-contiguous operand (a transpose's view) is copied by reshape, not misread."""
    g = parse_graph("""
        graph @g(%a: f32[3,B,7], %b: f32[B,7,5]) -> (f32[3,5]) {
          %0: f32[B,7,3] = transpose %a {perm=[1, 2, 0]}
          %1: f32[3,5] = tensordot %0, %b {axes_a=[0, 1], axes_b=[0, 1]}
          return %1
        }
    """)
    rng = np.random.default_rng(1)
    xa, xb = rng.standard_normal((3, 4, 7)).astype(np.float32), rng.standard_normal((4, 7, 5)).astype(np.float32)
    exe = numba_cpu.compile(g)
    exe(xa, xb)
    np.testing.assert_allclose(exe(xa, xb)[0], np.einsum("kbt,btn->kn", xa, xb), rtol=1e-5)
    assert exe.plan_errors == []


MATMUL = """
    graph @g(%a: f32[{a}], %b: f32[{b}]) -> (f32[{out}]) {{
      %0: f32[{out}] = matmul %a, %b
      return %0
    }}
"""


@pytest.mark.parametrize("a, b, out, sizes", [
    ("B,7,3", "3,5", "B,7,5", ((4, 7, 3), (3, 5))),              # one GEMM of [28, 3]
    ("B,2,7,3", "3,5", "B,2,7,5", ((2, 2, 7, 3), (3, 5))),
    ("B,7,3", "3,5", "B,7,5", ((0, 7, 3), (3, 5))),              # an empty batch
    ("B,7,3", "B,3,5", "B,7,5", ((4, 7, 3), (4, 3, 5))),         # batched: numpy's loop
])
def test_matmul_in_a_plan_equals_the_reference(a, b, out, sizes):
    g = parse_graph(MATMUL.format(a=a, b=b, out=out))
    rng = np.random.default_rng(1)
    xa, xb = (rng.standard_normal(s).astype(np.float32) for s in sizes)
    exe = numba_cpu.compile(g)
    want = reference(g)(xa, xb)[0]
    for _ in range(3):
        np.testing.assert_allclose(exe(xa, xb)[0], want, rtol=1e-5, atol=1e-6)
    noncontiguous = np.asfortranarray(xa)       # a's reshape would copy: numpy's loop
    np.testing.assert_allclose(exe(noncontiguous, xb)[0], want, rtol=1e-5, atol=1e-6)
    assert exe.plan_errors == []


@pytest.mark.parametrize("shape_a, perm_b, shape_b", [
    ((4, 6, 3), (0, 2, 1), (4, 5, 6)),        # b's summed axes do not flatten: by slices
    ((2, 3, 4, 5), (0, 1, 3, 2), (2, 3, 6, 4)),   # three summed axes, sliced twice
    ((0, 6, 3), (0, 2, 1), (0, 5, 6)),        # nothing summed
])
def test_leading_sums_of_operands_that_do_not_flatten_go_slice_by_slice(shape_a, perm_b,
                                                                        shape_b):
    from fusegraph.backends.numba_cpu.contractions import _leading_sum
    rng = np.random.default_rng(2)
    a = rng.standard_normal(shape_a).astype(np.float32)
    b = rng.standard_normal(shape_b).astype(np.float32).transpose(perm_b)
    count = a.ndim - 1
    out = np.full((a.shape[-1], b.shape[-1]), np.nan, np.float32)
    _leading_sum(count)(a, b, out)
    axes = list(range(count))
    want = np.tensordot(a.astype(np.float64), b.astype(np.float64), axes=(axes, axes))
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("perm, out", [("[0, 2, 1, 3]", "B,6,3,5"),      # row-major matrices
                                       ("[0, 3, 1, 2]", "B,5,3,6"),      # column-major
                                       ("[2, 0, 1, 3]", "6,B,3,5")])
def test_a_permuted_matmul_in_a_plan_writes_the_transposed_layout(perm, out):
    g = parse_graph(f"""
        graph @g(%a: f32[B,3,6,4], %b: f32[B,3,4,5]) -> (f32[{out}]) {{
          %0: f32[{out}] = permuted_matmul %a, %b {{perm={perm}}}
          return %0
        }}
    """)
    rng = np.random.default_rng(2)
    xa, xb = rng.standard_normal((2, 3, 6, 4)).astype(np.float32), rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    exe = numba_cpu.compile(g)
    want = reference(g)(xa, xb)[0]
    for _ in range(3):                      # the checked call, then the plan
        got = exe(xa, xb)[0]
        assert got.flags.c_contiguous
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert exe.plan_errors == [] and "permuted_matmul" in exe.plan_source()
