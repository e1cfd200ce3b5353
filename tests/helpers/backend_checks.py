"""What the backend test modules share: small graphs built by hand and the comparison of
a backend's results with the reference's (same dtype and shape; floats within tolerance,
NaNs in the same places; others exactly)."""
import numpy as np

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import BATCH as B, DType, Graph, TensorType, Value, emit
from fusegraph.passes import fuse


def param(name, *shape, dtype=DType.f32):
    return Value(TensorType(shape, dtype), name=name)


def graph(params, results, name="g"):
    return Graph.from_results(name, params, results)


def assert_same(got, want, rtol=1e-6, atol=1e-7):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert isinstance(g, np.ndarray), (i, type(g))
        assert g.dtype == w.dtype and g.shape == w.shape, (i, g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"result {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"result {i}")


def differential(compile, params, results, arrays, *, kernels=1, rtol=1e-6, atol=1e-7):
    """Fuse the graph, run it compiled by ``compile`` (twice: a numba_cpu plan runs from the
    second call, and must have dropped none) and unfused on the reference; return the
    executable (every fused op a kernel; ``kernels`` kernels unless None)."""
    g = graph(params, results)
    fused = fuse(g)          # verified by tests/conftest.py's wrapper of every pass
    exe = compile(fused)
    assert_every_fused_op_is_a_kernel(exe)
    assert kernels is None or len(exe.kernels) == kernels, str(exe.graph)
    with np.errstate(all="ignore"):
        want = reference(g)(*arrays)
        got = exe(*arrays)
        again = exe(*arrays)     # a numba_cpu plan runs from the second call on
    assert_same(got, want, rtol, atol)
    assert_same(again, want, rtol, atol)
    assert getattr(exe, "plan_errors", []) == [], exe.plan_errors
    return exe


def assert_every_fused_op_is_a_kernel(exe):
    """A Numba executable has one kernel step per fused op of its graph, in graph order."""
    fused = [op for op in exe.graph.ops if op.kind == "fused"]
    assert [k.op for k in exe.kernels] == fused, (len(exe.kernels), len(fused))


def softmax_graph():
    """Bias, relu, a shifted softmax: two kernels of two outputs each, then a plain div."""
    x, b = param("x", B, 5), param("b", 5)
    h = emit("maximum", emit("add", x, b), emit("constant", value=0.0))
    e = emit("exp", emit("sub", h, emit("reduce_max", h, axes=(1,), keepdims=True)))
    probs = emit("div", e, emit("reduce_sum", e, axes=(1,), keepdims=True))
    return graph([x, b], [probs, h], name="softmax")


# Per float dtype: (rtol, atol relative to the largest magnitude among the expected values,
# at least 1). Fused kernels sum in another order than numpy, and float32 kernels may
# keep float64 accumulators; a gradient that cancels to near zero keeps only an absolute
# error of the size of the terms it summed.
TOLERANCES = {np.dtype(np.float32): (2e-4, 2e-4), np.dtype(np.float64): (1e-9, 1e-9)}


def assert_agree(got, want, what="", precision=None):
    """``got`` and ``want`` (lists of arrays or None, e.g. a function's outputs and
    gradients) agree: None in the same places, equal dtypes and shapes, floats within
    :data:`TOLERANCES` of their dtype, or of ``precision`` when given (a float64 result
    computed from float32 values is only as precise as they are), NaNs and infinities in
    the same places; others exactly."""
    assert len(got) == len(want), (what, len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        if w is None or g is None:
            assert g is None and w is None, f"{what} result {i}: got {g!r}, expected {w!r}"
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert (g.dtype, g.shape) == (w.dtype, w.shape), \
            f"{what} result {i}: got {g.dtype}{list(g.shape)}, expected {w.dtype}{list(w.shape)}"
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=f"{what} result {i}")
            continue
        rtol, atol = TOLERANCES[np.dtype(precision or w.dtype)]
        finite = w[np.isfinite(w)]
        scale = max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol * scale, err_msg=f"{what} result {i}")
