"""``fg.GradientTape``: gradients of traced values, Keras/TensorFlow style.

Inside a traced function or ``train_step`` every value is already in the graph, so the
tape records nothing: ``gradient`` asks the autodiff pass for the backward ops. A
variable source means the variable's value when the tape was entered. ``watch`` is
accepted for compatibility (every float value can be differentiated).
"""
from __future__ import annotations

from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..passes.autodiff import AutodiffError, gradients
from . import state
from .ops import convert_to_tensor
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
        source the target does not depend on (or zeros with ``unconnected_gradients="zero"``).
        ``output_gradients`` (the seeds) has the structure of ``target``, each seed the
        shape of its target (None: ones). Only inside a trace (``fg.function``, a model's
        ``train_step``): outside one it raises a TraceError, eager execution not being
        built yet (it would otherwise have nothing recorded to differentiate)."""
        if state.current() is None:
            raise TraceError(
                f"{user_site()}: GradientTape.gradient was called outside any traced "
                f"function, and eager execution (a tape recording ops run one by one on "
                f"arrays) is not built in fusegraph yet, so there is nothing to differentiate. "
                f"Put the forward pass and the gradient in one function traced by fg.function "
                f"(@fg.function def step(x): with fg.GradientTape() as tape: ...; return "
                f"tape.gradient(loss, sources)), or in a model's train_step, which fit() traces")
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"{user_site()}: GradientTape.gradient: unconnected_gradients must "
                             f"be 'none' or 'zero' (as in TensorFlow), got "
                             f"{unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("a non-persistent GradientTape computes one set of gradients; "
                               "use GradientTape(persistent=True) to call gradient() again")
        targets = flatten(target)
        bad = next((t for t in targets if not is_symbolic(t)), None)
        if bad is not None:
            raise TraceError(f"{user_site()}: GradientTape.gradient: the target must be a "
                             f"tensor computed in this trace, got {bad!r}")
        leaves = flatten(sources)
        wrt = [self._source_value(s) for s in leaves]
        seeds = None if output_gradients is None else _seeds(targets, output_gradients)
        self._used = True
        try:
            grads = gradients([t.value for t in targets], wrt, seeds, unconnected_gradients)
        except AutodiffError as e:
            raise AutodiffError(_explain(e, targets, leaves)) from e
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


def _seeds(targets, output_gradients) -> list:
    """The seed Values for ``targets``: ``output_gradients`` flattened (one per target,
    None for ones), each converted to its target's dtype and of its target's shape
    (a ShapeError naming both otherwise)."""
    given = flatten(output_gradients)
    if len(given) != len(targets):
        raise ValueError(f"{user_site()}: GradientTape.gradient: output_gradients must have "
                         f"one seed per target, got {len(given)} for {len(targets)} targets")
    seeds = []
    for i, (target, seed) in enumerate(zip(targets, given)):
        if seed is None:
            seeds.append(None)
            continue
        seed = convert_to_tensor(seed, target.type.dtype)
        if seed.type.shape != target.type.shape:
            which = f" {i} of {len(targets)}" if len(targets) > 1 else ""
            raise ShapeError(f"{user_site()}: GradientTape.gradient: output_gradients{which} "
                             f"has type {seed.type}, but its target has type {target.type}: "
                             f"a seed has its target's shape (fg.ops.ones_like(target) "
                             f"times a weight)")
        seeds.append(seed.value)
    return seeds


def _describe(kind: str, i: int, x, total: int) -> str:
    """``source 1 of 2 (tensor 'arg1' of shape (None,)) is int32``; a variable by its path."""
    if isinstance(x, Variable):
        what = f"variable '{x.path}'"
    else:
        what = (f"tensor '{x.name}'" if x.name else "tensor") + f" of shape {x.shape}"
    position = f"{kind} {i} of {total}" if total > 1 else kind
    return f"{position} ({what}) is {_dtype_of(x).keras_name}"


def _explain(error, targets, sources) -> str:
    """The autodiff pass's error restated in the user's terms: their line, and which
    target or source (position in the flattened structure, variable path) is not a
    float."""
    bad = [_describe("source", i, s, len(sources)) for i, s in enumerate(sources)
           if not _dtype_of(s).is_float]
    bad += [_describe("target", i, t, len(targets)) for i, t in enumerate(targets)
            if not _dtype_of(t).is_float]
    if not bad:
        return f"{user_site()}: GradientTape.gradient: {error}"
    return (f"{user_site()}: GradientTape.gradient: {'; '.join(bad)}, but gradients flow "
            f"along float values only: cast it to a float first, or leave integer values "
            f"(labels, token ids, counters) out of the gradient")


def _dtype_of(x):
    return x.dtype if isinstance(x, Variable) else x.type.dtype
