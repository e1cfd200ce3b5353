"""exp, log, tanh, sigmoid and erf for float32 and float64 that LLVM vectorizes: what
numba_cpu's kernels call (:mod:`.templates`) instead of libm's ``math.*``.

Why: PyPI's llvmlite has no SVML, so ``math.exp`` in a Numba loop stays one scalar libm
call per element and the loop does not vectorize, while numpy's ufuncs use SIMD. These
are range reduction plus polynomial, with selects instead of branches and integer bit
operations instead of ``frexp``/``ldexp``, and no calls: each is a Numba intrinsic that
emits its instructions at the call site (written in :mod:`.float_ir`, IEEE operations
without fast-math flags), so a kernel's loop over them becomes vector code (``<8 x
float>`` with AVX2/AVX-512), compiles as fast as a libm call does (nothing for Numba to
type or inline, nothing for LLVM's inliner to refuse), and keeps NaN, inf, signed zeros
and denormals as IEEE says. A lane gives the same result in a vector as in the scalar
remainder loop.

Use: ``fast_math.exp(x)`` etc. inside Numba-compiled code, ``x`` float32 or float64;
the result has ``x``'s type. From Python they raise NotImplementedError.

Accuracy: the bound on the error, in units in the last place of the exact result, that
``tests/backends/test_fast_math.py`` checks, with the largest error measured. float32:
on every bit pattern (an opt-in test; by default a grid of every 1021st pattern plus
every float32 in windows around each boundary), against the float64 function. float64:
on about a million random and special points, against numpy's ``longdouble`` (erf:
mpmath), so its bounds keep a margin over what the sample found:

============  ==================  ==================
function      float32             float64
============  ==================  ==================
exp           1    (0.895)        1.5  (0.89)
log           1    (0.904)        1.5  (1.18)
tanh          1.5  (1.422)        2    (1.40)
sigmoid       2    (1.967)        2.5  (1.68)
erf           0.5  (0.500)        2    (1.51)
============  ==================  ==================

(float32 erf: 0.5 plus the float64 error scaled down by 2^-29, in the test 0.501.) numpy's
own float32 ufuncs are not correctly rounded either (on the grid its exp is off by up to
2.4 ulp, its log by 3.0, its tanh by 1.3), so results differ from numpy's float32 ones
by up to 3 ulp, from its float64 ones by the float64 bound above.

Special values are numpy's: ``exp`` overflows to inf and underflows through the denormals
to 0, ``log`` of a negative is NaN, of +-0 is -inf; ``tanh``, ``erf`` keep the sign of
zero and saturate to +-1; ``sigmoid(-inf)`` is 0, ``sigmoid(inf)`` 1; NaN gives NaN.

How, per function (``n``, ``e``: integers; the polynomials' coefficients were fitted for
this module, weighted near-minimax by Lawson's iteration on mpmath residuals, and are
rounded to the function's type):

* ``exp``: ``x = n ln2 + r``, ``|r| <= ln2/2``, with ln2 split in two so that ``n ln2_hi``
  is exact; ``e^r = 1 + r + r^2 Q(r)``, plus what ``r`` lost to rounding; the result is
  ``e^r 2^n1 2^n2`` (``n = n1 + n2`` keeps each factor a normal float, so the last
  product rounds once, into the denormals too). ``x`` is clamped just past both overflow
  and underflow first.
* ``log``: ``x = 2^e m``, ``m`` in [sqrt(2)/2, sqrt(2)) (denormals scaled up first);
  with ``f = m - 1`` and ``s = f / (2 + f)``, ``log(m) = 2 atanh(s)`` written as
  ``f - (f^2/2 - s (f^2/2 + s^2 P(s^2)))``, then ``+ e ln2`` in two parts.
* ``tanh``: ``x + x^3 T(x^2)`` for ``|x| < 0.55``, else ``+-(1 - 2 / (e^(2|x|) + 1))``
  (both computed, one selected).
* ``sigmoid``: with ``z = e^-|x|``, ``1 / (1 + z)`` for ``x >= 0``, ``z / (1 + z)`` else,
  corrected for the rounding of ``1 + z`` (which alone would cost half an ulp).
* ``erf`` (float64): ``x E(x^2)`` for ``|x| < 0.84375``, else
  ``+-(1 - e^(-x^2) G(t))`` with ``t = (|x| - 2) / (|x| + 2)`` and ``G`` approximating
  ``erfc(x) e^(x^2)``, ``|x|`` clamped to 6 where erf is 1 in float64. float32: the
  float64 function, rounded.

And one addition: ``sum_add(acc, x)``, ``acc + x`` in ``acc``'s type as an ``fadd`` that
LLVM may reassociate (its one fast-math flag, ``reassoc``), so that a loop summing into
a local accumulator becomes vector code with partial sums (a softmax's row sums over
[32,4,128,128]: 10.8 -> 2.4 ms). Every sum a kernel makes is thus exact up to the order
of its additions, as the reference's pairwise ``np.sum`` is; each addition still rounds
as IEEE says, and NaN and inf propagate.
"""
from __future__ import annotations

import hashlib
import math
import os

from llvmlite import ir

from . import float_ir
from .float_ir import Num, exponent, horner, pow2, significand, unary_intrinsic, where

# Polynomial coefficients, lowest order first (see the module docstring for each form).
EXP32 = (0.49999993447421764, 0.16666520632778986, 0.041668388145423355, 0.00836871638763844,
         0.0013814589520443066)
EXP64 = (0.5000000000000011, 0.16666666666666413, 0.04166666666653015, 0.00833333333349443,
         0.0013888888943631502, 0.00019841269506667568, 2.4801493098971894e-05,
         2.755758628870908e-06, 2.763024788345216e-07, 2.5000088208412047e-08)
LOG32 = (0.666667764226474, 0.39977536340472103, 0.2987187468267826)
LOG64 = (0.6666666666666734, 0.399999999994143, 0.2857142874247798, 0.22222198563333112,
         0.18183564867830093, 0.1531403594845905, 0.1479610308510469)
TANH32 = (-0.33333317556724057, 0.13332586054708637, -0.05385230215170409, 0.021071650053688,
          -0.00627420162911358)
TANH64 = (-0.333333333333333, 0.1333333333332662, -0.05396825396376001, 0.02186948838584068,
          -0.008863232601215883, 0.0035920920283346977, -0.001455542833116998,
          0.0005884444372453532, -0.0002333814471588405, 8.331628600168283e-05,
          -1.9494592077937415e-05)
ERF_SMALL = (1.1283791670955126, -0.3761263890318375, 0.1128379167095475,
             -0.026866170645032456, 0.005223977624097092, -0.0008548326915322352,
             0.00012055327465037054, -1.4925464717998772e-05, 1.6457933688850726e-06,
             -1.6303297427711433e-07, 1.4206791250973024e-08, -8.882757467137879e-10)
ERF_LARGE = (0.25539567631050575, -0.42718584741395965, 0.24165819424246637,
             -0.07897858101520525, 0.0037328924090997426, 0.006997461713634898,
             -0.0008471437467044402, -0.000981978424369173, 4.356516472243551e-05,
             0.0001744321750229562, 2.763672377787893e-05, -2.8005893415854234e-05,
             -1.6188452746525496e-05, -2.8105495784591898e-06)

# Per float width: ln2 split so that n * hi is exact for every exponent n in range,
# the round-to-integer constant 1.5 * 2^mantissa, exp's clamps (just past underflow to 0
# and overflow to inf), the smallest normal and the power of two that makes a denormal
# normal, and the coefficients.
_PRECISIONS = {
    32: dict(ln2_hi=0.693145751953125, ln2_lo=1.4286068203094173e-06, rounder=12582912.0,
             exp_low=-104.0, exp_high=89.0, smallest_normal=2.0 ** -126, denormal_scale=25,
             exp=EXP32, log=LOG32, tanh=TANH32),
    64: dict(ln2_hi=0.6931471805598903, ln2_lo=5.497923018708371e-14,
             rounder=6755399441055744.0, exp_low=-746.0, exp_high=710.0,
             smallest_normal=2.0 ** -1022, denormal_scale=54, exp=EXP64, log=LOG64,
             tanh=TANH64),
}
_TANH_SPLIT = 0.55        # below: the odd polynomial; above: the exp form (tanh >= 0.5)
_TANH_ONE = 20.0          # tanh(x) rounds to 1 in float64 from about 19.1 on
_ERF_SPLIT = 0.84375      # below: x E(x^2); above: 1 - erfc
_ERF_CENTER = 2.0         # t = (|x| - 2) / (|x| + 2)
_ERF_ONE = 6.0            # erf(x) rounds to 1 in float64 from about 5.9 on


def _precision(x: Num) -> dict:
    return _PRECISIONS[float_ir.width(x.ty)]


def _exp(x: Num) -> Num:
    """e ** x."""
    p = _precision(x)
    xc = where(x < p["exp_high"], x, p["exp_high"])
    xc = where(xc > p["exp_low"], xc, p["exp_low"])
    n = (xc * (1 / math.log(2)) + p["rounder"]) - p["rounder"]       # round to nearest
    t = xc - n * p["ln2_hi"]                                        # exact
    n_lo = n * p["ln2_lo"]
    r = t - n_lo
    r_lo = (t - r) - n_lo                                           # what r lost to rounding
    er = 1.0 + (r + (r * r * horner(r, p["exp"]) + r_lo))
    n1 = (n * 0.5 + p["rounder"]) - p["rounder"]
    y = er * pow2(n1) * pow2(n - n1)
    return where(x == x, y, x)


def _log(x: Num) -> Num:
    """The natural logarithm."""
    p = _precision(x)
    tiny = x < p["smallest_normal"]
    xn = where(tiny, x * 2.0 ** p["denormal_scale"], x)
    e = exponent(xn) - where(tiny, x.const(p["denormal_scale"]), 0.0)
    m = significand(xn)
    above = m > math.sqrt(2)
    m = where(above, m * 0.5, m)
    e = where(above, e + 1.0, e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    hfsq = 0.5 * f * f
    log_m = f - (hfsq - s * (hfsq + z * horner(z, p["log"])))
    y = e * p["ln2_hi"] + (log_m + e * p["ln2_lo"])
    y = where(x < math.inf, y, x)                                   # inf, NaN
    return where(x > 0.0, y, where(x == 0.0, x.const(-math.inf), math.nan))


def _tanh(x: Num) -> Num:
    """The hyperbolic tangent."""
    a = abs(x)
    z = x * x
    small = x + x * (z * horner(z, _precision(x)["tanh"]))       # -0 + +0 would be +0:
    small = where(x == 0.0, x, small)
    large = 1.0 - 2.0 / (_exp(2.0 * where(a < _TANH_ONE, a, _TANH_ONE)) + 1.0)
    large = where(x > 0.0, large, -large)
    return where(x == x, where(a < _TANH_SPLIT, small, large), x)


def _sigmoid(x: Num) -> Num:
    """1 / (1 + e ** -x)."""
    z = _exp(-abs(x))
    d = 1.0 + z
    q = where(x >= 0.0, x.const(1.0), z) / d
    # Less the rounding of d, (1 - d) + z: q (1 - c / d) with 1 / d ~ 1.5 - d / 2
    # (within 12.5% on [1, 2], enough for a correction of at most half an ulp).
    return q - q * (((1.0 - d) + z) * (1.5 - 0.5 * d))


def _erf(x: Num) -> Num:
    """The error function."""
    if float_ir.width(x.ty) == 32:
        return _erf(x.to(ir.DoubleType())).to(x.ty)   # then rounded once
    a = abs(x)
    small = x * horner(x * x, ERF_SMALL)
    ac = where(a < _ERF_ONE, a, _ERF_ONE)
    t = (ac - _ERF_CENTER) / (ac + _ERF_CENTER)
    large = 1.0 - _exp(-(ac * ac)) * horner(t, ERF_LARGE)
    large = where(x > 0.0, large, -large)
    return where(x == x, where(a < _ERF_SPLIT, small, large), x)


sum_add = float_ir.reassociable_add


exp = unary_intrinsic(_exp, "exp")
log = unary_intrinsic(_log, "log")
tanh = unary_intrinsic(_tanh, "tanh")
sigmoid = unary_intrinsic(_sigmoid, "sigmoid")
erf = unary_intrinsic(_erf, "erf")


def _digest() -> str:
    """A digest of this module's and :mod:`.float_ir`'s source: generated kernels carry
    it, so that a change here gives them new cache files instead of Numba's cached
    machine code of the old functions."""
    h = hashlib.sha256()
    for module in (__file__, float_ir.__file__):
        with open(os.path.abspath(module), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


SOURCE_DIGEST = _digest()

__all__ = ["SOURCE_DIGEST", "erf", "exp", "log", "sigmoid", "sum_add", "tanh"]
