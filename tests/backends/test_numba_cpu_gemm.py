"""numba_cpu's GEMM (backends/numba_cpu/gemm.py): every operand layout gives numpy's
matmul, through numpy's BLAS and, where the ``mkl`` wheel is installed, through MKL's
CBLAS (skipped otherwise); the layout rules BLAS is given; the provider's choice."""
import numpy as np
import pytest

from fusegraph.backends.numba_cpu import gemm

RNG = np.random.default_rng(7)


def _mkl():
    try:
        return gemm._load_mkl()
    except Exception:           # a broken install counts as absent
        return None


MKL = _mkl()
needs_mkl = pytest.mark.skipif(MKL is None, reason="MKL's runtime (pip install mkl) is not installed")


@pytest.fixture
def every_size(monkeypatch):
    """MKL takes every product, however small (it leaves small ones to numpy)."""
    monkeypatch.setattr(gemm, "MKL_MIN_MACS", 0)


def _array(shape, dtype, layout):
    """An array of ``shape`` laid out as ``layout`` says: C order, a transpose of a
    C array, a slice with row stride wider than its width, or a broadcast."""
    if layout == "c":
        return RNG.standard_normal(shape).astype(dtype)
    if layout == "t":
        return np.swapaxes(RNG.standard_normal(shape[:-2] + shape[:-3:-1]).astype(dtype), -1, -2)
    if layout == "wide":
        return RNG.standard_normal(shape[:-1] + (shape[-1] + 3,)).astype(dtype)[..., 1:shape[-1] + 1]
    if layout == "heads":       # [B, L, H, D] read as [B, H, L, D], as attention does
        b, h, l, d = shape
        return RNG.standard_normal((b, l, h, d)).astype(dtype).transpose(0, 2, 1, 3)
    if layout == "strided":     # every other column: no BLAS layout, copied
        return RNG.standard_normal(shape[:-1] + (2 * shape[-1],)).astype(dtype)[..., ::2]
    raise ValueError(layout)


CASES = [
    ((5, 7), (7, 3), "c", "c"),
    ((5, 7), (7, 3), "t", "t"),
    ((5, 7), (7, 3), "wide", "strided"),
    ((1, 7), (7, 1), "c", "t"),
    ((4, 5, 7), (7, 3), "c", "c"),          # one GEMM of [20, 7]
    ((4, 5, 7), (7, 3), "t", "c"),          # batched: a is not contiguous
    ((4, 5, 7), (4, 7, 3), "c", "t"),
    ((2, 3, 6, 4), (2, 3, 4, 6), "heads", "heads"),
    ((2, 1, 5, 4), (3, 4, 2), "c", "c"),    # broadcast batch dims
    ((5, 4), (2, 3, 4, 6), "c", "wide"),
    ((3, 0, 4), (4, 5), "c", "c"),          # empty result
    ((3, 4, 0), (0, 5), "c", "c"),          # nothing summed: zeros
]


def _check(run, shape_a, shape_b, la, lb, dtype):
    a, b = _array(shape_a, dtype, la), _array(shape_b, dtype, lb)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    out = np.full(want.shape, np.nan, dtype)
    run(a, b, out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("shape_a, shape_b, la, lb", CASES)
def test_numpy_provider_equals_matmul(shape_a, shape_b, la, lb):
    _check(gemm._numpy_matmul, shape_a, shape_b, la, lb, np.float32)


@needs_mkl
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape_a, shape_b, la, lb", CASES)
def test_mkl_equals_matmul_for_every_layout(shape_a, shape_b, la, lb, dtype, every_size):
    def run(a, b, out):
        assert gemm._mkl_matmul(MKL, a, b, out)
    _check(run, shape_a, shape_b, la, lb, dtype)


@needs_mkl
def test_mkl_refuses_other_dtypes_and_writes_nothing(every_size):
    a = np.ones((3, 4), np.int32)
    out = np.full((3, 3), 7, np.int32)
    assert not gemm._mkl_matmul(MKL, a, a.T.copy(), out)
    assert (out == 7).all()


@pytest.mark.parametrize("layout, flag, ld", [
    ("c", gemm._NO_TRANS, 4), ("t", gemm._TRANS, 3), ("wide", gemm._NO_TRANS, 7)])
def test_blas_operand_passes_blas_layouts_as_views(layout, flag, ld):
    x = _array((3, 4), np.float32, layout)
    got, trans, lead = gemm.blas_operand(x, 4)
    assert got is x and (trans, lead) == (flag, ld)


def test_blas_operand_copies_what_blas_cannot_read():
    x = _array((3, 4), np.float32, "strided")
    got, trans, lead = gemm.blas_operand(x, 4)
    assert got.flags.c_contiguous and (trans, lead) == (gemm._NO_TRANS, 4)
    np.testing.assert_array_equal(got, x)
    reversed_rows = RNG.standard_normal((3, 4)).astype(np.float32)[::-1]
    assert gemm.blas_operand(reversed_rows, 4)[0].flags.c_contiguous


def test_provider_choice(monkeypatch):
    monkeypatch.setattr(gemm, "_state", {})
    monkeypatch.setenv("FUSEGRAPH_BLAS", "numpy")
    assert gemm.provider() == "numpy"
    monkeypatch.setattr(gemm, "_state", {})
    monkeypatch.setenv("FUSEGRAPH_BLAS", "openblas")
    with pytest.raises(gemm.BlasError, match="FUSEGRAPH_BLAS='openblas': expected one of auto, mkl, numpy"):
        gemm.provider()
    monkeypatch.setattr(gemm, "_state", {})
    monkeypatch.setattr(gemm, "_mkl_candidates", lambda: [])
    monkeypatch.setenv("FUSEGRAPH_BLAS", "mkl")
    with pytest.raises(gemm.BlasError, match="pip install mkl"):
        gemm.provider()
    monkeypatch.setattr(gemm, "_state", {})
    monkeypatch.setenv("FUSEGRAPH_BLAS", "auto")
    assert gemm.provider() == "numpy"           # auto without MKL: numpy's BLAS


@needs_mkl
def test_auto_takes_mkl_when_installed_and_keeps_openblas_on_one_thread(monkeypatch):
    from fusegraph.backends import threads
    monkeypatch.setattr(gemm, "_state", {})
    monkeypatch.setattr(threads, "_one_thread", set())
    monkeypatch.delenv("FUSEGRAPH_BLAS", raising=False)
    assert gemm.provider() == "mkl"
    assert threads._one_thread == {"openblas"}


@needs_mkl
def test_mkl_path_refuses_shapes_that_do_not_make_the_result(every_size):
    a, b = np.ones((3, 4), np.float32), np.ones((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"\[3, 4\] @ \[5, 2\] into \[3, 2\]"):
        gemm._mkl_matmul(MKL, a, b, np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match=r"into a non-BLAS layout of \[3, 3\]"):
        gemm._mkl_matmul(MKL, a, a.T, np.empty((3, 6), np.float32)[:, ::2])


def _output(shape, dtype, layout):
    """A NaN-filled view of ``shape`` whose matrices lie as ``layout`` says (all BLAS
    layouts): transposed (column-major), rows wider than the matrix, or the
    heads of a [B, L, H, D] buffer seen as [B, H, L, D] (a permuted_matmul's result)."""
    if layout == "heads":
        b, h, l, d = shape
        return np.full((b, l, h, d), np.nan, dtype).transpose(0, 2, 1, 3)
    if layout == "heads_t":     # [B, D, H, L] seen as [B, H, L, D]: column-major matrices
        b, h, l, d = shape
        return np.full((b, d, h, l), np.nan, dtype).transpose(0, 2, 3, 1)
    if layout == "t":
        return np.swapaxes(np.full(shape[:-2] + shape[:-3:-1], np.nan, dtype), -1, -2)
    return np.full(shape[:-1] + (shape[-1] + 3,), np.nan, dtype)[..., 1:shape[-1] + 1]  # wide


@pytest.mark.parametrize("use_mkl", [False, pytest.param(True, marks=needs_mkl)])
@pytest.mark.parametrize("shape_a, shape_b, layout", [
    ((5, 7), (7, 3), "t"), ((5, 7), (7, 3), "wide"), ((4, 5, 7), (7, 3), "t"),
    ((2, 3, 6, 4), (2, 3, 4, 5), "heads"), ((2, 3, 6, 4), (2, 3, 4, 5), "heads_t"),
    ((2, 3, 1, 4), (2, 3, 4, 5), "heads_t"), ((2, 3, 6, 4), (2, 3, 4, 1), "heads")])
def test_the_product_is_written_into_any_blas_layout_of_out(shape_a, shape_b, layout, use_mkl,
                                                           monkeypatch):
    monkeypatch.setattr(gemm, "MKL_MIN_MACS", 0)
    monkeypatch.setitem(gemm._state, "provider", "mkl" if use_mkl else "numpy")
    monkeypatch.setitem(gemm._state, "mkl", MKL if use_mkl else None)
    a, b = _array(shape_a, np.float32, "c"), _array(shape_b, np.float32, "c")
    out = _output(np.matmul(a, b).shape, np.float32, layout)
    assert gemm.output_layout(out) and not out.flags.c_contiguous
    if use_mkl:                     # MKL itself writes the layout, no numpy fallback
        assert gemm._mkl_matmul(MKL, a, b, out)
    else:
        gemm.matmul_into(a, b, out)
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-5, atol=1e-6)


def test_output_layout_refuses_overlapping_and_gapped_matrices():
    x = np.empty((4, 6), np.float32)
    assert not gemm.output_layout(x[:, ::2])                            # stride 2 both ways
    assert not gemm.output_layout(np.broadcast_to(x[:3, :2], (5, 3, 2)))  # batch stride 0
    assert gemm.output_layout(x[:, :3]) and gemm.output_layout(x.T)


@needs_mkl
def test_a_plan_on_mkl_agrees_with_its_checked_call(monkeypatch):
    """The checked path runs the plan's GEMM too, so an MLP step's plan is kept on MKL
    (with numpy's BLAS on the checked path, Adam's first update of this 784-512-10 MLP
    disagreed: ``lr * g / (|g| + eps)`` of a gradient near eps turns rounding into
    differences of lr's size) and trains as the reference does."""
    import fusegraph as fg
    from fusegraph.backends import profiling
    monkeypatch.setattr(gemm, "_state", {"provider": "mkl", "mkl": MKL})
    rng = np.random.default_rng(0)
    x = rng.random((128, 784), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    losses, weights = {}, None
    for backend in ("reference", "numba_cpu"):
        inputs = fg.Input(shape=(784,))
        h = fg.layers.Dense(512, activation="relu")(inputs)
        model = fg.Model(inputs, fg.layers.Dense(10, activation="softmax")(h))
        weights = weights or model.get_weights()
        model.set_weights(weights)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", backend=backend)
        losses[backend] = [float(model.train_on_batch(x, y)) for _ in range(3)]
    with profiling.profiling() as profile:          # the last model: numba_cpu's
        model.train_on_batch(x, y)
    assert "matmul" in profiling.report(profile)     # its plan ran
    np.testing.assert_allclose(losses["numba_cpu"], losses["reference"], rtol=1e-5)


@needs_mkl
@pytest.mark.parametrize("shape, taken", [((128, 784, 512), True), ((128, 256, 256), False)])
def test_mkl_takes_only_large_products(shape, taken):
    m, k, n = shape
    a, b = np.ones((m, k), np.float32), np.ones((k, n), np.float32)
    out = np.zeros((m, n), np.float32)
    assert gemm._mkl_matmul(MKL, a, b, out) is taken
    assert (out == (k if taken else 0)).all()


@pytest.mark.parametrize("la, lb", [("c", "c"), ("t", "c"), ("c", "t"), ("wide", "strided")])
@pytest.mark.parametrize("use_mkl", [False, pytest.param(True, marks=needs_mkl)])
def test_matmul_add_into_adds_the_product(monkeypatch, la, lb, use_mkl):
    monkeypatch.setattr(gemm, "_state", {"provider": "mkl" if use_mkl else "numpy",
                                         "mkl": MKL if use_mkl else None})
    a, b = _array((5, 7), np.float32, la), _array((7, 3), np.float32, lb)
    start = RNG.standard_normal((5, 3)).astype(np.float32)
    out = start.copy()
    gemm.matmul_add_into(a, b, out)
    want = start + np.matmul(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
