"""fusegraph's SSA graph IR: types, values, ops, graphs, the op registry, builder,
printer, parser, verifier and networkx views. Depends on nothing else of fusegraph."""
from . import ops as _ops  # noqa: F401  (registers the primitives)
from .builder import emit, emit_op, layer_scope, register_internal_dir
from .core import Graph, Op, SourceLoc, Value
from .errors import FusegraphError, IRParseError, ShapeError, VerificationError
from .graphviz import to_dot, to_networkx
from .opdef import all_opdefs, get_opdef
from .parser import parse_graph
from .printer import print_graph
from .types import BATCH, DType, Sym, TensorType, as_dtype
from .verifier import verify

__all__ = ["BATCH", "DType", "FusegraphError", "Graph", "IRParseError", "Op", "ShapeError",
           "SourceLoc", "Sym", "TensorType", "Value", "VerificationError", "all_opdefs",
           "as_dtype", "emit", "emit_op", "get_opdef", "layer_scope", "parse_graph", "print_graph",
           "register_internal_dir", "to_dot", "to_networkx", "verify"]
