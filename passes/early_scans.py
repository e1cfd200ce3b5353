"""Scheduling: every ``scan`` op as early as its operands allow.

The graph's ops are put in a new topological order (Kahn's algorithm): among the ops
ready to run, a scan goes first, then the ops some scan needs (its operands' producers,
and theirs), then the others, each tier in program order. Nothing is added, removed or
changed; only the order of the top-level ops moves (loop bodies keep theirs).

What it is for: numba_cpu's plans run a scan on a second thread while the next scan runs
on the calling thread (:func:`fusegraph.backends.numba_cpu.plan.concurrent_scans`),
when that next scan comes before the first op that reads the first one's results. A
model with two recurrent layers on two inputs has their backward loops apart in
autodiff's order (each layer's gradient ops follow its loop); moved early, the two loops
are neighbours, and run at once. The cost: a scan's results live from their earlier
start (scans make new arrays; nothing else is moved).

Statistics: ``scans_moved`` (scans whose place in the order changed).
"""
from __future__ import annotations

import heapq

from ..ir.core import Graph

from .manager import Pass, count, register_pass


def early_scans(graph: Graph) -> Graph:
    """``graph`` with its ops in the order the module docstring gives."""
    if not any(op.kind == "scan" for op in graph.ops):
        return graph
    place = {id(op): i for i, op in enumerate(graph.ops)}
    tier = {id(op): 0 if op.kind == "scan" else 2 for op in graph.ops}
    stack = [op for op in graph.ops if op.kind == "scan"]
    while stack:                       # what the scans need: tier 1
        for v in stack.pop().operands:
            producer = v.producer
            if producer is not None and tier.get(id(producer)) == 2:
                tier[id(producer)] = 1
                stack.append(producer)
    waiting = {id(op): 0 for op in graph.ops}
    users: dict[int, list] = {id(op): [] for op in graph.ops}
    for op in graph.ops:
        for producer in {id(v.producer) for v in op.operands if v.producer is not None}:
            if producer in users:
                users[producer].append(op)
                waiting[id(op)] += 1
    ready = [(tier[id(op)], place[id(op)], op) for op in graph.ops if not waiting[id(op)]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, op = heapq.heappop(ready)
        order.append(op)
        for user in users[id(op)]:
            waiting[id(user)] -= 1
            if not waiting[id(user)]:
                heapq.heappush(ready, (tier[id(user)], place[id(user)], user))
    moved = sum(1 for i, op in enumerate(order) if op.kind == "scan" and place[id(op)] != i)
    if not moved:
        return graph
    count("scans_moved", moved)
    return Graph(graph.name, graph.params, order, graph.results)


register_pass(Pass("early_scans", early_scans, "schedule every scan as early as its operands allow"))
