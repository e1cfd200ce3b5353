"""The IR core: Value, Op, Graph.

* A :class:`Value` is defined once: either a graph parameter (no producer) or result
  ``index`` of one :class:`Op`. It has a :class:`~.types.TensorType` from birth.
* An :class:`Op` has a kind (the name of its :class:`~.opdef.OpDef`), operand Values,
  frozen attributes, result Values, a :class:`SourceLoc`, and optionally a region: a
  :class:`Graph` of its own, isolated from above (it sees only its own parameters).
* A :class:`Graph` has parameters, ops in a valid (topological) order and results.

Ops and Values exist before any Graph holds them (tracing makes them one by one, as
tinygrad's UOps); ``Graph.from_results`` collects the ops a set of results needs. Ops are
never mutated after creation: passes build new graphs.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Iterable, Mapping

from .errors import VerificationError
from .types import TensorType


@dataclass(frozen=True)
class SourceLoc:
    """Where an op came from: the user's file (base name) and line, and the layer path."""

    file: str | None = None
    line: int | None = None
    layer: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"{self.file}:{self.line}")
        if self.layer:
            parts.append(self.layer)
        return " ".join(parts)


UNKNOWN_LOC = SourceLoc()
_op_counter = itertools.count()


class Value:
    """An SSA value: a graph parameter or one result of an op."""

    __slots__ = ("type", "producer", "index", "name", "__weakref__")

    def __init__(self, type: TensorType, producer: "Op | None" = None, index: int = 0,
                 name: str | None = None):
        if not isinstance(type, TensorType):
            raise TypeError(f"Value type must be a TensorType, got {type!r}")
        self.type = type
        self.producer = producer
        self.index = index
        self.name = name

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self) -> str:
        what = f"param {self.name}" if self.producer is None else f"{self.producer.kind}#{self.index}"
        return f"<Value {what}: {self.type}>"


def _freeze(x):
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(e) for e in x)
    return x


class Op:
    """One operation. ``results`` are created here from ``result_types``."""

    __slots__ = ("kind", "operands", "attrs", "results", "loc", "region", "seq")

    def __init__(self, kind: str, operands: Iterable[Value], attrs: Mapping | None,
                 result_types: Iterable[TensorType], loc: SourceLoc = UNKNOWN_LOC,
                 region: "Graph | None" = None):
        self.kind = kind
        self.operands = tuple(operands)
        for v in self.operands:
            if not isinstance(v, Value):
                raise TypeError(f"operand of {kind} must be a Value, got {type(v).__name__}")
        self.attrs = MappingProxyType({k: _freeze(v) for k, v in (attrs or {}).items()})
        self.results = tuple(Value(t, self, i) for i, t in enumerate(result_types))
        self.loc = loc
        self.region = region
        self.seq = next(_op_counter)  # creation order: always a valid topological order

    @property
    def result(self) -> Value:
        """The only result of a single-result op."""
        if len(self.results) != 1:
            raise ValueError(f"{self.kind} has {len(self.results)} results, not 1")
        return self.results[0]

    def __repr__(self) -> str:
        return f"<Op {self.kind} -> {', '.join(str(r.type) for r in self.results)}>"


class Graph:
    """Parameters, ops in topological order, and results."""

    __slots__ = ("name", "params", "ops", "results")

    def __init__(self, name: str, params: Iterable[Value], ops: Iterable[Op],
                 results: Iterable[Value]):
        self.name = name
        self.params = tuple(params)
        self.ops = tuple(ops)
        self.results = tuple(results)

    @classmethod
    def from_results(cls, name: str, params: Iterable[Value], results: Iterable[Value]) -> "Graph":
        """The graph of every op that ``results`` need, computed from ``params``, in the
        order the ops were created (the user's program order).

        Raises VerificationError naming the first value reached that is neither a
        parameter nor produced by an op (an output not reachable from the inputs).
        """
        params = tuple(params)
        results = tuple(results)
        param_ids = {id(p) for p in params}
        ops: list[Op] = []
        seen: set[int] = set()
        for root in results:
            stack = [(root, False)]
            while stack:
                value, expanded = stack.pop()
                if id(value) in param_ids:
                    continue
                op = value.producer
                if op is None:
                    raise VerificationError(
                        f"graph @{name}: {_describe(value)} is needed by the results but is "
                        f"not one of the parameters ({', '.join(p.name or '?' for p in params)})")
                if expanded:
                    if id(op) not in seen:
                        seen.add(id(op))
                        ops.append(op)
                    continue
                if id(op) in seen:
                    continue
                stack.append((value, True))
                for operand in reversed(op.operands):
                    stack.append((operand, False))
        ops.sort(key=lambda op: op.seq)
        return cls(name, params, ops, results)

    def users(self) -> dict[int, list[Op]]:
        """id(value) -> the ops of this graph that use it, in order."""
        out: dict[int, list[Op]] = {}
        for op in self.ops:
            for v in op.operands:
                out.setdefault(id(v), []).append(op)
        return out

    def structure(self) -> tuple:
        """A hashable canonical form, equal for graphs that print the same way (names and
        source locations count): :func:`fusegraph.ir.structure.structure`."""
        from .structure import structure
        return structure(self)

    def __eq__(self, other) -> bool:
        return isinstance(other, Graph) and self.structure() == other.structure()

    def __hash__(self) -> int:
        return hash(self.structure())

    def __str__(self) -> str:
        from .printer import print_graph
        return print_graph(self)

    def __repr__(self) -> str:
        return (f"<Graph @{self.name}: {len(self.params)} params, {len(self.ops)} ops, "
                f"{len(self.results)} results>")


def attrs_key(attrs) -> tuple:
    """A type-exact, nan-safe key of an attribute mapping, order included: ``1`` and
    ``1.0``, ``0`` and ``False`` differ; ``nan`` equals ``nan``."""
    return tuple((name, _value_key(value)) for name, value in attrs.items())


def _value_key(value):
    if isinstance(value, tuple):
        return tuple(_value_key(v) for v in value)
    return type(value), repr(value)


def _describe(value: Value) -> str:
    if value.producer is None:
        return f"value %{value.name or '?'}: {value.type}"
    return f"result of {value.producer.kind} at {value.producer.loc or '?'}"
