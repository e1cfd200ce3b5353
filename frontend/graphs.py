"""From traced symbolic tensors to an IR Graph whose parameters are the inputs and the
variables the outputs read."""
from __future__ import annotations

from ..ir import Graph
from ..ir.errors import VerificationError
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


def trace_graph(name: str, inputs, outputs, weight_order=()) -> tuple[Graph, list[Variable]]:
    """The graph computing ``outputs`` from ``inputs`` and the variables they read.

    Parameters are the inputs (in order), then the variables used, in ``weight_order``
    first, then any others in the order reached. Raises ValueError naming an input the
    outputs need that is not in ``inputs``.
    """
    input_ids = {id(t.value) for t in inputs}
    used: list[Variable] = []
    for value in leaf_values(outputs):
        if id(value) in input_ids:
            continue
        variable = variable_of(value)
        if variable is None:
            given = ", ".join(f"'{t.name}'" for t in inputs) or "none"
            raise ValueError(
                f"model '{name}': the outputs depend on input '{value.name}' ({value.type}), "
                f"which is not among the model's inputs ({given}); pass it in `inputs=`")
        used.append(variable)
    rank = {id(w): i for i, w in enumerate(weight_order)}
    used.sort(key=lambda w: rank.get(id(w), len(rank)))
    try:
        graph = Graph.from_results(name, [t.value for t in inputs] + [w.symbol for w in used],
                                   [t.value for t in outputs])
    except VerificationError as e:
        raise ValueError(f"model '{name}': {e}") from None
    return graph, used
