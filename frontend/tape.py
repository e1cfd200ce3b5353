"""``fg.GradientTape``: gradients of traced values, Keras/TensorFlow style.

Inside a traced function or ``train_step`` every value is already in the graph, so the
tape records nothing: ``gradient`` asks the autodiff pass for the backward ops. A
variable source means the variable's value when the tape was entered. ``watch`` is
accepted for compatibility (every float value can be differentiated).
"""
from __future__ import annotations

from ..passes.autodiff import gradients
from ..ir.builder import user_site
from . import state
from .nest import flatten, pack_like
from .tensor import CallRecord, SymbolicTensor, TraceError, is_symbolic
from .variables import Variable


class GradientTape:
    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self._entry_values: dict = {}
        self._used = False

    def __enter__(self):
        trace = state.current()
        self._entry_values = {id(v): t for v, t in trace.updates} if trace is not None else {}
        return self

    def __exit__(self, *exc) -> None:
        return None

    def watch(self, tensor) -> None:
        """Accepted for compatibility; every traced float value is differentiable."""

    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of target) / d(each source), in the structure of ``sources``; None for a
        source the target does not depend on (or zeros with ``unconnected_gradients="zero"``)."""
        if self._used and not self.persistent:
            raise RuntimeError("a non-persistent GradientTape computes one set of gradients; "
                               "use GradientTape(persistent=True) to call gradient() again")
        self._used = True
        targets = flatten(target)
        if not all(is_symbolic(t) for t in targets):
            raise TraceError(f"{user_site()}: GradientTape.gradient needs symbolic tensors: use "
                             f"it inside fg.function or a model's train_step")
        leaves = flatten(sources)
        wrt = [self._source_value(s) for s in leaves]
        seeds = None if output_gradients is None else [t.value for t in flatten(output_gradients)]
        grads = gradients([t.value for t in targets], wrt, seeds, unconnected_gradients)
        return pack_like(sources, [None if g is None else SymbolicTensor(g, CallRecord(None, ()))
                                   for g in grads])

    def _source_value(self, source):
        if isinstance(source, Variable):
            entry = self._entry_values.get(id(source))
            return entry.value if entry is not None else source.symbol
        if is_symbolic(source):
            return source.value
        raise TypeError(f"{user_site()}: gradient sources must be variables or symbolic "
                        f"tensors, got {source!r}")
