"""The IR verifier: ``verify(graph)`` checks every invariant a well-formed graph keeps.

Checked, in order, each failure a :class:`~.errors.VerificationError` naming the graph,
the op index, its kind and its source location (or the parameter / result index):

* the graph's name and every parameter's name are printable (:data:`.printer.NAME`,
  parameters not all digits); parameter names are unique; parameters have no producer;
* each op appears once and its kind is registered;
* every operand is defined earlier in the same graph: a parameter or an earlier result
  (a region is isolated from above: it sees only its own parameters);
* no value is defined twice, and each result records this op and its index;
* an op carries a region exactly when its kind has the ``has_region`` trait, and the
  region verifies (recursively);
* arity holds, attributes equal their normalized form (type-exact, in schema order)
  and re-running the shape rule gives exactly the recorded result types;
* the op keeps its kind's invariants beyond the shape rule (``OpDef.check``: a ``fused``
  op's region keeps the kernel contract of :mod:`.ops.region`, the rule named);
* the graph's results are defined in it.

SSA order (every use after its definition) also makes the graph acyclic.
"""
from __future__ import annotations

from typing import NoReturn

from .builder import emit_op
from .core import Graph, Op, Value, attrs_key
from .errors import ContractError, VerificationError
from .opdef import HAS_REGION, get_opdef
from .printer import NAME, format_types, is_param_name, value_names


def verify(graph: Graph) -> None:
    """Return None if ``graph`` is well formed; raise VerificationError otherwise."""
    _Checker(graph).run()


class _Checker:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.names = value_names(graph)
        self.defined: set[int] = set()
        self.op_index: dict[int, int] = {}
        for j, op in enumerate(graph.ops):
            self.op_index.setdefault(id(op), j)

    def fail(self, where: str, message: str) -> NoReturn:
        raise VerificationError(f"graph @{self.graph.name}, {where}: {message}")

    def name(self, value: Value) -> str:
        return self.names.get(id(value), repr(value))

    def run(self) -> None:
        if not (isinstance(self.graph.name, str) and NAME.fullmatch(self.graph.name)):
            raise VerificationError(f"graph @{self.graph.name!r}: a graph name uses only "
                                    f"[A-Za-z0-9_./-] and is not empty")
        self.check_params()
        for j, op in enumerate(self.graph.ops):
            self.check_op(j, op)
        for i, value in enumerate(self.graph.results):
            if id(value) not in self.defined:
                self.fail(f"result {i}", f"{self.name(value)} is not defined in the graph")

    def check_params(self) -> None:
        names = set()
        for i, param in enumerate(self.graph.params):
            where = f"param {i} ({self.name(param)})"
            if id(param) in self.defined:
                self.fail(where, "is defined twice (listed twice among the parameters)")
            if param.producer is not None:
                self.fail(where, f"has a producer ({param.producer.kind}); parameters have none")
            if not is_param_name(param.name):
                self.fail(where, f"name {param.name!r} must be non-empty, use only "
                                 f"[A-Za-z0-9_./-] and not be all digits")
            if param.name in names:
                self.fail(where, "name is not unique among the parameters")
            names.add(param.name)
            self.defined.add(id(param))

    def check_op(self, j: int, op: Op) -> None:
        where = f"op {j} ({op.kind}{f' at {op.loc}' if str(op.loc) else ''})"
        if self.op_index[id(op)] != j:
            self.fail(where, f"is the same op as op {self.op_index[id(op)]}; an op appears once")
        try:
            opdef = get_opdef(op.kind)
        except KeyError:
            self.fail(where, f"kind {op.kind!r} is not a registered op")
        for i, value in enumerate(op.operands):
            if id(value) not in self.defined:
                self.fail(where, f"operand {i} ({self.name(value)}) {self.why_undefined(value)}")
        for i, result in enumerate(op.results):
            if id(result) in self.defined:
                self.fail(where, f"result {i} ({self.name(result)}) is defined twice")
            if result.producer is not op or result.index != i:
                self.fail(where, f"result {i} records {result!r} at index {result.index}, "
                                 f"not this op's result {i}")
            self.defined.add(id(result))
        self.check_region(where, op, opdef.has(HAS_REGION))
        try:
            fresh = emit_op(op.kind, op.operands, op.attrs, op.region, op.loc)
        except (TypeError, ValueError) as e:
            self.fail(where, str(e))
        if attrs_key(fresh.attrs) != attrs_key(op.attrs):
            self.fail(where, f"attributes are not in normalized form: expected "
                             f"{dict(fresh.attrs)}, got {dict(op.attrs)}")
        expected = tuple(r.type for r in fresh.results)
        got = tuple(r.type for r in op.results)
        if expected != got:
            self.fail(where, f"result types disagree with the shape rule: expected "
                             f"{format_types(expected)}, got {format_types(got)}")
        if opdef.check is not None:
            try:
                opdef.check(op)
            except ContractError as e:
                self.fail(where, str(e))

    def check_region(self, where: str, op: Op, wants_region: bool) -> None:
        if wants_region and op.region is None:
            self.fail(where, f"{op.kind} ops carry a region; this one has none")
        if not wants_region and op.region is not None:
            self.fail(where, f"{op.kind} ops carry no region; this one has one")
        if op.region is None:
            return
        if not isinstance(op.region, Graph):
            self.fail(where, f"region must be a Graph, got {type(op.region).__name__}")
        try:
            verify(op.region)
        except VerificationError as e:
            self.fail(where, f"in its region: {e}")

    def why_undefined(self, value: Value) -> str:
        producer = value.producer
        if producer is not None and id(producer) in self.op_index:
            return f"is used before its definition (by op {self.op_index[id(producer)]})"
        if producer is None:
            return "is not a parameter of this graph (a region sees only its own parameters)"
        return (f"is a result of a {producer.kind} op outside this graph "
                f"(a region sees only its own parameters)")
