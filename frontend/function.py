"""``fg.function``: trace any Python function of tensors into one graph and run it.

Called with numpy arrays, a :class:`Function` traces ``fn`` once per input signature
(array dtypes and shapes past the first axis, which stays symbolic so a last partial
batch reuses the graph — or whole shapes, with ``symbolic_batch=False``; Python scalars
and other non-array arguments are static, part of the signature: by value, a Variable
by identity). With a symbolic first axis, every array argument (of rank >= 1) shares
that batch axis, so their first sizes must agree; a function of a batch and of
fixed-shape arrays (``x @ w`` with ``w`` an argument) needs ``symbolic_batch=False``.
It compiles the graph on the installed backend and runs it. The graph's results are the
function's outputs followed by the new values of the variables it assigned (weights,
optimizer slots, metric totals, seed counters); they are written back only after the
whole graph ran, so a failed call changes nothing.

``holder_shapes(args, kwargs)``, when given, says per flattened argument the shape to
trace it with (Keras style, None = a symbolic size; None for the default): a function
of variable-length sequences (``(None, None, F)``) then traces once for every length.
The trainer's step functions pass the model's input shapes for ``x`` this way.

Host checks (:mod:`.guards`): what the traced code required of an argument's values
(class labels, Embedding ids in range) is checked on every call before the graph runs;
an error names the argument by ``argument_labels(args, kwargs)`` when given (one label
per flattened argument, e.g. ``y['out']``), else ``arg<i>``. :meth:`Function.traced` traces without
running, so a caller can check whole arrays (:meth:`Traced.check`) before batching them.

Called on symbolic tensors (inside another trace), it simply calls ``fn``.
"""
from __future__ import annotations

import functools

import numpy as np

from ..backends import phases
from ..backends.interrupts import interrupts_held
from . import guards
from .checks import cast_in_range
from .graphs import trace_graph
from .input_layer import placeholder
from .nest import flatten, pack_like, treedef
from .state import tracing_state
from .tensor import is_symbolic
from .traceback_filter import filter_traceback
from .variables import Variable


class Traced:
    """One signature's trace: the traced graph, the output structure, and the variables
    whose new values follow the outputs among the graph's results. ``statics`` keeps the
    Variable arguments alive, so the ids that key the trace stay theirs."""

    def __init__(self, traced_graph, outputs, updated, statics=(), checks=()):
        self.traced_graph, self.outputs, self.updated = traced_graph, outputs, updated
        self.statics = tuple(statics)
        self.checks = tuple(checks)   # (argument leaf index, guard) pairs, see check()
        self.donates: bool | None = None   # Function.step hands arrays over (None: not asked)

    def check(self, leaves, labels, where: str) -> None:
        """Check the array arguments ``leaves`` (flattened as this trace's arguments were;
        whole arrays or one batch) against the trace's host guards; ``labels`` name the
        leaves in an error, said from ``where``."""
        for index, guard in self.checks:
            guard.check(leaves[index], labels[index], where)

    @property
    def graph(self):
        return self.traced_graph.graph


class Function:
    """A traced, compiled Python function; see the module docstring."""

    def __init__(self, fn, name: str | None = None, compile_fn=None, symbolic_batch: bool = True,
                 holder_shapes=None, argument_labels=None):
        if not callable(fn):
            raise TypeError(f"fg.function takes a Python function of tensors, got {fn!r} "
                            f"({type(fn).__name__})")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"fg.function: `name` must be a str or None, got {name!r}")
        self.fn = fn
        self.compile_fn = compile_fn
        self.symbolic_batch = symbolic_batch
        self.holder_shapes = holder_shapes
        self.argument_labels = argument_labels
        # step()'s condition on a trace's outputs for handing the variables' arrays over
        # (the runtime: logs its checks will accept); None: always
        self.donate_if = None
        self.name = name or getattr(fn, "__name__", "function").strip("<>") or "function"
        self._traces: dict = {}
        self._last_exact: tuple | None = None    # (exact signature, trace) of the last call
        self.last_trace: Traced | None = None
        functools.update_wrapper(self, fn)

    @filter_traceback
    def __call__(self, *args, **kwargs):
        if any(is_symbolic(t) for t in flatten((args, kwargs))):
            return self.fn(*args, **kwargs)
        with interrupts_held():      # a step writing variables in place is committed whole
            outputs, updates = self.step(*args, **kwargs)
            commit(updates)
        return outputs

    def run(self, *args, **kwargs):
        """Run without writing state back: (outputs, [(variable, new array), ...]). The
        arguments are checked against the trace's host guards first (see the module)."""
        return self._run(args, kwargs, donate=False)

    def step(self, *args, **kwargs):
        """As :meth:`run`, for a caller that then commits the updates, whatever the
        outputs (those ``donate_if`` accepts, when set): the updated variables' arrays
        are handed over to the step, which may write their new values into them
        (numba_cpu's optimizer kernels do, see ``fusegraph.backends.numba_cpu.
        donation``); only after everything that can fail, so a step that raises leaves
        them as they were."""
        return self._run(args, kwargs, donate=True)

    def _run(self, args, kwargs, donate: bool):
        args, kwargs = self.converted(args, kwargs)
        traced, leaves = self._traced((args, kwargs))
        if donate and self.donate_if is not None:
            if traced.donates is None:
                traced.donates = bool(self.donate_if(traced.outputs))
            donate = traced.donates
        if traced.checks:   # labels only for a trace with guards: no cost per call otherwise
            traced.check(leaves, self.labels(args, kwargs), f"function '{self.name}'")
        arrays = [np.asarray(x) for x in leaves if _is_array(x)]
        results = traced.traced_graph.run(arrays, donate=donate)
        n = len(results) - len(traced.updated)
        out_leaves = iter(results[:n])
        outputs = pack_like(traced.outputs, [next(out_leaves) if is_symbolic(t) else t
                                             for t in flatten(traced.outputs)])
        return outputs, list(zip(traced.updated, results[n:]))

    def traced(self, *args, **kwargs) -> Traced:
        """The trace for these arguments' signature, traced now if there is none yet;
        nothing runs. It becomes ``last_trace``."""
        return self._traced(self.converted(args, kwargs))[0]

    def _traced(self, structure) -> tuple:
        """``(trace, flat leaves)`` for converted ``(args, kwargs)`` (see :meth:`traced`).
        A call whose leaves have the last call's exact signature (:func:`_exact_key`:
        array types, shapes and dtypes, the same variables and static values) takes the
        last call's trace without working out the placeholder shapes again (a training
        loop's every batch but a last, smaller one)."""
        args, kwargs = structure
        leaves = flatten(structure)
        exact = (treedef(structure),) + tuple(map(_exact_key, leaves))
        if self._last_exact is not None and self._last_exact[0] == exact:
            self.last_trace = self._last_exact[1]
            return self.last_trace, leaves
        traced = self._traced_by_holders(structure, leaves)
        self._last_exact = (exact, traced)
        return traced, leaves

    def _traced_by_holders(self, structure, leaves) -> Traced:
        """The trace for ``structure`` (and its flat ``leaves``), keyed by the placeholder
        shapes and dtypes its arrays are traced with; traced now if there is none yet."""
        args, kwargs = structure
        if self.symbolic_batch:
            self._check_batch_sizes(structure, leaves)
        shapes = self._holder_shapes(args, kwargs, leaves)
        key = (treedef(structure),) + tuple(
            _leaf_key(x, self.symbolic_batch, shape) for x, shape in zip(leaves, shapes))
        traced = self._traces.get(key)
        if traced is None:
            traced = self._traces[key] = self.trace(structure, leaves, shapes)
        self.last_trace = traced
        return traced

    def converted(self, args, kwargs) -> tuple:
        """``(args, kwargs)`` with every array argument of a dtype graphs do not take as
        the one they do (see :func:`graph_array`; the others as they are); an error names
        the argument by its label (see :meth:`labels`)."""
        leaves = flatten((args, kwargs))
        if all(not _is_array(x) or np.asarray(x).dtype in _GRAPH_DTYPES for x in leaves):
            return args, kwargs
        labels = self.labels(args, kwargs)
        return pack_like((args, kwargs), [
            graph_array(x, f"function '{self.name}': {label}") if _is_array(x) else x
            for x, label in zip(leaves, labels)])

    def labels(self, args, kwargs) -> list[str]:
        """A label per flattened argument, for errors: ``argument_labels`` or ``arg<i>``."""
        if self.argument_labels is not None:
            return list(self.argument_labels(args, kwargs))
        return [f"arg{i}" for i in range(len(flatten((args, kwargs))))]

    def _check_batch_sizes(self, structure, leaves) -> None:
        """The first axis of every array argument is one symbolic batch axis, so their
        sizes must agree: a ValueError naming them otherwise (before the graph would fail
        on it, less clearly), by their labels (see :meth:`labels`). Only a function
        without ``argument_labels`` (a user's ``fg.function``) is told about
        ``symbolic_batch=False``: the others' callers cannot pass it."""
        sizes = {np.shape(x)[0] for x in leaves if _is_array(x) and np.ndim(x) > 0}
        if len(sizes) <= 1:
            return
        listed = ", ".join(f"{label} has shape {np.shape(x)}"
                           for label, x in zip(self.labels(*structure), leaves)
                           if _is_array(x) and np.ndim(x) > 0)
        if self.argument_labels is not None:
            raise ValueError(f"the first axis of every array is the batch (samples) axis, so "
                             f"their sizes must agree, but {listed}")
        raise ValueError(f"function '{self.name}': the first axis of every array argument "
                         f"is the batch axis, so their sizes must agree, but {listed}; "
                         f"pass symbolic_batch=False to fg.function to trace exact shapes")

    def _holder_shapes(self, args, kwargs, leaves) -> list:
        """Per leaf, the placeholder shape ``holder_shapes`` gives for it (Keras style:
        None = a symbolic size), or None for the default. A template that does not fit
        the array (another rank, another fixed size) is not used: the trace then follows
        the array, and whatever the function checks reports it."""
        if self.holder_shapes is None:
            return [None] * len(leaves)
        shapes = list(self.holder_shapes(args, kwargs))
        if len(shapes) != len(leaves):
            raise ValueError(f"function '{self.name}': holder_shapes gave {len(shapes)} shapes "
                             f"for {len(leaves)} arguments")
        return [shape if shape is not None and _is_array(x) and _fits(shape, np.shape(x))
                else None for x, shape in zip(leaves, shapes)]

    def trace(self, structure, leaves, shapes=None) -> Traced:
        shapes = shapes or [None] * len(leaves)
        holders = [placeholder(_holder_shape(x, self.symbolic_batch, shape), np.asarray(x).dtype,
                               f"arg{i}") if _is_array(x) else x
                   for i, (x, shape) in enumerate(zip(leaves, shapes))]
        args, kwargs = pack_like(structure, holders)
        with phases.phase("trace"), tracing_state() as state, guards.collecting() as required:
            outputs = self.fn(*args, **kwargs)
        updates = state.updates
        results = [t for t in flatten(outputs) if is_symbolic(t)] + [t for _, t in updates]
        traced_graph = trace_graph(self.name, [h for h in holders if is_symbolic(h)], results,
                                   compile_fn=self.compile_fn, subject="function",
                                   updated=[v for v, _ in updates])
        return Traced(traced_graph, outputs, [v for v, _ in updates],
                      [x for x in leaves if isinstance(x, Variable)],
                      _argument_checks(holders, required))

    def ir(self) -> str:
        if self.last_trace is None:
            raise ValueError(f"function '{self.name}' has not been traced yet: call it first")
        return str(self.last_trace.graph)


def commit(updates) -> None:
    """Write new values into their variables: all shapes checked first, then all written
    (fresh result arrays are adopted, not copied: see ``Variable.adopt``; the values come
    from ``TracedGraph.run``, whose results share no array with its arguments or with
    each other, so a variable never takes the caller's array or another variable's)."""
    for variable, value in updates:
        if np.shape(value) != variable.shape:
            raise ValueError(f"update of variable '{variable.path}' has shape {np.shape(value)}, "
                             f"expected {variable.shape}")
    for variable, value in updates:
        variable.adopt(value)


def function(fn=None, *, name=None, symbolic_batch=True):
    """Decorator form: ``@fg.function`` or ``fg.function(fn)`` (on the installed backend)."""
    if fn is None:
        return lambda f: Function(f, name, symbolic_batch=symbolic_batch)
    return Function(fn, name, symbolic_batch=symbolic_batch)


def _argument_checks(holders, required) -> list:
    """``(leaf index, guard)`` for each requirement on an argument's placeholder (one per
    argument and requirement: a loss and a metric on the same labels check once)."""
    position = {id(h.value): i for i, h in enumerate(holders) if is_symbolic(h)}
    checks, seen = [], set()
    for value, guard in required:
        index = position.get(id(value))
        key = (index, guard.key)
        if index is not None and key not in seen:
            seen.add(key)
            checks.append((index, guard))
    return checks


# The dtypes graphs take map to True; the other numbers to the dtype they are read as.
_GRAPH_DTYPE = {"bool": True, "int32": True, "int64": True, "float32": True, "float64": True,
                "int8": "int32", "int16": "int32", "uint8": "int32", "uint16": "int32",
                "uint32": "int64", "uint64": "int64", "float16": "float32"}
_GRAPH_DTYPES = frozenset(np.dtype(name) for name, taken in _GRAPH_DTYPE.items() if taken is True)


def graph_array(x, what: str) -> np.ndarray:
    """The array ``x`` in a dtype graphs take (bool, int32, int64, float32, float64): the
    narrower ints (uint8 labels) as int32, uint32 and uint64 as int64 (a uint64 value
    past int64's range a ValueError, never wrapped around), float16 as float32; others
    (complex, strings, objects) are a TypeError. Errors read ``what: ...``."""
    array = np.asarray(x)
    target = _GRAPH_DTYPE.get(array.dtype.name)
    if target is True:
        return array
    if target is None:
        raise TypeError(f"{what} has dtype {array.dtype}; expected numbers (bool, an int or "
                        f"float dtype)")
    return cast_in_range(array, target, what)


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, np.generic))


def _fits(template, shape) -> bool:
    """Whether an array of ``shape`` fits a Keras-style ``template`` (None: any size)."""
    return len(template) == len(shape) and all(t is None or t == n
                                               for t, n in zip(template, shape))


def _holder_shape(x, symbolic_batch: bool, template=None) -> tuple:
    """The placeholder shape for the array ``x``: ``template`` when given (from
    ``holder_shapes``), else its shape with the first axis symbolic (``symbolic_batch``)."""
    if template is not None:
        return tuple(template)
    shape = np.shape(x)
    return (None,) + shape[1:] if shape and symbolic_batch else shape


def _exact_key(x):
    """What a leaf of a call is to the last call's (see ``Function._traced``): an array's
    type, shape and dtype; a variable itself; a static value's type and repr."""
    if isinstance(x, np.ndarray):
        return (np.ndarray, x.shape, x.dtype)
    if isinstance(x, Variable):
        return ("variable", id(x))
    return ("static", type(x), repr(x))


def _leaf_key(x, symbolic_batch: bool, template=None):
    if _is_array(x):
        if template is not None:
            return ("array", np.ndim(x), ("template",) + tuple(template),
                    np.asarray(x).dtype.str)
        shape = np.shape(x)[1:] if symbolic_batch else np.shape(x)
        return ("array", np.ndim(x), shape, np.asarray(x).dtype.str)
    if isinstance(x, Variable):  # two variables may print the same (after clear_session)
        return ("variable", id(x))
    return ("static", type(x).__name__, repr(x))
