"""Golden IR tests: for each file ``tests/golden/<pass>/<case>.ir``, the input graph goes
through the registered pass ``<pass>`` and must print exactly as the file's expected
graph, verify, and compute what the input computes on the reference backend.

A golden file is a ``#`` comment saying what the case shows (cases where the pass must
not fire say so: their expected graph is the input's), the input graph, a line
:data:`SEPARATOR`, and the expected graph. ``FUSEGRAPH_UPDATE_GOLDEN=1`` rewrites each
expected graph from what the pass prints now (check the diff before committing it).

Numerics: both graphs run on the reference with the same random inputs (symbolic sizes
:data:`SIZE`); results must agree exactly in dtype and shape and, for floats, within
float rounding (a fold or a kernel may compute in another order), NaNs in the same places.
"""
import os
import pathlib

import numpy as np
import pytest

from fusegraph.backends.reference import compile as reference
from fusegraph.ir import (BATCH as B, Graph, Sym, TensorType, Value, VerificationError, emit,
                          parse_graph, print_graph, verify)
from fusegraph.passes import PASSES, autodiff, fuse

from conftest import verifying

from helpers.backend_checks import assert_agree

GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden"
SEPARATOR = "# ---- expected after the pass"
UPDATE = os.environ.get("FUSEGRAPH_UPDATE_GOLDEN") == "1"
SIZE = 3

CASES = sorted(GOLDEN.glob("*/*.ir"))


def _split(path: pathlib.Path) -> tuple[str, str]:
    text = path.read_text()
    if SEPARATOR not in text:
        if UPDATE:
            return text.rstrip() + "\n", ""
        pytest.fail(f"{path}: no line {SEPARATOR!r} before the expected graph "
                    f"(FUSEGRAPH_UPDATE_GOLDEN=1 writes it)")
    before, after = text.split(SEPARATOR + "\n", 1)
    return before, after


def _arrays(graph, rng):
    arrays = []
    for p in graph.params:
        shape = tuple(SIZE if isinstance(d, Sym) else d for d in p.type.shape)
        dtype = p.type.dtype
        if dtype.is_float:
            arrays.append(rng.standard_normal(shape).astype(dtype.numpy))
        elif dtype.is_int:
            arrays.append(rng.integers(-5, 5, size=shape).astype(dtype.numpy))
        else:
            arrays.append(rng.random(shape) < 0.5)
    return arrays


def test_there_are_golden_cases_for_every_pass_directory_and_only_registered_passes():
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir()}
    assert folders <= set(PASSES), sorted(folders - set(PASSES))
    for name in ("simplify", "cse", "dce", "fusion", "merge_scans", "shape_inference"):
        assert len(list((GOLDEN / name).glob("*.ir"))) >= 2, name


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(path):
    source, expected = _split(path)
    graph = parse_graph(source)
    verify(graph)
    out = PASSES[path.parent.name].run(graph)
    verify(out)
    printed = print_graph(out).rstrip() + "\n"
    if UPDATE and printed != expected:
        path.write_text(f"{source.rstrip()}\n{SEPARATOR}\n{printed}")
        expected = printed
    assert printed == expected, (
        f"{path}: the pass printed\n{printed}\nexpected\n{expected}"
        f"(FUSEGRAPH_UPDATE_GOLDEN=1 rewrites the expected graph)")
    assert parse_graph(expected) == parse_graph(printed)
    rng = np.random.default_rng(len(path.name))
    arrays = _arrays(graph, rng)
    with np.errstate(all="ignore"):
        want, got = reference(graph)(*arrays), reference(out)(*arrays)
    assert_agree(got, want, what=str(path))


def test_passes_called_directly_verify_their_output():
    """conftest's wrapping is in force: every registered pass, this module's ``fuse``
    (bound at import) and autodiff's graph transforms verify; a pass that returns a
    broken graph is named, one given a broken graph is not blamed."""
    assert all(getattr(p.run, "verifies", False) for p in PASSES.values()), \
        [n for n, p in PASSES.items() if not getattr(p.run, "verifies", False)]
    assert getattr(fuse, "verifies", False)
    assert getattr(autodiff.grad_graph, "verifies", False)
    assert getattr(autodiff.vjp_graph, "verifies", False)
    x, stray = Value(TensorType((B, 2)), name="x"), Value(TensorType((B, 2)), name="stray")
    good = Graph.from_results("g", [x], [emit("exp", x)])
    broken = Graph("g", (x,), (), (stray,))
    with pytest.raises(VerificationError, match="after pass 'breaks'.*result 0"):
        verifying("breaks", lambda g: broken)(good)
    assert verifying("breaks", lambda g: broken)(broken) is broken     # invalid already
