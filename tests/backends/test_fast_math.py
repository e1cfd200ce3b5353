"""fast_math's exp, log, tanh, sigmoid and erf against numpy and scipy, run the way
numba_cpu's kernels run them (a compiled loop, ``error_model="numpy"``, no fastmath):

* float32 on about five million points per function: every 1021st of the 2^32 bit
  patterns (both signs, every exponent, denormals, inf and NaN patterns) plus every
  float32 in windows around the function's boundaries (overflow, underflow into the
  denormals, the switch between its two formulas, saturation); the oracle is the float64
  function, whose own error is below 1e-7 float32 ulp;
* float64 on about a million points, random bit patterns and uniform samples of the
  interesting ranges, against numpy's ``longdouble`` (x87 extended: 11 more bits), and,
  for erf, against mpmath on a few thousand points;
* the error of each finite result, in ulps of the exact value, within the bound the
  module docstring states (:data:`BOUNDS`); non-finite results equal the oracle's (inf
  with its sign, NaN for NaN); every non-NaN result has the oracle's sign, zeros
  included;
* every float32 bit pattern, opt-in: ``FUSEGRAPH_FAST_MATH_EXHAUSTIVE=1`` (minutes);
* the loop over each function vectorizes and calls nothing;
* numba_cpu's kernels call them; numba_cuda's keep libdevice's ``math.*``.
"""
import math
import os
import re

import mpmath
import numpy as np
import pytest
import scipy.special
from numba import njit

from fusegraph.backends.numba import fast_math, templates
from fusegraph.backends.numba_cpu import generate_kernel
from fusegraph.backends.numba_cuda import templates as cuda_templates
from fusegraph.ir import BATCH as B, DType, emit
from fusegraph.passes import fuse

from helpers.backend_checks import graph, param

# In ulps of the exact result, per function: (float32, float64), as the module states.
BOUNDS = {"exp": (1.0, 1.5), "log": (1.0, 1.5), "tanh": (1.5, 2.0), "sigmoid": (2.0, 2.5),
          "erf": (0.501, 2.0)}
NAMES = list(BOUNDS)


def _longdouble_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# float64 oracles (float32 results are checked against these), and longdouble ones.
ORACLES = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": scipy.special.expit,
           "erf": scipy.special.erf}
LONG_ORACLES = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": _longdouble_sigmoid}

# Per function: float32 values whose neighbourhoods (WINDOW floats either side, by bit
# pattern, with both signs) are taken whole.
WINDOW = 1 << 16
EDGES = {
    "exp": [88.72284, 103.97208, 87.33655, 0.3465736, 1.0, 2.0 ** -24],
    "log": [1.0, math.sqrt(2), math.sqrt(0.5), 2.0 ** -126, 3.4028235e38, 2.0 ** -149],
    "tanh": [0.55, 9.010913, 1.0, 2.0 ** -126, 2.0 ** -12],
    "sigmoid": [0.0, 16.635532, 87.33655, 103.97208, 1.0],
    "erf": [0.84375, 3.9193385, 6.0, 2.0 ** -126, 1.0],
}
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0 ** -149, -(2.0 ** -149),
            np.finfo(np.float32).max, -np.finfo(np.float32).max]


def _loop(fn):
    @njit(error_model="numpy", fastmath=False)
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
    return apply


LOOPS = {name: _loop(getattr(fast_math, name)) for name in NAMES}


def _run(name, x):
    out = np.empty_like(x)
    LOOPS[name](x, out)
    return out


def _ulp(exact, mantissa_bits, smallest_exponent):
    """The spacing of the floats at each exact value (its binade's, the denormals' below)."""
    _, e = np.frexp(np.abs(exact))
    return np.ldexp(np.ones_like(exact), np.maximum(e - mantissa_bits, smallest_exponent))


def _check(name, x, got, exact, bound, mantissa_bits, smallest_exponent):
    """``got`` (in x's dtype) against ``exact`` (wider): within ``bound`` ulps where the
    exact result rounds to a finite value, equal where not, with the same sign."""
    with np.errstate(over="ignore"):
        rounded = exact.astype(x.dtype)
    finite = np.isfinite(rounded)
    where = ~finite & ~(np.isnan(got) & np.isnan(rounded)) & (got != rounded)
    assert not where.any(), (name, x[where][:5], got[where][:5], rounded[where][:5])
    assert np.isfinite(got[finite]).all(), (name, x[finite & ~np.isfinite(got)][:5])
    err = np.abs(got[finite].astype(exact.dtype) - exact[finite]) / _ulp(
        exact[finite], mantissa_bits, smallest_exponent)
    over = err > bound
    assert not over.any(), (name, x[finite][over][:5], got[finite][over][:5], err.max())
    signed = ~np.isnan(got)
    assert (np.signbit(got[signed]) == np.signbit(rounded[signed])).all(), name
    return float(err.max(initial=0.0))


def _float32_points(name):
    grid = np.arange(0, 1 << 32, 1021, dtype=np.uint64).astype(np.uint32)
    centers = np.array(EDGES[name], np.float32).view(np.uint32)
    offsets = np.arange(-WINDOW, WINDOW + 1, dtype=np.int64)
    windows = (centers.astype(np.int64)[:, None] + offsets).ravel()
    windows = windows[(windows >= 0) & (windows < 0x7F800000)].astype(np.uint32)
    both = np.concatenate([windows, windows | np.uint32(0x80000000)])
    return np.concatenate([grid.view(np.float32), both.view(np.float32),
                           np.array(SPECIALS, np.float32)])


@pytest.mark.parametrize("name", NAMES)
def test_float32_is_within_its_bound_over_the_whole_range(name):
    x = _float32_points(name)
    with np.errstate(all="ignore"):
        exact = ORACLES[name](x.astype(np.float64))
    _check(name, x, _run(name, x), exact, BOUNDS[name][0], 24, -149)


# Opt-in (minutes per function): every float32 bit pattern, the negative half left out
# where the function's form covers it (odd functions negate; log of a negative is NaN,
# which the grid checks).
EXHAUSTIVE = os.environ.get("FUSEGRAPH_FAST_MATH_EXHAUSTIVE") == "1"
ODD_OR_NAN_BELOW_ZERO = {"log", "tanh", "erf"}


@pytest.mark.skipif(not EXHAUSTIVE, reason="set FUSEGRAPH_FAST_MATH_EXHAUSTIVE=1 (minutes)")
@pytest.mark.parametrize("name", NAMES)
def test_float32_is_within_its_bound_on_every_bit_pattern(name):
    chunk = 1 << 22
    top = 1 << (31 if name in ODD_OR_NAN_BELOW_ZERO else 32)
    for start in range(0, top, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint64).astype(np.uint32).view(np.float32)
        with np.errstate(all="ignore"):
            exact = ORACLES[name](x.astype(np.float64))
        _check(name, x, _run(name, x), exact, BOUNDS[name][0], 24, -149)


def _float64_points(rng, n):
    bits = rng.integers(0, 1 << 63, n, dtype=np.int64).view(np.float64)
    return np.concatenate([
        bits, -bits, rng.uniform(-750, 750, n), rng.uniform(-40, 40, n),
        rng.uniform(-1, 1, n), rng.uniform(0.5, 2, n), np.array(SPECIALS, np.float64),
        [709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412,
         -708.3964185322641, 2.0 ** -1022, 2.0 ** -1074, 0.55, 0.84375, 6.0, 19.06154]])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "erf"])
def test_float64_is_within_its_bound_on_a_dense_sample(name):
    x = _float64_points(np.random.default_rng(1), 150_000)
    with np.errstate(all="ignore"):
        exact = LONG_ORACLES[name](x.astype(np.longdouble))
    _check(name, x, _run(name, x), exact, BOUNDS[name][1], 53, -1074)


def test_float64_erf_is_within_its_bound_against_mpmath():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.uniform(-7, 7, 2500), rng.uniform(0.7, 1.0, 500),
                        np.ldexp(rng.uniform(0.5, 1, 300), rng.integers(-1074, -1, 300)),
                        np.array(SPECIALS, np.float64), [0.84375, 6.0, -6.0]])
    exact = np.array([np.longdouble(mpmath.nstr(mpmath.erf(mpmath.mpf(float(v))), 25))
                      if np.isfinite(v) and v != 0 else scipy.special.erf(v) for v in x])
    _check("erf", x, _run("erf", x), exact, BOUNDS["erf"][1], 53, -1074)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_are_numpys(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0], dtype)
    with np.errstate(all="ignore"):
        want = {"exp": [1, 1, np.inf, 0, np.nan, np.exp(dtype(-1))],
                "log": [-np.inf, -np.inf, np.inf, np.nan, np.nan, np.nan],
                "tanh": [0.0, -0.0, 1, -1, np.nan, np.tanh(dtype(-1))],
                "sigmoid": [0.5, 0.5, 1, 0, np.nan, scipy.special.expit(dtype(-1))],
                "erf": [0.0, -0.0, 1, -1, np.nan, scipy.special.erf(dtype(-1))]}
    for name, values in want.items():
        got, w = _run(name, x), np.array(values, dtype)
        np.testing.assert_allclose(got, w, rtol=4 * np.finfo(dtype).eps, err_msg=name)
        signed = ~np.isnan(w)
        assert (np.signbit(got[signed]) == np.signbit(w[signed])).all(), (name, got)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_loop_over_it_vectorizes_and_calls_nothing(name, dtype):
    """What LLVM makes of a kernel's loop: vector floats, and no call left (libm's
    ``math.exp`` would be a call per element)."""
    loop = LOOPS[name]
    x = np.linspace(-3, 3, 64).astype(dtype)
    loop(x, np.empty_like(x))
    (sig,) = [s for s in loop.signatures if str(s[0].dtype) == np.dtype(dtype).name]
    # The compiled function itself, not the wrappers Numba adds for calls from Python.
    (body,) = [f for f in loop.inspect_llvm(sig).split("\ndefine ")[1:]
               if "apply" in f.split("(")[0] and not re.search("cpython|cfunc", f.split("(")[0])]
    kind = "float" if dtype == np.float32 else "double"
    assert re.search(rf"<\d+ x {kind}>", body), name
    called = set(re.findall(r"call [^@]*@\"?([\w.$]+)", body))
    assert {c for c in called if not c.startswith("llvm.")} == set(), called


def test_numba_cpu_kernels_call_fast_math_and_cuda_kernels_keep_libdevice():
    for name in NAMES:
        for dtype in (DType.f32, DType.f64):
            assert templates.template_for(name, dtype) == f"fast_math.{name}({{0}})"
            assert cuda_templates.template_for(name, dtype) == \
                templates.FLOAT_TEMPLATES[name]
        assert "fast_math" not in cuda_templates.CUDA_FLOAT_TEMPLATES[name]
    x = param("x", B, 4)
    (k,) = fuse(graph([x], [emit("tanh", emit("exp", x))])).ops
    source = generate_kernel(k.region).source
    assert f"from fusegraph.backends.numba import fast_math  # source " \
           f"{fast_math.SOURCE_DIGEST}" in source
    assert "fast_math.exp(a0)" in source and "fast_math.tanh(v0)" in source


@njit(error_model="numpy")
def _row_sums(x, out):
    for i in range(x.shape[0]):
        acc = np.float64(0.0)
        for j in range(x.shape[1]):
            acc = fast_math.sum_add(acc, fast_math.exp(x[i, j]))
        out[i] = acc


def test_sum_add_sums_in_vector_partial_sums_up_to_order():
    """A row sum of exp through sum_add (what a softmax kernel does) vectorizes, the
    exp included: a plain float64 ``acc + x`` is a chain LLVM may not reorder."""
    x = np.random.default_rng(0).standard_normal((7, 203)).astype(np.float32)
    x[3, 5], x[4, 9], x[5, 0] = np.nan, np.inf, -np.inf
    out = np.empty(7)
    _row_sums(x, out)
    want = np.exp(x.astype(np.float64)).sum(axis=1)
    finite = np.isfinite(want)
    np.testing.assert_allclose(out[finite], want[finite], rtol=1e-6)
    assert np.isnan(out[3]) and out[4] == np.inf and np.isfinite(out[5])
    (sig,) = _row_sums.signatures
    (body,) = [f for f in _row_sums.inspect_llvm(sig).split("\ndefine ")[1:]
               if "_row_sums" in f.split("(")[0] and not re.search("cpython|cfunc", f.split("(")[0])]
    assert re.search(r"fadd reassoc <\d+ x double>", body), "the sum did not vectorize"
    assert re.search(r"<\d+ x float>", body)


def test_numba_cpu_float_sums_go_through_sum_add_and_the_rest_do_not():
    x, n = param("x", B, 4), param("n", B, 4, dtype=DType.i32)
    y = emit("exp", x)
    results = [emit("reduce_sum", y, axes=(1,)), emit("reduce_mean", y, axes=(1,)),
               emit("reduce_max", y, axes=(1,)), emit("reduce_sum", n, axes=(1,)),
               emit("reduce_sum", y, axes=(0,))]
    source = "\n".join(generate_kernel(op.region).source
                       for op in fuse(graph([x, n], results)).ops if op.kind == "fused")
    assert source.count("fast_math.sum_add(") == 2, source     # the float sum and mean
