"""The op registry: every op is complete, every shape rule agrees with its numpy ``ref``
(hypothesis, per op), subtle semantics match hand-written numpy, and bad operands raise
ShapeErrors that say what was wrong."""
import inspect
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fusegraph.backends.reference import run_graph
from fusegraph.ir import (BATCH as B, DType, Graph, ShapeError, Sym, TensorType, Value,
                          all_opdefs, emit, get_opdef, layer_scope)
from fusegraph.ir.opdef import (ALL_TRAITS, ARG_REDUCTION, ATTR_KINDS, COMMUTATIVE, ELEMENTWISE,
                                HAS_REGION, NO_GRADIENT, REDUCTION, REQUIRED, Attr, OpDef,
                                Reduction, check_attr, shape_attr_names, trait_errors)
from fusegraph.ir.types import resolve_shape
from helpers.contraction_shapes import tensordot_axes

# Adding an op means adding it here, and a strategy to CASES below.
OP_NAMES = """
    neg abs sign exp log sqrt rsqrt tanh sigmoid erf sin cos floor
    add sub mul div pow maximum minimum eq ne lt le gt ge logical_and logical_or logical_not
    stop_gradient where cast constant
    reduce_sum reduce_mean reduce_max reduce_min argmax argmin dim_size
    matmul tensordot
    reshape transpose broadcast_to concatenate slice take one_hot iota pad scatter_add
    segment_rows gather_rows random_uniform
    all_reduce
    fused scan
    softmax permuted_matmul
""".split()

f32, i32 = DType.f32, DType.i32
FLOATS = [DType.f32, DType.f64]
INTS = [DType.i32, DType.i64]
NUMERIC = FLOATS + INTS
ALL = NUMERIC + [DType.bool]


def test_op_set_is_the_tested_list_and_each_op_has_a_property_case():
    assert sorted(all_opdefs()) == sorted(OP_NAMES) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(all_opdefs()))
def test_opdef_is_complete(name):
    d = all_opdefs()[name]
    assert d.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
    assert isinstance(d.doc, str) and d.doc.strip(), "every op needs a doc"
    region = d.has(HAS_REGION)
    assert len(inspect.signature(d.infer).parameters) == (3 if region else 2)
    assert len(inspect.signature(d.ref).parameters) == (4 if region else 2)
    assert d.arity is None or (type(d.arity) is int and d.arity >= 0)
    assert d.traits <= ALL_TRAITS
    for spec in d.attrs.values():
        assert isinstance(spec, Attr) and spec.kind in ATTR_KINDS
        if spec.default is not REQUIRED:
            assert check_attr(spec.kind, spec.default) == spec.default


@pytest.mark.parametrize("name", sorted(all_opdefs()))
def test_every_ops_traits_agree_with_its_attributes(name):
    """One attribute convention per trait (ir/opdef.py): REDUCTION ops reduce over
    ``axes`` with ``keepdims`` and say how they fold, ARG_REDUCTION ops along ``axis``."""
    d = all_opdefs()[name]
    assert trait_errors(d) == []
    if d.has(REDUCTION):
        assert d.attrs["axes"].kind == "ints" and d.attrs["keepdims"].kind == "bool"
        combine = all_opdefs()[d.reduction.combine]
        assert combine.has(ELEMENTWISE) and combine.has(COMMUTATIVE) and combine.arity == 2
    else:
        assert d.reduction is None
    if d.has(ARG_REDUCTION):
        assert "axis" in d.attrs and "axes" not in d.attrs


@pytest.mark.parametrize("name", sorted(n for n, d in all_opdefs().items() if d.has(REDUCTION)))
@pytest.mark.parametrize("dtype", NUMERIC)
def test_a_reduction_is_its_combining_op_folded_from_its_identity(name, dtype):
    """What the kernel generators compute, from the registry alone, is the op's ref."""
    d = all_opdefs()[name]
    x = (np.random.default_rng(1).standard_normal((3, 5)) * 9).astype(dtype.numpy)
    try:
        d.infer([TensorType((3, 5), dtype)], {"axes": (1,), "keepdims": False})
    except ShapeError:
        return      # reduce_mean takes floats only
    combine = all_opdefs()[d.reduction.combine].ref
    acc = np.full(3, d.reduction.identity(dtype), dtype=x.dtype)
    for j in range(5):
        acc = combine([x[:, j], acc], {})
    if d.reduction.mean:
        acc = acc / x.dtype.type(5)
    want = d.ref([x], {"axes": (1,), "keepdims": False})
    np.testing.assert_allclose(acc, want, rtol=1e-5 if dtype == DType.f32 else 1e-12)


def test_an_op_whose_traits_disagree_with_its_attributes_is_refused():
    def fields(**kw):
        return dict(infer=lambda t, a: t[0], ref=lambda x, a: x[0], arity=1, **kw)
    with pytest.raises(ValueError, match="needs attribute 'axes' of kind 'ints'"):
        OpDef("bad_sum", traits=frozenset({REDUCTION}), reduction=Reduction("add", lambda d: 0),
              attrs={"axis": Attr("int"), "keepdims": Attr("bool", False)}, **fields())
    with pytest.raises(ValueError, match="has a ``reduction`` exactly when"):
        OpDef("bad_arg", traits=frozenset({ARG_REDUCTION}), reduction=Reduction("add", lambda d: 0),
              attrs={"axis": Attr("int"), "keepdims": Attr("bool", False)}, **fields())


def test_numpy_numbers_are_attributes_as_python_ones_and_bools_are_not_ints():
    assert check_attr("shape", (np.int64(2), B, -1)) == (2, B, -1)
    assert type(check_attr("shape", (np.int32(2),))[0]) is int
    assert check_attr("ints", [np.int64(0), 1]) == (0, 1)
    assert check_attr("int", np.int16(3)) == 3 and check_attr("float", np.float32(0.5)) == 0.5
    assert check_attr("bool", np.True_) is True
    for kind, bad in (("int", True), ("int", np.bool_(True)), ("shape", (2.0,)),
                      ("shape", (np.int64(-2),)), ("ints", (1.5,))):
        with pytest.raises(TypeError, match=f"attribute of kind '{kind}' must be"):
            check_attr(kind, bad)


@pytest.mark.parametrize("name", sorted(all_opdefs()))
def test_every_op_has_a_vjp_rule_or_no_gradient(name):
    vjp = all_opdefs()[name].vjp
    assert vjp is NO_GRADIENT or callable(vjp), f"op {name}: vjp must be a rule or NO_GRADIENT"
    if vjp is not NO_GRADIENT:
        # a region op's rule also gets the driver's ``differentiate`` callback
        want = 3 if all_opdefs()[name].has(HAS_REGION) else 2
        assert len(inspect.signature(vjp).parameters) == want, \
            "a rule takes (op, cotangents), a region op's (op, cotangents, differentiate)"


# ---- per-op cases: operand types, arrays and attributes valid for the op ----

@dataclass
class Case:
    types: list                      # TensorType per operand (may hold the symbol B)
    arrays: list                     # one concrete array per operand
    attrs: dict
    env: dict = field(default_factory=dict)
    region: Graph | None = None


def random_array(rng, shape, dtype, low=-4, high=5):
    if dtype.is_float:
        return np.asarray(rng.standard_normal(shape)).astype(dtype.numpy)
    if dtype.is_int:
        return np.asarray(rng.integers(low, high, shape)).astype(dtype.numpy)
    return np.asarray(rng.random(shape) < 0.5)


SIDE = st.integers(1, 3)
SHAPE = st.lists(SIDE, max_size=3).map(tuple)
RANKED = st.lists(SIDE, min_size=1, max_size=3).map(tuple)   # rank >= 1


def unaligned(types) -> list:
    return []


def right_aligned(types) -> list:
    """(operand, axis) of the other operands that broadcasting lines up with axis 0 of
    the first one."""
    return [(j, t.rank - types[0].rank) for j, t in enumerate(types[1:], 1)
            if t.rank >= types[0].rank]


def batch_aligned(types) -> list:
    """For matmul: as :func:`right_aligned` when axis 0 of ``a`` is a batch axis."""
    return right_aligned(types) if types[0].rank > 2 and types[1].rank > 2 else []


@st.composite
def case(draw, operands, symbolic=True, aligned=unaligned):
    """``operands`` draws ([(shape, dtype[, low, high]) ...], attrs): operand specs (int
    values in [low, high)) and attributes. The first operand's axis 0 may become B, and
    with it the axes ``aligned(types)`` lists where they have its size (a symbol meets
    only itself or 1: if one of them is another size, nothing becomes B)."""
    specs, attrs = draw(operands)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, s[0], s[1], *s[2:]) for s in specs]
    types = [TensorType(a.shape, s[1]) for a, s in zip(arrays, specs)]
    env = {}
    if symbolic and types and types[0].rank and draw(st.booleans()):
        size, others = types[0].shape[0], aligned(types)
        if all(types[j].shape[axis] in (1, size) for j, axis in others):
            env = {B: size}
            types[0] = types[0].with_shape((B,) + types[0].shape[1:])
            for j, axis in others:
                if types[j].shape[axis] == size != 1:
                    shape = list(types[j].shape)
                    shape[axis] = B
                    types[j] = types[j].with_shape(shape)
    return Case(types, arrays, attrs, env)


def unary(dtypes, attrs=st.just({})):
    return st.tuples(st.tuples(SHAPE, st.sampled_from(dtypes)).map(lambda s: [s]), attrs)


@st.composite
def broadcasting(draw, dtypes, n=2, first=None):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=3, max_side=3))
    dtype = draw(st.sampled_from(dtypes))
    kinds = [first or dtype] + [dtype] * (n - 1)
    return list(zip(shapes.input_shapes, kinds)), {}


@st.composite
def constant(draw):
    dtype = draw(st.sampled_from(ALL))
    value = random_array(np.random.default_rng(draw(st.integers(0, 99))), draw(SHAPE), dtype)
    return [], {"value": value.tolist(), "dtype": dtype}   # emit freezes lists to tuples


@st.composite
def reduction(draw, dtypes):
    shape = draw(SHAPE)
    axes = sorted(draw(st.sets(st.sampled_from(range(len(shape))))) if shape else [])
    return [(shape, draw(st.sampled_from(dtypes)))], {"axes": axes, "keepdims": draw(st.booleans())}


@st.composite
def softmax(draw):
    shape = draw(RANKED)
    axes = sorted(draw(st.sets(st.sampled_from(range(len(shape))), min_size=1)))
    return [(shape, draw(st.sampled_from(FLOATS)))], {"axes": axes}


@st.composite
def arg_reduction(draw):
    shape = draw(RANKED)
    return ([(shape, draw(st.sampled_from(NUMERIC)))],
            {"axis": draw(st.integers(0, len(shape) - 1)), "keepdims": draw(st.booleans())})


@st.composite
def dim_size(draw):
    shape = draw(RANKED)
    return ([(shape, draw(st.sampled_from(ALL)))],
            {"axis": draw(st.integers(0, len(shape) - 1)), "dtype": draw(st.sampled_from(NUMERIC))})


@st.composite
def matmul(draw):
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    batch = batch.input_shapes
    m, k, n, dtype = draw(SIDE), draw(SIDE), draw(SIDE), draw(st.sampled_from(NUMERIC))
    return [(batch[0] + (m, k), dtype), (batch[1] + (k, n), dtype)], {}


@st.composite
def permuted_matmul(draw):
    """A matmul's operands (batch dims broadcast) and a perm of its product's axes that
    ends with one of the last two."""
    operands, _ = draw(matmul())
    (a, _), (b, _) = operands
    rank = max(len(a), len(b))
    last = draw(st.sampled_from([rank - 2, rank - 1]))
    rest = draw(st.permutations([i for i in range(rank) if i != last]))
    return operands, {"perm": tuple(rest) + (last,)}


@st.composite
def tensordot(draw):
    a, b, attrs = draw(tensordot_axes())
    dtype = draw(st.sampled_from(NUMERIC))
    return [(a, dtype), (b, dtype)], attrs


@st.composite
def reshape(draw):
    shape = draw(st.lists(SIDE, max_size=4).map(tuple))
    dims = draw(st.permutations(shape))
    target = []
    for d in dims:   # merge some neighbours: same element count, another shape
        if target and draw(st.booleans()):
            target[-1] *= d
        else:
            target.append(d)
    if target and draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return [(shape, draw(st.sampled_from(ALL)))], {"shape": tuple(target)}


@st.composite
def transpose(draw):
    shape = draw(st.lists(SIDE, max_size=4).map(tuple))
    return [(shape, draw(st.sampled_from(ALL)))], {"perm": draw(st.permutations(range(len(shape))))}


@st.composite
def broadcast_to(draw):
    target = draw(SHAPE)
    suffix = target[len(target) - draw(st.integers(0, len(target))):]
    shape = tuple(1 if draw(st.booleans()) else d for d in suffix)
    return [(shape, draw(st.sampled_from(ALL)))], {"shape": target}


@st.composite
def concatenate(draw):
    base, dtype = draw(RANKED), draw(st.sampled_from(ALL))
    axis = draw(st.integers(0, len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    return [(base[:axis] + (n,) + base[axis + 1:], dtype) for n in sizes], {"axis": axis}


@st.composite
def slice_(draw):
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple))
    axes = draw(st.lists(st.sampled_from(range(len(shape))), unique=True, min_size=1))
    begin, end = zip(*(sorted(draw(st.lists(st.integers(0, shape[a]), min_size=2, max_size=2)))
                       for a in axes))
    stride = [draw(st.integers(1, 3)) for _ in axes]
    return ([(shape, draw(st.sampled_from(ALL)))],
            {"axes": axes, "begin": begin, "end": end, "stride": stride})


@st.composite
def take(draw):
    shape = draw(RANKED)
    axis = draw(st.integers(0, len(shape) - 1))
    indices = draw(st.lists(SIDE, max_size=2).map(tuple))
    return ([(shape, draw(st.sampled_from(ALL))),
             (indices, draw(st.sampled_from(INTS)), 0, shape[axis])], {"axis": axis})


@st.composite
def one_hot(draw):
    depth = draw(st.integers(1, 4))
    indices = (draw(SHAPE), draw(st.sampled_from(INTS)), -1, depth + 1)   # some out of range
    return [indices], {"depth": depth, "dtype": draw(st.sampled_from(ALL))}


@st.composite
def iota(draw):
    shape = draw(RANKED)
    return [], {"shape": shape, "axis": draw(st.integers(0, len(shape) - 1)),
                "dtype": draw(st.sampled_from(NUMERIC))}


@st.composite
def pad(draw):
    shape = draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))   # empty axes included
    amounts = st.lists(st.integers(0, 2), min_size=len(shape), max_size=len(shape)).map(tuple)
    return ([(shape, draw(st.sampled_from(ALL)))],
            {"low": draw(amounts), "high": draw(amounts), "interior": draw(amounts)})


@st.composite
def scatter_add(draw):
    shape, dtype = draw(RANKED), draw(st.sampled_from(NUMERIC))
    axis = draw(st.integers(0, len(shape) - 1))
    indices = draw(st.lists(SIDE, max_size=2).map(tuple))
    return ([(shape, dtype), (indices, draw(st.sampled_from(INTS)), 0, shape[axis]),
             (shape[:axis] + indices + shape[axis + 1:], dtype)], {"axis": axis})


@st.composite
def segment_rows(draw):
    indices, rows = draw(RANKED), draw(SIDE)
    return ([(indices, draw(st.sampled_from(INTS)), 0, rows),
             (indices + (draw(SIDE),), draw(st.sampled_from(FLOATS)))], {"rows": rows})


@st.composite
def gather_rows(draw):
    sums = draw(RANKED)
    return ([(sums, draw(st.sampled_from(FLOATS))),
             ((draw(SIDE), 1), DType.i32, -1, int(np.prod(sums[:-1])))], {})


@st.composite
def all_reduce(draw):
    """One process (the installed default): the operands come back."""
    mean = draw(st.booleans())
    dtypes = st.sampled_from(FLOATS if mean else NUMERIC)
    shapes = draw(st.lists(SHAPE, min_size=1, max_size=3))
    return [(shape, draw(dtypes)) for shape in shapes], {"mean": mean,
                                                           "tag": draw(st.integers(0, 9))}


@st.composite
def random_uniform(draw):
    """The drawn shape may start with B (bound through env only: the key is a scalar)."""
    shape = draw(SHAPE)
    attrs = {"shape": shape, "salt": draw(st.integers(0, 2**31)),
             "dtype": draw(st.sampled_from(FLOATS))}
    key = np.array(draw(st.integers(-2**63, 2**63 - 1)), dtype=np.int64)
    env = {}
    if shape and draw(st.booleans()):
        env, attrs["shape"] = {B: shape[0]}, (B,) + shape[1:]
    return Case([TensorType((), DType.i64)], [key], attrs, env)


@st.composite
def fused(draw):
    """A region computing (exp(a + b), a) on broadcasting float operands."""
    c = draw(case(broadcasting(FLOATS), aligned=right_aligned))
    a, b = (Value(t, name=n) for t, n in zip(c.types, "ab"))
    c.region = Graph.from_results("region", [a, b], [emit("exp", emit("add", a, b)), a])
    return c


def scan_body(carry_types, step_types, invariant_types, name="body"):
    """A body using every group: new carry i = tanh(carry_i + s * w) (w: the invariants'
    product, or 1), y0 = s + carry 0 (or s), y1 = s summed over its last axis, where s is
    the sum of the sequences' steps."""
    carries = [Value(ty, name=f"c{i}") for i, ty in enumerate(carry_types)]
    steps = [Value(ty, name=f"x{i}") for i, ty in enumerate(step_types)]
    invs = [Value(ty, name=f"w{i}") for i, ty in enumerate(invariant_types)]
    s = steps[0]
    for x in steps[1:]:
        s = emit("add", s, x)
    scaled = s
    for w in invs:
        scaled = emit("mul", scaled, w)
    new = [emit("tanh", emit("add", c, scaled)) for c in carries]
    ys = [emit("add", s, carries[0]) if carries else emit("neg", s),
          emit("reduce_sum", s, axes=(s.type.rank - 1,))]
    return Graph.from_results(name, carries + steps + invs, new + ys)


@st.composite
def scan(draw):
    """Carries (m, n), sequences with the time axis (0 or 1, maybe 0 steps) and
    invariants (n,); m may be the symbol B."""
    dtype = draw(st.sampled_from(FLOATS))
    nc, ns, ni = draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(0, 2))
    axis, steps, m, n = draw(st.integers(0, 1)), draw(st.integers(0, 3)), draw(SIDE), draw(SIDE)
    lead = B if draw(st.booleans()) else m
    step = TensorType((lead, n), dtype)
    seq = step.with_shape(step.shape[:axis] + (steps,) + step.shape[axis:])
    inv = TensorType((n,), dtype)
    types = [step] * nc + [seq] * ns + [inv] * ni
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    arrays = [random_array(rng, resolve_shape(ty.shape, {B: m}), dtype) for ty in types]
    attrs = {"num_carries": nc, "num_sequences": ns, "num_invariants": ni, "axis": axis,
             "reverse": draw(st.booleans())}
    return Case(types, arrays, attrs, {B: m} if lead == B else {},
                scan_body([step] * nc, [step] * ns, [inv] * ni))


CASES = {
    **{n: case(unary(FLOATS)) for n in
       "exp log sqrt rsqrt tanh sigmoid erf sin cos floor".split()},
    **{n: case(unary(NUMERIC)) for n in ("neg", "abs", "sign")},
    "logical_not": case(unary([DType.bool])),
    "stop_gradient": case(unary(ALL)),
    **{n: case(broadcasting(NUMERIC), aligned=right_aligned)
       for n in "add sub mul maximum minimum".split()},
    **{n: case(broadcasting(FLOATS), aligned=right_aligned) for n in ("div", "pow")},
    **{n: case(broadcasting(ALL), aligned=right_aligned) for n in "eq ne lt le gt ge".split()},
    **{n: case(broadcasting([DType.bool]), aligned=right_aligned)
       for n in ("logical_and", "logical_or")},
    "where": case(broadcasting(ALL, n=3, first=DType.bool), aligned=right_aligned),
    "cast": case(unary(ALL, st.fixed_dictionaries({"dtype": st.sampled_from(ALL)}))),
    "constant": case(constant()),
    **{n: case(reduction(NUMERIC)) for n in ("reduce_sum", "reduce_max", "reduce_min")},
    "reduce_mean": case(reduction(FLOATS)),
    **{n: case(arg_reduction()) for n in ("argmax", "argmin")},
    "dim_size": case(dim_size()),
    "matmul": case(matmul(), aligned=batch_aligned),
    "tensordot": case(tensordot(), symbolic=False),
    "reshape": case(reshape(), symbolic=False),
    "transpose": case(transpose()),
    "broadcast_to": case(broadcast_to(), symbolic=False),
    "concatenate": case(concatenate(), symbolic=False),
    "slice": case(slice_(), symbolic=False),
    "take": case(take()),
    "one_hot": case(one_hot()),
    "iota": case(iota()),
    "pad": case(pad(), symbolic=False),
    "scatter_add": case(scatter_add(), symbolic=False),
    "segment_rows": case(segment_rows(), symbolic=False),
    "gather_rows": case(gather_rows(), symbolic=False),
    "random_uniform": random_uniform(),
    "all_reduce": case(all_reduce(), symbolic=False),
    "fused": fused(),
    "scan": scan(),
    "softmax": case(softmax()),
    "permuted_matmul": case(permuted_matmul(), aligned=batch_aligned),
}


@pytest.mark.parametrize("name", OP_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_ref_agrees_with_shape_rule(name, data):
    c = data.draw(CASES[name], label=name)
    params = [Value(t, name=f"x{i}") for i, t in enumerate(c.types)]
    out = emit(name, *params, region=c.region, **c.attrs)
    op, opdef = (out[0] if isinstance(out, tuple) else out).producer, get_opdef(name)
    attrs = {k: resolve_shape(v, c.env) if k in shape_attr_names(opdef) else v
             for k, v in op.attrs.items()}
    region_args = (op.region, run_graph) if c.region else ()
    with np.errstate(all="ignore"):
        got = opdef.ref(c.arrays, attrs, *region_args)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(op.results)
    for array, result in zip(map(np.asarray, got), op.results):
        assert array.dtype == result.type.dtype.numpy, f"{name}: {result.type} vs {array.dtype}"
        assert array.shape == resolve_shape(result.type.shape, c.env), f"{name}: {result.type}"


# ---- explicit numerics where semantics are subtle ----

def ref(name, *arrays, **attrs):
    opdef = get_opdef(name)
    return opdef.ref(list(arrays), opdef.normalize_attrs(attrs))


def test_tensordot_is_numpys_and_orders_free_axes_a_then_b():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5, 2))
    got = ref("tensordot", a, b, axes_a=(0, 2), axes_b=(2, 0))
    np.testing.assert_allclose(got, np.einsum("ijk,kli->jl", a, b))
    x = Value(TensorType((B, 7, 3)), name="x")
    g = Value(TensorType((B, 7, 5)), name="g")
    assert emit("tensordot", x, g, axes_a=(0, 1), axes_b=(0, 1)).type == TensorType((3, 5))


def test_reshape_with_minus_one_and_symbols():
    x = Value(TensorType((B, 2, 3)), name="x")
    assert emit("reshape", x, shape=(B, -1)).type == TensorType((B, 6))
    a = np.arange(24, dtype=np.float32).reshape(4, 2, 3)
    np.testing.assert_array_equal(ref("reshape", a, shape=resolve_shape((B, -1), {B: 4})),
                                  a.reshape(4, 6))
    np.testing.assert_array_equal(ref("reshape", a, shape=(-1, 3)), a.reshape(8, 3))


def test_reshape_gives_a_symbol_a_size_and_numpy_checks_it():
    """A reshape without -1 may drop a symbol of its operand (the target sizes it) or add
    one (its gradient); the element count, checked when it runs, checks the size."""
    x = Value(TensorType((B, 2, 3)), name="x")
    assert emit("reshape", x, shape=(4, 2, 3)).type == TensorType((4, 2, 3))
    assert emit("reshape", x, shape=(4, 6)).type == TensorType((4, 6))
    back = Value(TensorType((4, 6)), name="g")
    assert emit("reshape", back, shape=(B, 2, 3)).type == TensorType((B, 2, 3))
    with pytest.raises(ValueError, match=r"size 6 into shape \(4,\s*2,\s*3\)"):
        ref("reshape", np.zeros((1, 2, 3), np.float32), shape=(4, 2, 3))


def test_slice_with_strides_on_listed_axes():
    a = np.arange(30).reshape(5, 6)
    got = ref("slice", a, axes=(1, 0), begin=(1, 0), end=(6, 5), stride=(2, 3))
    np.testing.assert_array_equal(got, [[1, 3, 5], [19, 21, 23]])


def test_take_one_hot_iota():
    gathered = ref("take", np.arange(12).reshape(3, 4), np.array([[3, 0], [1, 1]]), axis=1)
    assert gathered.shape == (3, 2, 2)
    np.testing.assert_array_equal(gathered[2], [[11, 8], [9, 9]])
    hot = ref("one_hot", np.array([0, 3, -1, 2], dtype=np.int64), depth=3)   # 3, -1: zero rows
    np.testing.assert_array_equal(hot, [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]])
    assert hot.dtype == np.float32
    ramp = ref("iota", shape=(2, 3), axis=1)
    np.testing.assert_array_equal(ramp, [[0, 1, 2], [0, 1, 2]])
    assert ramp.dtype == np.int32


def test_reductions_keepdims_and_arg_ties():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    got = ref("reduce_sum", a, axes=(0, 2), keepdims=True)
    np.testing.assert_array_equal(got, [[[a[:, 0].sum()], [a[:, 1].sum()], [a[:, 2].sum()]]])
    assert ref("reduce_mean", a, axes=(0, 1, 2)).shape == ()
    np.testing.assert_array_equal(ref("argmax", np.array([[1, 5, 5], [7, 7, 0]]), axis=1), [1, 0])


def test_dim_size_reads_the_runtime_size_of_a_symbolic_axis():
    x = Value(TensorType((B, 3, 2), DType.bool), name="x")
    n = emit("dim_size", x, axis=0)
    assert n.type == TensorType((), f32)                     # f32 by default: a count to divide by
    assert emit("dim_size", x, axis=1, dtype="int64").type == TensorType((), DType.i64)
    graph = Graph.from_results("count", [x], [n, emit("dim_size", x, axis=2, dtype="int32")])
    got = run_graph(graph, [np.zeros((5, 3, 2), bool)])
    assert got[0] == 5.0 and got[0].dtype == np.float32 and got[0].shape == ()
    assert got[1] == 2 and got[1].dtype == np.int32
    assert get_opdef("dim_size").vjp is NO_GRADIENT
    with pytest.raises(ShapeError, match=r"dim_size axis must be in \[0, 3\), got 3"):
        emit("dim_size", x, axis=3)
    with pytest.raises(ShapeError, match="dim_size dtype must be f32/f64/i32/i64, got bool"):
        emit("dim_size", x, axis=0, dtype="bool")


def test_matmul_broadcasts_batch_dims():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 1, 3, 4)), rng.standard_normal((5, 4, 2))
    got = ref("matmul", a, b)
    assert got.shape == (2, 5, 3, 2)
    np.testing.assert_allclose(got[1, 3], a[1, 0] @ b[3])


def test_where_broadcasts_and_cast_truncates_toward_zero():
    got = ref("where", np.array([[True], [False]]), np.array([1.0, 2.0]), np.array(-1.0))
    np.testing.assert_array_equal(got, [[1.0, 2.0], [-1.0, -1.0]])
    a = np.array([-1.7, -0.2, 0.0, 1.7])
    np.testing.assert_array_equal(ref("cast", a, dtype="int32"), [-1, 0, 0, 1])
    np.testing.assert_array_equal(ref("cast", a, dtype="bool"), [True, True, False, True])


def test_pad_low_high_and_interior():
    got = ref("pad", np.array([1, 2, 3]), low=(1,), high=(2,), interior=(1,))
    np.testing.assert_array_equal(got, [0, 1, 0, 2, 0, 3, 0, 0])
    got = ref("pad", np.array([[1.0, 2.0], [3.0, 4.0]]), low=(0, 2), high=(1, 0), interior=(1, 2))
    np.testing.assert_array_equal(got, [[0, 0, 1, 0, 0, 2],
                                        [0, 0, 0, 0, 0, 0],
                                        [0, 0, 3, 0, 0, 4],
                                        [0, 0, 0, 0, 0, 0]])
    assert got.dtype == np.float64
    np.testing.assert_array_equal(ref("pad", np.zeros(0), low=(1,), high=(2,), interior=(3,)),
                                  [0, 0, 0])   # an empty axis is all padding
    x = Value(t(B, 2), name="x")
    assert emit("pad", x, low=(0, 1), high=(0, 2), interior=(0, 4)).type == t(B, 9)


def test_scatter_add_accumulates_repeated_indices():
    got = ref("scatter_add", np.array([10.0, 20.0, 30.0, 40.0]), np.array([1, 3, 1, 1]),
              np.array([1.0, 2.0, 3.0, 4.0]), axis=0)
    np.testing.assert_array_equal(got, [10, 28, 30, 42], err_msg="repeats must accumulate")


def test_scatter_add_along_axis_1():
    x = np.arange(6.0).reshape(2, 3)
    idx = np.array([[2, 0], [2, 2]], dtype=np.int64)
    updates = np.arange(1.0, 9.0).reshape(2, 2, 2)      # x[:1] + idx.shape + x[2:]
    got = ref("scatter_add", x, idx, updates, axis=1)
    want = x.copy()
    for r in range(2):
        for i in range(2):
            for j in range(2):
                want[r, idx[i, j]] += updates[r, i, j]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [[0 + 2, 1, 2 + 1 + 3 + 4], [3 + 6, 4, 5 + 5 + 7 + 8]])


@pytest.mark.parametrize("bad", [4, -1])
def test_scatter_add_rejects_out_of_range_indices(bad):
    message = rf"scatter_add: index {bad} is out of range \[0, 4\) on axis 0"
    with pytest.raises(IndexError, match=message):
        ref("scatter_add", np.zeros(4), np.array([0, bad]), np.ones(2), axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segment_rows_then_gather_rows_is_a_row_scatter_into_zeros_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    ids = np.array([[3, 1, 3], [0, 3, 1]], dtype=np.int64)
    updates = rng.standard_normal((2, 3, 4)).astype(dtype)
    updates[1, 0, 0] = -0.0     # id 0's only row: summed from zero, +0.0, as the scatter's
    slots, sums = ref("segment_rows", ids, updates, rows=5)
    np.testing.assert_array_equal(slots[:, 0], [3, 1, -1, 0, -1])   # first occurrences
    for repeat in ((0, 2), (1, 1), (1, 2)):                       # not first occurrences
        np.testing.assert_array_equal(sums[repeat], 0)
    assert sums[1, 0, 0] == 0 and not np.signbit(sums[1, 0, 0])
    got = ref("gather_rows", sums, slots)
    want = ref("scatter_add", np.zeros((5, 4), dtype), ids, updates, axis=0)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


def test_segment_rows_rejects_out_of_range_indices():
    with pytest.raises(IndexError, match=r"segment_rows: index 5 is out of range \[0, 5\)"):
        ref("segment_rows", np.array([0, 5]), np.ones((2, 3)), rows=5)


def test_row_ops_say_what_shapes_they_take():
    ids = Value(TensorType((4,), DType.i32), name="ids")
    with pytest.raises(ShapeError, match=r"updates must be the indices' shape and one row dim"):
        emit("segment_rows", ids, Value(t(5, 3), name="u"), rows=9)
    with pytest.raises(ShapeError, match=r"slots must be i32\[rows, 1\], got i32\[4\]"):
        emit("gather_rows", Value(t(4, 3), name="s"), ids)


def _uniform(key, salt, shape, dtype="float32"):
    return ref("random_uniform", np.array(key, dtype=np.int64), shape=shape, salt=salt, dtype=dtype)


def test_random_uniform_is_a_pure_function_of_key_and_salt():
    a = _uniform(7, 1, (4, 5))
    assert a.shape == (4, 5) and a.dtype == np.float32
    np.testing.assert_array_equal(a, _uniform(7, 1, (4, 5)))
    for other in (_uniform(8, 1, (4, 5)), _uniform(7, 2, (4, 5)), _uniform(-7, 1, (4, 5))):
        assert not np.array_equal(a, other)
        assert np.mean(a == other) < 0.1
    assert len(np.unique(a)) == a.size
    np.testing.assert_array_equal(_uniform(7, 1, (20,))[:6], _uniform(7, 1, (2, 3)).ravel())


def test_random_uniform_statistics():
    draws = _uniform(12345, 0, (100_000,), dtype="float64")
    assert draws.min() >= 0.0 and draws.max() < 1.0
    assert abs(draws.mean() - 0.5) < 0.005
    assert abs(draws.var() - 1 / 12) < 0.002
    assert np.all(draws * 2**24 == np.floor(draws * 2**24))   # 24 bits: exact in f32
    counts = np.histogram(draws, bins=10, range=(0, 1))[0]
    assert counts.min() > 9_500 and counts.max() < 10_500
    f32 = _uniform(12345, 0, (100_000,))
    np.testing.assert_array_equal(f32, draws.astype(np.float32))
    assert f32.max() < 1.0


def test_random_uniform_symbolic_shape_is_bound_at_run_time():
    key, x = Value(t(dtype=DType.i64), name="key"), Value(t(B, 3), name="x")
    u = emit("random_uniform", key, shape=(B, 3), salt=3)
    assert u.type == t(B, 3)
    graph = Graph.from_results("g", [key, x], [u])
    k = np.array(42, dtype=np.int64)
    small = run_graph(graph, [k, np.zeros((2, 3), np.float32)])[0]
    large = run_graph(graph, [k, np.zeros((5, 3), np.float32)])[0]
    assert small.shape == (2, 3) and large.shape == (5, 3)
    np.testing.assert_array_equal(large[:2], small)   # counter-based: a prefix is the same
    assert np.all((large >= 0) & (large < 1))


def test_stop_gradient_is_identity_forward():
    a = np.array([[1.5, -2.0]])
    got = ref("stop_gradient", a)
    np.testing.assert_array_equal(got, a)
    assert got is not a and got.dtype == a.dtype


# ---- shape-rule errors ----

def t(*shape, dtype=f32):
    return TensorType(shape, dtype)


ERRORS = [
    ("exp", [t(3, dtype=i32)], {}, r"operand must be f32/f64, got i32\[3\]"),
    ("logical_not", [t(3)], {}, r"operand must be bool"),
    ("add", [t(3), t(3, dtype=DType.f64)], {}, r"one dtype, got f32\[3\], f64\[3\]"),
    ("add", [t(2, 3), t(4)], {}, r"do not broadcast: f32\[2,3\], f32\[4\]"),
    ("div", [t(3, dtype=i32), t(3, dtype=i32)], {}, r"operands must be f32/f64"),
    ("where", [t(3), t(3), t(3)], {}, r"condition must be bool"),
    ("constant", [], {"value": ((1, 2), (3,))}, r"ragged"),
    ("reduce_sum", [t(2, 3)], {"axes": (1, 0)}, r"axes must be sorted, unique and in \[0, 2\)"),
    ("reduce_mean", [t(3, dtype=i32)], {"axes": (0,)}, r"must be f32/f64"),
    ("argmax", [t(2, 3)], {"axis": 2}, r"axis must be in \[0, 2\), got 2"),
    ("matmul", [t(2, 3), t(4, 5)], {}, r"contracted dims differ.*\(3 vs 4\)"),
    ("matmul", [t(3), t(3, 4)], {}, r"rank >= 2"),
    ("matmul", [t(2, 3, 4), t(3, 4, 5)], {}, r"batch dims do not broadcast"),
    ("reshape", [t(2, 3)], {"shape": (4, 2)}, r"cannot reshape f32\[2,3\]"),
    ("reshape", [t(2, 3)], {"shape": (-1, -1)}, r"more than one -1"),
    ("reshape", [t(B, 3)], {"shape": (3, -1)}, r"symbolic dims \['B'\] must all reappear"),
    ("tensordot", [t(2, 3), t(3, 2)], {"axes_a": (1,), "axes_b": ()}, r"same length"),
    ("tensordot", [t(2, 3), t(3, 3)], {"axes_a": (1, 1), "axes_b": (0, 1)},
     r"axes_a \[1, 1\] must be distinct axes of f32\[2,3\]"),
    ("tensordot", [t(2, 3), t(3, 2)], {"axes_a": (2,), "axes_b": (0,)}, r"in \[0, 2\)"),
    ("tensordot", [t(2, 3), t(4, 2)], {"axes_a": (1,), "axes_b": (0,)},
     r"axis 1 of f32\[2,3\] and axis 0 of f32\[4,2\] are summed together but .*3 vs 4"),
    ("reshape", [t(B, 3)], {"shape": (4, 2)}, r"symbolic dims \['B'\] must all reappear"),
    ("reshape", [t(B, 3)], {"shape": (3, Sym("T"))}, r"symbolic dims \['B'\] must all reappear"),
    ("transpose", [t(2, 3)], {"perm": (0, 0)}, r"not a permutation"),
    ("broadcast_to", [t(3)], {"shape": (2, 4)}, r"cannot broadcast f32\[3\] to \(2, 4\)"),
    ("concatenate", [t(2, 3), t(2)], {"axis": 0}, r"one rank"),
    ("concatenate", [t(2, 3), t(2, 4)], {"axis": 0}, r"dim 1 differs"),
    ("concatenate", [t(B, 3), t(B, 3)], {"axis": 0}, r"symbolic dim 0"),
    ("slice", [t(4)], {"axes": (0,), "begin": (3,), "end": (2,), "stride": (1,)},
     r"0 <= begin <= end <= 4.*got 3:2:1"),
    ("slice", [t(B)], {"axes": (0,), "begin": (0,), "end": (1,), "stride": (1,)},
     r"cannot slice symbolic dim B"),
    ("take", [t(4), t(2)], {"axis": 0}, r"indices must be i32/i64"),
    ("one_hot", [t(3, dtype=i32)], {"depth": 0}, r"depth must be positive"),
    ("iota", [], {"shape": (2, 3), "axis": 2}, r"iota axis must be in \[0, 2\)"),
    ("iota", [], {"shape": (3,), "axis": 0, "dtype": "bool"}, r"iota dtype must be .*got bool"),
    ("pad", [t(2, 3)], {"low": (1,), "high": (1,), "interior": (0,)},
     r"pad needs low/high/interior of length 2 for f32\[2,3\]"),
    ("pad", [t(3)], {"low": (0,), "high": (-1,), "interior": (0,)},
     r"pad amounts must be >= 0, got 0/-1/0 on axis 0"),
    ("pad", [t(B, 3)], {"low": (1, 0), "high": (0, 0), "interior": (0, 0)},
     r"cannot pad symbolic dim B \(axis 0\)"),
    ("scatter_add", [t(4, 2), t(3), t(3, 2)], {"axis": 0}, r"indices must be i32/i64"),
    ("scatter_add", [t(4, 2), t(3, dtype=i32), t(2, 3)], {"axis": 0},
     r"updates must have shape f32\[3,2\] for f32\[4,2\], i32\[3\], got f32\[2,3\]"),
    ("scatter_add", [t(4, 2), t(3, dtype=i32), t(3, 2, dtype=DType.f64)], {"axis": 0},
     r"one dtype"),
    ("scatter_add", [t(4, 2), t(3, dtype=i32), t(3, 2)], {"axis": 2}, r"axis must be in \[0, 2\)"),
    ("random_uniform", [t(dtype=i32)], {"shape": (2,), "salt": 0}, r"key must be i64, got i32\[\]"),
    ("random_uniform", [t(2, dtype=DType.i64)], {"shape": (2,), "salt": 0},
     r"the key must be a scalar, got i64\[2\]"),
    ("random_uniform", [t(dtype=DType.i64)], {"shape": (2,), "salt": 0, "dtype": "int32"},
     r"random_uniform dtype must be f32/f64, got i32"),
    ("random_uniform", [t(dtype=DType.i64)], {"shape": (-1, 2), "salt": 0}, r"may not contain -1"),
]

# A symbol unifies only with itself (or broadcasts against 1): against an int other than 1
# or another symbol, no size can be proved equal, so every rule that unifies dims refuses
# it, naming both dims and why (issue 6: ``(B,) * (B, 2)`` was typed f32[B,2]).
T = Sym("T")
UNPROVABLE = r"the size of B is known only when the graph runs, so it cannot be proved equal to "
TWO_SYMBOLS = r"B and T are different symbols, which may be different sizes"
SYMBOL_ERRORS = [
    ("mul", [t(B), t(B, 2)], {}, r"do not broadcast: f32\[B\], f32\[B,2\]: B of \[B\] against "
     r"2 of \[B,2\] \(axis -1\): " + UNPROVABLE + "2.*expand_dims"),
    ("add", [t(B, 3), t(3, 3)], {}, UNPROVABLE + "3"),
    ("sub", [t(B, 3), t(T, 3)], {}, TWO_SYMBOLS),
    ("maximum", [t(2, B), t(B, 2)], {}, r"2 of \[2,B\] against B of \[B,2\] \(axis -2\)"),
    ("where", [t(B, dtype=DType.bool), t(1), t(4)], {}, UNPROVABLE + "4"),
    ("where", [t(B, dtype=DType.bool), t(T), t(1)], {}, TWO_SYMBOLS),
    ("matmul", [t(2, B), t(3, 4)], {}, r"contracted dims differ.*\(B vs 3\): " + UNPROVABLE + "3"),
    ("matmul", [t(2, B), t(T, 4)], {}, r"\(B vs T\): " + TWO_SYMBOLS),
    ("matmul", [t(B, 2, 3), t(4, 3, 5)], {}, r"batch dims do not broadcast: .*" + UNPROVABLE + "4"),
    ("broadcast_to", [t(B, 2)], {"shape": (3, 2)}, r"axis 0 of the operand is neither 1 nor "
     r"the target's dim \(B vs 3\): " + UNPROVABLE + "3"),
    ("broadcast_to", [t(2)], {"shape": (B, B)}, r"\(2 vs B\): " + UNPROVABLE + "2"),
    ("broadcast_to", [t(B)], {"shape": (T,)}, TWO_SYMBOLS),
    ("concatenate", [t(B, 2), t(4, 3)], {"axis": 1}, r"dim 0 differs .*\(B vs 4\): " + UNPROVABLE),
    ("concatenate", [t(B, 2), t(T, 3)], {"axis": 1}, r"dim 0 differs .*" + TWO_SYMBOLS),
]


@pytest.mark.parametrize("kind, types, attrs, message", SYMBOL_ERRORS,
                         ids=[e[0] for e in SYMBOL_ERRORS])
def test_a_symbol_unifies_only_with_itself_or_broadcasts_against_1(kind, types, attrs, message):
    params = [Value(ty, name=f"x{i}") for i, ty in enumerate(types)]
    with pytest.raises(ShapeError, match=rf"at test_ops\.py:\d+: {kind}: .*{message}"):
        emit(kind, *params, **attrs)


def test_a_symbol_meets_itself_and_1_in_every_rule():
    def v(*shape, dtype=f32):
        return Value(t(*shape, dtype=dtype), name="x")

    assert emit("mul", v(B, 1), v(B, 2)).type == t(B, 2)
    assert emit("add", v(1, T), v(B, 1)).type == t(B, T)
    assert emit("where", v(B, 1, dtype=DType.bool), v(1, T), v(B, T)).type == t(B, T)
    assert emit("matmul", v(B, 2, T), v(1, T, 3)).type == t(B, 2, 3)
    assert emit("broadcast_to", v(1, T), shape=(B, T)).type == t(B, T)
    assert emit("concatenate", v(B, 2), v(B, 3), axis=1).type == t(B, 5)


@pytest.mark.parametrize("kind, types, attrs, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_shape_rule_errors(kind, types, attrs, message):
    params = [Value(ty, name=f"x{i}") for i, ty in enumerate(types)]
    with pytest.raises(ShapeError, match=message):
        emit(kind, *params, **attrs)


def test_fused_rejects_operands_unlike_its_region():
    a = Value(t(4), name="a")
    region = Graph.from_results("r", [a], [emit("exp", a)])
    with pytest.raises(ShapeError, match=r"region @r takes \(f32\[4\]\), got \(f32\[3\]\)"):
        emit("fused", Value(t(3), name="x"), region=region)


def _scan_numpy(carries, seqs, invs, axis, reverse):
    """``scan_body``'s loop written out in numpy."""
    steps = seqs[0].shape[axis]
    ys0, ys1 = [None] * steps, [None] * steps
    for t_ in (range(steps - 1, -1, -1) if reverse else range(steps)):
        s = sum(np.take(x, t_, axis=axis) for x in seqs)
        scaled = s * np.prod(invs, axis=0) if invs else s
        ys0[t_] = s + carries[0] if carries else -s
        ys1[t_] = s.sum(axis=-1)
        carries = [np.tanh(c + scaled) for c in carries]
    return carries, np.stack(ys0, axis=axis), np.stack(ys1, axis=axis)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_loops_over_the_time_axis_and_stacks_outputs_where_their_inputs_are(axis, reverse):
    rng = np.random.default_rng(axis + 2 * reverse)
    step = TensorType((2, 3), DType.f64)
    seq = step.with_shape(step.shape[:axis] + (4,) + step.shape[axis:])
    carries = [rng.standard_normal((2, 3)) for _ in range(2)]
    seqs = [rng.standard_normal(seq.shape) for _ in range(2)]
    invs = [rng.standard_normal(3)]
    region = scan_body([step] * 2, [step] * 2, [TensorType((3,), DType.f64)])
    types = [step] * 2 + [seq] * 2 + [t(3, dtype=DType.f64)]
    params = [Value(ty, name=f"p{i}") for i, ty in enumerate(types)]
    out = emit("scan", *params, region=region, num_carries=2, num_sequences=2,
               num_invariants=1, axis=axis, reverse=reverse)
    assert [r.type for r in out] == [step, step, seq, seq.with_shape(seq.shape[:-1])]
    # what passes that re-type a graph read: the body's parameter types for these operands
    opdef = get_opdef("scan")
    assert opdef.region_params(types, out[0].producer.attrs) == tuple(p.type for p in region.params)
    got = run_graph(Graph.from_results("g", params, out), [*carries, *seqs, *invs])
    (c0, c1), y0, y1 = _scan_numpy(carries, seqs, invs, axis, reverse)
    for a, b in zip(got, [c0, c1, y0, y1]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # the final carries are fresh arrays, never an operand (reverse or not)
    assert not any(np.shares_memory(g, a) for g in got for a in carries + seqs + invs)


def test_scan_of_zero_steps_returns_the_initial_carries_and_empty_stacks():
    step = TensorType((B, 3), DType.f32)
    params = [Value(step, name="c"), Value(TensorType((B, 0, 3), DType.f32), name="xs")]
    out = emit("scan", *params, region=scan_body([step], [step], []), num_carries=1,
               num_sequences=1, num_invariants=0, axis=1)
    c = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = run_graph(Graph.from_results("g", params, out), [c, np.zeros((2, 0, 3), np.float32)])
    np.testing.assert_array_equal(got[0], c)
    assert got[0] is not c
    assert got[1].shape == (2, 0, 3) and got[2].shape == (2, 0) and got[2].dtype == np.float32


def test_scan_with_a_symbolic_length_runs_as_many_steps_as_the_input_has():
    step = TensorType((B, 2), DType.f64)
    length = Sym("T")
    params = [Value(step, name="c"), Value(TensorType((B, length, 2), DType.f64), name="xs")]
    cT, y0, y1 = emit("scan", *params, region=scan_body([step], [step], []), num_carries=1,
                      num_sequences=1, num_invariants=0, axis=1)
    assert y0.type.shape == (B, length, 2) and y1.type.shape == (B, length)
    graph = Graph.from_results("g", params, [cT, y0, y1])
    for steps in (1, 5):
        xs = np.random.default_rng(steps).standard_normal((3, steps, 2))
        got = run_graph(graph, [np.zeros((3, 2)), xs])
        (want,), w0, w1 = _scan_numpy([np.zeros((3, 2))], [xs], [], 1, False)
        np.testing.assert_allclose(got[0], want)
        np.testing.assert_allclose(got[1], w0)


def _scan_error(types, attrs, region, message):
    params = [Value(ty, name=f"x{i}") for i, ty in enumerate(types)]
    full = {"num_carries": 1, "num_sequences": 1, "num_invariants": 0, **attrs}
    with pytest.raises(ShapeError, match=message):
        emit("scan", *params, region=region, **full)


def test_scan_shape_rule_errors():
    step = t(2, 3)
    body = scan_body([step], [step], [])
    _scan_error([step, t(4, 2, 3)], {"num_sequences": 0, "num_invariants": 1}, body,
                r"num_sequences >= 1 \(the sequences' time axis sets the step count\)")
    _scan_error([step, t(4, 2, 3)], {"num_invariants": 1}, body,
                r"scan has 2 operands but num_carries \+ num_sequences \+ num_invariants = "
                r"1 \+ 1 \+ 1 = 3")
    _scan_error([step, t(4, 2, 3)], {"axis": 3}, body, r"sequence 0 \(f32\[4,2,3\]\) has no "
                                                        r"time axis 3")
    _scan_error([step, t(4, 2, 3)], {"axis": 1}, body,
                r"region @body takes \(f32\[2,3\], f32\[2,3\]\), but these operands need "
                r"\(f32\[2,3\], f32\[4,3\]\)")
    _scan_error([step, t(4, 2, 3), t(5, 2, 3)], {"num_sequences": 2},
                scan_body([step], [step, step], []),
                r"same length along axis 0: sequence 0 \(f32\[4,2,3\]\) has 4, sequence 1 "
                r"\(f32\[5,2,3\]\) has 5")
    c, x = Value(step, name="c"), Value(step, name="x")
    wrong_carry = Graph.from_results("b", [c, x], [emit("reduce_sum", c, axes=(0,))])
    _scan_error([step, t(4, 2, 3)], {}, wrong_carry,
                r"region @b returns \(f32\[3\]\), but its first 1 results must be the new "
                r"carries, typed as the carries \(f32\[2,3\]\)")
    scalar_y = Graph.from_results("b", [c, x], [c, emit("reduce_sum", x, axes=(0, 1))])
    _scan_error([step, t(2, 4, 3)], {"axis": 1}, scalar_y,
                r"per-step output 0 \(f32\[\]\) cannot be stacked along axis 1")


def test_shape_error_names_layer_and_user_line():
    x, w = Value(t(B, 3), name="x"), Value(t(4, 5), name="w")
    with layer_scope("dense"), pytest.raises(ShapeError) as info:
        emit("matmul", x, w)
    assert re.match(r"layer 'dense' at test_ops\.py:\d+: matmul: contracted dims differ",
                    str(info.value))


def test_constants_read_back_through_a_broadcast_with_one_helper_for_scan_and_simplify():
    from fusegraph.ir.ops import scan, vjp_utils

    zeros = vjp_utils.zeros(TensorType((B, 3)))            # broadcast_to of a scalar 0.0
    assert vjp_utils.is_all(zeros, 0) and not vjp_utils.is_all(zeros, 1)
    negative_zero = emit("constant", value=-0.0, dtype=f32)
    assert vjp_utils.is_all(negative_zero, 0)                # by ==: -0.0 counts as zero
    assert np.signbit(vjp_utils.splat_value(negative_zero))
    assert vjp_utils.constant_value(zeros) is None           # not a constant itself
    assert vjp_utils.splat_value(emit("exp", zeros)) is None
    ones = emit("constant", value=(1, 1), dtype=i32)
    assert vjp_utils.is_all(ones, 1) and vjp_utils.constant_value(ones).dtype == np.int32
    assert not hasattr(scan, "_is_zero")                     # the scan VJP reads is_all


def test_the_issue_6_program_is_refused_when_traced_naming_the_users_line():
    import fusegraph as fg
    from fusegraph.backends import optimizing_compiler
    from fusegraph.frontend.function import Function

    def fn(x0, x1):
        with fg.GradientTape() as tape:
            y = x0 * x1
            loss = fg.ops.sum(fg.ops.sin(y))
        return tape.gradient(loss, [x0, x1])

    line = fn.__code__.co_firstlineno + 2
    f = Function(fn, "fn", optimizing_compiler("reference"), symbolic_batch=True)
    x0, x1 = np.ones(3, np.float32), np.ones((3, 2), np.float32)
    with pytest.raises(ShapeError, match=rf"at test_ops\.py:{line}: mul: shapes do not "
                       rf"broadcast: f32\[B\], f32\[B,2\]: .*cannot be proved equal to 2"):
        f(x0, x1)
