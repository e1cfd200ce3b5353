"""From traced symbolic tensors to a runnable IR Graph.

A traced graph's parameters are, in order: the inputs, the context parameters it reads
(``training``, ``rng_key``; see :mod:`.context`), and the variables it reads.
:class:`TracedGraph` keeps that split so every caller assembles run arguments the same
way.
"""
from __future__ import annotations

from ..ir import Graph
from ..ir.builder import user_site
from ..ir.errors import VerificationError
from .context import CONTEXT_PARAMS, context_value, is_context_param
from .execution import compile_graph
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
    """A graph with its parameters split into inputs, context parameters and variables."""

    def __init__(self, graph: Graph, num_inputs: int, context: list, variables: list[Variable],
                 compile_fn=None):
        self.graph, self.num_inputs = graph, num_inputs
        self.context, self.variables = context, variables
        self._compile = compile_fn or compile_graph
        self._executable = None

    def arguments(self, inputs, training: bool = False) -> list:
        """All run arguments: the input arrays, fresh context values, the variables' values."""
        return (list(inputs) + [context_value(p, training) for p in self.context]
                + [v.value for v in self.variables])

    def run(self, inputs, training: bool = False) -> list:
        if self._executable is None:
            self._executable = self._compile(self.graph)
        return self._executable(*self.arguments(inputs, training))


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
                subject: str = "model") -> TracedGraph:
    """The graph computing ``outputs`` from ``inputs``, the context and the variables.

    Variables are ordered by ``weight_order`` first, then as reached; ``compile_fn``
    (default: the installed backend's) compiles the graph on first run. ``subject``
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
        graph = Graph.from_results(name, [t.value for t in inputs] + context_params
                                   + [w.symbol for w in used], [t.value for t in outputs])
    except VerificationError as e:
        raise ValueError(f"{subject} '{name}': {e}") from None
    return TracedGraph(graph, len(inputs), context_params, used, compile_fn)
