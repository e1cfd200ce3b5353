"""Bucketing the all-reduces of a data-parallel step: few messages, each sent early.

A data-parallel step traces one ``all_reduce`` per gradient (and per metric total, per
synchronized BatchNormalization moment: :mod:`fusegraph.frontend.collectives`), emitted
where the optimizer runs, after the whole backward pass. Each message has a fixed cost
(latency, a handshake), so many small ones waste time; and a gradient is ready long
before the optimizer runs, so sending it then wastes the backward's time. Here every
all-reduce of the graph is rewritten:

* its operands become *members*, ordered by when each is ready (the position of the op
  that makes it, a parameter before every op);
* consecutive members (of one reduction, sum or mean) join a bucket up to
  :data:`BUCKET_BYTES` (PyTorch DDP's default, 25 MB) — as long as the bucket can still
  run before any op reads one of its members' results (a BatchNormalization's moments
  are read by the forward pass, so they never wait for gradients);
* each bucket is one multi-operand ``all_reduce`` placed right after the op that makes
  its last member (at the location of its first member's op), so a runtime can overlap
  it with the rest of the backward pass; its ``tag`` is its number in the graph.

The graph keeps its parameters and results; every op is kept (copied onto the buckets'
results where it read an all-reduce's). Every process runs the same pass on the same
graph, so the buckets, their order and their tags agree across processes.

Statistics: ``all_reduce_ops`` (before), ``all_reduce_buckets`` (after).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.builder import emit_op
from ..ir.core import Graph, Op, Value

from .manager import Pass, count, register_pass
from .rewrite import copy_op

BUCKET_BYTES = 25 * 2**20


@dataclass
class _Bucket:
    mean: bool
    members: list = field(default_factory=list)    # (op, result index)
    ready: int = -1       # the position after which every member is made
    needed: int = 1 << 62  # the first position that reads a member's result
    size: int = 0         # bytes

    def admits(self, ready: int, needed: int, size: int) -> bool:
        return (self.size + size <= BUCKET_BYTES and max(self.ready, ready)
                < min(self.needed, needed))

    def add(self, op: Op, index: int, ready: int, needed: int, size: int) -> None:
        self.members.append((op, index))
        self.ready, self.needed = max(self.ready, ready), min(self.needed, needed)
        self.size += size


def buckets_of(graph: Graph) -> list[_Bucket]:
    """The buckets of ``graph``'s all-reduces, in the order they run (see the module)."""
    position = {id(op): i for i, op in enumerate(graph.ops)}
    first_read: dict[int, int] = {}
    for i, op in enumerate(graph.ops):
        for v in op.operands:
            if v.producer is not None:
                first_read.setdefault(id(v.producer), i)
    members = []
    for op in graph.ops:
        if op.kind != "all_reduce":
            continue
        needed = first_read.get(id(op), len(graph.ops))
        for index, v in enumerate(op.operands):
            ready = position[id(v.producer)] if v.producer is not None else -1
            size = np.dtype(v.type.dtype.numpy).itemsize * _elements(v)
            members.append((ready, position[id(op)], index, op, needed, size))
    buckets: list[_Bucket] = []
    for mean in (True, False):
        current = None
        for ready, _, index, op, needed, size in sorted(
                (m for m in members if m[3].attrs["mean"] == mean), key=lambda m: m[:3]):
            if current is None or not current.admits(ready, needed, size):
                current = _Bucket(mean)
                buckets.append(current)
            current.add(op, index, ready, needed, size)
    return sorted(buckets, key=lambda b: b.ready)


def _elements(v: Value) -> int:
    n = 1
    for d in v.type.shape:
        n *= d
    return n


def all_reduce_buckets(graph: Graph) -> Graph:
    """``graph`` with its all-reduces bucketed and placed (see the module)."""
    reduces = [op for op in graph.ops if op.kind == "all_reduce"]
    if not reduces:
        return graph
    pending = buckets_of(graph)
    count("all_reduce_ops", len(reduces))
    count("all_reduce_buckets", len(pending))
    mapping: dict[int, Value] = {}
    order: list[Op] = []
    tags = iter(range(len(pending)))

    def place_buckets(after: int) -> None:
        while pending and pending[0].ready <= after:
            bucket = pending.pop(0)
            operands = [mapping.get(id(op.operands[i]), op.operands[i])
                        for op, i in bucket.members]
            first = bucket.members[0][0]
            placed = emit_op("all_reduce", operands, {"mean": bucket.mean, "tag": next(tags)},
                             loc=first.loc)
            order.append(placed)
            for (op, i), result in zip(bucket.members, placed.results):
                mapping[id(op.results[i])] = result

    place_buckets(-1)
    for position, op in enumerate(graph.ops):
        if op.kind != "all_reduce":
            operands = [mapping.get(id(v), v) for v in op.operands]
            copy = copy_op(op, operands) if any(a is not b for a, b in
                                                zip(operands, op.operands)) else op
            order.append(copy)
            for old, new in zip(op.results, copy.results):
                if new is not old:
                    mapping[id(old)] = new
        place_buckets(position)
    return Graph(graph.name, graph.params, order,
                 [mapping.get(id(r), r) for r in graph.results])


register_pass(Pass("all_reduce_buckets", all_reduce_buckets,
                   "a data-parallel step's all-reduces joined in buckets, each placed where "
                   "its last operand is made"))
