"""Reverse-mode autodiff: every differentiable primitive's VJP rule against central finite
differences in float64 (shapes, broadcasting and attributes drawn by hypothesis), then the
driver: fan-out, intermediates, unconnected inputs, integer paths, broadcast reduction
over a symbolic batch, seeds, stop_gradient, random draws, errors, source locations."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from fusegraph.backends.reference import compile
from helpers.contraction_shapes import tensordot_axes
from fusegraph.ir import (BATCH as B, DType, Graph, ShapeError, Sym, TensorType, Value, all_opdefs,
                          as_dtype, emit, get_opdef, layer_scope, parse_graph, print_graph, verify)
from fusegraph.ir.errors import FusegraphError, UnsupportedError
from fusegraph.ir.opdef import NO_GRADIENT
from fusegraph.ir.types import resolve_shape
from fusegraph.passes.autodiff import AutodiffError, grad_graph, gradients

f32, f64, i32, i64 = DType.f32, DType.f64, DType.i32, DType.i64
EPS = 1e-6                 # central-difference step
TOL = 1e-5                 # relative and absolute
EXAMPLES_PER_OP = 20       # hypothesis examples per op (keeps the file well under a minute)


# ---- the harness: a one-op graph, a fixed random cotangent, grad_graph, central differences ----

@dataclass
class VjpCase:
    arrays: list                          # one array per operand; float64 ones get gradients
    attrs: dict = field(default_factory=dict)
    types: list | None = None             # operand types when some dim is the symbol B
    build: Callable | None = None         # params -> result (default: emit the op itself)
    expect: Callable | None = None        # (arrays, ct) -> exact gradients (default: differences)
    batch: int | None = None              # B's size when no operand binds it (only ct does)


def check_vjp(name: str, c: VjpCase, seed: int) -> None:
    types = c.types or [TensorType(a.shape, as_dtype(a.dtype)) for a in c.arrays]
    params = [Value(t, name=f"x{i}") for i, t in enumerate(types)]
    y = c.build(*params) if c.build else emit(name, *params, **c.attrs)
    assert y.type.dtype.is_float
    # The cotangent: a constant array param of y's type, bound to concrete random values.
    ct_param = Value(y.type, name="ct")
    loss = emit("reduce_sum", emit("mul", y, ct_param), axes=tuple(range(y.type.rank)))
    forward = Graph.from_results(f"vjp_{name}", [*params, ct_param], [loss])
    wrt = [p.name for p in params if p.type.dtype.is_float]
    backward = grad_graph(forward, wrt=wrt)
    verify(backward)
    assert parse_graph(print_graph(backward)) == backward

    run_forward = compile(forward)
    env = {B: c.batch} if c.batch is not None else {}
    for t, a in zip(types, c.arrays):
        env.update((d, n) for d, n in zip(t.shape, a.shape) if d == B)
    y_shape = resolve_shape(y.type.shape, env)
    ct = np.random.default_rng(seed).standard_normal(y_shape).astype(y.type.dtype.numpy)
    loss_value, *grads = compile(backward)(*c.arrays, ct)
    np.testing.assert_allclose(loss_value, run_forward(*c.arrays, ct)[0], rtol=1e-12)
    float_ix = [i for i, p in enumerate(params) if p.type.dtype.is_float]
    assert len(grads) == len(float_ix)
    expected = c.expect(c.arrays, ct) if c.expect else [
        central_difference(lambda arrays: run_forward(*arrays, ct)[0], c.arrays, i)
        for i in float_ix]
    for i, g, want in zip(float_ix, grads, expected):
        assert g.dtype == c.arrays[i].dtype and g.shape == c.arrays[i].shape, f"operand {i}"
        np.testing.assert_allclose(g, want, rtol=TOL, atol=TOL, err_msg=f"{name}: operand {i}")


def central_difference(f, arrays, i) -> np.ndarray:
    x, grad = arrays[i], np.zeros_like(arrays[i])
    for j in np.ndindex(x.shape):
        values = []
        for step in (EPS, -EPS):
            moved = x.copy()
            moved[j] += step
            values.append(float(f([*arrays[:i], moved, *arrays[i + 1:]])))
        grad[j] = (values[0] - values[1]) / (2 * EPS)
    return grad


# ---- per-op strategies: inputs away from kinks and outside domain edges ----

SEED = st.integers(0, 2**32 - 1)
SIDE = st.integers(1, 3)
SHAPE = st.lists(SIDE, max_size=3).map(tuple)
RANKED = st.lists(SIDE, min_size=1, max_size=3).map(tuple)


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def normal(rng, shape):
    return _f64(rng.standard_normal(shape))


def positive(rng, shape):                         # log, sqrt, rsqrt, pow's base
    return _f64(rng.uniform(0.5, 2.0, shape))


def away_from_zero(rng, shape):                   # abs, sign, div's denominator
    return _f64(rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape))


def off_integers(rng, shape):                     # floor
    return _f64(rng.integers(-3, 3, shape) + rng.uniform(0.1, 0.9, shape))


def near_integers(rng, shape):                    # maximum/minimum: a near k, b near k + 1/2,
    return _f64(rng.integers(-2, 2, shape) + rng.uniform(-0.2, 0.2, shape))   # so |a - b| >= 0.1


def near_half_integers(rng, shape):
    return _f64(near_integers(rng, shape) + 0.5)


def distinct(rng, shape):                         # reduce_max/min: no ties (gaps >= 0.3)
    n = int(np.prod(shape, dtype=np.int64))
    return _f64((rng.permutation(n) * 0.5 + rng.uniform(-0.1, 0.1, n) - n / 4).reshape(shape))


def leading_b(arrays, which) -> list:
    """Operand types with axis 0 made the symbol B in each operand of ``which`` (operands that
    share that axis) whose size is the shared one (1s stay 1s and broadcast)."""
    n = max(arrays[i].shape[0] for i in which)
    types = []
    for i, a in enumerate(arrays):
        shape = (B,) + a.shape[1:] if i in which and a.shape[0] == n else a.shape
        types.append(TensorType(shape, as_dtype(a.dtype)))
    return types


def maybe_b(draw, arrays, which=(0,)):
    """Maybe make the shared axis 0 of ``which`` the symbol B (a symbol meets only itself
    or 1: B against a concrete size is a ShapeError, see below)."""
    which = [i for i in which if arrays[i].ndim]
    if not which or not draw(st.booleans()):
        return None
    return leading_b(arrays, which)


def rng_of(draw):
    return np.random.default_rng(draw(SEED))


@st.composite
def unary(draw, values=normal, attrs=st.just({}), expect=None):
    x = values(rng_of(draw), draw(SHAPE))
    return VjpCase([x], draw(attrs), maybe_b(draw, [x]), expect=expect)


@st.composite
def broadcasting(draw, values, first=None):
    """Operands of mutually broadcastable shapes; ``first`` draws a non-float first operand."""
    rng = rng_of(draw)
    n = len(values) + (first is not None)
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=3, max_side=3))
    shapes = list(shapes.input_shapes)
    arrays = ([first(rng, shapes.pop(0))] if first else []) + [
        v(rng, s) for v, s in zip(values, shapes)]
    rank = max(a.ndim for a in arrays)
    spanning = [i for i, a in enumerate(arrays) if a.ndim == rank]
    return VjpCase(arrays, types=maybe_b(draw, arrays, spanning))


def _cast_expect(arrays, ct):
    return [ct.astype(np.float64)]    # d sum(ct * f32(x)) / dx = ct, cast back to f64


@st.composite
def cast(draw):
    """f64 -> f64 against differences; f64 -> f32 exactly (differences are too coarse in f32).
    Integer results carry no gradient: see the driver tests."""
    dtype = draw(st.sampled_from([f64, f32]))
    return draw(unary(attrs=st.just({"dtype": dtype}),
                      expect=_cast_expect if dtype == f32 else None))


@st.composite
def constant(draw):
    """The constant has no operands: check x * constant, whose gradient flows past it."""
    rng = rng_of(draw)
    x = normal(rng, draw(SHAPE))
    value = normal(rng, x.shape[len(x.shape) - draw(st.integers(0, x.ndim)):]).tolist()
    return VjpCase([x], build=lambda p: emit("mul", p, emit("constant", value=value, dtype=f64)))


@st.composite
def reduction(draw, values=normal):
    x = values(rng_of(draw), draw(SHAPE))
    axes = tuple(sorted(draw(st.sets(st.sampled_from(range(x.ndim)))) if x.ndim else ()))
    return VjpCase([x], {"axes": axes, "keepdims": draw(st.booleans())}, maybe_b(draw, [x]))


@st.composite
def softmax(draw):
    x = normal(rng_of(draw), draw(SHAPE.filter(len)))
    axes = tuple(sorted(draw(st.sets(st.sampled_from(range(x.ndim)), min_size=1))))
    return VjpCase([x], {"axes": axes}, maybe_b(draw, [x]))


@st.composite
def matmul(draw):
    rng = rng_of(draw)
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    m, k, n = draw(SIDE), draw(SIDE), draw(SIDE)
    a, b = normal(rng, batch.input_shapes[0] + (m, k)), normal(rng, batch.input_shapes[1] + (k, n))
    ranks = (a.ndim - 2, b.ndim - 2)
    which = [i for i, r in enumerate(ranks) if r == max(ranks)] if max(ranks) else [0]
    return VjpCase([a, b], types=maybe_b(draw, [a, b], which))


@st.composite
def permuted_matmul(draw):
    """matmul's cases with a perm of the product's axes ending with one of its last two."""
    case = draw(matmul())
    rank = max(x.ndim for x in case.arrays)
    last = draw(st.sampled_from([rank - 2, rank - 1]))
    rest = draw(st.permutations([i for i in range(rank) if i != last]))
    case.attrs = {"perm": tuple(rest) + (last,)}
    return case


@st.composite
def tensordot(draw):
    rng = rng_of(draw)
    a, b, attrs = draw(tensordot_axes())
    return VjpCase([normal(rng, a), normal(rng, b)], attrs)


def _merge_neighbours(draw, dims) -> list:
    out = []
    for d in dims:
        if out and draw(st.booleans()):
            out[-1] *= d
        else:
            out.append(d)
    if out and draw(st.booleans()):
        out[draw(st.integers(0, len(out) - 1))] = -1
    return out


@st.composite
def reshape(draw):
    """Any regrouping of the elements; or, keeping the leading axis (maybe B), of the rest."""
    shape = draw(st.lists(SIDE, max_size=4).map(tuple))
    x = normal(rng_of(draw), shape)
    if shape and draw(st.booleans()):
        lead = B if draw(st.booleans()) else shape[0]
        target = (lead, *_merge_neighbours(draw, draw(st.permutations(shape[1:]))))
        return VjpCase([x], {"shape": target}, [TensorType((lead,) + shape[1:], f64)])
    return VjpCase([x], {"shape": tuple(_merge_neighbours(draw, draw(st.permutations(shape))))})


@st.composite
def transpose(draw):
    x = normal(rng_of(draw), draw(st.lists(SIDE, max_size=4).map(tuple)))
    return VjpCase([x], {"perm": tuple(draw(st.permutations(range(x.ndim))))}, maybe_b(draw, [x]))


@st.composite
def broadcast_to(draw):
    target = draw(SHAPE)
    suffix = target[len(target) - draw(st.integers(0, len(target))):]
    x = normal(rng_of(draw), tuple(1 if draw(st.booleans()) else d for d in suffix))
    if target and draw(st.booleans()):       # target (B, ...): x or else only ct binds B
        types = [TensorType((B,) + x.shape[1:], f64)] if (
            x.ndim == len(target) and x.shape[0] != 1) else None
        return VjpCase([x], {"shape": (B,) + target[1:]}, types, batch=target[0])
    return VjpCase([x], {"shape": target})


@st.composite
def concatenate(draw):
    rng, base = rng_of(draw), draw(RANKED)
    axis = draw(st.integers(0, len(base) - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    arrays = [normal(rng, base[:axis] + (n,) + base[axis + 1:]) for n in sizes]
    types = maybe_b(draw, arrays, range(len(arrays))) if axis else None
    return VjpCase(arrays, {"axis": axis}, types)


@st.composite
def slice_(draw):
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple))
    axes = draw(st.lists(st.sampled_from(range(len(shape))), unique=True, min_size=1))
    begin, end = zip(*(sorted(draw(st.lists(st.integers(0, shape[a]), min_size=2, max_size=2)))
                       for a in axes))
    x = normal(rng_of(draw), shape)
    attrs = {"axes": tuple(axes), "begin": begin, "end": end,
             "stride": tuple(draw(st.integers(1, 3)) for _ in axes)}
    return VjpCase([x], attrs, None if 0 in axes else maybe_b(draw, [x]))


@st.composite
def take(draw):
    rng, shape = rng_of(draw), draw(RANKED)
    axis = draw(st.integers(0, len(shape) - 1))
    x = normal(rng, shape)
    idx = np.asarray(rng.integers(0, shape[axis], draw(st.lists(SIDE, max_size=2).map(tuple))),
                     dtype=draw(st.sampled_from([np.int32, np.int64])))   # repeats likely
    return VjpCase([x, idx], {"axis": axis}, maybe_b(draw, [x, idx]) if axis else None)


@st.composite
def pad(draw):
    shape = draw(st.lists(st.integers(0, 3), max_size=3).map(tuple))   # empty axes included
    amounts = [[draw(st.integers(0, 2)) for _ in shape] for _ in range(3)]
    x = normal(rng_of(draw), shape)
    types = None
    if shape and draw(st.booleans()):          # a symbolic axis is never padded
        for a in amounts:
            a[0] = 0
        types = maybe_b(draw, [x])
    low, high, interior = map(tuple, amounts)
    return VjpCase([x], {"low": low, "high": high, "interior": interior}, types)


@st.composite
def all_reduce(draw):
    """One process (the installed default): the identity, in both reductions."""
    rng = rng_of(draw)
    return VjpCase([normal(rng, draw(RANKED))], {"mean": draw(st.booleans()), "tag": 0})


@st.composite
def scatter_add(draw):
    rng, shape = rng_of(draw), draw(RANKED)
    axis = draw(st.integers(0, len(shape) - 1))
    idx_shape = draw(st.lists(SIDE, max_size=2).map(tuple))
    x, updates = normal(rng, shape), normal(rng, shape[:axis] + idx_shape + shape[axis + 1:])
    idx = np.asarray(rng.integers(0, shape[axis], idx_shape),
                     dtype=draw(st.sampled_from([np.int32, np.int64])))
    return VjpCase([x, idx, updates], {"axis": axis},
                   maybe_b(draw, [x, idx, updates], (0, 2)) if axis else None)


def _cell(carry_types, counter, step_types, invariant_types):
    """A scan body using every group: with W the first invariant (n, n) and v the others
    (n,), s = (sum of the steps) * v... (+ 0.1 * the int counter), new carry i =
    tanh(c_i @ W + s + 0.3 c_(i+1)), and per-step outputs sin(s) * c_0 and the new c_0."""
    f64c = lambda v: emit("constant", value=v, dtype=f64)   # noqa: E731
    carries = [Value(ty, name=f"c{i}") for i, ty in enumerate(carry_types)]
    count = [Value(TensorType((), i32), name="count")] if counter else []
    steps = [Value(ty, name=f"x{k}") for k, ty in enumerate(step_types)]
    invs = [Value(ty, name=f"w{j}") for j, ty in enumerate(invariant_types)]
    s = steps[0]
    for x in steps[1:]:
        s = emit("add", s, x)
    for v in invs[1:]:
        s = emit("mul", s, v)
    if counter:
        s = emit("add", s, emit("mul", emit("cast", count[0], dtype=f64), f64c(0.1)))
    new = []
    for i, c in enumerate(carries):
        rec = emit("matmul", c, invs[0]) if invs else c
        mixed = emit("add", emit("add", rec, s),
                     emit("mul", carries[(i + 1) % len(carries)], f64c(0.3)))
        new.append(emit("tanh", mixed))
    ys = [emit("mul", emit("sin", s), carries[0]) if carries else emit("sin", s)]
    ys += new[:1]
    new_count = [emit("add", count[0], emit("constant", value=1, dtype=i32))] if counter else []
    return Graph.from_results("cell", carries + count + steps + invs, new + new_count + ys)


@st.composite
def scan(draw):
    """A loop over axis 0 or 1, forward or reverse, 1-3 steps: float carries (m, n), maybe
    an int32 scalar counter carry (below the time axis's rank: its saved steps are padded),
    sequences, an (n, n) weight and (n,) weights; m may be the symbol B. The checked value
    is the final carries, the stacked outputs, or both."""
    rng = rng_of(draw)
    nc, ns, ni = draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(0, 2))
    counter, axis, reverse = draw(st.booleans()), draw(st.integers(0, 1)), draw(st.booleans())
    steps, m, n = draw(st.integers(1, 3)), draw(SIDE), draw(SIDE)
    lead = B if draw(st.booleans()) else m
    step = TensorType((lead, n), f64)
    seq = step.with_shape(step.shape[:axis] + (steps,) + step.shape[axis:])
    inv_types = [TensorType((n, n), f64)] * min(ni, 1) + [TensorType((n,), f64)] * (ni - 1)
    types = [step] * nc + [TensorType((), i32)] * counter + [seq] * ns + inv_types
    arrays = [normal(rng, resolve_shape(t.shape, {B: m})) * 0.7 for t in types]
    if counter:
        arrays[nc] = np.asarray(draw(st.integers(0, 3)), dtype=np.int32)
    region = _cell([step] * nc, counter, [step] * ns, inv_types)
    use = draw(st.sampled_from(["carries", "ys", "both"])) if nc else "ys"

    def build(*params):
        out = emit("scan", *params, region=region, num_carries=nc + counter, num_sequences=ns,
                   num_invariants=ni, axis=axis, reverse=reverse)
        out = out if isinstance(out, tuple) else (out,)
        final, stacked = out[:nc], out[nc + counter:]
        if use == "ys":
            return stacked[0]
        total = final[0]
        for c in final[1:]:
            total = emit("add", total, c)
        if use == "both":
            total = emit("add", total, emit("reduce_sum", stacked[0], axes=(axis,)))
        return total

    return VjpCase(arrays, types=types, build=build)


def _zero_expect(arrays, ct):
    return [np.zeros_like(arrays[0])]


VJP_CASES = {
    **{n: unary() for n in "neg exp tanh sigmoid erf sin cos".split()},
    **{n: unary(positive) for n in ("log", "sqrt", "rsqrt")},
    **{n: unary(away_from_zero) for n in ("abs", "sign")},
    "floor": unary(off_integers),
    "stop_gradient": unary(expect=_zero_expect),    # by design not its derivative: zero
    **{n: broadcasting((normal, normal)) for n in ("add", "sub", "mul")},
    "div": broadcasting((normal, away_from_zero)),
    "pow": broadcasting((positive, lambda rng, s: _f64(rng.uniform(-2, 2, s)))),
    **{n: broadcasting((near_integers, near_half_integers)) for n in ("maximum", "minimum")},
    "where": broadcasting((normal, normal), first=lambda rng, s: np.asarray(rng.random(s) < 0.5)),
    "cast": cast(),
    "constant": constant(),
    **{n: reduction() for n in ("reduce_sum", "reduce_mean")},
    **{n: reduction(distinct) for n in ("reduce_max", "reduce_min")},
    "matmul": matmul(),
    "tensordot": tensordot(),
    "reshape": reshape(),
    "transpose": transpose(),
    "broadcast_to": broadcast_to(),
    "concatenate": concatenate(),
    "slice": slice_(),
    "take": take(),
    "pad": pad(),
    "scatter_add": scatter_add(),
    "all_reduce": all_reduce(),
    "scan": scan(),
    "softmax": softmax(),
    "permuted_matmul": permuted_matmul(),
}
VJP_OPS = sorted(VJP_CASES)
VJP_CASE_COUNT = len(VJP_OPS) * EXAMPLES_PER_OP   # per-op VJP cases run (ops x examples)


def test_every_differentiable_op_has_a_vjp_case():
    """Adding an op with a VJP rule means adding a strategy to VJP_CASES."""
    differentiable = {n for n, d in all_opdefs().items() if d.vjp is not NO_GRADIENT}
    assert set(VJP_CASES) == differentiable - {"fused", "segment_rows", "gather_rows"}
    assert get_opdef("fused").vjp is not NO_GRADIENT   # its rule raises: see below


@pytest.mark.parametrize("name", VJP_OPS)
@settings(max_examples=EXAMPLES_PER_OP, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_vjp_matches_central_differences(name, data):
    case = data.draw(VJP_CASES[name], label=name)
    with np.errstate(all="raise"):     # inputs are chosen inside every domain
        check_vjp(name, case, data.draw(SEED, label="cotangent seed"))


def test_fused_refuses_to_be_differentiated():
    a = Value(TensorType((3,), f64), name="a")
    region = Graph.from_results("kernel", [a], [emit("exp", a)])
    x = Value(TensorType((3,), f64), name="x")
    y = emit("fused", x, region=region)
    with pytest.raises(UnsupportedError,
                       match=r"cannot differentiate through fused kernel @kernel: "
                             r"autodiff runs before fusion") as info:
        gradients([y], [x])
    assert not isinstance(info.value, ShapeError)      # not a shape problem
    assert isinstance(info.value, (FusegraphError, NotImplementedError))


def test_row_sums_and_gathers_refuse_to_be_differentiated():
    """Passes make them after autodiff (fusegraph.passes.sparse_rows)."""
    ids = Value(TensorType((4,), DType.i32), name="ids")
    updates = Value(TensorType((4, 3), f64), name="u")
    slots, sums = emit("segment_rows", ids, updates, rows=6)
    for y, name in ((sums, "segment_rows"), (emit("gather_rows", sums, slots), "gather_rows")):
        with pytest.raises(UnsupportedError, match=rf"cannot differentiate {name}: passes make "
                                                   rf"it after autodiff"):
            gradients([y], [updates])


# ---- scan: the backward loop, symbolic lengths, zero steps, nesting ----

def _rnn_cell(n=2, name="cell"):
    h, x, w = (Value(TensorType(shape, f64), name=nm)
               for nm, shape in (("h", (B, n)), ("x", (B, n)), ("w", (n, n))))
    new = emit("tanh", emit("add", emit("matmul", h, w), x))
    return Graph.from_results(name, [h, x, w], [new, new])


def _rnn_numpy(h, xs, w, reverse=False):
    """Final h and the stacked outputs of ``_rnn_cell`` over axis 1, in numpy."""
    ys = [None] * xs.shape[1]
    for t in (reversed(range(xs.shape[1])) if reverse else range(xs.shape[1])):
        h = ys[t] = np.tanh(h @ w + xs[:, t])
    return h, (np.stack(ys, axis=1) if ys else np.zeros(xs.shape))


def test_vjp_graph_is_the_callback_region_rules_get():
    from fusegraph.passes.autodiff import vjp_graph
    cell = _rnn_cell()
    g = vjp_graph(cell, [0, 2])
    assert g.name == "cell_vjp"
    assert [p.name for p in g.params] == ["h", "x", "w", "ct0", "ct1"]
    assert [r.type for r in g.results] == [cell.params[0].type, cell.params[2].type]
    verify(g)
    rng = np.random.default_rng(0)
    h, x, w, c0, c1 = (rng.standard_normal(p.type.shape if B not in p.type.shape else (3, 2))
                       for p in g.params)
    gh, gw = compile(g)(h, x, w, c0, c1)
    d = (c0 + c1) * (1 - np.tanh(h @ w + x) ** 2)
    np.testing.assert_allclose(gh, d @ w.T)
    np.testing.assert_allclose(gw, h.T @ d)
    with pytest.raises(AutodiffError, match=r"graph @cell: cannot differentiate w.r.t. "
                                            r"parameter 5: expected the index of a float"):
        vjp_graph(cell, [5])


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_gradient_over_a_symbolic_length_is_one_backward_loop(reverse):
    length = Sym("T")
    h0, xs, w = param("h0", B, 2), param("xs", B, length, 2), param("w", 2, 2)
    hT, ys = emit("scan", h0, xs, w, region=_rnn_cell(), num_carries=1, num_sequences=1,
                  num_invariants=1, axis=1, reverse=reverse)
    loss = emit("add", emit("reduce_sum", hT, axes=(0, 1)),
                emit("reduce_sum", emit("mul", ys, ys), axes=(0, 1, 2)))
    backward = grad_graph(Graph.from_results("g", [h0, xs, w], [loss]))
    verify(backward)
    assert parse_graph(print_graph(backward)) == backward
    scans = [op for op in backward.ops if op.kind == "scan"]
    assert [op.region.name for op in scans] == ["cell", "cell_saving", "cell_grad"]
    back = scans[-1]
    assert back.attrs["reverse"] is (not reverse)
    # the backward loop reads the saved carries, the inputs and the outputs' cotangent
    assert (back.attrs["num_carries"], back.attrs["num_sequences"]) == (2, 3)
    assert back.operands[2] is scans[1].results[2] and back.operands[3] is xs
    run_backward = compile(backward)

    def f(a, b, c):
        hT_, ys_ = _rnn_numpy(a, b, c, reverse)
        return hT_.sum() + (ys_ ** 2).sum()

    for steps in (1, 4):
        rng = np.random.default_rng(steps)
        arrays = [rng.standard_normal((3, 2)), rng.standard_normal((3, steps, 2)),
                  rng.standard_normal((2, 2)) * 0.5]
        loss_value, *grads = run_backward(*arrays)
        np.testing.assert_allclose(loss_value, f(*arrays), rtol=1e-12)
        for i, g in enumerate(grads):
            want = central_difference(lambda a: f(*a), arrays, i)
            np.testing.assert_allclose(g, want, rtol=TOL, atol=TOL, err_msg=f"operand {i}")


def test_scan_of_zero_steps_passes_the_carry_cotangent_through():
    h0, xs, w = param("h0", B, 2), param("xs", B, 0, 2), param("w", 2, 2)
    hT, ys = emit("scan", h0, xs, w, region=_rnn_cell(), num_carries=1, num_sequences=1,
                  num_invariants=1, axis=1)
    ct = param("ct", B, 2)
    gh, gx, gw = gradients([hT], [h0, xs, w], seeds=[ct])
    c = np.arange(6.0).reshape(3, 2)
    got = run([gh, gx, gw], [h0, xs, w, ct], np.ones((3, 2)), np.zeros((3, 0, 2)),
              np.ones((2, 2)), c)
    np.testing.assert_array_equal(got[0], c)
    assert got[1].shape == (3, 0, 2)
    np.testing.assert_array_equal(got[2], np.zeros((2, 2)))


def test_scan_inside_a_scan_body_is_differentiated_through_the_same_driver():
    """An outer loop over axis 0 whose body runs the RNN over axis 1 of its step."""
    inner_h, inner_xs, inner_w = param("h", B, 2), param("xs", B, 3, 2), param("w", 2, 2)
    hT, _ = emit("scan", inner_h, inner_xs, inner_w, region=_rnn_cell(), num_carries=1,
                 num_sequences=1, num_invariants=1, axis=1)
    outer = Graph.from_results("outer", [inner_h, inner_xs, inner_w],
                               [emit("mul", hT, emit("constant", value=0.9, dtype=f64)), hT])
    h0, xss, w = param("h0", B, 2), param("xss", 2, B, 3, 2), param("w", 2, 2)
    final, stacked = emit("scan", h0, xss, w, region=outer, num_carries=1, num_sequences=1,
                          num_invariants=1)
    loss = emit("add", emit("reduce_sum", final, axes=(0, 1)),
                emit("reduce_sum", emit("sin", stacked), axes=(0, 1, 2)))
    backward = grad_graph(Graph.from_results("g", [h0, xss, w], [loss]))
    verify(backward)
    assert parse_graph(print_graph(backward)) == backward

    def f(a, b, c):
        h, total = a, 0.0
        for k in range(b.shape[0]):
            h = _rnn_numpy(h, b[k], c)[0]
            total += np.sin(h).sum()
            h = h * 0.9
        return total + h.sum()

    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, 2)), rng.standard_normal((2, 2, 3, 2)),
              rng.standard_normal((2, 2)) * 0.5]
    loss_value, *grads = compile(backward)(*arrays)
    np.testing.assert_allclose(loss_value, f(*arrays), rtol=1e-12)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, central_difference(lambda a: f(*a), arrays, i),
                                   rtol=TOL, atol=TOL, err_msg=f"operand {i}")


def test_constant_rule_gives_no_gradients():
    c = emit("constant", value=(1.0, 2.0), dtype=f64)
    assert get_opdef("constant").vjp(c.producer, (c,)) == ()


# ---- tie and repeat semantics the differences cannot see ----

def run(values, params, *arrays):
    """Run the graph from ``params`` to ``values`` (verified first) on ``arrays``."""
    graph = Graph.from_results("g", params, values)
    verify(graph)
    return compile(graph)(*arrays)


def test_reduce_max_ties_share_the_gradient_and_maximum_ties_go_to_b():
    x = Value(TensorType((2, 3), f64), name="x")
    (gx,) = gradients([emit("reduce_max", x, axes=(1,))], [x])
    got = run([gx], [x], np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 5.0]]))[0]
    np.testing.assert_allclose(got, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    a, b = Value(TensorType((3,), f64), name="a"), Value(TensorType((3,), f64), name="b")
    for kind in ("maximum", "minimum"):
        ga, gb = gradients([emit(kind, a, b)], [a, b])
        got = run([ga, gb], [a, b], np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 4.0]))
        want_a = [0, 1, 0] if kind == "maximum" else [0, 0, 1]   # a tie (1 vs 1) goes to b
        np.testing.assert_array_equal(got[0], want_a)
        np.testing.assert_array_equal(got[1], 1 - np.array(want_a))


def test_take_repeated_indices_accumulate_their_gradients():
    x, idx = Value(TensorType((4, 2), f64), name="x"), Value(TensorType((3,), i32), name="i")
    (gx,) = gradients([emit("take", x, idx, axis=0)], [x])
    got = run([gx], [x, idx], np.ones((4, 2)), np.array([1, 1, 3], np.int32))[0]
    np.testing.assert_array_equal(got, [[0, 0], [2, 2], [0, 0], [1, 1]])


# ---- the driver ----

def param(name, *shape, dtype=f64):
    return Value(TensorType(shape, dtype), name=name)


def test_fan_out_accumulates():
    x = param("x", 3)
    y = emit("add", emit("mul", x, x), emit("sin", x))          # x used three times
    (gx,) = gradients([y], [x])
    a = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(run([gx], [x], a)[0], 2 * a + np.cos(a))
    backward = Graph.from_results("g", [x], [gx])
    assert sum(op.kind == "add" for op in backward.ops) >= 2     # three contributions summed


def test_gradient_with_respect_to_an_intermediate():
    x, w = param("x", B, 3), param("w", 3, 2)
    h = emit("matmul", x, w)
    y = emit("reduce_sum", emit("tanh", h), axes=(0, 1))
    gh, gw = gradients([y], [h, w])
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    got_h, got_w = run([gh, gw], [x, w], xa, wa)
    dh = 1 - np.tanh(xa @ wa) ** 2
    np.testing.assert_allclose(got_h, dh)
    np.testing.assert_allclose(got_w, xa.T @ dh)
    assert gh.type == h.type


def test_unconnected_inputs_give_none_or_zeros():
    x, z = param("x", 3), param("z", B, 2)
    y = emit("exp", x)
    gx, gz = gradients([y], [x, z])
    assert gx is not None and gz is None
    gx, gz = gradients([y], [x, z], unconnected="zero")
    assert gz.type == z.type
    got = run([gz], [z], np.ones((5, 2)))[0]
    np.testing.assert_array_equal(got, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="unconnected must be 'none' or 'zero', got 'skip'"):
        gradients([y], [x], unconnected="skip")


def test_integer_paths_carry_no_gradient():
    x = param("x", 3)
    rounded = emit("cast", emit("cast", x, dtype=i32), dtype=f64)
    (g,) = gradients([rounded], [x])
    assert g is None
    (g,) = gradients([emit("mul", x, rounded)], [x])      # only the float path counts
    a = np.array([1.7, -2.2, 0.4])
    np.testing.assert_array_equal(run([g], [x], a)[0], np.trunc(a))
    backward = grad_graph(Graph.from_results("g", [x], [rounded]))
    np.testing.assert_array_equal(compile(backward)(a)[1], np.zeros(3))


@pytest.mark.parametrize("batch", [2, 5])
def test_bias_broadcast_over_symbolic_batch_gets_batch_summed_gradient(batch):
    x, bias, ct = param("x", B, 4), param("b", 4), param("ct", B, 4)
    y = emit("add", x, bias)
    gx, gb = gradients([y], [x, bias], seeds=[ct])
    assert gx.type == x.type and gb.type == bias.type
    rng = np.random.default_rng(batch)
    xa, ba = rng.standard_normal((batch, 4)), rng.standard_normal(4)
    ca = rng.standard_normal((batch, 4))
    got_x, got_b = run([gx, gb], [x, bias, ct], xa, ba, ca)
    np.testing.assert_allclose(got_x, ca)
    np.testing.assert_allclose(got_b, ca.sum(axis=0))


def test_a_symbol_broadcast_against_a_concrete_size_is_refused_when_traced():
    """B against a concrete 3 or another symbol cannot be proved equal: the forward op is
    a ShapeError naming the line, so no gradient can be built on a guessed size (issue 6:
    ``(B,) * (B, 2)`` was typed f32[B,2] and its gradient failed when run)."""
    x, w, t = param("x", B, 4), param("w", 2, 3, 4), param("t", Sym("T"), 4)
    with pytest.raises(ShapeError, match=r"test_autodiff\.py:\d+: add: .*B of \[B,4\] against "
                       r"3 of \[2,3,4\].*cannot be proved equal to 3"):
        emit("add", x, w)
    with pytest.raises(ShapeError, match=r"mul: .*B and T are different symbols"):
        emit("mul", x, t)
    with pytest.raises(ShapeError, match=r"mul: .*B of \[B\] against 2 of \[B,2\]"):
        emit("mul", param("v", B), param("m", B, 2))


def test_seeds_weight_each_output_and_default_to_ones():
    x, s = param("x", 3), param("s", 3)
    y1, y2 = emit("exp", x), emit("sin", x)
    (g,) = gradients([y1, y2], [x], seeds=[s, None])
    a, sa = np.array([0.1, 0.5, -1.0]), np.array([2.0, -1.0, 0.5])
    np.testing.assert_allclose(run([g], [x, s], a, sa)[0], sa * np.exp(a) + np.cos(a))


def test_a_seed_has_its_outputs_type_and_one_is_given_per_output():
    # A [3] seed for a [B,3] output was reshaped to [B,3] (right only for B = 1).
    x = param("x", B, 3)
    y = emit("exp", x)
    with pytest.raises(AutodiffError, match=r"seed 0 has type f64\[3\], but output 0 .* has "
                       r"type f64\[B,3\]: a seed has its output's type"):
        gradients([y], [x], seeds=[param("s", 3)])
    with pytest.raises(AutodiffError, match=r"2 seeds for 1 outputs"):
        gradients([y], [x], seeds=[None, None])


def test_matmul_with_broadcast_batch_dims():
    a, b, ct = param("a", 2, 1, 3, 4), param("b", 5, 4, 2), param("ct", 2, 5, 3, 2)
    ga, gb = gradients([emit("matmul", a, b)], [a, b], seeds=[ct])
    assert ga.type == a.type and gb.type == b.type
    rng = np.random.default_rng(1)
    aa, ba, ca = (rng.standard_normal(p.type.shape) for p in (a, b, ct))
    got_a, got_b = run([ga, gb], [a, b, ct], aa, ba, ca)
    np.testing.assert_allclose(got_a, (ca @ ba.swapaxes(-1, -2)).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(got_b, (aa.swapaxes(-1, -2) @ ca).sum(axis=0))


def test_dense_weight_gradient_sums_over_symbolic_batch():
    x, w = param("x", B, 7, 3), param("w", 3, 2)
    (gw,) = gradients([emit("matmul", x, w)], [w])
    xa = np.random.default_rng(2).standard_normal((4, 7, 3))
    np.testing.assert_allclose(run([gw], [x, w], xa, np.zeros((3, 2)))[0],
                               np.broadcast_to(xa.sum(axis=(0, 1))[:, None], (3, 2)))


def test_a_2d_weight_on_sequences_gets_one_tensordot_not_a_batched_matmul_and_a_sum():
    x, w = param("x", B, 7, 3), param("w", 3, 2)
    ct = param("ct", B, 7, 2)
    gx, gw = gradients([emit("matmul", x, w)], [x, w], seeds=[ct])
    kinds = [op.kind for op in Graph.from_results("g", [x, w, ct], [gw]).ops]
    assert kinds == ["tensordot"]
    w_first = param("v", 2, 7)                       # v[2,7] @ y[B,7,3]: dv is one too
    y, cy = param("y", B, 7, 3), param("cy", B, 2, 3)
    (gv,) = gradients([emit("matmul", w_first, y)], [w_first], seeds=[cy])
    assert [op.kind for op in Graph.from_results("g", [w_first, y, cy], [gv]).ops] == ["tensordot"]
    rng = np.random.default_rng(3)
    xa, ca, ya, cya = (rng.standard_normal(s) for s in ((4, 7, 3), (4, 7, 2), (4, 7, 3), (4, 2, 3)))
    got_x, got_w = run([gx, gw], [x, w, ct], xa, np.ones((3, 2)), ca)
    np.testing.assert_allclose(got_w, np.einsum("btk,btn->kn", xa, ca))
    np.testing.assert_allclose(got_x, ca @ np.ones((3, 2)).T)
    np.testing.assert_allclose(run([gv], [w_first, y, cy], np.ones((2, 7)), ya, cya)[0],
                               np.einsum("bmn,bkn->mk", cya, ya))


@pytest.mark.parametrize("batch", [3, 7])
def test_reduce_mean_over_the_symbolic_batch_counts_it_at_run_time(batch):
    x = param("x", B, 4)
    g_batch, = gradients([emit("reduce_mean", x, axes=(0,))], [x])
    g_all, = gradients([emit("reduce_mean", x, axes=(0, 1), keepdims=True)], [x])
    got = run([g_batch, g_all], [x], np.ones((batch, 4)))
    np.testing.assert_allclose(got[0], np.full((batch, 4), 1 / batch))
    # the count is read from the shape (dim_size), not summed from a tensor of ones
    kinds = [op.kind for op in Graph.from_results("g", [x], [g_all]).ops]
    assert kinds.count("dim_size") == 1 and "reduce_sum" not in kinds
    assert all(op.attrs["axis"] == 0 for op in Graph.from_results("g", [x], [g_all]).ops
               if op.kind == "dim_size")
    np.testing.assert_allclose(got[1], np.full((batch, 4), 1 / (4 * batch)))


def test_stop_gradient_blocks():
    x = param("x", 3)
    (g,) = gradients([emit("mul", x, emit("stop_gradient", x))], [x])
    a = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(run([g], [x], a)[0], a)        # x, not 2x
    assert gradients([emit("stop_gradient", x)], [x]) == [None]


def test_random_uniform_has_no_gradient():
    assert get_opdef("random_uniform").vjp is NO_GRADIENT
    x, key = param("x", B, 3), param("key", dtype=i64)
    u = emit("random_uniform", key, shape=(B, 3), salt=1, dtype=f64)
    (gx,) = gradients([emit("mul", x, u)], [x])
    got, draws = run([gx, u], [x, key], np.ones((2, 3)), np.array(9, np.int64))
    np.testing.assert_array_equal(got, draws)
    # A key computed from x: the path runs through integers and a random draw, so nothing.
    derived = emit("cast", emit("reduce_sum", x, axes=(0, 1)), dtype=i64)
    draws = emit("random_uniform", derived, shape=(3,), salt=0, dtype=f64)
    assert gradients([draws], [x]) == [None]


def test_non_float_outputs_and_inputs_are_refused():
    x, n = param("x", 3), param("n", 3, dtype=i32)
    with pytest.raises(AutodiffError, match=r"integer/bool output .*argmax.*i32\[\].*"
                                            r"gradients flow along float values only"):
        gradients([emit("argmax", x, axis=0)], [x])
    with pytest.raises(AutodiffError, match=r"integer/bool input .*param n: i32\[3\]"):
        gradients([emit("cast", n, dtype=f64)], [n])
    with pytest.raises(AutodiffError, match=r"integer/bool output"):
        gradients([emit("gt", x, x)], [x])
    with pytest.raises(AutodiffError, match=r"graph @g has no params \['w'\]; it has \['x'\]"):
        grad_graph(Graph.from_results("g", [x], [emit("exp", x)]), wrt=["w"])


def test_backward_ops_point_at_their_forward_op():
    x, w = param("x", B, 3), param("w", 3, 2)
    with layer_scope("dense"):
        y = emit("tanh", emit("matmul", x, w)); line = _line()   # noqa: E702 (same line)
    forward = Graph.from_results("g", [x, w], [emit("reduce_sum", y, axes=(0, 1))])
    backward = grad_graph(forward)
    new = [op for op in backward.ops if op not in forward.ops]
    assert new
    for op in new:
        assert op.loc.layer in ("grad", "dense/grad"), op.loc
    from_dense = [op for op in new if op.loc.layer == "dense/grad"]
    assert {op.kind for op in from_dense} >= {"matmul", "mul", "sub", "transpose"}
    assert {(op.loc.file, op.loc.line) for op in from_dense} == {(HERE, line)}
    assert f"{HERE}:{line} dense/grad" in print_graph(backward)
    # Ops outside any layer get plain "grad".
    outer = [op for op in new if op.loc.layer == "grad" and op.loc.file]
    assert outer and all(op.loc.file == HERE for op in outer)
    assert any(op.kind == "reduce_sum" for op in forward.ops
               if op.loc.layer is None)   # the loss, emitted outside the scope
    verify(backward)


HERE = os.path.basename(__file__)


def _line() -> int:
    return sys._getframe(1).f_lineno


def test_grad_graph_appends_gradients_of_every_float_param_and_verifies():
    x, w, i = param("x", B, 3), param("w", 3, 2), param("i", B, dtype=i32)
    h = emit("take", emit("matmul", x, w), i, axis=0)
    forward = Graph.from_results("g", [x, w, i], [emit("reduce_mean", h, axes=(0, 1))])
    backward = grad_graph(forward)
    verify(backward)
    assert parse_graph(print_graph(backward)) == backward
    assert [r.type for r in backward.results] == [TensorType((), f64), x.type, w.type]
    rng = np.random.default_rng(3)
    xa, wa = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    ia = np.array([0, 3, 3, 1], np.int32)
    loss, gx, gw = compile(backward)(xa, wa, ia)
    counts = np.bincount(ia, minlength=4)[:, None]
    np.testing.assert_allclose(gx, counts * wa.sum(axis=1) / 8)
    np.testing.assert_allclose(gw, (counts * xa).sum(axis=0)[:, None] / 8 * np.ones((1, 2)))
    with pytest.raises(AutodiffError):
        grad_graph(forward, wrt=["i"])


def test_relu_has_zero_gradient_at_zero_like_tensorflow():
    import fusegraph as fg
    from fusegraph.frontend.function import function

    @function
    def grad_of_relu(x):
        with fg.GradientTape() as tape:
            y = fg.ops.sum(fg.ops.relu(x))
        return tape.gradient(y, x)

    got = grad_of_relu(np.array([-1.0, 0.0, 2.0], dtype=np.float32))
    np.testing.assert_array_equal(got, [0.0, 0.0, 1.0])
