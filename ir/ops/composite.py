"""Composite ops: defined by other ops, kept whole from tracing to the first pass for a
VJP of their own. ``softmax``.

A composite op has ``expand`` (:mod:`fusegraph.ir.opdef`): the primitives that compute it.
The ``expand`` pass, first in every pipeline, replaces it by them, so the passes and the
backends see primitives only (fusion makes softmax one staged kernel again). What the op
adds is its VJP, written for its result: softmax's is ``y * (g - sum(g * y))`` over its
axes (TensorFlow's and JAX's rule), reading the result ``y`` alone. The gradient of the
parts, ``exp(x - m) / s``, would keep exp's result, ``s`` and ``y / s`` from the forward
pass: for the Transformer's attention weights, three more ``[B, 4, 128, 128]`` arrays
written in the forward pass and read in the backward.
"""
from __future__ import annotations

import numpy as np

from ..builder import emit
from ..opdef import Attr, OpDef, register
from ._rules import FLOATS, check_axes, require_dtype


def _softmax_infer(types, attrs):
    (t,) = types
    require_dtype(t, FLOATS, "operand")
    check_axes(t, attrs["axes"], empty=False)
    return t


def _softmax_ref(xs, attrs):
    x, axes = xs[0], attrs["axes"]
    e = np.exp(x - np.max(x, axis=axes, keepdims=True))
    return e / np.sum(e, axis=axes, keepdims=True)


def _softmax_expand(op, operands):
    """``exp(x - max(x)) / sum(exp(x - max(x)))`` over the axes, maxima kept as dims of 1
    (the stable form ``ref`` computes, op for op)."""
    (x,), axes = operands, op.attrs["axes"]
    e = emit("exp", emit("sub", x, emit("reduce_max", x, axes=axes, keepdims=True)))
    return (emit("div", e, emit("reduce_sum", e, axes=axes, keepdims=True)),)


def _softmax_vjp(op, cts):
    """``y * (g - sum(g * y))``, the sum over the axes (dims kept)."""
    (g,), y = cts, op.results[0]
    dot = emit("reduce_sum", emit("mul", g, y), axes=op.attrs["axes"], keepdims=True)
    return (emit("mul", y, emit("sub", g, dot)),)


register(OpDef("softmax", _softmax_infer, _softmax_ref, 1, attrs={"axes": Attr("ints")},
               doc="exp(x - max) / sum(exp(x - max)) over axes (floats; composite)",
               vjp=_softmax_vjp, expand=_softmax_expand))
