"""Plans checked once per cache: a plan made as one that already agreed with the checked
path, in this or an earlier process, is not run a second time to be checked again.

A binding's first call (:meth:`.executable.Executable._first_call`) runs the checked
path, makes the binding's plan, and runs the plan too, on copies of the donated
parameters, to compare their results: a whole second step, and a copy of every weight and
slot a kernel writes (the Transformer block's warm first step: 0.2 s of 1.0). What a plan
does is fixed by what it is made from: the graph (:func:`fusegraph.ir.structure.
structure`), the symbol sizes, the kernels' sources, the GEMM library
(:func:`.gemm.provider`), the versions of numpy and Numba, and fusegraph's own backend
and op code. :func:`plan_key` hashes all of these; once a plan made from them agreed,
:func:`mark_verified` leaves a file named by the key in the kernel cache folder (private,
as the kernels' files: :mod:`fusegraph.backends.numba.kernel_cache`), and a later first
call that finds it (:func:`verified`) keeps the plan without the second run.

``FUSEGRAPH_VERIFY_PLANS``: ``once`` (the default) or ``always`` (every first call checks
its plan; the marks are neither read nor written).
"""
from __future__ import annotations

import functools
import hashlib
import os

import numba
import numpy as np

from ...ir.structure import structure
from ..numba import cache_dir, kernel_cache
from . import gemm

_MODES = ("once", "always")
_PREFIX = "plan-"


def mode() -> str:
    """``FUSEGRAPH_VERIFY_PLANS``: ``once`` (default) or ``always``; ValueError naming the
    variable for anything else."""
    value = os.environ.get("FUSEGRAPH_VERIFY_PLANS", "").strip().lower() or "once"
    if value not in _MODES:
        raise ValueError(f"environment variable FUSEGRAPH_VERIFY_PLANS={value!r}: expected "
                         f"one of {', '.join(_MODES)}")
    return value


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """A digest of the source of fusegraph's backends and ops (what plans and the
    functions they call are made by)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    digest = hashlib.sha256()
    for folder in (os.path.join(root, "backends"), os.path.join(root, "ir")):
        for path, dirs, files in sorted(os.walk(folder)):
            dirs.sort()
            for name in sorted(f for f in files if f.endswith(".py")):
                with open(os.path.join(path, name), "rb") as f:
                    digest.update(name.encode() + b"\0" + f.read())
    return digest.hexdigest()


def plan_key(graph, env: dict, kernel_sources) -> str:
    """The hex key of a plan made from ``graph`` for the symbol sizes ``env`` with kernels
    of ``kernel_sources`` (module docstring)."""
    sizes = sorted((str(symbol), size) for symbol, size in env.items())
    key = (structure(graph), sizes, tuple(kernel_sources), gemm.provider(), np.__version__,
           numba.__version__, _code_digest())
    return hashlib.sha256(repr(key).encode()).hexdigest()


def _mark(key: str) -> str:
    return os.path.join(cache_dir(), _PREFIX + key)


def verified(key: str) -> bool:
    """Whether a plan of ``key`` agreed with its checked path before (never, with
    ``FUSEGRAPH_VERIFY_PLANS=always``)."""
    return mode() == "once" and os.path.exists(_mark(key))


def mark_verified(key: str) -> None:
    """Record that a plan of ``key`` agreed with its checked path (nothing, with
    ``FUSEGRAPH_VERIFY_PLANS=always``). A mark that cannot be written (a full or
    read-only disk) is left out: the next process checks its plan again."""
    if mode() == "once":
        try:
            kernel_cache.write_private(_mark(key), b"")
        except OSError:
            pass
