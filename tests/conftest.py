"""Fixtures every test gets: a fresh session and seed, and passes that verify their output.

Verified passes: the pipeline verifies between passes, but tests (and code under test,
such as a backend running a pipeline with ``verify=False``) also call passes directly.
For the length of each test, every registered pass (``PASSES``) and every module-level
name bound to a registered pass's function or to autodiff's ``grad_graph`` and
``vjp_graph`` (``fuse`` imported by a test module, a backend or another pass:
``simplify`` recursing into regions) is replaced by a wrapper that runs the IR verifier
on what the pass returns and names the pass when it fails.
A pass registered by a test itself is left as it is (tests of the manager register
broken passes on purpose), and a pass given an invalid graph is not blamed for it.
"""
import dataclasses
import functools
import os
import sys

import pytest
from hypothesis import settings

# numba_cpu starts tiered by default (a fused op runs on the reference until its kernel
# is compiled: backends/numba/warmup.py); tests wait for kernels, so that a numba_cpu
# result is the kernels' from the first call. Tiered starts are tested where they ask.
os.environ.setdefault("FUSEGRAPH_TIERED_START", "0")
# numba_cpu's matmuls use MKL where it is installed (backends/numba_cpu/gemm.py), which
# rounds differently from the reference's numpy BLAS; a few steps of a small BatchNorm
# model amplify that past the agreement tests' tolerances (1e-3 in a weight: rounding, not
# a wrong result: the reference given MKL's matmul agrees bitwise). So the suite compares
# backends on one BLAS; tests/backends/test_numba_cpu_gemm.py tests MKL's path itself.
os.environ.setdefault("FUSEGRAPH_BLAS", "numpy")
# A binding's first call checks its new plan against the checked path unless the same
# plan passed that check before (backends/numba_cpu/plan_trust.py, marks kept in the kernel
# cache folder across runs): the suite checks every plan, so that a run does not depend on
# what an earlier run left; tests/backends/test_numba_cpu_plan_trust.py tests the marks.
os.environ.setdefault("FUSEGRAPH_VERIFY_PLANS", "always")

import fusegraph as fg  # noqa: E402
from fusegraph.ir import Graph, VerificationError, verifier  # noqa: E402
from fusegraph.passes import PASSES, autodiff  # noqa: E402

_original_verify = verifier.verify

# Hypothesis: no per-example deadline (a loaded two-core machine is slow, not wrong). Under
# CI (CI=true, as .ci/run is run) examples are derandomized, so a CI run is reproducible;
# locally every run explores new examples.
settings.register_profile("fusegraph", deadline=None)
settings.register_profile("ci", parent=settings.get_profile("fusegraph"), derandomize=True,
                          database=None)
settings.load_profile("ci" if os.environ.get("CI") else "fusegraph")


@pytest.fixture(autouse=True)
def _fresh_session():
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    yield


def verifying(name: str, run):
    """``run`` (a pass), verifying the graph it returns: VerificationError naming the pass
    when it made a valid graph invalid. A graph that was invalid before the pass (a test
    of what a pass does with one) is not the pass's fault, and passes unremarked."""
    @functools.wraps(run)
    def run_and_verify(graph, *args, **kwargs):
        out = run(graph, *args, **kwargs)
        if isinstance(out, Graph):
            try:
                verify_once(out)
            except VerificationError as e:
                if _valid(graph):
                    raise VerificationError(f"after pass {name!r} (called directly): {e}") from e
        return out
    run_and_verify.verifies = True
    return run_and_verify


# Graphs found valid during the running test, by identity (graphs are never edited; each
# is held, so its id is not reused): the pipeline verifies what a wrapped pass verified.
_VALID: dict[int, Graph] = {}


def verify_once(graph: Graph, *args, **kwargs) -> None:
    """``verify(graph)``, skipped for a graph this test already found valid (other
    arguments, if verify takes any, are passed on, and then nothing is skipped)."""
    if args or kwargs:
        _original_verify(graph, *args, **kwargs)
    elif _VALID.get(id(graph)) is not graph:
        _original_verify(graph)
        _VALID[id(graph)] = graph


def _valid(graph) -> bool:
    try:
        verify_once(graph)
    except VerificationError:
        return False
    return True


# Module-level names bound to registered passes' functions, found once per set of loaded
# modules (about 1 ms per scan): (module, attribute, function).
_BOUND: dict[int, list] = {}


def _bindings(passes: set) -> list:
    """(module, attribute name, function) for each fusegraph or helpers module attribute
    that holds one of ``passes``."""
    if len(sys.modules) not in _BOUND:
        found = []
        for name, module in list(sys.modules.items()):
            if module is not None and name.startswith(("fusegraph.", "helpers.")):
                found += [(module, attr, value) for attr, value in list(vars(module).items())
                          if callable(value) and _is_one_of(value, passes)]
        _BOUND.clear()
        _BOUND[len(sys.modules)] = found
    return _BOUND[len(sys.modules)]


def _is_one_of(value, functions: set) -> bool:
    try:
        return value in functions
    except TypeError:                          # unhashable
        return False


# A registered pass's function (or one of the graph-to-graph transforms below, which no
# pipeline runs: autodiff's) -> its verifying wrapper.
_WRAPPERS: dict = {f: verifying(f.__name__, f) for f in (autodiff.grad_graph, autodiff.vjp_graph)}


@pytest.fixture(autouse=True)
def _passes_verify_their_output(request, monkeypatch):
    for name, p in list(PASSES.items()):
        if not getattr(p.run, "verifies", False):
            if p.run not in _WRAPPERS:
                _WRAPPERS[p.run] = verifying(name, p.run)
            monkeypatch.setitem(PASSES, name, dataclasses.replace(p, run=_WRAPPERS[p.run]))
    wrapped = set(_WRAPPERS)
    bound = _bindings(wrapped)
    if request.module is not None:
        bound = bound + [(request.module, attr, value) for attr, value in vars(request.module).items()
                         if callable(value) and _is_one_of(value, wrapped)]
    for module, attr, function in bound:
        if vars(module).get(attr) is function:
            monkeypatch.setattr(module, attr, _WRAPPERS[function])
    monkeypatch.setattr(verifier, "verify", verify_once)
    yield
    _VALID.clear()
