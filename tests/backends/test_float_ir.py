"""float_ir: each operation emits the IEEE operation numpy does (constants rounded to the
value's type, comparisons false on NaN, negation and abs exact on signed zeros), and the
bit-level helpers build and read a float's fields exactly over their stated domains; run
through :func:`~fusegraph.backends.numba.float_ir.unary_intrinsic` in a compiled loop."""
import numpy as np
import pytest
from llvmlite import ir
from numba import njit

from fusegraph.backends.numba.float_ir import (exponent, horner, pow2, significand,
                                               unary_intrinsic, where)


def _compiled(algorithm):
    fn = unary_intrinsic(algorithm, "under_test")

    @njit(error_model="numpy", fastmath=False)
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    def run(x):
        out = np.empty_like(x)
        apply(x, out)
        return out
    return run


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_pow2_is_exact_over_the_normal_exponents(dtype):
    info = np.finfo(dtype)
    n = np.arange(info.minexp, info.maxexp, dtype=dtype)
    np.testing.assert_array_equal(_compiled(pow2)(n), np.ldexp(dtype(1), n.astype(int)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_exponent_and_significand_split_a_normal_float(dtype):
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    x = np.concatenate([np.ldexp(rng.uniform(1, 2, 2000), rng.integers(info.minexp, info.maxexp,
                                                                      2000)),
                        [info.tiny, info.max, 1.0, 1.5, 2.0 - info.eps]]).astype(dtype)
    mantissa, e = np.frexp(x)
    np.testing.assert_array_equal(_compiled(exponent)(x), (e - 1).astype(dtype))
    np.testing.assert_array_equal(_compiled(significand)(x), 2 * mantissa)


@pytest.mark.parametrize("dtype", DTYPES)
def test_arithmetic_is_numpys_with_constants_of_the_values_type(dtype):
    x = np.array([0.3, -1.7, 1e-3, 123.456, 0.0, -0.0, np.inf, np.nan], dtype)
    got = _compiled(lambda v: (v * 0.1 + 1 / 3) / (2.0 - v))(x)
    with np.errstate(all="ignore"):
        want = (x * dtype(0.1) + dtype(1 / 3)) / (dtype(2.0) - x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_compiled(lambda v: horner(v, (1.0, 0.5, 0.25)))(x),
                                  dtype(1.0) + x * (dtype(0.5) + x * dtype(0.25)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zeros_and_nan_comparisons(dtype):
    x = np.array([0.0, -0.0, 1.0, -2.0, np.nan, -np.inf], dtype)
    neg, mag = _compiled(lambda v: -v)(x), _compiled(abs)(x)
    np.testing.assert_array_equal(np.signbit(neg[:4]), [True, False, True, False])
    np.testing.assert_array_equal(mag, np.abs(x))
    assert not np.signbit(mag).any()
    # Ordered comparisons are false on NaN, so NaN takes the else branch of each.
    below = _compiled(lambda v: where(v < 1.0, v.const(1.0), 0.0))(x)
    at_least = _compiled(lambda v: where(v >= 1.0, v.const(1.0), 0.0))(x)
    np.testing.assert_array_equal(below, [1, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(at_least, [0, 0, 1, 0, 0, 0])


def test_conversion_widens_exactly_and_rounds_once():
    x = np.array([0.1, 1 / 3, 3.4028235e38, 1e-45], np.float32)
    through = _compiled(lambda v: (v.to(ir.DoubleType()) * 3.0).to(v.ty))(x)
    with np.errstate(over="ignore"):
        want = (x.astype(np.float64) * 3.0).astype(np.float32)     # the max overflows to inf
    np.testing.assert_array_equal(through, want)
