"""The rewrite driver the simplifying passes share: rebuild a graph op by op, and
tables of named rewrite rules keyed by op kind.

``rebuild(graph, rule)`` walks the ops in order with their operands already rewritten;
``rule(op, operands)`` returns the Values that stand for the op's results (a rewrite
fired, or the rule emitted the op itself) or None (the op is emitted again with
:func:`reemit`). The result graph keeps the parameters and the result order, so
callers that pass arrays by position are unaffected; ops nothing needs are dropped,
except ops with effects (:func:`.dce.has_effects`), which the rule never sees: they are
emitted again as they are and kept. New ops carry the location of the op they replace.

A :class:`RuleTable` holds named rules ``rule(op, operands) -> tuple | None`` (the same
contract as ``rebuild``'s ``rule``), each registered for some op kinds, for the kinds
whose OpDef has a trait, or for every kind. ``table.apply(op, operands)`` tries the
rules for ``op.kind`` in registration order; the first that returns Values wins, and
its firing is counted under its name (:func:`.manager.count`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir.builder import emit_op, source_location
from ..ir.core import Graph, Op, Value
from ..ir.opdef import get_opdef

from .dce import has_effects, live_graph
from .manager import count

RuleFn = Callable[[Op, list], "tuple | None"]


def copy_op(op: Op, operands) -> Op:
    """A copy of ``op`` on ``operands`` (types re-inferred), at ``op``'s location."""
    return emit_op(op.kind, operands, dict(op.attrs), op.region, loc=op.loc)


def reemit(op: Op, operands) -> tuple:
    """A copy of ``op`` on ``operands`` (types re-inferred); its results."""
    return copy_op(op, operands).results


def rebuild(graph: Graph, rule: Callable[[Op, list], tuple | list | None]) -> Graph:
    mapping: dict[int, Value] = {}
    effects: list[Op] = []
    for op in graph.ops:
        operands = [mapping.get(id(v), v) for v in op.operands]
        if has_effects(op):
            effects.append(copy_op(op, operands))
            replacement = effects[-1].results
        else:
            with source_location(op.loc):
                replacement = rule(op, operands)
            if replacement is None:
                replacement = reemit(op, operands)
        for old, new in zip(op.results, replacement):
            mapping[id(old)] = new
    results = [mapping.get(id(r), r) for r in graph.results]
    return live_graph(graph.name, graph.params, results, effects)


@dataclass(frozen=True)
class Rule:
    """A named rewrite: ``fn(op, operands)`` returns the Values standing for ``op``'s
    results, or None when it does not apply. It fires for ops whose kind is in ``kinds``
    or whose OpDef has one of ``traits``; with neither, for every kind."""

    name: str
    fn: RuleFn
    kinds: frozenset = frozenset()
    traits: frozenset = frozenset()

    def applies_to(self, kind: str) -> bool:
        if not self.kinds and not self.traits:
            return True
        return kind in self.kinds or any(get_opdef(kind).has(t) for t in self.traits)


class RuleTable:
    """Rules for one pass, looked up by op kind. Register with :meth:`rule`; a rule's name
    is its function's name and its docstring (required) states its contract."""

    def __init__(self, name: str):
        self.name = name
        self.rules: list[Rule] = []
        self._for_kind: dict[tuple, tuple[Rule, ...]] = {}

    def rule(self, *kinds: str, traits=()) -> Callable[[RuleFn], RuleFn]:
        """Decorator: register the function as a rule for ``kinds`` and the kinds with
        any of ``traits`` (neither: every kind). ValueError for a second rule of the same
        name or a rule without a docstring."""
        def register(fn: RuleFn) -> RuleFn:
            if any(r.name == fn.__name__ for r in self.rules):
                raise ValueError(f"{self.name}: a rule named {fn.__name__!r} is already registered")
            if not (fn.__doc__ or "").strip():
                raise ValueError(f"{self.name}: rule {fn.__name__!r} has no docstring stating "
                                 f"its contract")
            self.rules.append(Rule(fn.__name__, fn, frozenset(kinds), frozenset(traits)))
            self._for_kind.clear()
            return fn
        return register

    def rules_for(self, kind: str) -> tuple[Rule, ...]:
        """The rules that may fire on an op of ``kind``, in registration order."""
        key = (kind, get_opdef(kind).traits)   # a kind registered again may have others
        if key not in self._for_kind:
            self._for_kind[key] = tuple(r for r in self.rules if r.applies_to(kind))
        return self._for_kind[key]

    def apply(self, op: Op, operands) -> tuple | None:
        """The replacement of the first rule for ``op.kind`` that fires (counted under
        the rule's name), or None when none does."""
        for r in self.rules_for(op.kind):
            replacement = r.fn(op, operands)
            if replacement is not None:
                count(r.name)
                return replacement
        return None
