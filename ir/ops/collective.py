"""``all_reduce``: the collective op of data-parallel training.

``all_reduce(x0, x1, ...; mean, tag)`` has one result per operand, of its type: the
operand summed (``mean=False``) or averaged (``mean=True``) element by element over the
processes of the job, so every process gets the same arrays. Data-parallel steps average
their gradients with it (:mod:`fusegraph.frontend.collectives` emits one per gradient,
:mod:`fusegraph.passes.all_reduce_buckets` joins them into buckets), sum their metric
totals and average a synchronized BatchNormalization's batch moments.

Its meaning depends on the job: the op runs through the installed
:class:`Communicator` (:func:`install`; :mod:`fusegraph.distribute` installs MPI's). The
default is a job of one process, where both reductions return their operand. The VJP of
an all-reduce is the same all-reduce of the cotangents: every process's result depends on
every process's operand with weight 1 (sum) or 1/N (mean).

A collective must run the same number of times, in the same order, on every process.
It is COLLECTIVE: no pass folds, merges or hoists it and no backend computes it once for
all calls; DCE drops it when nothing reads it, on every process alike. Every process
traces and compiles the same graph, so its ops agree; what a backend runs
twice on one process only (numba_cpu runs a new plan once more to check it against the
first call) must not talk to the others: inside :func:`recording` the op keeps its
results by ``tag`` (unique within a graph once the ``all_reduce_buckets`` pass has
numbered its all-reduces; 0 before), and inside :func:`replaying` it returns those
instead of communicating.
"""
from __future__ import annotations

import contextlib
from typing import Protocol

import numpy as np

from ..errors import ShapeError
from ..opdef import COLLECTIVE, Attr, OpDef, register
from ..builder import emit

class Communicator(Protocol):
    """What the op needs of a job: its size and the reduction of a list of arrays (each
    array's elementwise sum or mean over the processes, new arrays, in order)."""

    size: int

    def all_reduce(self, arrays: list, mean: bool) -> list: ...


class SingleProcess:
    """A job of one process: the reductions return (copies of) their operands."""

    size = 1

    def all_reduce(self, arrays: list, mean: bool) -> list:
        return [np.array(a, copy=True) for a in arrays]


_COMMUNICATOR: Communicator = SingleProcess()
_RECORDED: dict | None = None     # tag -> results, inside ``recording``
_REPLAYED: dict | None = None     # tag -> results, inside ``replaying``


def install(communicator: Communicator | None) -> None:
    """Run every all-reduce through ``communicator`` from now on (None: one process)."""
    global _COMMUNICATOR
    _COMMUNICATOR = communicator if communicator is not None else SingleProcess()


def communicator() -> Communicator:
    """The installed communicator (its ``size``: the job's processes)."""
    return _COMMUNICATOR


@contextlib.contextmanager
def recording(into: dict | None = None):
    """All-reduces run inside keep their results by tag in ``into`` (a new dict when
    None; the arrays themselves: backends only read an all-reduce's results); yields
    that dict."""
    global _RECORDED
    previous, _RECORDED = _RECORDED, ({} if into is None else into)
    try:
        yield _RECORDED
    finally:
        _RECORDED = previous


@contextlib.contextmanager
def replaying(recorded: dict):
    """All-reduces run inside whose tag ``recorded`` holds return copies of those results
    without communicating (the others communicate)."""
    global _REPLAYED
    previous, _REPLAYED = _REPLAYED, recorded
    try:
        yield
    finally:
        _REPLAYED = previous


def _infer(types, attrs):
    for i, t in enumerate(types):
        if attrs["mean"] and not t.dtype.is_float:
            raise ShapeError(f"a mean all-reduce needs float operands; operand {i} is {t}")
        if t.symbols:
            raise ShapeError(f"all_reduce needs static shapes (every process sends the same "
                             f"number of elements); operand {i} is {t}")
    return tuple(types)


def _ref(arrays, attrs):
    tag = attrs["tag"]
    if _REPLAYED is not None and tag in _REPLAYED:
        return tuple(np.array(a, copy=True) for a in _REPLAYED[tag])
    out = _COMMUNICATOR.all_reduce([np.asarray(a, order="C") for a in arrays], attrs["mean"])
    if _RECORDED is not None:     # new arrays, which nothing writes into: kept as they are
        _RECORDED[tag] = out
    return tuple(out)


def _vjp(op, cts):
    out = emit("all_reduce", *cts, mean=op.attrs["mean"])
    return out if isinstance(out, tuple) else (out,)

register(OpDef("all_reduce", _infer, _ref, None, traits=frozenset({COLLECTIVE}),
               attrs={"mean": Attr("bool"), "tag": Attr("int", default=0)}, vjp=_vjp,
               doc="each operand summed (or averaged: mean) over the processes of the job; "
                   "tag: the op's number in its graph (all_reduce_buckets numbers them)"))
