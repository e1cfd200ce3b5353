"""When two graphs are "the same computation": one canonical form, :func:`structure`,
with two switches, and what each notion is for.

Values are numbered by position (parameters first, then op results in order), so graphs
built separately compare equal; operands are compared by number, attributes by
:func:`~fusegraph.ir.core.attrs_key` (type-exact, nan-safe), results by number, and a
region by its own structure. A value a graph uses but does not define (none in a valid
graph) is ``("?", id)``: never equal to another graph's.

* ``structure(graph)`` (names and locations count): **the graph's text identity**, equal
  for graphs that print the same way. ``Graph.__eq__``/``__hash__`` use it (round trips
  through the printer and parser), and CSE compares the regions of two ops by it, so
  merging them never changes what a dump of the graph shows.
* ``structure(graph, names=False, locations=False)``: **the computation alone**, equal for
  graphs that differ only in the graph's and parameters' names and the ops' source
  locations. A generated kernel depends on this and nothing else, so the Numba
  backends name kernels by a hash of it
  (:func:`fusegraph.backends.numba.generator.structural_hash`): equal regions of
  different layers share one kernel.
"""
from __future__ import annotations

from .core import attrs_key


def structure(graph, *, names: bool = True, locations: bool = True) -> tuple:
    """The canonical form of ``graph`` (see the module docstring): a hashable tuple.
    ``names``: the graph's and its parameters' names count; ``locations``: the ops'
    source locations count (both in regions too)."""
    number: dict = {}
    for p in graph.params:
        number[p] = len(number)
    ops = []
    for op in graph.ops:
        entry = (op.kind, tuple(number.get(v, ("?", id(v))) for v in op.operands),
                 attrs_key(op.attrs), tuple(r.type for r in op.results))
        if locations:
            entry += (op.loc,)
        region = op.region
        ops.append(entry + (None if region is None
                            else structure(region, names=names, locations=locations),))
        for r in op.results:
            number[r] = len(number)
    params = tuple((p.name, p.type) if names else p.type for p in graph.params)
    results = tuple(number.get(r, ("?", id(r))) for r in graph.results)
    return ((graph.name,) if names else ()) + (params, tuple(ops), results)


__all__ = ["structure"]
