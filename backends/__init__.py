"""Backends: each turns a Graph into an Executable, called with arrays, returning arrays
(the protocol every backend implements and every caller relies on:
:class:`fusegraph.backends.executable.Executable`).

Every backend package exposes ``compile(graph) -> Executable`` and ``PIPELINE``, the pass
names a graph goes through before it; one that compiles kernels also exposes
``CAPABILITY`` (:class:`~fusegraph.ir.ops.region.KernelCapability`), what its kernels may
hold, which the fusion pass asks. ``reference`` is the numpy interpreter of the IR, the
ground truth every other backend is tested against, and its loop (with per-op runners)
is every backend's; ``numba_cpu`` and ``numba_cuda`` run each ``fused`` op as a
generated Numba kernel, thin targets over the shared Numba core ``numba`` (templates,
kernel generator, kernel loader and verified cache, kernel step). Backends are imported
on first use, so a user of one never pays for another's imports.
:func:`optimizing_compiler` puts the backend's pipeline in front of it: that is how the
runtime compiles.
"""
from __future__ import annotations

import importlib
import os

from ..ir.core import Graph

from . import phases

# name -> its package; in the order error messages list them.
_BACKENDS = {
    "reference": "fusegraph.backends.reference",
    "numba_cpu": "fusegraph.backends.numba_cpu",
    "numba_cuda": "fusegraph.backends.numba_cuda",
}


# What ``compile()`` uses when no backend is named: numba_cpu (fused kernels) unless
# FUSEGRAPH_BACKEND names another or :func:`set_default_backend` chose one. Eager calls
# (``layer(array)`` outside a compiled step) always run on the reference: compiling
# kernels for a graph run once would cost more than running it.
FALLBACK_BACKEND = "numba_cpu"
_default: list = [None]


def default_backend() -> str:
    """The backend ``compile()`` uses when none is named (see :data:`FALLBACK_BACKEND`);
    ValueError naming the variable when ``FUSEGRAPH_BACKEND`` names no backend."""
    if _default[0] is not None:
        return _default[0]
    name = os.environ.get("FUSEGRAPH_BACKEND", "").strip()
    if not name:
        return FALLBACK_BACKEND
    try:
        _package(name)
    except ValueError as e:
        raise ValueError(f"environment variable FUSEGRAPH_BACKEND={name!r}: {e}") from None
    return name


def set_default_backend(name: str | None) -> None:
    """Make ``name`` the backend ``compile()`` uses when none is named (None: back to
    the environment's or numba_cpu). ValueError for an unknown name."""
    if name is not None:
        _package(name)
    _default[0] = name


def _package(name: str):
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}: "
                         f"expected one of {', '.join(_BACKENDS)}")
    return importlib.import_module(_BACKENDS[name])


def get_backend(name: str):
    """The ``compile`` function of the backend called ``name``; ValueError if none is."""
    return _package(name).compile


def backend_capability(name: str):
    """What backend ``name``'s kernels hold (its package's ``CAPABILITY``; every kernel the
    contract allows, unstaged, for a backend without one)."""
    from ..ir.ops.region import ANY_KERNEL
    return getattr(_package(name), "CAPABILITY", ANY_KERNEL)


def default_pipeline(name: str) -> list[str]:
    """The pass names run before backend ``name`` (its package's ``PIPELINE``)."""
    return list(_package(name).PIPELINE)


def run_backend_pipeline(graph: Graph, name: str, pipeline=None, verify: bool = True) -> Graph:
    """``graph`` after the passes ``pipeline`` (default: the backend's), with fusion
    forming the kernels backend ``name`` holds (its ``CAPABILITY``; every kernel the
    contract allows for a backend without one).

    ``verify``: the IR verifier checks the input and the output; only when the output
    fails is the pipeline run again verifying after every pass, to raise the error
    naming the pass that broke the graph (passes are deterministic). Verifying after
    every pass each time cost a quarter of a warm first step (the Transformer block:
    0.26 s of 11 verifications)."""
    from ..ir.errors import VerificationError
    from ..passes import run_pipeline, targeting
    from ..passes.manager import verify_stage

    names = default_pipeline(name) if pipeline is None else list(pipeline)
    with phases.phase("passes"), targeting(backend_capability(name)):
        if not verify:
            return run_pipeline(graph, names, verify=False)[0]
        verify_stage(graph, "before the first pass")
        out, _ = run_pipeline(graph, names, verify=False)
        try:
            verify_stage(out, f"after the pipeline {names}")
        except VerificationError:
            run_pipeline(graph, names, verify=True)     # raises, naming the pass
            raise
    return out


def optimizing_compiler(name: str = "reference", pipeline=None, verify: bool = True):
    """``compile(graph)`` for backend ``name`` that first runs the pass ``pipeline``
    (default: the backend's, see :func:`default_pipeline`; see
    :func:`run_backend_pipeline`), verifying its input and output. The graph keeps its
    parameters and result order, so callers are unaffected, and ``donate`` (see the
    Executable protocol) still names the right ones."""
    backend_compile = get_backend(name)
    names = default_pipeline(name) if pipeline is None else list(pipeline)

    def compile_optimized(graph, donate=()):
        try:
            return backend_compile(run_backend_pipeline(graph, name, names, verify), donate)
        finally:
            phases.take_phases()   # a backend without a compile report leaves them

    return compile_optimized


__all__ = ["FALLBACK_BACKEND", "backend_capability", "default_backend", "default_pipeline",
           "get_backend", "optimizing_compiler", "run_backend_pipeline", "set_default_backend"]
