"""Memory planning: an analysis (not a Graph -> Graph pass) of a graph under one binding
of its symbols to sizes.

``plan_memory(graph, sizes) -> MemoryPlan`` gives, per value:

* its **live range** ``[start, end]`` in op indices: ``start`` is the index of the op that
  defines it (-1 for a parameter), ``end`` the index of the last op that reads it *or a
  value that may be a view of it* (a view keeps its base alive); a graph result, or
  anything a result may be a view of, lives to ``len(graph.ops)`` (the caller gets it);
* its size in bytes under ``sizes``;
* a **slot** for the values a backend writes into buffers it keeps (``slotted`` ops'
  results that no graph result can reach): values whose ranges do not overlap share a
  slot; ranges are closed, so an op's results never share with its operands (a kernel
  never writes the array it reads);
* **in-place** candidates: a result that may be written over one of its op's operands
  because the graph allows it: the op is elementwise (its trait, or a region applied once
  whose ops are all elementwise), the operand has the result's exact type (no broadcast),
  this op is the operand's last reader (no view of it outlives the op), and the operand
  is neither a view nor handed to the caller. Each operand goes to one result, the
  nearest first (fewest ops between them), then a parameter before an intermediate
  value. An optimizer update ``w' = w - lr * g`` may so write the
  slot of ``w`` — for a parameter that also needs the caller to give the array up (a
  backend holding weights on its device does; numba_cpu does not: a step returns new
  arrays), so the plan only reports it;
* **peak bytes**: the most bytes of buffers live at once (each buffer counted once: a
  result of an op that may return a view owns no bytes), and the largest live values at
  the peak with the source lines of their ops.

Which ops make new arrays and which may return views of their operands is the backend's
business: ``fresh`` (ops whose results are new arrays, never views) defaults to every op
without the MOVEMENT trait (numpy's reshapes, transposes and slices return views);
``slotted`` (the fresh ops whose results the backend writes into planned buffers)
defaults to ``fresh``. ``str(plan)`` is a readable report; :func:`memory_report` is
what ``fusegraph dump --memory`` prints.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.core import Graph, Op, Value
from ..ir.opdef import ELEMENTWISE, MOVEMENT, get_opdef
from ..ir.printer import value_names
from ..ir.types import Sym, resolve_shape

TOP_N = 10   # the largest live values a report lists


@dataclass(frozen=True)
class LiveRange:
    """Op indices: defined by op ``start`` (-1: a parameter), last read by op ``end``."""

    start: int
    end: int


@dataclass
class MemoryPlan:
    """What :func:`plan_memory` found (see the module docstring). Maps are keyed by Value;
    ``slot_bytes[k]`` is the size slot ``k`` needs (its largest value)."""

    graph: Graph
    sizes: dict
    ranges: dict = field(default_factory=dict)       # Value -> LiveRange
    nbytes: dict = field(default_factory=dict)       # Value -> int
    escapes: frozenset = frozenset()                 # values a graph result may be or view
    views: frozenset = frozenset()                   # results of ops that may return views
    slots: dict = field(default_factory=dict)        # Value -> slot index
    slot_bytes: list = field(default_factory=list)
    in_place: dict = field(default_factory=dict)     # result -> operand it may overwrite
    peak_bytes: int = 0
    peak_index: int = -1                             # the op running at the peak
    peak_values: list = field(default_factory=list)  # live owners at the peak, largest first

    def __str__(self) -> str:
        return _report(self)


def plan_memory(graph: Graph, sizes: dict, *, fresh=None, slotted=None,
                keep_operands=None) -> MemoryPlan:
    """The memory plan of ``graph`` with its symbols bound by ``sizes`` (``{Sym or name:
    int}``). ``fresh`` / ``slotted``: collections of ops (see the module docstring).
    ``keep_operands``: ``{op index: later op index}``, ops whose operands must stay
    live (their memory not reused) until that later op (an op run on another thread,
    joined there)."""
    env = {Sym(k) if isinstance(k, str) else k: v for k, v in sizes.items()}
    if fresh is None:
        fresh = [op for op in graph.ops if not get_opdef(op.kind).has(MOVEMENT)]
    fresh = set(fresh)
    slotted = fresh if slotted is None else set(slotted)
    plan = MemoryPlan(graph, env)
    plan.nbytes = {v: _nbytes(graph, v, env) for v in _values(graph)}
    plan.views = frozenset(r for op in graph.ops if op not in fresh for r in op.results)
    plan.ranges, plan.escapes = _live_ranges(graph, fresh, keep_operands or {})
    plan.slots, plan.slot_bytes = _assign_slots(graph, plan, slotted)
    plan.in_place = _in_place(graph, plan)
    _peak(graph, plan)
    return plan


def memory_report(graph: Graph, sizes: dict, top: int = TOP_N) -> str:
    """The readable memory plan of ``graph`` under ``sizes`` (the default model of which
    ops return views), listing the ``top`` largest values live at the peak."""
    return _report(plan_memory(graph, sizes), top)


# --- the analysis ---------------------------------------------------------------------------

def _values(graph: Graph) -> list[Value]:
    return [*graph.params, *(r for op in graph.ops for r in op.results)]


def _nbytes(graph: Graph, v: Value, env: dict) -> int:
    try:
        shape = resolve_shape(v.type.shape, env)
    except ValueError:
        missing = [str(d) for d in v.type.shape if isinstance(d, Sym) and d not in env]
        raise ValueError(f"plan_memory: no size for symbol {', '.join(missing)} of "
                         f"{_describe(graph, v)} (sizes given: "
                         f"{ {str(s): n for s, n in env.items()} })") from None
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(v.type.dtype.numpy).itemsize


def _live_ranges(graph: Graph, fresh: set, keep_operands: dict) -> tuple[dict, frozenset]:
    """Every value's range, views keeping their bases alive, and the escaping values."""
    end_of_graph = len(graph.ops)
    ranges_start = {p: -1 for p in graph.params}
    end: dict[Value, int] = {p: -1 for p in graph.params}
    for i, op in enumerate(graph.ops):
        for r in op.results:
            ranges_start[r] = end[r] = i
        for v in op.operands:
            end[v] = max(end[v], keep_operands.get(i, i))
    escapes = set(graph.results)
    for r in graph.results:
        end[r] = end_of_graph
    for op in reversed(graph.ops):      # a result's end is final before its op is seen
        if op in fresh:
            continue
        last = max(end[r] for r in op.results) if op.results else -1
        for v in op.operands:
            end[v] = max(end[v], last)
        if any(r in escapes for r in op.results):
            escapes.update(op.operands)
    ranges = {v: LiveRange(ranges_start[v], end[v]) for v in ranges_start}
    return ranges, frozenset(escapes)


def _assign_slots(graph: Graph, plan: MemoryPlan, slotted: set) -> tuple[dict, list]:
    """Linear scan in definition order: a value takes a free slot (its last value's range
    ended before this one starts) — the smallest that fits, else the largest, grown."""
    slots: dict[Value, int] = {}
    sizes: list[int] = []
    busy_until: list[int] = []
    for op in graph.ops:
        if op not in slotted:
            continue
        for r in op.results:
            if r in plan.escapes:
                continue
            start, need = plan.ranges[r].start, plan.nbytes[r]
            free = [k for k, until in enumerate(busy_until) if until < start]
            fits = [k for k in free if sizes[k] >= need]
            if fits:
                k = min(fits, key=lambda k: sizes[k])
            elif free:
                k = max(free, key=lambda k: sizes[k])
            else:
                k = len(sizes)
                sizes.append(0)
                busy_until.append(0)
            sizes[k] = max(sizes[k], need)
            busy_until[k] = plan.ranges[r].end
            slots[r] = k
    return slots, sizes


def _elementwise(op: Op) -> bool:
    """Whether ``op`` computes each result element from its operands' same elements."""
    if get_opdef(op.kind).has(ELEMENTWISE):
        return True
    region = op.region
    return (region is not None
            and [p.type for p in region.params] == [v.type for v in op.operands]
            and [r.type for r in region.results] == [r.type for r in op.results]
            and all(get_opdef(o.kind).has(ELEMENTWISE) or not o.operands for o in region.ops))


def _distances(op: Op) -> list[dict[int, int]]:
    """Per result of ``op``: operand index -> the fewest ops from that operand to the
    result (1 for a plain op; through the region for an op that carries one)."""
    if op.region is None:
        return [{k: 1 for k in range(len(op.operands))} for _ in op.results]
    param_index = {p: k for k, p in enumerate(op.region.params)}
    out = []
    for r in op.region.results:
        found: dict[int, int] = {}
        frontier, depth, seen = [r], 0, set()
        while frontier:
            following = []
            for v in frontier:
                if v in param_index:
                    found.setdefault(param_index[v], depth)
                elif v.producer is not None and v.producer not in seen:
                    seen.add(v.producer)
                    following += v.producer.operands
            frontier, depth = following, depth + 1
        out.append(found)
    return out


def _in_place(graph: Graph, plan: MemoryPlan) -> dict:
    """The pairs the graph allows (see the module docstring), chosen nearest first, then
    a parameter before an intermediate value: an update ``w - lr * m`` takes ``w``."""
    pairs = []
    for i, op in enumerate(graph.ops):
        if not _elementwise(op):
            continue
        for r, found in zip(op.results, _distances(op)):
            for k, depth in found.items():
                v = op.operands[k]
                if (v not in plan.escapes and v not in plan.views and v.type == r.type
                        and plan.ranges[v].end == i):
                    pairs.append((depth, v.producer is not None, i, k, r, v))
    out: dict[Value, Value] = {}
    taken: set[Value] = set()
    for *_, r, v in sorted(pairs, key=lambda pair: pair[:4]):
        if r not in out and v not in taken:
            out[r] = v
            taken.add(v)
    return dict(sorted(out.items(), key=lambda rv: (plan.ranges[rv[0]].start, rv[0].index)))


def _peak(graph: Graph, plan: MemoryPlan) -> None:
    """Bytes of buffers in use while each op runs (a value from the op that writes it to
    its last reader; parameters from before the first op); the first maximum."""
    owners = [v for v in plan.ranges if v not in plan.views]
    delta = [0] * (len(graph.ops) + 3)       # index i + 1: while op i runs; 0: before any
    for v in owners:
        r = plan.ranges[v]
        delta[r.start + 1] += plan.nbytes[v]
        delta[r.end + 2] -= plan.nbytes[v]
    live, best, at = 0, -1, -1
    for j in range(len(graph.ops) + 1):
        live += delta[j]
        if live > best:
            best, at = live, j - 1
    plan.peak_bytes, plan.peak_index = best, at
    plan.peak_values = sorted((v for v in owners
                               if plan.ranges[v].start <= at <= plan.ranges[v].end),
                              key=lambda v: -plan.nbytes[v])


# --- the report -----------------------------------------------------------------------------

def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _where(op: Op | None) -> str:
    if op is None:
        return "parameter"
    return op.kind + (f" at {op.loc}" if str(op.loc) else "")


def _describe(graph: Graph, v: Value, names: dict | None = None) -> str:
    names = value_names(graph) if names is None else names
    return f"{names.get(id(v), '%?')} ({v.type}, {_where(v.producer)})"


def _report(plan: MemoryPlan, top: int = TOP_N) -> str:
    graph, names = plan.graph, value_names(plan.graph)
    binding = ", ".join(f"{s}={n}" for s, n in plan.sizes.items()) or "static shapes"
    where = ("before the first op" if plan.peak_index < 0
             else f"at op {plan.peak_index} ({_where(graph.ops[plan.peak_index])})")
    slotted = sum(plan.nbytes[v] for v in plan.slots)
    lines = [f"memory plan of @{graph.name} for {binding}: {len(graph.ops)} ops, "
             f"{len(plan.ranges)} values",
             f"peak {_size(plan.peak_bytes)} ({plan.peak_bytes} bytes) {where}",
             f"slots: {len(plan.slot_bytes)} buffers of {_size(sum(plan.slot_bytes))} in all hold "
             f"{len(plan.slots)} values ({_size(slotted)} with a buffer per value)",
             f"largest live at the peak ({min(top, len(plan.peak_values))} of "
             f"{len(plan.peak_values)}; live: ops from..to, in = a parameter, out = returned):"]
    listed = plan.peak_values[:top]
    width = max((len(names[id(v)]) for v in listed), default=0)
    type_width = max((len(str(v.type)) for v in listed), default=0)
    for v in listed:
        r = plan.ranges[v]
        life = (f"{'in' if r.start < 0 else r.start}.."
                f"{'out' if r.end == len(graph.ops) else r.end}")
        lines.append(f"  {names[id(v)]:<{width}} {str(v.type):<{type_width}} "
                     f"{_size(plan.nbytes[v]):>10}  live {life:<8} {_where(v.producer)}")
    lines.append(f"in place (the graph allows writing the result over the operand): "
                 f"{len(plan.in_place)}")
    for r, v in plan.in_place.items():
        note = " (a parameter: if the caller gives it up)" if v.producer is None else ""
        lines.append(f"  {names[id(r)]} over {names[id(v)]}{note}  {_where(r.producer)}")
    return "\n".join(lines) + "\n"
