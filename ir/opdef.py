"""The op registry: one :class:`OpDef` per primitive, holding everything about its meaning.

An OpDef has the op's name, its operand count, its attribute schema, a shape-and-dtype
rule (``infer``), a numpy reference implementation (``ref``), a VJP rule (``vjp``),
traits, and the facts some traits need (a REDUCTION's :class:`Reduction`, a region op's
``check``). Passes and backends classify ops by these, never by lists of op names.
Backend code templates do NOT live here: each backend keeps its own table keyed by op
name.

Contracts:

* ``infer(types, attrs) -> TensorType | tuple[TensorType, ...]`` raises
  :class:`~.errors.ShapeError` with a message that says what was expected and got.
* ``ref(arrays, attrs) -> ndarray | tuple[ndarray, ...]`` computes the op on numpy
  arrays whose shapes satisfy ``infer``; shape-valued attributes (kind ``shape``)
  arrive with their symbols already replaced by sizes.
* ``vjp(op, cotangents) -> tuple`` gives one gradient Value (or None for zero) per
  operand, given one cotangent Value per result, emitting ops with ``emit``. Rules do
  not reduce broadcast gradients (the autodiff driver does) and are only asked about
  float results. ``vjp=NO_GRADIENT`` marks an op whose results carry no gradient
  (comparisons, indices, random draws).
* Region ops (trait ``has_region``) have rules ``vjp(op, cotangents, differentiate)``:
  the driver also passes its own reverse mode as a callback, since ``ir`` cannot import
  the autodiff pass. ``differentiate(graph, wrt) -> Graph`` takes a graph and the
  indices ``wrt`` of float parameters of it, and returns a new graph (named
  ``<name>_vjp``) whose parameters are ``graph``'s parameters followed by one cotangent
  per float result of ``graph`` (in result order, of the result's type), and whose
  results are, for each index in ``wrt``, the gradient of ``sum_j <ct_j, result_j>``
  with respect to that parameter (in its type; zeros where unconnected). The new
  graph reuses ``graph``'s forward ops; a rule inlines it where it needs it (``scan``
  builds its backward loop body from it). ``fused`` raises: it runs after autodiff.
* ``region_params(types, attrs) -> tuple[TensorType, ...]`` (region ops only, optional):
  the types the region's parameters take for these operand types. None means the
  operand types themselves (``fused``); ``scan`` drops the time axis of each sequence.
  Passes that re-type a graph read it (shape inference).
* ``attrs`` maps each attribute name to an :class:`Attr` (kind and default); ops are
  always created with every attribute present, so printing is explicit.
* One attribute convention per trait (:func:`trait_errors` checks every registered op):
  a REDUCTION reduces over ``axes`` (ints) with ``keepdims`` (bool) and has a
  ``reduction``; an ARG_REDUCTION gives the i32 index of an extremum along ``axis``
  (int) with ``keepdims``; a SHAPE_ONLY op reads ``axis`` of its operand's shape; a
  CONTRACTION has two operands; a COMMUTATIVE op two; a HAS_REGION op has ``region_params``
  or takes its operands' types as its region's parameters.
* ``check(op) -> None`` (optional): invariants of an op beyond its shape rule (the
  ``fused`` op's kernel contract); it raises :class:`~.errors.ContractError` naming the
  rule broken, and the verifier reports it with the op.
* ``expand(op, operands) -> tuple`` (optional; *composite* ops, :mod:`.ops.composite`):
  the Values standing for the op's results on ``operands``, built with ``emit`` from
  other ops, computing what ``ref`` computes. The ``expand`` pass, first in every
  pipeline, replaces each composite op by them: the op exists between tracing and the
  passes, for its own ``vjp``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .types import DType, Sym, as_dtype

# Traits the passes read.
ELEMENTWISE = "elementwise"        # result[i] depends on operand[i] only
BROADCASTING = "broadcasting"      # operands broadcast numpy-style
REDUCTION = "reduction"            # reduces over ``axes``, as its ``reduction`` says
ARG_REDUCTION = "arg_reduction"    # the index (i32) of an extremum along ``axis``
CONTRACTION = "contraction"        # matmul: BLAS territory
MOVEMENT = "movement"              # reshapes, transposes, slices, gathers: data movement only
SIDE_EFFECTS = "side_effects"      # must not be removed or reordered
RANDOM = "random"                  # draws from a random stream
COLLECTIVE = "collective"          # talks to the other processes of a job: never folded,
                                   # merged, hoisted or computed once for every call
COMMUTATIVE = "commutative"        # f(a, b) == f(b, a)
HAS_REGION = "has_region"          # carries a Graph of its own
SHAPE_ONLY = "shape_only"          # the result depends on the operands' shapes, not their data
ROW_GATHER = "row_gather"          # result row r: a row of operand 0 that operand 1 picks, or 0
EXPANSION = "expansion"            # a movement op: result[i] = operand[i, broadcast dims at 0]
ALL_TRAITS = frozenset({ELEMENTWISE, BROADCASTING, REDUCTION, ARG_REDUCTION, CONTRACTION,
                        MOVEMENT, SIDE_EFFECTS, RANDOM, COLLECTIVE, COMMUTATIVE, HAS_REGION,
                        SHAPE_ONLY,
                        ROW_GATHER, EXPANSION})

REQUIRED = object()


class _NoGradient:
    def __repr__(self) -> str:
        return "NO_GRADIENT"


NO_GRADIENT = _NoGradient()

# Attribute kinds and the Python values they hold.
ATTR_KINDS = {
    "int": "an int",
    "float": "a float",
    "bool": "a bool",
    "dtype": "a DType",
    "ints": "a tuple of ints",
    "shape": "a tuple of dims (ints or symbols; -1 once for an inferred size)",
    "optional_ints": "a tuple of ints or None",
    "scalar": "a number or a nested tuple of numbers",
}


@dataclass(frozen=True)
class Attr:
    kind: str
    default: object = REQUIRED

    def __post_init__(self):
        if self.kind not in ATTR_KINDS:
            raise ValueError(f"unknown attribute kind {self.kind!r}")


def _is_int(v) -> bool:
    """A Python or numpy integer, not a bool (``np.int64(3)`` is a size as ``3`` is)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_attr(kind: str, value):
    """Normalize ``value`` to the canonical form of ``kind``; TypeError if it cannot be.
    numpy integers and floats are taken as Python ones (the canonical form is Python's)."""
    if kind == "int" and _is_int(value):
        return int(value)
    if kind == "float" and (_is_int(value) or isinstance(value, (float, np.floating))):
        return float(value)
    if kind == "bool" and isinstance(value, (bool, np.bool_)):
        return bool(value)
    if kind == "dtype":
        return as_dtype(value)
    if kind in ("ints", "optional_ints") and isinstance(value, (tuple, list)):
        if all(_is_int(v) for v in value):
            return tuple(int(v) for v in value)
    if kind == "optional_ints" and value is None:
        return None
    if kind == "shape" and isinstance(value, (tuple, list)):
        if all(isinstance(v, Sym) or (_is_int(v) and v >= -1) for v in value):
            return tuple(v if isinstance(v, Sym) else int(v) for v in value)
    if kind == "scalar" and _is_scalar_tree(value):
        return _as_tuple_tree(value)
    raise TypeError(f"attribute of kind {kind!r} must be {ATTR_KINDS[kind]}, got {value!r}")


def _is_scalar_tree(v) -> bool:
    if isinstance(v, (bool, int, float)):
        return True
    return isinstance(v, (tuple, list)) and all(_is_scalar_tree(e) for e in v)


def _as_tuple_tree(v):
    if isinstance(v, (tuple, list)):
        return tuple(_as_tuple_tree(e) for e in v)
    return v


@dataclass(frozen=True)
class Reduction:
    """How a REDUCTION op folds the elements over its ``axes``, for any backend.

    ``combine``: the binary ELEMENTWISE op that folds an element into a partial result
    (``combine(element, partial)``; associative and commutative, so any order gives the
    same value up to rounding). ``identity(dtype)``: the partial result over no elements,
    a Python number (``combine(x, identity) == x``). ``mean``: the result is the fold
    divided by the number of reduced elements. ``rounds``: combining rounds (a sum), so
    an accumulator is best kept wider than the result.
    """

    combine: str
    identity: Callable[[DType], int | float]
    mean: bool = False
    rounds: bool = False


@dataclass(frozen=True)
class OpDef:
    """Everything about one primitive's meaning. See the module docstring for contracts."""

    name: str
    infer: Callable
    ref: Callable
    arity: int | None                      # None: one or more operands
    attrs: dict = field(default_factory=dict)
    traits: frozenset = frozenset()
    doc: str = ""
    vjp: Callable | None = None
    region_params: Callable | None = None   # region ops: operand types -> region param types
    reduction: Reduction | None = None      # REDUCTION ops: how they fold
    check: Callable | None = None           # op -> None: invariants beyond the shape rule
    # COMMUTATIVE ops whose float result may still tell (a, b) from (b, a): maximum(0.0,
    # -0.0) is 0.0, maximum(-0.0, 0.0) is -0.0 (numpy returns the first of equal operands)
    zero_sign_ordered: bool = False
    expand: Callable | None = None          # composite ops: op, operands -> results

    def __post_init__(self):
        unknown = set(self.traits) - ALL_TRAITS
        if unknown:
            raise ValueError(f"op {self.name}: unknown traits {sorted(unknown)}")
        problems = trait_errors(self)
        if problems:
            raise ValueError(f"op {self.name}: {'; '.join(problems)}")

    def has(self, trait: str) -> bool:
        return trait in self.traits

    def normalize_attrs(self, given: dict) -> dict:
        """All attributes in schema order, defaults filled, values checked."""
        unknown = set(given) - set(self.attrs)
        if unknown:
            raise TypeError(f"op {self.name}: unknown attributes {sorted(unknown)}; "
                            f"it takes {list(self.attrs) or 'none'}")
        out = {}
        for name, spec in self.attrs.items():
            if name in given:
                try:
                    out[name] = check_attr(spec.kind, given[name])
                except TypeError as e:
                    raise TypeError(f"op {self.name}, attribute {name}: {e}") from None
            elif spec.default is REQUIRED:
                raise TypeError(f"op {self.name}: missing attribute {name!r}")
            else:
                out[name] = spec.default
        return out


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} is already registered")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_opdef(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def all_opdefs() -> dict[str, OpDef]:
    """A copy of the registry: name -> OpDef."""
    return dict(_REGISTRY)


def shape_attr_names(opdef: OpDef) -> tuple:
    """Names of attributes whose values may contain dimension symbols."""
    return tuple(n for n, a in opdef.attrs.items() if a.kind == "shape")



def _attr_kinds(opdef: OpDef, **kinds: str) -> list[str]:
    return [f"a {trait} op needs attribute {name!r} of kind {kind!r}"
            for name, (trait, kind) in kinds.items()
            if name not in opdef.attrs or opdef.attrs[name].kind != kind]


def trait_errors(opdef: OpDef) -> list[str]:
    """What is inconsistent between ``opdef``'s traits, attributes and fields (the
    conventions of the module docstring); empty when nothing is."""
    has = opdef.has
    errors = []
    if has(REDUCTION):
        errors += _attr_kinds(opdef, axes=(REDUCTION, "ints"), keepdims=(REDUCTION, "bool"))
    if has(REDUCTION) != (opdef.reduction is not None):
        errors.append("an op has a ``reduction`` exactly when it has the reduction trait")
    if has(ARG_REDUCTION):
        errors += _attr_kinds(opdef, axis=(ARG_REDUCTION, "int"),
                              keepdims=(ARG_REDUCTION, "bool"))
    if has(SHAPE_ONLY):
        errors += _attr_kinds(opdef, axis=(SHAPE_ONLY, "int"))
    if (has(CONTRACTION) or has(COMMUTATIVE) or has(ROW_GATHER)) and opdef.arity != 2:
        errors.append("a contraction, a commutative op or a row gather has two operands")
    if has(BROADCASTING) and not has(ELEMENTWISE):
        errors.append("a broadcasting op is elementwise")
    if has(EXPANSION) and not (has(MOVEMENT) and opdef.arity == 1):
        errors.append("an expansion is a movement op of one operand")
    kinds = [t for t in (ELEMENTWISE, REDUCTION, ARG_REDUCTION, CONTRACTION, MOVEMENT,
                         SHAPE_ONLY, HAS_REGION, ROW_GATHER) if has(t)]
    if len(kinds) > 1:
        errors.append(f"an op is of one class at most, got {kinds}")
    if opdef.region_params is not None and not has(HAS_REGION):
        errors.append("only a region op has region_params")
    if opdef.expand is not None and kinds:
        errors.append(f"a composite op (one with expand) has no class trait, got {kinds}")
    return errors
