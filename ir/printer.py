"""The IR text format: ``print_graph`` writes it, :mod:`.parser` reads it back.

::

    graph @mlp(%x: f32[B,3], %dense/kernel: f32[3,4]) -> (f32[B,4]) {
      %0: f32[B,4] = matmul %x, %dense/kernel                        # mlp.py:8 dense
      %1: f32[B] = reduce_sum %0 {axes=[1], keepdims=false}
      %2: f32[B,4], %3: f32[B] = fused %0, %1 {                      # mlp.py:9 head
        graph @kernel(%a: f32[B,4], %b: f32[B]) -> (f32[B,4], f32[B]) {
          %0: f32[B,4] = exp %a
          return %0, %b
        }
      }
      return %0
    }

Contracts:

* Parameters print by name (``NAME`` charset, never all digits); op results are
  numbered ``%0, %1, ...`` per graph, a region numbering its own from 0.
* Attributes follow the operands in schema order as ``{name=value, ...}``; values print
  as ``3``, ``1.0``/``1e-07``/``inf``/``nan`` (floats always show as floats),
  ``true``/``false``, ``none``, dtypes by short name, symbols by name and tuples as
  ``[1, 2]`` (nested for constants).
* A parameter list longer than ``HEADER_WIDTH`` prints one parameter per line.
* A non-empty source location is a ``# file:line layer`` comment on the op's first line,
  its ``#`` at index ``COMMENT_COLUMN`` when the code is shorter, else two spaces after it.
* The printer prints any graph, valid or not (a value defined outside the graph prints
  as ``%?``); graphs that pass :func:`~.verifier.verify` parse back, within the limits
  listed in :mod:`.parser`.
"""
from __future__ import annotations

import re

from .core import Graph, Op, Value
from .types import DType, Sym

NAME = re.compile(r"[A-Za-z0-9_./-]+")
COMMENT_COLUMN = 65
HEADER_WIDTH = 100  # longer parameter lists print one parameter per line


def is_param_name(name) -> bool:
    """True when ``name`` can name a parameter in the text: NAME charset, not all digits."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None and not name.isdigit()


def print_graph(graph: Graph) -> str:
    """The text of ``graph``, ending with a newline."""
    return "\n".join(_graph_lines(graph, "")) + "\n"


def value_names(graph: Graph) -> dict[int, str]:
    """id(value) -> its printed name (``%x`` for a parameter, ``%3`` for an op result)."""
    names = {id(p): f"%{p.name}" for p in graph.params}
    results = [r for op in graph.ops for r in op.results]
    names.update((id(r), f"%{i}") for i, r in enumerate(results))
    return names


def format_types(types) -> str:
    """``(f32[B,4], i32[])``: a parenthesized type list, as in headers and messages."""
    return f"({', '.join(str(t) for t in types)})"


def format_attrs(attrs) -> str:
    """``{axes=[1], keepdims=false}``, or ``""`` for no attributes."""
    if not attrs:
        return ""
    return "{" + ", ".join(f"{k}={format_attr_value(v)}" for k, v in attrs.items()) + "}"


def format_attr_value(value) -> str:
    """The text of one attribute value; TypeError for a value the format cannot hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if value is None:
        return "none"
    if isinstance(value, DType):
        return value.value
    if isinstance(value, Sym):
        return value.name
    if isinstance(value, tuple):
        return "[" + ", ".join(format_attr_value(v) for v in value) + "]"
    raise TypeError(f"attribute value {value!r} has no text form")


def _graph_lines(graph: Graph, indent: str) -> list[str]:
    names = value_names(graph)
    params = [f"{names[id(p)]}: {p.type}" for p in graph.params]
    results = format_types(r.type for r in graph.results)
    header = f"{indent}graph @{graph.name}({', '.join(params)}) -> {results} {{"
    body = indent + "  "
    if len(", ".join(params)) <= HEADER_WIDTH:
        lines = [header]
    else:
        lines = [f"{indent}graph @{graph.name}(",
                 *(f"{body}  {p}," for p in params[:-1]), f"{body}  {params[-1]}",
                 f"{indent}) -> {results} {{"]
    for op in graph.ops:
        lines.extend(_op_lines(op, names, body))
    lines.append(f"{body}return {_refs(graph.results, names)}".rstrip())
    lines.append(f"{indent}}}")
    return lines


def _op_lines(op: Op, names: dict, indent: str) -> list[str]:
    defs = ", ".join(f"{names[id(r)]}: {r.type}" for r in op.results)
    parts = [f"{indent}{defs} = {op.kind}", _refs(op.operands, names), format_attrs(op.attrs)]
    if op.region is not None:
        parts.append("{")
    code = " ".join(p for p in parts if p)
    loc = str(op.loc)
    if loc:
        code += " " * max(2, COMMENT_COLUMN - len(code)) + "# " + loc
    if op.region is None:
        return [code]
    return [code, *_graph_lines(op.region, indent + "  "), f"{indent}}}"]


def _refs(values: tuple[Value, ...], names: dict) -> str:
    return ", ".join(names.get(id(v), "%?") for v in values)
