"""Fusion: group elementwise chains, and the reductions over them, into ``fused`` ops.

A group (a future kernel) has one *iteration shape*: every elementwise op in it makes a
result of that shape, and every reduction in it reduces a value of that shape. Each
``fused`` op made keeps the kernel contract of :mod:`fusegraph.ir.ops.region` (which the
verifier checks); its region's results are the values used outside it, in
first-definition order. Which ops may join is the backend's
:class:`~fusegraph.ir.ops.region.KernelCapability`: ``fuse(graph, capability)``, by
default the one in force (:func:`targeting`; :data:`ANY_KERNEL` outside it), so the
registered ``fusion`` pass forms the kernels of the backend that a pipeline runs for.

The invariant that makes the fused graph a graph at all: contracting every group to one
node leaves the op graph acyclic. It implies that each group is convex (no path leaves
the group and comes back into it), but convexity of each group alone is not enough: two
convex groups can each read the other (a member of A feeds B while another member of B
feeds A), and the kernels would wait on each other. :func:`group_ops` keeps the
invariant by construction: it grows groups in program order over the graph of the ops
seen so far with each group contracted (:class:`_ContractedGraph`), and every join or
merge is a contraction of two nodes, made only when no path of two or more edges joins
them, which is exactly when the contracted graph stays acyclic. :func:`fuse` checks it
again when it orders the kernels, and raises VerificationError naming a cycle if not.

Groups grow in program order: an op joins the group of one of its operands' producers
when the shapes agree and the contraction stays acyclic. When an op's operands come from
several groups of its shape, they merge into one (acyclicity and the reduction rule
permitting): the moment and velocity chains of an Adam update both start from the
gradient and meet at the new weight, so each weight's whole update is one kernel that
reads the gradient, the two slots and the weight once and writes the three new values.
An op also joins (or merges) the groups of its *siblings*: groups that read one of its
operands whole, at its iteration shape, from outside (a bias gradient's sum over the
batch and a LayerNorm's backward both read the same matmul output: one kernel reads it
once).
Groups of one op stay plain ops unless the capability's ``lone_kernel`` wants a kernel
at their iteration shape (numba_cpu: large ones), and ops with effects stay plain ops
(:func:`.dce.has_effects`: they are never fused, and kept even when nothing reads
their results). A member
reading ``broadcast_to(x)`` reads ``x`` instead when its result shape stays the same
(the kernel broadcasts from the types), so the broadcast copy disappears (the group
then reads a value from an ancestor of the broadcast, which already precedes it: the
contracted graph stays acyclic). The fused graph is put in topological order, program
order first (a heap; networkx, slow to import, only names a cycle).

Statistics: the pass manager counts ``kernels_formed`` and ``ops_fused`` for it.
"""
from __future__ import annotations

import heapq
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from ..ir.builder import emit_op
from ..ir.core import Graph, Op, Value
from ..ir.errors import VerificationError
from ..ir.opdef import ELEMENTWISE, EXPANSION, REDUCTION, get_opdef
from ..ir.ops.region import ANY_KERNEL, KernelCapability, iteration_shape_of, row_axes_of
from ..ir.types import broadcast_shapes

from .dce import has_effects, live_graph
from .manager import Pass, register_pass
from .rewrite import rebuild

_CAPABILITY: ContextVar[KernelCapability] = ContextVar("fusion_capability", default=ANY_KERNEL)


@contextmanager
def targeting(capability: KernelCapability) -> Iterator[KernelCapability]:
    """Within the block, :func:`fuse` without a capability (the registered ``fusion`` and
    ``scan_fusion`` passes) forms ``capability``'s kernels."""
    token = _CAPABILITY.set(capability)
    try:
        yield capability
    finally:
        _CAPABILITY.reset(token)


def is_scalar_constant(op: Op) -> bool:
    return op.kind == "constant" and op.results[0].type.rank == 0


def _is_reduction(op: Op) -> bool:
    return get_opdef(op.kind).has(REDUCTION)


def _fusible(op: Op, capability: KernelCapability) -> bool:
    """Whether ``op`` may join a kernel: what ``capability`` admits, but not a scalar
    constant (copied into kernels) nor the expansion of one (``broadcast_to`` of a
    constant: a value of the sizes alone, which a backend computes once)."""
    if has_effects(op) or is_scalar_constant(op) or not capability.admits(op):
        return False
    return not (get_opdef(op.kind).has(EXPANSION)
                and all(v.producer is not None and is_scalar_constant(v.producer)
                        for v in op.operands))


def _identity_of_stop_gradient(op: Op, operands) -> tuple | None:
    """``stop_gradient(x)`` -> ``x`` (a :func:`.rewrite.rebuild` rule)."""
    return (operands[0],) if op.kind == "stop_gradient" else None


def _joins(op: Op, shape: tuple, group, capability: KernelCapability) -> bool:
    """Whether ``op`` (of iteration shape ``shape``) may join ``group`` by its shape: the
    group's, or, for a staged capability, the shape of a reduction's result or a row op
    of the group that ``op``, elementwise, reads (a row op: a LayerNorm's
    ``rsqrt(variance + eps)``, computed once per row between the stages)."""
    if shape == group.shape:
        return True
    if not capability.staged or not get_opdef(op.kind).has(ELEMENTWISE):
        return False
    rows = {id(r): r.type.shape for g_op in group.ops for r in g_op.results
            if _is_reduction(g_op) or r.type.shape != group.shape}
    return any(rows.get(id(v)) == shape for v in op.operands)


def _kernel_uses_ok(ops: list, capability: KernelCapability) -> bool:
    """Whether ``ops``, one kernel, keep the contract's ``reduction results`` rule for
    ``capability``: no op uses a reduction's result, or (a staged kernel, where the
    backend's kernels may be) the reductions have row axes (:func:`row_axes_of`: those
    whose results are used reduce the same trailing axes keeping them, the others these
    too or the other axes, as column reductions) and every op using a reduction's result
    is elementwise."""
    reductions = [op for op in ops if _is_reduction(op)]
    reduced = {id(op.results[0]) for op in reductions}
    users = [op for op in ops if any(id(v) in reduced for v in op.operands)]
    if not users:
        return True
    if not capability.staged or not all(get_opdef(op.kind).has(ELEMENTWISE) for op in users):
        return False
    return row_axes_of(ops) is not None


class _Group:
    def __init__(self, id: int, shape: tuple, node: int):
        self.id = id          # numbers the groups of one graph in program order
        self.shape = shape
        self.node = node      # its node in the contracted graph (:class:`_ContractedGraph`)
        self.ops: list[Op] = []


class _ContractedGraph:
    """The ops seen so far, each group contracted to one node: a DAG, kept in a
    topological order while nodes contract (Pearce and Kelly's dynamic topological order,
    extended from inserting an edge to contracting two nodes).

    Nodes are numbered as they are added; a node that was contracted into another one
    forwards to it (:meth:`find`). ``place[n]`` is node ``n``'s place in the order: every
    edge goes from a smaller place to a larger one.
    """

    def __init__(self):
        self.parent: list[int] = []
        self.place: list[int] = []
        self.succ: list[set[int]] = []
        self.pred: list[set[int]] = []

    def add(self, preds: set[int]) -> int:
        """A new node after all others, with edges from the nodes ``preds``; its number."""
        n = len(self.parent)
        self.parent.append(n)
        self.place.append(n)       # places only ever permute among existing nodes: n is last
        self.succ.append(set())
        self.pred.append(set(preds))
        for p in preds:
            self.succ[p].add(n)
        return n

    def find(self, n: int) -> int:
        """The node that ``n`` is now part of."""
        while self.parent[n] != n:
            self.parent[n] = n = self.parent[self.parent[n]]
        return n

    def contract(self, a: int, b: int) -> bool:
        """Make ``b`` part of ``a`` if the graph stays acyclic; say whether it did.

        Contracting two nodes closes a cycle exactly when a path of two or more edges
        joins them, ``first -> x -> ... -> p -> last`` (by place). Such a path enters
        ``last`` from a predecessor ``p`` placed after ``first``, so only the nodes placed
        between ``first`` and the latest such ``p`` are searched. If none of those ``p``
        descends from ``first``, the contraction is acyclic, and the order is mended in
        that window alone: the ancestors of those ``p`` move before ``first``, the
        descendants of ``first`` (itself included) after them, each set keeping its
        relative order, and the merged node takes ``first``'s new place. (The ancestors
        only move down and the descendants only up, so edges from or to the nodes that do
        not move still go forward, as in Pearce and Kelly's proof.)
        """
        first, last = (a, b) if self.place[a] < self.place[b] else (b, a)
        low = self.place[first]
        entries = {p for p in self.pred[last] if p != first and self.place[p] > low}
        if entries:
            high = max(self.place[p] for p in entries)
            descendants = self._reach({first}, self.succ, lambda n: self.place[n] <= high)
            if not descendants.isdisjoint(entries):
                return False
            ancestors = self._reach(entries, self.pred, lambda n: self.place[n] > low)
            place = self.place.__getitem__
            moved = sorted(ancestors, key=place) + sorted(descendants, key=place)
            for n, slot in zip(moved, sorted(map(place, moved))):
                self.place[n] = slot
        self.place[a] = self.place[first]
        for n in self.succ[b]:
            self.pred[n].discard(b)
            self.pred[n].add(a)
        for n in self.pred[b]:
            self.succ[n].discard(b)
            self.succ[n].add(a)
        self.succ[a] = (self.succ[a] | self.succ[b]) - {a, b}
        self.pred[a] = (self.pred[a] | self.pred[b]) - {a, b}
        self.succ[b], self.pred[b] = set(), set()
        self.parent[b] = a
        return True

    @staticmethod
    def _reach(starts: set[int], edges: list[set[int]], inside) -> set[int]:
        """``starts`` and the nodes reached from them along ``edges`` through nodes ``inside``."""
        seen, stack = set(starts), list(starts)
        while stack:
            for m in edges[stack.pop()]:
                if m not in seen and inside(m):
                    seen.add(m)
                    stack.append(m)
        return seen


def group_ops(graph: Graph, capability: KernelCapability = ANY_KERNEL) -> list[_Group]:
    """The groups of two or more ops, in program order; contracting each group to one
    node leaves the graph acyclic (the module's invariant).

    An op joins the group of one of its operands' producers, or else of a sibling (a
    group reading one of its operands whole, at its iteration shape): the first whose
    iteration shape it has, whose reduction results it may read (the capability's
    staging), and that it can join acyclically.
    When its operands come from *several* groups of its iteration shape (or siblings),
    those groups merge into one with it (the two halves of an optimizer update, say: the first and
    second moments are computed from the gradient in separate chains that meet at the
    weight's new value), as long as the contraction stays acyclic and no member would use
    another's reduction result. Only ops that ``capability`` admits join groups.
    """
    dag = _ContractedGraph()
    node_of: dict[int, int] = {}           # id(op) -> the node it was added as
    group_at: dict[int, _Group] = {}       # node -> the group it is
    groups: list[_Group] = []
    readers: dict[int, list] = {}          # id(value) -> groups reading it from outside

    def producer_node(v: Value) -> int:
        return dag.find(node_of[id(v.producer)])

    def can_merge(op: Op, g: _Group, h: _Group) -> bool:
        return h.shape == g.shape and _kernel_uses_ok(g.ops + h.ops + [op], capability)

    for op in graph.ops:
        node = dag.add({producer_node(v) for v in op.operands if v.producer is not None})
        node_of[id(op)] = node
        if not _fusible(op, capability):
            continue
        shape = iteration_shape_of(op)
        candidates: list[_Group] = []
        for v in op.operands:
            g = group_at.get(producer_node(v)) if v.producer is not None else None
            if g is not None and g not in candidates:
                candidates.append(g)
        for v in op.operands:          # siblings: groups reading the same whole array
            for g in readers.get(id(v), ()) if v.type.shape == shape else ():
                if g.ops and g not in candidates:
                    candidates.append(g)
        group = next((g for g in candidates if _joins(op, shape, g, capability)
                      and _kernel_uses_ok(g.ops + [op], capability)
                      and dag.contract(g.node, node)), None)
        if group is None:
            group = _Group(len(groups), shape, node)
            groups.append(group)
            group_at[node] = group
        else:
            for h in candidates:
                if h is not group and can_merge(op, group, h) and dag.contract(group.node, h.node):
                    del group_at[h.node]
                    group.ops = sorted(group.ops + h.ops, key=lambda o: node_of[id(o)])
                    h.ops = []
        group.ops.append(op)
        for v in op.operands:
            if v.type.shape == shape and (v.producer is None or group_at.get(
                    producer_node(v)) is not group):
                readers.setdefault(id(v), []).append(group)
    kept = [g for g in groups          # merged-away groups have no ops left
            if len(g.ops) > 1 or (len(g.ops) == 1 and capability.lone_kernel(g.shape))]
    for number, g in enumerate(kept):
        g.id = number          # kernel0, kernel1, ... in the printed graph
    return kept


def fuse(graph: Graph, capability: KernelCapability | None = None) -> Graph:
    """``graph`` with each group of :func:`group_ops` one ``fused`` op; ``capability``
    (default: the one in force, see :func:`targeting`) says which ops may join. For a
    capability with staged kernels, ``stop_gradient`` ops go first (fusion runs after
    autodiff, where they are the identity): softmax's ``stop_gradient`` of the row's max
    would otherwise stand, an op of the row's shape, between the max and its users."""
    capability = capability or _CAPABILITY.get()
    if capability.staged:
        graph = rebuild(graph, _identity_of_stop_gradient)
    groups = group_ops(graph, capability)
    group_of = {id(op): g for g in groups for op in g.ops}
    users = graph.users()
    result_ids = {id(r) for r in graph.results}

    def node(op: Op) -> tuple:
        g = group_of.get(id(op))
        return ("group", g.id) if g is not None else ("op", op.seq)

    # One node per group and per other op, ordered by dependencies, program order first.
    edges: dict[tuple, set] = {}
    first_seq, item_of = {}, {}
    for op in graph.ops:
        n = node(op)
        first_seq.setdefault(n, op.seq)
        item_of.setdefault(n, group_of.get(id(op), op))
        edges.setdefault(n, set())
        for v in op.operands:
            if v.producer is not None and node(v.producer) != n:
                edges[node(v.producer)].add(n)
    order = _program_order_first(edges, first_seq)
    if len(order) < len(edges):
        import networkx as nx   # only to name the cycle: networkx costs 70 ms to import
        dag = nx.DiGraph([(u, w) for u, ws in edges.items() for w in ws])
        cycle = " -> ".join(_describe(item_of[u]) for u, _ in nx.find_cycle(dag))
        raise VerificationError(f"fusion of graph @{graph.name} made kernels that depend on "
                                f"each other ({cycle}): its groups must contract acyclically")

    mapping: dict[int, Value] = {}
    effects: list[Op] = []
    for n in order:
        item = item_of[n]
        if isinstance(item, Op):
            new = emit_op(item.kind, [mapping.get(id(v), v) for v in item.operands],
                          dict(item.attrs), item.region, loc=item.loc)
            mapping.update(zip(map(id, item.results), new.results))
            if has_effects(item):
                effects.append(new)
        else:
            _emit_group(item, mapping, users, result_ids)
    return live_graph(graph.name, graph.params,
                      [mapping.get(id(r), r) for r in graph.results], effects)


def _program_order_first(edges: dict, first_seq: dict) -> list:
    """The nodes of the graph ``edges`` (node -> its successors) in topological order,
    the earliest ``first_seq`` first among those ready (Kahn's algorithm with a heap);
    fewer than all nodes when there is a cycle."""
    indegree = dict.fromkeys(edges, 0)
    for successors in edges.values():
        for w in successors:
            indegree[w] += 1
    ready = [(first_seq[n], n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for w in edges[n]:
            indegree[w] -= 1
            if indegree[w] == 0:
                heapq.heappush(ready, (first_seq[w], w))
    return order


def _describe(item) -> str:
    if isinstance(item, Op):
        return f"{item.kind} at {item.loc}"
    return f"kernel{item.id} [{', '.join(op.kind for op in item.ops)}] at {item.ops[0].loc}"


def _sources(op: Op) -> list:
    """The values a group member reads, looking through ``broadcast_to``: an elementwise
    op of ``broadcast_to(x)`` reads ``x`` instead (the kernel broadcasts it from the
    types), when that leaves the op's result shape as it is. The ``broadcast_to`` then
    has no user left, and no copy is made (a member of the group that nothing else reads
    is left out of the region). Where reading through would change the result's shape
    (``neg(broadcast_to(x))``), a ``broadcast_to`` in the group stays in the region, an
    expansion its kernel reads by index. Reductions read their operands as they are
    (their operand has the iteration shape)."""
    if _is_reduction(op):
        return list(op.operands)
    sources = [v.producer.operands[0]
               if v.producer is not None and get_opdef(v.producer.kind).has(EXPANSION)
               else v for v in op.operands]
    if all(s is v for s, v in zip(sources, op.operands)):
        return sources
    if broadcast_shapes(*(s.type.shape for s in sources)) != op.results[0].type.shape:
        return list(op.operands)
    return sources


def _emit_group(group: _Group, mapping: dict, users: dict, result_ids: set) -> None:
    """Emit one ``fused`` op for ``group``; map its members' escaping results."""
    members = {id(op) for op in group.ops}
    escaping = [r for op in group.ops for r in op.results
                if id(r) in result_ids or any(id(u) not in members for u in users.get(id(r), []))]
    read = {id(v) for op in group.ops for v in _sources(op)} | set(map(id, escaping))
    inner: dict[int, Value] = {}
    params: list[Value] = []
    outer_args: list[Value] = []
    region_ops = []
    for op in group.ops:
        if not any(id(r) in read for r in op.results):
            continue          # a broadcast_to every member reads through
        operands = []
        for v in _sources(op):
            if id(v) not in inner:
                if v.producer is not None and is_scalar_constant(v.producer):
                    c = v.producer
                    inner[id(v)] = emit_op("constant", [], dict(c.attrs), loc=c.loc).results[0]
                else:
                    p = Value(v.type, name=f"in{len(params)}")
                    params.append(p)
                    outer_args.append(mapping.get(id(v), v))
                    inner[id(v)] = p
            operands.append(inner[id(v)])
        copy = emit_op(op.kind, operands, dict(op.attrs), loc=op.loc)
        region_ops.append(copy)
        inner.update(zip(map(id, op.results), copy.results))
    region = Graph.from_results(f"kernel{group.id}", params, [inner[id(r)] for r in escaping])
    fused = emit_op("fused", outer_args, {}, region, loc=group.ops[0].loc)
    mapping.update(zip(map(id, escaping), fused.results))


register_pass(Pass("fusion", fuse, "group elementwise chains and their reductions into kernels"))
