"""From traced symbolic tensors to a runnable IR Graph.

A traced graph's parameters are, in order: the inputs, the context parameters it reads
(``training``, ``rng_key``; see :mod:`.context`), and the variables it reads.
:class:`TracedGraph` keeps that split and assembles the run arguments itself
(:meth:`TracedGraph.run`).
"""
from __future__ import annotations

import inspect

import numpy as np

from ..backends import threads
from ..ir import DType, Graph
from ..ir.builder import emit, user_site
from ..ir.clone import inline
from ..ir.errors import VerificationError
from ..passes.rewrite import rebuild
from ..passes.simplify import where_constant_condition
from .context import (CONTEXT_PARAMS, REPLICATED, RNG_KEY, TRAINING, context_value,
                      is_context_param)
from .execution import compile_graph
from .naming import ir_name
from .variables import Variable, variable_of


def leaf_values(outputs) -> list:
    """Values with no producer that ``outputs`` depend on, in first-reached order."""
    leaves, seen, stack = [], set(), [t.value for t in reversed(outputs)]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if value.producer is None:
            leaves.append(value)
        else:
            stack.extend(reversed(value.producer.operands))
    return leaves


class TracedGraph:
    """A graph with its parameters split into inputs, context parameters and variables.

    A graph that reads the ``training`` flag is compiled once per flag value, as
    :meth:`specialized` for it: the flag a constant, so the compile pipeline's simplify
    pass drops the branch not taken and DCE what only it read (an inference run of a
    model with Dropout draws no random numbers). The ``replicated`` flag is always False
    there (a graph run on its own is not a replicated step, :mod:`.context`). Other
    graphs compile as they are."""

    def __init__(self, graph: Graph, num_inputs: int, context: list, variables: list[Variable],
                 compile_fn=None, updated=()):
        self.graph, self.num_inputs = graph, num_inputs
        self.context, self.variables = context, variables
        self.updated = tuple(updated)     # the variables the last results are new values of
        self._compile = compile_fn or compile_graph
        self._donated: dict = {}          # training flag (None: not read) -> donated pairs
        self._reads_flags = any(p is TRAINING or p is REPLICATED for p in context)
        self._run_context = [p for p in context if p is not TRAINING and p is not REPLICATED]
        self._executable = None           # a graph without the flag: its one executable
        self._by_training: dict = {}      # a graph with the flag: flag value -> executable
        self._reads_key: dict = {}        # flag value (None: no flag) -> executable reads rng_key
        self._replica_graphs: dict = {}   # replicated flag -> graph (see replica_graph)

    def specialized(self, training: bool) -> Graph:
        """The graph a run with this ``training`` value compiles: ``self.graph`` with its
        ``training`` parameter replaced by that constant (and dropped from the
        parameters); ``self.graph`` itself when it does not read the flag."""
        if not self._reads_flags:
            return self.graph
        flags = {TRAINING: emit("constant", value=bool(training), dtype=DType.bool),
                 REPLICATED: emit("constant", value=False, dtype=DType.bool)}
        flags = {p: v for p, v in flags.items() if any(p is q for q in self.graph.params)}
        results = inline(self.graph, flags)
        return Graph.from_results(self.graph.name,
                                  [p for p in self.graph.params if p not in flags], results)

    def replica_graph(self, replicated: bool) -> Graph:
        """``self.graph`` with its ``replicated`` flag a constant and the branches the
        flag did not take gone (before any autodiff sees them): what a step inlines, a
        replicated one with True (:mod:`.collectives`), any other with False, so that no
        all-reduce is reached outside a replicated step. ``self.graph`` itself when it
        does not read the flag."""
        if not any(p is REPLICATED for p in self.graph.params):
            return self.graph
        if replicated not in self._replica_graphs:
            flag = emit("constant", value=bool(replicated), dtype=DType.bool)
            graph = Graph.from_results(
                self.graph.name, [p for p in self.graph.params if p is not REPLICATED],
                inline(self.graph, {REPLICATED: flag}))
            self._replica_graphs[replicated] = rebuild(graph, _taken_branch)
        return self._replica_graphs[replicated]

    def executable(self, training: bool = False):
        """The compiled :meth:`specialized` graph for ``training`` (compiled on first use)."""
        if not self._reads_flags:
            if self._executable is None:
                self._executable = self._compiled(self.graph, None)
            return self._executable
        training = bool(training)
        if training not in self._by_training:
            self._by_training[training] = self._compiled(self.specialized(training), training)
        return self._by_training[training]

    def _compiled(self, graph: Graph, key):
        """``graph`` compiled, each updated variable's value donated to its new value (see
        the Executable protocol): :meth:`run` hands the arrays over or passes copies. The
        donated pairs are kept under ``key``, the training flag it was specialized for
        (None: the graph does not read it)."""
        first = len(graph.results) - len(self.updated)
        position = {id(p): i for i, p in enumerate(graph.params)}
        pairs = tuple((first + k, position[id(v.symbol)]) for k, v in enumerate(self.updated)
                      if id(v.symbol) in position)
        if pairs and not _takes_donate(self._compile):   # a compile function of one graph
            pairs = ()
        executable = self._compile(graph, donate=pairs) if pairs else self._compile(graph)
        self._donated[key] = pairs
        return executable

    def arguments(self, inputs, training: bool = False) -> list:
        """The arguments of the graph a run with this ``training`` value compiles
        (:meth:`specialized`: without the ``training`` flag): the input arrays, a value
        for each other context parameter, the variables' values.

        A fresh ``rng_key`` is drawn from the session's counter only when the compiled
        graph still reads it: an inference run whose random draws the flag turned off (a
        predict, a validation step of a model with Dropout) passes a placeholder key and
        leaves the counter alone, so it does not shift a training run's draws."""
        executable = self.executable(training)
        which = bool(training) if self._reads_flags else None
        reads_key = self._reads_key.get(which)
        if reads_key is None:
            reads_key = self._reads_key[which] = _reads_key(executable, self)
        return (list(inputs)
                + [context_value(p, training) if p is not RNG_KEY or reads_key
                   else _UNREAD_KEY for p in self._run_context]
                + [v.value for v in self.variables])

    def run(self, inputs, training: bool = False, donate: bool = False) -> list:
        """The graph's results on ``inputs`` with the ``training`` flag set to
        ``training`` (run on :meth:`arguments`): arrays the caller owns (see
        :func:`_owned`), so a variable may adopt one as its new value without copying
        it. ``donate``: the caller will commit the updated variables' new values, so
        their arrays are handed over (the step may write the new values into them, as
        numba_cpu's optimizer kernels do); else the step gets copies of those arrays and
        the variables' own are never written."""
        executable = self.executable(training)
        threads.apply()            # the thread policy, in this thread (after a compile)
        arguments = self.arguments(inputs, training)
        pairs = self._donated[bool(training) if self._reads_flags else None]
        if pairs:
            shared = _read_elsewhere(arguments, len(arguments) - len(self.variables))
            for _, i in pairs:
                if not donate or id(arguments[i]) in shared:
                    arguments[i] = arguments[i].copy()      # a copy of ours: kept below
        return _owned(executable(*arguments), arguments, pairs)


_UNREAD_KEY = np.array(0, dtype=np.int64)


def _takes_donate(compile_fn) -> bool:
    """Whether ``compile_fn`` takes ``donate=`` (the backends' and their optimizing
    compilers' do; a user's ``compile_fn(graph)`` is called as it is)."""
    try:
        parameters = inspect.signature(compile_fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "donate" or p.kind is p.VAR_KEYWORD for p in parameters)


def _read_elsewhere(arguments, count: int) -> set:
    """The ids of the arrays (owners) that one of the first ``count`` arguments (the
    inputs and context values) is, or is a view of: a variable's array given as an input
    too (``step(v.value)``, ``step(v.value.T)``) is not handed over, or the step would
    write it while a later kernel still reads the input. Variables own their arrays, so
    an input shares one's memory only through it (numpy's ``base`` is the owner)."""
    out = set()
    for a in arguments[:count]:
        while isinstance(a, np.ndarray):
            out.add(id(a))
            a = a.base
    return out


def _reads_key(executable, traced: "TracedGraph") -> bool:
    """Whether the graph ``executable`` runs reads its ``rng_key`` parameter: its
    ``graph``, after the compile pipeline, which keeps the parameters in order (the
    Executable protocol, :class:`fusegraph.backends.executable.Executable`)."""
    at = [i for i, p in enumerate(traced._run_context) if p is RNG_KEY]
    if not at:
        return False
    graph = executable.graph
    key = graph.params[traced.num_inputs + at[0]]
    return _uses(graph, key) or any(r is key for r in graph.results)


def _uses(graph: Graph, value) -> bool:
    """Whether an op of ``graph`` (or of a region in it) reads ``value``."""
    return any(any(v is value for v in op.operands)
               or (op.region is not None and _uses(op.region, value)) for op in graph.ops)


def _owned(results, arguments, donated=()) -> list:
    """``results`` with each array that is one of the run's ``arguments`` (a result that
    is a parameter: ``v.assign(x)`` of an input ``x``, or of another variable's value)
    or that an earlier result already is (one value returned twice) replaced by a copy.

    A backend may return such arrays as they are (the reference returns a parameter's
    array for a result that is that parameter); without the copy, a variable adopting it
    (``commit``) would share the caller's array, or another variable's. A result that is
    a view of something has a ``base`` and is copied by ``Variable.adopt`` itself.
    ``donated`` ``(result j, parameter i)`` pairs: result j may be argument i's array,
    handed over (see :meth:`TracedGraph.run`), and is kept as it is."""
    kept = {(j, id(arguments[i])) for j, i in donated}
    seen = {id(a) for a in arguments}
    out = []
    for j, r in enumerate(results):
        if id(r) in seen and (j, id(r)) not in kept:
            r = np.array(r, copy=True)
        seen.add(id(r))
        out.append(r)
    return out


def _taken_branch(op, operands):
    """A ``where`` on a constant condition as the branch it takes (rebuild's rule)."""
    return where_constant_condition(op, operands) if op.kind == "where" else None


def _first_use(outputs, value):
    """The first op (in creation order) on the way to ``outputs`` that reads ``value``."""
    users, seen, stack = [], set(), [t.value for t in outputs]
    while stack:
        v = stack.pop()
        if id(v) in seen or v.producer is None:
            continue
        seen.add(id(v))
        if any(o is value for o in v.producer.operands):
            users.append(v.producer)
        stack.extend(v.producer.operands)
    return min(users, key=lambda op: op.seq) if users else None


def _foreign_input_error(subject: str, name: str, inputs, outputs, value) -> ValueError:
    """A ValueError for a graph reading a symbolic value it was not given: where (the
    user's line, and where the value is used), and what to do for a model or a function."""
    user = _first_use(outputs, value)
    used = f", first read at {user.loc}" if user is not None and user.loc.file else ""
    what = f"'{value.name}' ({value.type}){used}"
    if subject == "model":
        given = ", ".join(f"'{t.name}'" for t in inputs) or "none"
        return ValueError(
            f"{user_site()}: model '{name}': the outputs depend on the symbolic input {what}, "
            f"which is not among the model's inputs ({given}); pass it in `inputs=`")
    return ValueError(
        f"{user_site()}: function '{name}': the result depends on the symbolic tensor {what}, "
        f"which is not an argument of this call: it comes from another trace (a tensor kept "
        f"from an earlier fg.function or train_step call, or a model's symbolic Input). Pass "
        f"its value to the function as an argument, or compute it inside the function")


def trace_graph(name: str, inputs, outputs, weight_order=(), compile_fn=None,
                subject: str = "model", updated=()) -> TracedGraph:
    """The graph computing ``outputs`` from ``inputs``, the context and the variables.

    The graph is named :func:`.naming.ir_name` of ``name`` (a model's or function's name
    as the user gave it). Variables are ordered by ``weight_order`` first, then as reached; ``compile_fn``
    (default: the installed backend's) compiles the graph on first run; ``updated``: the
    variables whose new values are the last outputs (see :meth:`TracedGraph.run`,
    ``donate``). ``subject``
    ("model" or "function": what ``name`` names) shapes the errors. Raises ValueError
    naming a symbolic value the outputs need that is not in ``inputs`` (with the user's
    line and where the value is used), and advice that fits the subject.
    """
    if subject not in ("model", "function"):
        raise ValueError(f"subject must be 'model' or 'function', got {subject!r}")
    input_ids = {id(t.value) for t in inputs}
    used: list[Variable] = []
    context = set()
    for value in leaf_values(outputs):
        if id(value) in input_ids:
            continue
        if is_context_param(value):
            context.add(id(value))
            continue
        variable = variable_of(value)
        if variable is None:
            raise _foreign_input_error(subject, name, inputs, outputs, value)
        used.append(variable)
    rank = {id(w): i for i, w in enumerate(weight_order)}
    used.sort(key=lambda w: rank.get(id(w), len(rank)))
    context_params = [p for p in CONTEXT_PARAMS if id(p) in context]
    try:
        graph = Graph.from_results(ir_name(name), [t.value for t in inputs] + context_params
                                   + [w.symbol for w in used], [t.value for t in outputs])
    except VerificationError as e:
        raise ValueError(f"{subject} '{name}': {e}") from None
    return TracedGraph(graph, len(inputs), context_params, used, compile_fn, updated)
