"""Fixtures every test gets: a fresh session and seed, and passes that verify their output.

Verified passes: the pipeline verifies between passes, but tests (and code under test,
such as a backend running a pipeline with ``verify=False``) also call passes directly.
For the length of each test, every registered pass (``PASSES``) and every module-level
name bound to a registered pass's function (``fuse`` imported by a test module, a
backend or another pass: ``simplify`` recursing into regions) is replaced by a wrapper
that runs the IR verifier on what the pass returns and names the pass when it fails.
A pass registered by a test itself is left as it is (tests of the manager register
broken passes on purpose).
"""
import dataclasses
import functools
import sys

import pytest

import fusegraph as fg
from fusegraph.ir import Graph, VerificationError, verify
from fusegraph.passes import PASSES


@pytest.fixture(autouse=True)
def _fresh_session():
    fg.utils.clear_session()
    fg.utils.set_random_seed(0)
    yield


def verifying(name: str, run):
    """``run`` (a pass), verifying the graph it returns; VerificationError names the pass."""
    @functools.wraps(run)
    def run_and_verify(graph, *args, **kwargs):
        out = run(graph, *args, **kwargs)
        if isinstance(out, Graph):
            try:
                verify(out)
            except VerificationError as e:
                raise VerificationError(f"after pass {name!r} (called directly): {e}") from e
        return out
    run_and_verify.verifies = True
    return run_and_verify


def _bindings(modules, wrappers):
    """(module, attribute name, wrapper) for each attribute of ``modules`` that holds a
    function of ``wrappers``."""
    for module in modules:
        for attr, value in list(vars(module).items()):
            if callable(value) and not getattr(value, "verifies", False):
                try:
                    wrapper = wrappers.get(value)
                except TypeError:              # unhashable
                    continue
                if wrapper is not None:
                    yield module, attr, wrapper


@pytest.fixture(autouse=True)
def _passes_verify_their_output(request, monkeypatch):
    wrappers = {}
    for name, p in list(PASSES.items()):
        if not getattr(p.run, "verifies", False):
            wrapper = wrappers.setdefault(p.run, verifying(name, p.run))
            monkeypatch.setitem(PASSES, name, dataclasses.replace(p, run=wrapper))
    modules = [m for n, m in list(sys.modules.items())
               if m is not None and (n.startswith("fusegraph.") or n.startswith("helpers."))]
    if request.module is not None:
        modules.append(request.module)
    for module, attr, wrapper in list(_bindings(modules, wrappers)):
        monkeypatch.setattr(module, attr, wrapper)
    yield
