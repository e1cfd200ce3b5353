"""networkx views of a graph, and DOT text written from them.

``to_networkx(graph)`` is the view the graph algorithms use (topological order,
reachability and convexity for fusion, liveness for memory planning):

* one node per parameter (keyed by its :class:`~.core.Value`), per op (keyed by its
  :class:`~.core.Op`) and per graph result (keyed ``("output", i)``), each with
  attributes ``kind`` (``"param"``, the op kind, or ``"output"``), ``label`` (text),
  ``types`` (a tuple of TensorTypes: the values the node defines, or the result's type)
  and ``loc`` (a :class:`~.core.SourceLoc`, empty for parameters and outputs);
* one edge per operand use, from the defining node to the using node, with attributes
  ``operand`` (the operand's index, or the result's index for an output node),
  ``result`` (which result of the producer it is) and ``type``.

A region is summarized in its op's label (``region @kernel``), not expanded. The graph
must be well formed (see :func:`~.verifier.verify`); a use of a value defined nowhere
earlier raises VerificationError.
"""
from __future__ import annotations

from .core import UNKNOWN_LOC, Graph, Value
from .errors import VerificationError
from .printer import format_attrs, format_types, value_names


def to_networkx(graph: Graph) -> "nx.MultiDiGraph":
    """The MultiDiGraph view of ``graph`` described in the module docstring."""
    import networkx as nx   # on use: 70 ms of `import fusegraph` otherwise
    names = value_names(graph)
    view = nx.MultiDiGraph(name=graph.name)
    node_of: dict[int, object] = {}

    def use(value: Value, node, index: int) -> None:
        if id(value) not in node_of:
            raise VerificationError(f"graph @{graph.name}: {names.get(id(value), repr(value))} "
                                    f"is used by {node!r} but not defined before it")
        view.add_edge(node_of[id(value)], node, operand=index, result=value.index, type=value.type)

    for param in graph.params:
        view.add_node(param, kind="param", label=names[id(param)],
                      types=(param.type,), loc=UNKNOWN_LOC)
        node_of[id(param)] = param
    for op in graph.ops:
        head = f"{', '.join(names[id(r)] for r in op.results)} = {op.kind}"
        extras = [format_attrs(op.attrs), f"region @{op.region.name}" if op.region is not None else ""]
        view.add_node(op, kind=op.kind, label=" ".join([head, *filter(None, extras)]),
                      types=tuple(r.type for r in op.results), loc=op.loc)
        for i, value in enumerate(op.operands):
            use(value, op, i)
        node_of.update((id(r), op) for r in op.results)
    for i, value in enumerate(graph.results):
        node = ("output", i)
        view.add_node(node, kind="output", label=f"return {names.get(id(value), '%?')}",
                      types=(value.type,), loc=UNKNOWN_LOC)
        use(value, node, i)
    return view


def to_dot(graph: Graph) -> str:
    """Graphviz DOT text for ``graph``, written from :func:`to_networkx`'s view.

    Nodes are named ``n0, n1, ...`` in the view's order; every label is a quoted,
    escaped string holding the node's label, its types and its location.
    """
    view = to_networkx(graph)
    ids = {node: f"n{i}" for i, node in enumerate(view.nodes)}
    lines = [f"digraph {_quote(graph.name)} {{", '  node [shape=box, fontname="monospace"];']
    for node, data in view.nodes(data=True):
        text = "\n".join(filter(None, [data["label"], format_types(data["types"]), str(data["loc"])]))
        shape = "box" if data["kind"] not in ("param", "output") else "ellipse"
        lines.append(f"  {ids[node]} [label={_quote(text)}, shape={shape}];")
    for source, target, data in view.edges(data=True):
        label = f"{data['operand']}: {data['type']}"
        lines.append(f"  {ids[source]} -> {ids[target]} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
