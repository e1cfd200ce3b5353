"""``fg.GradientTape``: gradients of traced or eager values, Keras/TensorFlow style.

Inside a traced function or ``train_step`` every value is already in the graph, so the
tape records nothing: ``gradient`` asks the autodiff pass for the backward ops. A
variable source means the variable's value when the tape was entered; ``watch`` is
accepted there for compatibility (every float value can be differentiated).

Entered outside any trace, the tape records the eager ops run in its scope that read a
value it watches (:mod:`.eager`: a tensor given to :meth:`GradientTape.watch`, a
trainable variable read in its scope unless ``watch_accessed_variables=False``, or a
result of an op it recorded), with their arrays; ``gradient`` runs the same autodiff
pass on those ops' Values and evaluates the backward ops at once, so the tapes still
recording around it record them (nested tapes: second derivatives). A source the tape
did not watch gets None (or zeros), as in TensorFlow. A tape that is not persistent
drops its arrays after its one ``gradient``.
"""
from __future__ import annotations

import functools

import numpy as np

from ..ir import Value
from ..ir.builder import user_site
from ..ir.errors import ShapeError
from ..passes.autodiff import AutodiffError, gradients
from . import eager, state
from .traceback_filter import filter_traceback
from .ops import add, convert_to_tensor
from .nest import flatten, pack_like
from .tensor import CallRecord, SymbolicTensor, TraceError, is_symbolic
from .variables import Variable


class GradientTape:
    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True):
        self.persistent = persistent
        self.watch_accessed_variables = watch_accessed_variables
        self._entry_values: dict = {}
        self._used = False
        self._eager = False
        self._recording = None
        self._arrays: dict[int, tuple] = {}     # id(Value) -> (Value, array): eager record
        self._watched: set[int] = set()         # ids of the Values gradients may reach
        self._ops: set[int] = set()             # ids of the recorded ops
        self._variables: dict[int, list] = {}    # id(variable) -> its watched reads

    def __enter__(self):
        trace = state.current()
        if trace is None and eager.running_eagerly():
            self._eager = True
            self._recording = eager.recording(self)
            self._recording.__enter__()
        else:
            self._entry_values = {id(v): t for v, t in trace.updates} if trace is not None else {}
        return self

    def __exit__(self, *exc) -> None:
        if self._recording is not None:
            self._recording.__exit__(*exc)
            self._recording = None
        return None

    # --- the eager record (called by :mod:`.eager`) -------------------------------------
    def array_of(self, value):
        entry = self._arrays.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None

    def record(self, op, arrays, outs) -> bool:
        """Keep eager ``op`` (its operands' and results' arrays) if it reads a value this
        tape watches; its results are watched then. Whether it was kept."""
        if not any(id(v) in self._watched for v in op.operands):
            return False
        self._ops.add(id(op))
        for v, a in zip((*op.operands, *op.results), (*arrays, *outs)):
            self._arrays[id(v)] = (v, a)
        self._watched.update(id(r) for r in op.results)
        return True

    def note_read(self, variable, tensor) -> None:
        """A variable read eagerly in this tape's scope: watched when it is trainable and
        the tape watches accessed variables."""
        if self.watch_accessed_variables and variable.trainable:
            self._watch_variable(variable, tensor)

    def _watch_variable(self, variable, tensor) -> None:
        """Watch ``tensor``, a read of ``variable``: its gradient is the sum over every
        value of it read in the tape's scope (TensorFlow's rule, assignments between
        reads included)."""
        self._watch_tensor(tensor)
        reads = self._variables.setdefault(id(variable), [])
        if all(t is not tensor for t in reads):
            reads.append(tensor)

    def _watch_tensor(self, tensor) -> None:
        self._watched.add(id(tensor.value))
        self._arrays[id(tensor.value)] = (tensor.value, tensor._array)

    def watch(self, tensor) -> None:
        """Eagerly: gradients may reach ``tensor`` (an eager tensor, a variable, or a
        structure of them). In a trace, accepted for compatibility (every traced float
        value can be differentiated)."""
        if not self._eager:
            return
        for x in flatten(tensor):
            if isinstance(x, Variable):
                self._watch_variable(x, eager.variable_leaf(x))
            elif eager.is_eager(x):
                self._watch_tensor(x)
            else:
                raise TypeError(f"{user_site()}: GradientTape.watch takes tensors and "
                                f"variables, got {x!r}")

    @filter_traceback
    def gradient(self, target, sources, output_gradients=None, unconnected_gradients="none"):
        """d(sum of target) / d(each source), in the structure of ``sources``; None for a
        source the target does not depend on (or zeros with ``unconnected_gradients="zero"``).
        ``output_gradients`` (the seeds) has the structure of ``target``, each seed the
        shape of its target (None: ones). Inside a trace (``fg.function``, a model's
        ``train_step``) the gradients are symbolic; after an eager tape, eager tensors."""
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"{user_site()}: GradientTape.gradient: unconnected_gradients must "
                             f"be 'none' or 'zero' (as in TensorFlow), got "
                             f"{unconnected_gradients!r}")
        if self._used and not self.persistent:
            raise RuntimeError("a non-persistent GradientTape computes one set of gradients; "
                               "use GradientTape(persistent=True) to call gradient() again")
        if self._eager:
            return self._eager_gradient(target, sources, output_gradients, unconnected_gradients)
        if state.current() is None:
            raise TraceError(
                f"{user_site()}: GradientTape.gradient of a tape entered inside a traced "
                f"function was called outside it; call it in the same function")
        targets = flatten(target)
        bad = next((t for t in targets if not is_symbolic(t)), None)
        if bad is not None:
            raise TraceError(f"{user_site()}: GradientTape.gradient: the target must be a "
                             f"tensor computed in this trace, got {bad!r}")
        leaves = flatten(sources)
        wrt = [self._source_value(s) for s in leaves]
        seeds = None if output_gradients is None else _seeds(targets, output_gradients)
        self._used = True
        grads = self._differentiate(targets, leaves, wrt, seeds, unconnected_gradients)
        return pack_like(sources, [SymbolicTensor(g, CallRecord(None, ())) if _is_value(g)
                                   else g for g in grads])

    def _differentiate(self, targets, leaves, wrt, seeds, unconnected, through=None) -> list:
        """Per source: the autodiff pass's gradient Value for its ``wrt`` Value, or, for a
        source not watched (``wrt`` None), None or a zeros tensor; the pass's errors in
        the user's terms. ``seeds``: tensors or None."""
        present = [w for w in wrt if w is not None]
        seeds = None if seeds is None else [None if t is None else t.value for t in seeds]
        try:
            got = iter(gradients([t.value for t in targets], present, seeds, unconnected,
                                 through=through))
        except AutodiffError as e:
            raise AutodiffError(_explain(e, targets, leaves)) from e
        out = []
        for w, leaf in zip(wrt, leaves):
            if w is not None:
                out.append(next(got))
            elif unconnected == "zero":
                out.append(convert_to_tensor(np.zeros(leaf.shape, _dtype_of(leaf).numpy)))
            else:
                out.append(None)
        return out

    def _eager_gradient(self, target, sources, output_gradients, unconnected):
        targets = flatten(target)
        bad = next((t for t in targets if not eager.is_eager(t)), None)
        if bad is not None:
            what = "a numpy value" if isinstance(bad, (np.ndarray, np.generic)) else repr(bad)
            raise TypeError(f"{user_site()}: GradientTape.gradient: the target must be a "
                            f"tensor computed in the tape's scope by fg.ops, layers or "
                            f"models (what the tape records), got {what}; numpy "
                            f"computations are not recorded")
        leaves = flatten(sources)
        reads = [self._eager_sources(s) for s in leaves]
        seeds = None if output_gradients is None else _seeds(targets, output_gradients)
        self._used = True
        with eager.reading(self):
            grads = self._differentiate(targets, [s for s, vs in zip(leaves, reads) for _ in vs],
                                        [v for vs in reads for v in vs], seeds, unconnected,
                                        self._ops)
            tensors = iter(eager.materialize([g for g in grads if _is_value(g)]))
            parts = iter([next(tensors) if _is_value(g) else g for g in grads])
            out = [_sum([next(parts) for _ in vs]) for vs in reads]
        if not self.persistent:
            self._arrays, self._ops, self._watched = {}, set(), set()
        return pack_like(sources, out)

    def _eager_sources(self, source) -> list:
        """The Values the gradient for ``source`` sums (a variable's: each value of it read
        in the tape's scope); ``[None]`` when the tape did not watch it."""
        if isinstance(source, Variable):
            return [t.value for t in self._variables.get(id(source), ())] or [None]
        if eager.is_eager(source):
            return [source.value if id(source.value) in self._watched else None]
        raise TypeError(f"{user_site()}: gradient sources must be variables or tensors, "
                        f"got {source!r}")

    def _source_value(self, source):
        if isinstance(source, Variable):
            entry = self._entry_values.get(id(source))
            return entry.value if entry is not None else source.symbol
        if is_symbolic(source):
            return source.value
        raise TypeError(f"{user_site()}: gradient sources must be variables or symbolic "
                        f"tensors, got {source!r}")


def _seeds(targets, output_gradients) -> list:
    """The seed tensors for ``targets``: ``output_gradients`` flattened (one per target,
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
        seeds.append(seed)
    return seeds


def _sum(parts: list):
    """The sum of the gradient tensors in ``parts`` (run eagerly, so enclosing tapes record
    it), skipping Nones; None when all are."""
    got = [p for p in parts if p is not None]
    return functools.reduce(add, got) if got else None


def _is_value(x) -> bool:
    return isinstance(x, Value)


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
