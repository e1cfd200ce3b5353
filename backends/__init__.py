"""Backends: each turns a Graph into an Executable, called with arrays, returning arrays.

Every backend module exposes ``compile(graph) -> Executable``. ``reference`` is the
numpy interpreter of the IR, the ground truth every other backend is tested against;
``numba_cpu`` runs each ``fused`` op as a generated Numba kernel. Backends are imported
on first use, so a user of one never pays for another's imports.
:func:`optimizing_compiler` puts the backend's pass pipeline in front of it: that is how
the runtime compiles.
"""
from __future__ import annotations

import importlib

# name -> module exposing ``compile``; in the order error messages list them.
_BACKENDS = {
    "reference": "fusegraph.backends.reference",
    "numba_cpu": "fusegraph.backends.numba_cpu",
    "numba_cuda": "fusegraph.backends.numba_cuda",
}

# name -> the name of the pipeline in ``fusegraph.passes`` run before it: a backend that
# compiles kernels needs the fusion pass to have made ``fused`` ops.
_PIPELINES = {
    "reference": "DEFAULT_PIPELINE",
    "numba_cpu": "FUSION_PIPELINE",
    "numba_cuda": "FUSION_PIPELINE",
}


def get_backend(name: str):
    """The ``compile`` function of the backend called ``name``; ValueError if none is."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}: "
                         f"expected one of {', '.join(_BACKENDS)}")
    return importlib.import_module(_BACKENDS[name]).compile


def default_pipeline(name: str) -> list[str]:
    """The pass names run before backend ``name`` (``DEFAULT_PIPELINE`` for the
    reference, ``FUSION_PIPELINE`` for numba_cpu)."""
    import fusegraph.passes as passes

    get_backend(name)   # the same error for an unknown name
    return list(getattr(passes, _PIPELINES.get(name, "DEFAULT_PIPELINE")))


def optimizing_compiler(name: str = "reference", pipeline=None, verify: bool = True):
    """``compile(graph)`` for backend ``name`` that first runs the pass ``pipeline``
    (default: the backend's, see :func:`default_pipeline`), verifying between passes.
    The graph keeps its parameters and result order, so callers are unaffected."""
    from fusegraph.passes import run_pipeline

    backend_compile = get_backend(name)
    names = default_pipeline(name) if pipeline is None else list(pipeline)

    def compile_optimized(graph):
        optimized, _ = run_pipeline(graph, names, verify=verify)
        return backend_compile(optimized)

    return compile_optimized


__all__ = ["default_pipeline", "get_backend", "optimizing_compiler"]
