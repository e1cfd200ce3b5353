"""Every elementwise primitive and every reduction in the op registry, in every dtype its
shape rule accepts, run by numba_cpu inside a fused kernel against the reference; each
op once more in Numba's CUDA simulator (its first accepted dtype, tame inputs).

The cases are generated from the registry, so an op is covered the moment it is
registered: its dtypes are the operand dtypes its ``infer`` accepts (probed), its inputs
come from :data:`DOMAINS` where it needs a domain (``log`` of positives) and from the
default otherwise (floats with zeros, ties and large values; ints with their extremes,
so that wrapping shows; bools). An op that needs attribute values takes them from
:data:`ATTRIBUTE_CASES`; an elementwise op or reduction the generator cannot make a case
for (an attribute it has no values for, no dtype accepted, no axes attribute it knows)
fails :func:`test_every_elementwise_op_and_reduction_has_cases`, naming it.

Each elementwise case is the op on broadcasting operands (``[B,3,4]``, ``[3,1]``,
``[]``) followed by one more elementwise op, so that the two form one kernel (a group of
one op stays a plain op); on numba_cpu the same kernel then meets :data:`SPECIALS` (NaN,
infinities, signed zeros, tiny values) in every float operand. Each reduction case is one kernel reducing a ``[B,3,4]`` value
over every set of axes, with and without ``keepdims`` (an index reduction along every
axis), then, for floats, the same over values with NaNs and infinities. Reductions that
fusion does not put in kernels run on numba_cpu all the same and are compared.
"""
import itertools
import os

from helpers import cuda_mode

cuda_mode.use_simulator()                      # before numba.cuda is first imported
os.environ.setdefault("NUMBA_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fusegraph.backends import numba_cpu, numba_cuda  # noqa: E402
from fusegraph.backends.reference import compile as reference  # noqa: E402
from fusegraph.ir import BATCH as B, DType, ShapeError, TensorType, emit  # noqa: E402
from fusegraph.ir import opdef as registry  # noqa: E402

from helpers import backend_checks as checks  # noqa: E402
from helpers.backend_checks import param  # noqa: E402

# Operand shapes by position: broadcasting ops get different shapes that broadcast.
BROADCAST_SHAPES = [(B, 3, 4), (3, 1), ()]
BATCH = 2
# The simulator wraps int32 arithmetic in its own threads, where np.errstate does not reach.
pytestmark = [pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:Grid size:Warning")]
DTYPES = list(DType)

# Required attributes of elementwise ops: the values each case takes (one case each).
ATTRIBUTE_CASES = {"cast": [{"dtype": d} for d in DTYPES]}

# Per float dtype: the (rtol, atol) numba_cpu must meet; the simulator computes ``math.*``
# in float64 and rounds, so it gets float32's everywhere.
CPU_TOLERANCE = {DType.f32: (1e-6, 1e-6), DType.f64: (1e-13, 1e-13)}
SIMULATOR_TOLERANCE = (2e-6, 1e-6)

# An op's domain where the default inputs are not all valid or would compare only
# rounding: per operand position, "positive" (in [0.1, 10]) or "moderate" (|x| <= 3).
DOMAINS = {"log": ("positive",), "sqrt": ("positive",), "rsqrt": ("positive",),
           "pow": ("positive", "moderate")}

REDUCTION_TRAITS = tuple(t for t in (registry.REDUCTION, getattr(registry, "ARG_REDUCTION", None))
                         if t is not None)


def _accepted(opdef, types, attrs):
    try:
        opdef.infer(types, opdef.normalize_attrs(attrs))
    except (ShapeError, TypeError, ValueError):
        return False
    return True


def _elementwise_cases(name, opdef):
    """(case id, dtypes of the operands, attrs) for every dtype combination ``infer``
    accepts; [] where the op has a required attribute without ATTRIBUTE_CASES."""
    required = [a for a, spec in opdef.attrs.items() if spec.default is registry.REQUIRED]
    attr_cases = ATTRIBUTE_CASES.get(name, [{}] if not required else [])
    arity = opdef.arity or 2
    shapes = BROADCAST_SHAPES[:arity] if opdef.has(registry.BROADCASTING) else [(B, 3, 4)] * arity
    cases = []
    for attrs in attr_cases:
        for dtypes in itertools.product(DTYPES, repeat=arity):
            types = tuple(TensorType(s, d) for s, d in zip(shapes, dtypes))
            if _accepted(opdef, types, attrs):
                label = "-".join([name, *(d.value for d in dtypes),
                                  *(f"{k}={getattr(v, 'value', v)}" for k, v in attrs.items())])
                cases.append((label, shapes, dtypes, attrs))
    return cases


def _reduction_cases(name, opdef):
    """(case id, dtype, list of attrs) for every dtype ``infer`` accepts; [] where the op
    has neither ``axes`` nor ``axis``."""
    if "axes" in opdef.attrs:
        every = [{"axes": axes, "keepdims": keep} for n in (1, 2, 3)
                 for axes in itertools.combinations(range(3), n) for keep in (False, True)]
    elif "axis" in opdef.attrs:
        every = [{"axis": axis, "keepdims": keep} for axis in range(3) for keep in (False, True)]
    else:
        return []
    return [(f"{name}-{d.value}", d, every) for d in DTYPES
            if _accepted(opdef, (TensorType((B, 3, 4), d),), every[0])]


def _registry_cases():
    elementwise, reductions = [], []
    for name, opdef in sorted(registry.all_opdefs().items()):
        if opdef.has(registry.ELEMENTWISE):
            elementwise += _elementwise_cases(name, opdef)
        elif any(opdef.has(t) for t in REDUCTION_TRAITS):
            reductions += _reduction_cases(name, opdef)
    return elementwise, reductions


ELEMENTWISE_CASES, REDUCTION_CASES = _registry_cases()


def test_every_elementwise_op_and_reduction_has_cases():
    covered = {c[0].split("-")[0] for c in ELEMENTWISE_CASES + REDUCTION_CASES}
    wanted = {n for n, d in registry.all_opdefs().items()
              if d.has(registry.ELEMENTWISE) or any(d.has(t) for t in REDUCTION_TRAITS)}
    assert not wanted - covered, (
        f"no backend cases for {sorted(wanted - covered)}: give their required attributes "
        f"values in ATTRIBUTE_CASES, their reductions an 'axes' or 'axis' attribute, or "
        f"check that their shape rule accepts some dtype")
    assert set(DOMAINS) <= set(registry.all_opdefs()), sorted(set(DOMAINS) - wanted)


# --- inputs -------------------------------------------------------------------------------

def _data(shape, dtype, domain, position, tame, rng, batch):
    """An operand's array (``B`` = ``batch``): ``domain`` as in :data:`DOMAINS` (None: the
    default); ``tame`` keeps floats nonzero and small (the simulator runs ``math.*``, which
    raises on specials)."""
    shape = tuple(batch if d == B else d for d in shape)
    size = int(np.prod(shape, dtype=np.int64))
    np_dtype = dtype.numpy
    if dtype == DType.bool:
        return rng.random(shape) < 0.5
    if dtype.is_int:
        info = np.iinfo(np_dtype)
        a = rng.integers(-50, 50, size=size).astype(np_dtype).reshape(-1, shape[-1] if shape else 1)
        if position == 0:       # min, max, 0, -1 in the rows that meet 1, 2 and -1: wrapping
            a[:3, :4] = [info.min, info.max, 0, -1][:a.shape[1]]
        else:
            a.flat[:3] = [1, 2, -1][:size]
        return a.reshape(shape)
    if domain == "positive":
        a = rng.uniform(0.1, 10.0, size)
    elif domain == "moderate" or tame:
        a = rng.uniform(0.5, 3.0, size) * rng.choice([-1.0, 1.0], size)
    else:
        a = rng.standard_normal(size) * 3.0
        a[::2] = np.round(a[::2] * 2) / 2       # halves: ties between operands
        specials = [0.0, -2.5, 2.5, 30.0, -30.0] if position == 0 else [0.0, 2.5]
        a[:min(size, len(specials))] = specials[:size]
    return a.astype(np_dtype).reshape(shape)


def _arrays(name, shapes, dtypes, tame=False, batch=BATCH):
    rng = np.random.default_rng(sum(map(ord, name)))
    domain = DOMAINS.get(name, ())
    return [_data(s, d, domain[i] if i < len(domain) else None, i, tame, rng, batch)
            for i, (s, d) in enumerate(zip(shapes, dtypes))]


def _then(value):
    """One more elementwise op on ``value``, so that the op under test has a kernel."""
    if value.type.dtype == DType.bool:
        return emit("logical_not", value)
    return emit("add", value, value)


# --- the cases ----------------------------------------------------------------------------

def _elementwise_graph(case):
    label, shapes, dtypes, attrs = case
    name = label.split("-")[0]
    params = [param(f"x{i}", *s, dtype=d) for i, (s, d) in enumerate(zip(shapes, dtypes))]
    r = emit(name, *params, **attrs)
    return name, params, [r, _then(r)]


def _tolerance(results, table):
    floats = [v.type.dtype for v in results if v.type.dtype.is_float]
    return table[DType.f32 if DType.f32 in floats else DType.f64] if floats else (0, 0)


# Float operands of every op meet these too, on the same kernel, in every pairing of the
# first operand with another's: NaN and infinities propagate as numpy's do, signed zeros
# and tiny values keep their sign.
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1.0, -3.0, 100.0, 0.5, -0.5]


def _special_runs(name, shapes, dtypes):
    """Input lists in which each row of the first operand ([3,3,4]: batch 3) holds every
    special value, and the other float operands take the specials in turn, a few per run."""
    n = len(SPECIALS)
    for run in range(-(-n // 3)):
        arrays = _arrays(name, shapes, dtypes, batch=3)
        for i, a in enumerate(arrays):
            if a.dtype.kind != "f":
                continue
            if i == 0:
                index = np.arange(a.size).reshape(a.shape)
                index = (index // (a.shape[-1] * a.shape[-2])) * a.shape[-1] + index % a.shape[-1]
            else:
                index = np.arange(a.size).reshape(a.shape) + run * 3 + i
            arrays[i] = np.array(SPECIALS, a.dtype)[index % n]
        yield arrays


def _undefined_on_specials(results) -> bool:
    """A float converted to an int: C leaves NaN, infinities and overflow undefined."""
    op = results[0].producer
    return op.kind == "cast" and op.operands[0].type.dtype.is_float and \
        results[0].type.dtype.is_int


@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=lambda c: c[0])
def test_elementwise_op_in_a_kernel_agrees_with_the_reference(case):
    name, params, results = _elementwise_graph(case)
    rtol, atol = _tolerance(results, CPU_TOLERANCE)
    arrays = _arrays(name, case[1], case[2])
    exe = checks.differential(numba_cpu.compile, params, results, arrays, rtol=rtol, atol=atol)
    if any(d.is_float for d in case[2]) and not _undefined_on_specials(results):
        ref = reference(checks.graph(params, results))
        for arrays in _special_runs(name, case[1], case[2]):
            with np.errstate(all="ignore"):
                want, got = ref(*arrays), exe(*arrays)
            checks.assert_same(got, want, rtol, atol)


def _reduction_graph(case):
    label, dtype, every = case
    name = label.split("-")[0]
    x = param("x", B, 3, 4, dtype=dtype)
    y = _then(x)                                # in the kernel with the reductions
    return name, [x], [y] + [emit(name, y, **attrs) for attrs in every]


def _kernels(name):
    """A reduction over ``axes`` joins the kernel of its operand; other reductions (an
    index along an ``axis``) may stay plain ops, leaving the producer a group of one."""
    opdef = registry.get_opdef(name)
    return 1 if opdef.has(registry.REDUCTION) and "axes" in opdef.attrs else None


@pytest.mark.parametrize("case", REDUCTION_CASES, ids=lambda c: c[0])
def test_reduction_over_every_axis_agrees_with_the_reference(case):
    name, params, results = _reduction_graph(case)
    rtol, atol = _tolerance(results, CPU_TOLERANCE)
    exe = checks.differential(numba_cpu.compile, params, results,
                              _arrays(name, [(B, 3, 4)], [case[1]]), kernels=_kernels(name),
                              rtol=max(rtol, 2e-6), atol=atol)
    if case[1].is_float:                        # NaN, infinities in some reduced rows
        arrays = next(_special_runs(name, [(B, 3, 4)], [case[1]]))
        with np.errstate(all="ignore"):
            want = reference(checks.graph(params, results))(*arrays)
            checks.assert_same(exe(*arrays), want, max(rtol, 2e-6), atol)


def _first_per_op(cases):
    """Each op's first case, float32 where it has one."""
    by_op = {}
    for case in cases:
        name = case[0].split("-")[0]
        f32 = "-f32" in case[0]
        if name not in by_op or (f32 and "-f32" not in by_op[name][0]):
            by_op[name] = case
    return list(by_op.values())


@pytest.mark.parametrize("case", _first_per_op(ELEMENTWISE_CASES), ids=lambda c: c[0])
def test_elementwise_op_in_a_cuda_kernel_agrees_with_the_reference(case):
    cuda_mode.skip_unless_cuda_runs()
    name, params, results = _elementwise_graph(case)
    checks.differential(numba_cuda.compile, params, results,
                        _arrays(name, case[1], case[2], tame=True), rtol=SIMULATOR_TOLERANCE[0],
                        atol=SIMULATOR_TOLERANCE[1])


@pytest.mark.parametrize("case", _first_per_op(REDUCTION_CASES), ids=lambda c: c[0])
def test_reduction_in_a_cuda_kernel_agrees_with_the_reference(case):
    cuda_mode.skip_unless_cuda_runs()
    name, params, results = _reduction_graph(case)
    checks.differential(numba_cuda.compile, params, results,
                        _arrays(name, [(B, 3, 4)], [case[1]], tame=True), kernels=_kernels(name),
                        rtol=SIMULATOR_TOLERANCE[0], atol=SIMULATOR_TOLERANCE[1])
