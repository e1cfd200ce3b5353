"""Fusion: group elementwise chains, and the reductions over them, into ``fused`` ops.

A group (a future kernel) has one *iteration shape*: every elementwise op in it makes a
result of that shape, and every reduction in it reduces a value of that shape. What a
backend may assume of a ``fused`` op's region:

* its ops are elementwise (trait ELEMENTWISE) or reductions (``reduce_*``);
* every elementwise result has the iteration shape, except scalar ``constant`` ops,
  which are copied into the region rather than passed in;
* every region parameter broadcasts to the iteration shape;
* a reduction's operand has the iteration shape, and nothing in the region uses a
  reduction's result (a kernel finishes its reductions; their users start the next);
* the region's results are the values used outside it, in first-definition order.

Groups grow in program order: an op joins the group of one of its operands' producers
when the shapes agree and joining keeps the group convex (no path leaves the group and
comes back, which would make the fused graph cyclic). When an op's operands come from
several groups of its shape, they merge into one (convexity and the reduction rule
permitting): the moment and velocity chains of an Adam update both start from the
gradient and meet at the new weight, so each weight's whole update is one kernel that
reads the gradient, the two slots and the weight once and writes the three new values.
Groups of one op stay plain ops, and so do ops with effects (:func:`.dce.has_effects`:
they are never fused, and kept even when nothing reads their results). A member
reading ``broadcast_to(x)`` reads ``x`` instead when its result shape stays the same
(the kernel broadcasts from the types), so the broadcast copy disappears. The fused
graph is put in order with networkx's topological sort, program order first.

Statistics: the number of kernels formed is ``len(group_ops(graph))``.
"""
from __future__ import annotations

import networkx as nx

from fusegraph.ir.builder import emit_op
from fusegraph.ir.core import Graph, Op, Value
from fusegraph.ir.opdef import ELEMENTWISE, get_opdef
from fusegraph.ir.types import broadcast_shapes

from .dce import has_effects, live_graph
from .manager import Pass, register_pass

REDUCTIONS = frozenset({"reduce_sum", "reduce_mean", "reduce_max", "reduce_min"})


def is_scalar_constant(op: Op) -> bool:
    return op.kind == "constant" and op.results[0].type.rank == 0


def _fusible(op: Op) -> bool:
    if has_effects(op):
        return False
    opdef = get_opdef(op.kind)
    return (opdef.has(ELEMENTWISE) and not is_scalar_constant(op)) or op.kind in REDUCTIONS


class _Group:
    def __init__(self, id: int, shape: tuple):
        self.id = id          # numbers the groups of one graph in program order
        self.shape = shape
        self.ops: list[Op] = []
        self.reduced: set[int] = set()   # ids of reduction results (no member may use them)
        self.merged_into: "_Group | None" = None   # set when another group absorbed this one


def _iteration_shape(op: Op) -> tuple:
    return (op.operands[0] if op.kind in REDUCTIONS else op.results[0]).type.shape


def group_ops(graph: Graph) -> list[_Group]:
    """The groups of two or more ops, each convex, in program order.

    An op joins the group of one of its operands' producers (the first whose iteration
    shape it has and whose convexity joining keeps). When its operands come from
    *several* groups of its iteration shape, those groups merge into one with it (the
    two halves of an optimizer update, say: the first and second moments are computed
    from the gradient in separate chains that meet at the weight's new value), as long
    as the union stays convex (no path from one to the other through an op outside
    both) and no member would use another's reduction result.
    """
    group_of: dict[int, _Group] = {}          # id(op) -> group (as first joined)
    depends: dict[int, frozenset] = {}        # id(value) -> ids of groups it depends on
    groups: list[_Group] = []
    position = {id(op): i for i, op in enumerate(graph.ops)}

    def find(g: _Group) -> _Group:
        while g.merged_into is not None:
            g = g.merged_into
        return g

    def group_of_value(v: Value) -> "_Group | None":
        g = group_of.get(id(v.producer)) if v.producer is not None else None
        return find(g) if g is not None else None

    def depends_on(v: Value, targets: set) -> bool:
        """Whether ``v`` depends on a group whose (current) id is in ``targets``."""
        return any(find(groups[i]).id in targets for i in depends.get(id(v), ()))

    def outside_ok(ops, members: set, targets: set) -> bool:
        """No operand of ``ops`` produced outside ``members`` depends on ``targets``."""
        for op in ops:
            for v in op.operands:
                g = group_of_value(v)
                if (g is None or g.id not in members) and depends_on(v, targets):
                    return False
        return True

    def uses_reduced(ops, reduced: set) -> bool:
        return any(id(v) in reduced for op in ops for v in op.operands)

    def can_join(op: Op, g: _Group) -> bool:
        if _iteration_shape(op) != g.shape or uses_reduced([op], g.reduced):
            return False
        return outside_ok([op], {g.id}, {g.id})

    def can_merge(op: Op, g: _Group, h: _Group) -> bool:
        """Whether ``h`` can merge into ``g`` (which ``op`` can join) with ``op``."""
        if h.shape != g.shape or uses_reduced([op], h.reduced):
            return False
        if uses_reduced(h.ops, g.reduced) or uses_reduced(g.ops, h.reduced):
            return False
        members = {g.id, h.id}
        return (outside_ok([op], members, members) and outside_ok(h.ops, members, {g.id})
                and outside_ok(g.ops, members, {h.id}))

    for op in graph.ops:
        group = None
        if _fusible(op):
            candidates = []
            for v in op.operands:
                g = group_of_value(v)
                if g is not None and g not in candidates:
                    candidates.append(g)
            for g in candidates:
                if can_join(op, g):
                    group = g
                    break
            if group is not None:
                for h in candidates:
                    if h is not group and can_merge(op, group, h):
                        group.ops = sorted(group.ops + h.ops, key=lambda o: position[id(o)])
                        group.reduced |= h.reduced
                        h.merged_into, h.ops = group, []
            if group is None:
                group = _Group(len(groups), _iteration_shape(op))
                groups.append(group)
            group.ops.append(op)
            group_of[id(op)] = group
            if op.kind in REDUCTIONS:
                group.reduced.add(id(op.results[0]))
        below = frozenset().union(*(depends.get(id(v), frozenset()) for v in op.operands))
        for r in op.results:
            depends[id(r)] = below | ({group.id} if group is not None else frozenset())
    kept = [g for g in groups if g.merged_into is None and len(g.ops) > 1]
    for number, g in enumerate(kept):
        g.id = number          # kernel0, kernel1, ... in the printed graph
    return kept


def fuse(graph: Graph) -> Graph:
    groups = group_ops(graph)
    group_of = {id(op): g for g in groups for op in g.ops}
    users = graph.users()
    result_ids = {id(r) for r in graph.results}

    def node(op: Op) -> tuple:
        g = group_of.get(id(op))
        return ("group", g.id) if g is not None else ("op", op.seq)

    # One node per group and per other op, ordered by dependencies, program order first.
    dag, first_seq, item_of = nx.DiGraph(), {}, {}
    for op in graph.ops:
        n = node(op)
        first_seq.setdefault(n, op.seq)
        item_of.setdefault(n, group_of.get(id(op), op))
        dag.add_node(n)
        for v in op.operands:
            if v.producer is not None and node(v.producer) != n:
                dag.add_edge(node(v.producer), n)
    order = nx.lexicographical_topological_sort(dag, key=first_seq.__getitem__)

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


def _sources(op: Op, members: set) -> list:
    """The values a group member reads, looking through ``broadcast_to``: an elementwise
    op of ``broadcast_to(x)`` reads ``x`` instead (the kernel broadcasts it from the
    types), when that leaves the op's result shape as it is. The ``broadcast_to`` then
    has no user left, and no copy is made. Reductions read their operands as they are
    (their operand has the iteration shape)."""
    if op.kind in REDUCTIONS:
        return list(op.operands)
    sources = [v.producer.operands[0]
               if v.producer is not None and v.producer.kind == "broadcast_to"
               and id(v.producer) not in members else v for v in op.operands]
    if all(s is v for s, v in zip(sources, op.operands)):
        return sources
    if broadcast_shapes(*(s.type.shape for s in sources)) != op.results[0].type.shape:
        return list(op.operands)
    return sources


def _emit_group(group: _Group, mapping: dict, users: dict, result_ids: set) -> None:
    """Emit one ``fused`` op for ``group``; map its members' escaping results."""
    members = {id(op) for op in group.ops}
    inner: dict[int, Value] = {}
    params: list[Value] = []
    outer_args: list[Value] = []
    region_ops = []
    for op in group.ops:
        operands = []
        for v in _sources(op, members):
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
    escaping = [r for op in group.ops for r in op.results
                if id(r) in result_ids or any(id(u) not in members for u in users.get(id(r), []))]
    region = Graph.from_results(f"kernel{group.id}", params, [inner[id(r)] for r in escaping])
    fused = emit_op("fused", outer_args, {}, region, loc=group.ops[0].loc)
    mapping.update(zip(map(id, escaping), fused.results))


register_pass(Pass("fusion", fuse, "group elementwise chains and their reductions into kernels"))
