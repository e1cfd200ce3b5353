"""Donated parameters: which results a numba_cpu Executable writes into the arrays of
the parameters they replace (an optimizer's update of a weight and its slots), and
holding Ctrl-C back while it does.

A caller compiles with ``donate``, ``(result j, parameter i)`` pairs: it hands parameter
i's array to the step, which may overwrite it with result j's values and return it as
result j (the runtime's variables then keep their arrays: ``commit`` adopts the same
array). :func:`in_place_writes` picks the pairs a kernel can write in place, from the
graph alone:

* result j is computed elementwise by a ``fused`` op of the graph's **tail**, the ops
  after which nothing can fail: the longest run of ``fused`` ops at the end of the graph
  whose results no op reads (only the graph returns them). Everything that can raise (an
  index out of range, a bad shape, a contraction) runs before the first write, so a
  failed step leaves every donated array as it was;
* the kernel reads parameter i once, elementwise at the index it writes (its region
  parameter has the result's type), and nothing else in the tail reads it, nor any value
  that may be a view of it (every op but a kernel, a contraction, a native op or a scan
  may return a view of its operands);
* result j is returned once, and parameter i (or a view of it) is not a result.

Why: an optimizer's kernel writing new arrays reads each weight and slot and writes a
second copy, whose cache lines the CPU first reads for ownership; in place, a line read
is written back. Measured (RMSprop kernel of a 10000x64 table, 1 thread, same session):
0.415 ms into new arrays, 0.22 ms in place. A kernel given its operand as its output
instead (no separate code) took 0.93 ms: LLVM's overlap check sends the loop to its
scalar version. So an in-place kernel is a kernel of its own (``generate_kernel(...,
in_place=...)``) that stores into the operand.

A plan holds Ctrl-C back from its first write to its return
(:func:`fusegraph.backends.interrupts.hold_interrupts`), and the runtime from the step to
its commit (:func:`fusegraph.backends.interrupts.interrupts_held`), so that a Ctrl-C
meanwhile is raised once the step's new values are all in place.
"""
from __future__ import annotations

from ...ir.core import Graph
from ...ir.opdef import CONTRACTION, REDUCTION, get_opdef
from ...ir.ops.region import is_staged

from .native import NATIVE


def _tail(graph: Graph, users: dict) -> list[int]:
    """The indices of the graph's tail (see the module docstring), in order."""
    tail: list[int] = []
    for index in range(len(graph.ops) - 1, -1, -1):
        op = graph.ops[index]
        if op.kind != "fused" or any(users.get(id(r)) for r in op.results):
            break
        tail.append(index)
    return tail[::-1]


def _fresh(op) -> bool:
    """Whether ``op`` makes new arrays (never a view of an operand)."""
    return (op.kind in ("fused", "scan") or op.kind in NATIVE
            or get_opdef(op.kind).has(CONTRACTION))


def _views_of(graph: Graph, value) -> set:
    """The ids of ``value`` and of every value that may be a view of it."""
    out = {id(value)}
    for op in graph.ops:
        if not _fresh(op) and any(id(v) in out for v in op.operands):
            out.update(id(r) for r in op.results)
    return out


def in_place_writes(graph: Graph, donate) -> dict[int, tuple]:
    """``{op index: ((result k, operand m), ...)}``: for each op of ``graph``, which of its
    results its kernel writes into which of its operands, from the donated ``(result j,
    parameter i)`` pairs the module docstring's rules allow."""
    users: dict = graph.users()
    tail = set(_tail(graph, users))
    place = {id(op): i for i, op in enumerate(graph.ops)}
    returned = [id(r) for r in graph.results]
    writes: dict[int, list] = {}
    for j, i in donate:
        result, param = graph.results[j], graph.params[i]
        op = result.producer
        if op is None or place.get(id(op)) not in tail or returned.count(id(result)) != 1:
            continue
        positions = [m for m, v in enumerate(op.operands) if v is param]
        k = next(k for k, r in enumerate(op.results) if r is result)
        inner = op.region.results[k]
        if (len(positions) != 1 or is_staged(op.region)
                or op.region.params[positions[0]].type != result.type
                or param.type != result.type or inner.producer is None
                or get_opdef(inner.producer.kind).has(REDUCTION)):
            continue
        views = _views_of(graph, param)
        if any(r in views for r in returned) or any(
                id(v) in views and m not in positions for m, v in enumerate(op.operands)):
            continue
        readers = {id(u) for v in views for u in users.get(v, [])}
        if any(id(graph.ops[t]) in readers and graph.ops[t] is not op for t in tail):
            continue
        writes.setdefault(place[id(op)], []).append((k, positions[0]))
    return {index: tuple(sorted(pairs)) for index, pairs in writes.items()}
