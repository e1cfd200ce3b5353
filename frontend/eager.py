"""Eager execution: ops on concrete values run at once, and tapes that record them.

Outside any trace (no ``fg.function`` or step being traced, no layer call building a
functional model), an ``fg.ops`` function whose operands all have values (arrays, Python
numbers, :class:`EagerTensor`s, variables) still emits its IR op, typed and located as
in a trace, and runs it at once on the reference semantics (the installed op runner,
:func:`.execution.run_op`): the result is an :class:`EagerTensor`, an IR Value with its
array. Eager mode is tracing that runs as it goes (DESIGN.md): the ops of eager code
form a graph in the same IR, linked by their operands.

A :class:`~.tape.GradientTape` entered outside a trace records the eager ops run in its
scope that read a value it *watches* (a tensor given to ``watch``, a trainable variable
read in its scope, or a result of an op it recorded: TensorFlow's rule), with their
arrays; ``tape.gradient`` runs the autodiff pass on the Values of that graph
(:func:`fusegraph.passes.autodiff.gradients`, told to go through the recorded ops only)
and evaluates the backward ops it emitted here too, so they are recorded by the tapes
still open around it (second derivatives). One differentiation machinery, not two.

Values are held by the tensors, not by the graph: an eager op finds its operands' arrays
through the live tensors of their Values (:func:`array_of`, a registry of weak
references) or a recording tape; a chain of eager ops keeps its Values and ops (small)
but not the arrays of tensors nobody holds. A variable read eagerly is a parameter Value
of its own per value the variable has had (:func:`variable_leaf`), so the gradient with
respect to the variable sums every read of that value.

:func:`eager_calls` marks a layer's call run eagerly op by op (inside a tape): its layer
scope then names the ops' location without making the call a trace.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref

import numpy as np

from ..ir import TensorType, Value, as_dtype
from ..ir.builder import current_layer_path, emit, emit_op, user_site
from ..ir.core import Op
from . import execution, state
from .nest import map_structure
from .tensor import SymbolicTensor, TraceError

_LIVE: dict[int, weakref.ref] = {}           # id(Value) -> its EagerTensor (weakly)
_TAPES: contextvars.ContextVar[tuple] = contextvars.ContextVar("fusegraph_tapes", default=())
_SOURCES: contextvars.ContextVar[tuple] = contextvars.ContextVar("fusegraph_tape_arrays",
                                                               default=())
_EAGER_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("fusegraph_eager_call",
                                                                 default=False)


class EagerTensor(SymbolicTensor):
    """A tensor with a value: an IR Value (its op, operands and location, what a tape
    differentiates) and the numpy array computed for it. Converts to numpy
    (``np.asarray``, :meth:`numpy`), prints its values, and works in Python control flow
    (``if``, ``float()``, ``int()``, ``len()``, iteration over the first axis); its
    operators are the ``fg.ops`` functions, run eagerly. In a trace it stands for a
    constant of its value."""

    concrete = True

    def __init__(self, value: Value, array: np.ndarray, name: str | None = None):
        super().__init__(value, None, name)
        self._array = array.view()              # read-only, whoever else holds the array
        self._array.flags.writeable = False
        _remember(value, self)

    @property
    def shape(self) -> tuple:
        return self._array.shape

    @property
    def dtype(self):
        """numpy's dtype of the value (equal to its name too: ``t.dtype == "float32"`` and
        ``t.dtype == np.float32`` both hold, as for a JAX array)."""
        return self._array.dtype

    def numpy(self) -> np.ndarray:
        """A copy of the value."""
        return self._array.copy()

    def __array__(self, dtype=None, copy=None):
        return np.array(self._array, dtype=dtype, copy=True)

    def __repr__(self) -> str:
        return (f"<EagerTensor shape={self.shape} dtype={self.dtype}, "
                f"numpy={np.array2string(self._array, separator=', ')}>")

    def __str__(self) -> str:
        return str(self._array)

    def __format__(self, spec: str) -> str:
        return format(self._array.item() if self._array.ndim == 0 else self._array, spec)

    def __bool__(self):
        return bool(self._array)

    def __float__(self):
        return float(self._array)

    def __int__(self):
        return int(self._array)

    def __index__(self):
        return self._array.__index__()

    def __len__(self):
        if self._array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._array)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def _remember(value: Value, tensor: EagerTensor) -> None:
    """Register ``tensor`` as ``value``'s (weakly). Dead entries are swept when the
    registry has doubled since the last sweep (amortized: no callback per tensor)."""
    global _SWEEP_AT
    _LIVE[id(value)] = weakref.ref(tensor)
    if len(_LIVE) > _SWEEP_AT:
        for key in [k for k, ref in _LIVE.items() if ref() is None]:
            del _LIVE[key]
        _SWEEP_AT = max(_SWEEP_MIN, 2 * len(_LIVE))


_SWEEP_MIN = 4096
_SWEEP_AT = _SWEEP_MIN


def is_eager(x) -> bool:
    return isinstance(x, EagerTensor)


def running_eagerly() -> bool:
    """Whether an op emitted now runs at once: no state trace records updates and no
    layer's call is being traced (an eager layer call, :func:`eager_calls`, is not)."""
    return state.current() is None and (current_layer_path() is None or _EAGER_CALL.get())


@contextlib.contextmanager
def eager_calls():
    """Layer calls inside run op by op, eagerly (see the module docstring)."""
    token = _EAGER_CALL.set(True)
    try:
        yield
    finally:
        _EAGER_CALL.reset(token)


def array_of(value: Value) -> np.ndarray | None:
    """The array of ``value``: a recording tape's, else its live tensor's; None if no
    value is known (a symbolic placeholder, or a value nobody holds any more)."""
    for tape in _TAPES.get() + _SOURCES.get():
        array = tape.array_of(value)
        if array is not None:
            return array
    tensor = _live(value)
    return tensor._array if tensor is not None else None


def constant(array, name: str | None = None) -> EagerTensor:
    """A new leaf tensor (a parameter Value of its own) holding ``array``."""
    return _leaf(np.array(array, copy=True), name)   # the caller may change theirs later


def results(structure):
    """The arrays of ``structure`` (a compiled graph's results: fresh, nobody else's) as
    eager tensors, each a leaf of its own, not copied."""
    return map_structure(lambda a: _leaf(a) if isinstance(a, np.ndarray) else a, structure)


def _leaf(array: np.ndarray, name: str | None = None, type: TensorType | None = None
          ) -> EagerTensor:
    """``array`` (kept, not copied) as a tensor with a parameter Value of its own, of
    ``type`` when known (the array's type)."""
    type = type or TensorType(array.shape, as_dtype(array.dtype.name))
    return EagerTensor(Value(type, name=name), array, name)


def variable_leaf(variable) -> EagerTensor:
    """``variable``'s value as an eager tensor: one parameter Value per value the variable
    has held (per ``variable.version``: reads of one value share it, so a gradient sums
    them), holding a copy (a training step may later write the variable's array in
    place), noted by the tapes recording now (a trainable variable is watched by a tape
    that watches accessed variables)."""
    entry = getattr(variable, "_eager_leaf", None)
    if entry is None or entry[0] != variable.version:
        entry = (variable.version,
                 EagerTensor(Value(variable.symbol.type, name=variable.symbol.name),
                             variable.value.copy(), variable.path))
        variable._eager_leaf = entry      # (the version it was read at, its tensor)
    tensor = entry[1]
    for tape in _TAPES.get():
        tape.note_read(variable, tensor)
    return tensor


def run_op(op: Op, keep_history: bool = True) -> list[EagerTensor] | None:
    """Run ``op`` now if every operand has a value (:func:`array_of`); its results as
    eager tensors, recorded by the tapes that watch one of its operands. None when an
    operand has no value or a result a symbolic size (the op stays symbolic).

    ``keep_history=False``: when no tape recorded the op and it has operands, its results
    are leaves of their own (:func:`_leaf`) rather than ``op``'s results, so that a long
    eager loop outside tapes does not keep a chain of every op it ran (and the constants
    they read): nothing can differentiate through them."""
    arrays = [array_of(v) for v in op.operands]
    if any(a is None for a in arrays) or not all(isinstance(d, int) for r in op.results
                                                 for d in r.type.shape):
        return None             # a placeholder's operand, or a symbolic size
    outs = execution.run_op(op, arrays)
    recorded = [tape.record(op, arrays, outs) for tape in _TAPES.get()]
    if not keep_history and op.operands and not any(recorded):
        return [_leaf(a, type=r.type) for r, a in zip(op.results, outs)]
    return [EagerTensor(r, a) for r, a in zip(op.results, outs)]


def leaves_as_constants(op: Op) -> Op:
    """``op``, or a copy of it reading a constant op instead of each operand that is an
    eager leaf (:func:`_leaf`, :func:`variable_leaf`): for an op that stays symbolic
    (a functional model's, a recurrent body's), whose graph must compute everything
    from its own parameters, whoever holds those tensors later."""
    if not any(v.producer is None and array_of(v) is not None for v in op.operands):
        return op
    operands = [_constant_op(v) if v.producer is None and array_of(v) is not None else v
                for v in op.operands]
    return emit_op(op.kind, operands, dict(op.attrs), op.region, loc=op.loc)


def _constant_op(value: Value) -> Value:
    array = array_of(value)
    return emit("constant", value=array.tolist(), dtype=value.type.dtype)


def materialize(values) -> list[EagerTensor]:
    """Eager tensors for ``values``, Values made by ops emitted without running (a
    functional model's inlined graph, the backward ops of ``tape.gradient``): each op
    between them and values that have arrays runs now, in program order. The context
    parameters get their eager values (``training``: the enclosing call's mode, False
    when none says; ``rng_key``: a fresh run key; ``replicated``: False). TraceError for a placeholder with no
    value."""
    from .context import REPLICATED, RNG_KEY, TRAINING
    from .layer import training_mode
    from .random_state import next_run_key
    context = []          # the context parameters' tensors, held while the ops run
    needed: dict[int, Op] = {}
    stack, seen = list(values), set()
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if v is TRAINING:
            context.append(EagerTensor(v, np.array(bool(training_mode()))))
        elif v is REPLICATED:           # eager code is not a replicated step
            context.append(EagerTensor(v, np.array(False)))
        elif v is RNG_KEY:
            context.append(EagerTensor(v, np.array(next_run_key(), np.int64)))
        elif array_of(v) is not None:
            continue
        elif v.producer is None:
            raise TraceError(f"{user_site()}: value {v.name or v!r} has no value to compute "
                             f"with: eager code "
                             f"reached a symbolic placeholder (an fg.Input, or a tensor of a "
                             f"model under construction)")
        else:
            needed[id(v.producer)] = v.producer
            stack.extend(v.producer.operands)
    made = [t for op in sorted(needed.values(), key=lambda op: op.seq) for t in run_op(op)]
    by_value = {id(t.value): t for t in made}
    out = []
    for v in values:
        tensor = by_value.get(id(v))
        tensor = tensor if tensor is not None else _live(v)
        out.append(tensor if tensor is not None else EagerTensor(v, array_of(v)))
    return out


def _live(value: Value) -> EagerTensor | None:
    ref = _LIVE.get(id(value))
    tensor = ref() if ref is not None else None
    return tensor if tensor is not None and tensor.value is value else None


def reading(tape):
    """The arrays ``tape`` recorded are known inside, without it recording (its
    ``gradient`` after its ``with`` block)."""
    return _pushed(_SOURCES, tape)


def recording_tapes() -> tuple:
    return _TAPES.get()


def runs_op_by_op(tensors, makes_masks: bool = False) -> bool:
    """Whether a call (a layer's, a model's, a loss's) on ``tensors`` outside a trace runs
    op by op rather than through its compiled graph: while a tape records (so it can
    differentiate the call), or when a mask is carried in (one of ``tensors``) or made
    (``makes_masks``), so that the results see and carry it."""
    return running_eagerly() and (bool(_TAPES.get()) or makes_masks or any(
        getattr(t, "_keras_mask", None) is not None for t in tensors))


def recording(tape):
    """``tape`` records the eager ops run inside (innermost last)."""
    return _pushed(_TAPES, tape)


@contextlib.contextmanager
def _pushed(stack: contextvars.ContextVar, tape):
    """``tape`` on top of the tuple ``stack`` inside the block."""
    token = stack.set(stack.get() + (tape,))
    try:
        yield
    finally:
        stack.reset(token)
