"""The kernel generator the ``numba_cpu`` and ``numba_cuda`` targets share, which each
parametrizes by its template table and its loop wrapper (STYLE §7 item 11).

From a ``fused`` op's region, which keeps the kernel contract of
:mod:`fusegraph.ir.ops.region` (checked again here: a region that breaks it raises
:class:`~fusegraph.ir.errors.ContractError`), to the readable source of one kernel: its
arguments are the region's parameters (``in<k>``), one preallocated array per region
result (``out<j>``), then the size of each symbol of the iteration shape (``n_<symbol>``),
in order of first appearance; one statement per region op with the IR line as a comment;
names that do not vary between equal regions. What every target does alike:

* code: each elementwise op is its template in the target's table (an op without one
  raises :class:`CodegenError`: the backend's capability did not admit it);
* broadcasting, from the types alone: an operand dim of literal 1 is indexed with 0,
  missing leading dims are dropped, a rank-0 operand is read as ``in0[()]``; every other
  dim equals the iteration dim (the contract) and is indexed by its loop index;
* placement: the kernel loops over ``loops`` (axes, outermost first: every axis on the
  CPU, the reduced axes inside a CUDA thread); each load and elementwise statement goes
  at the shallowest loop depth whose indices it uses, stores and reduction updates in
  the innermost body;
* reductions, as the op's :class:`~fusegraph.ir.opdef.Reduction` says: the accumulator
  starts at its identity (the target's ``constant`` template) and is updated by its
  combining op's template, ``combine(element, accumulator)``; one whose axes are the
  last loops accumulates in a local variable opened before its first loop and stored
  after it (wider, float64 or int64, when combining rounds: sums); any other
  accumulates in its output array, started and finished as the target says (with
  ``partial_sums``, one whose axes include the last loops and others combines a local
  partial over the last loops into the output after them); a mean is divided by the
  count at the end.

What a target says (a subclass): its name, its numba import, its template table, which
axes are loops (:meth:`KernelGenerator.loop_axes`), how an output accumulator starts and
ends and where it folds (:meth:`KernelGenerator.accumulator_target`: numba_cpu's threads
fold into partials), a local accumulator's dtype, the decorator, the statements before
the loops, each loop's range, and the spec it returns.
"""
from __future__ import annotations

import hashlib
import math
from abc import ABC, abstractmethod
from types import ModuleType

import numpy as np

from ...ir.core import Graph, Op, Value
from ...ir.opdef import REDUCTION, ROW_GATHER, get_opdef
from ...ir.ops.region import check_kernel_region, is_staged, iteration_shape_of
from ...ir.printer import format_attrs
from ...ir.structure import structure
from ...ir.types import DType, Sym

_COMMENT_COLUMN = 60


def accumulator_dtype(op: Op) -> DType:
    """What a reduction accumulates in locally: wider than its result when combining
    rounds (a float32 sum in float64, an int32 one in int64), else its result's dtype."""
    dtype = op.results[0].type.dtype
    if not get_opdef(op.kind).reduction.rounds:
        return dtype
    return DType.f64 if dtype.is_float else DType.i64


def statement_lines(statements, indent: str) -> list[str]:
    """``(code, comment)`` statements as source lines at ``indent``, each comment (the IR
    line) in a column of its own."""
    lines = []
    for code, comment in statements:
        code = indent + code
        if comment is not None:
            code += " " * max(2, _COMMENT_COLUMN - len(code)) + "# " + comment
        lines.append(code)
    return lines


class CodegenError(Exception):
    """An op of a region has no template in the target's table (the backend's capability
    does not admit it)."""


def structural_hash(region: Graph, version: str) -> str:
    """A hex digest of what a kernel of ``region`` computes, made by a generator of
    ``version``: the region's structure without names and source locations
    (:func:`fusegraph.ir.structure.structure`), so equal regions of different layers
    share one kernel."""
    key = (version, structure(region, names=False, locations=False))
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def literal(value, dtype: DType) -> str:
    """The Python literal of a constant's value, converted as its ``ref`` does."""
    item = np.array(value, dtype=dtype.numpy).item()
    if isinstance(item, float):
        if math.isnan(item):
            return "np.nan"
        if math.isinf(item):
            return "np.inf" if item > 0 else "-np.inf"
    return repr(item)


def subscript(index: list[str]) -> str:
    return ", ".join(index) if index else "()"


class KernelGenerator(ABC):
    """One region's kernel, generated once by :meth:`run` (see the module docstring).
    Subclasses set the class attributes and implement the target's hooks."""

    backend: str = ""           # "numba_cpu": in messages and the source's docstring
    numba_import: str = ""      # the generated file's numba import line
    imports: tuple = ()         # import lines after it: what the target's templates call
    # The target's templates module: ``template_for(kind, dtype)`` (a template or None)
    # and ``SCALAR_TYPES`` (DType -> the numpy scalar type that ``{T}`` stands for).
    templates: ModuleType
    staged = False              # whether this generator writes staged regions' kernels
    # whether a reduction over the last loops and others sums the last loops in a local
    # partial (added into its output after them) rather than element by element
    partial_sums = False

    def __init__(self, region: Graph, in_place: tuple = ()):
        self.region = region
        self.param_index = {id(p): k for k, p in enumerate(region.params)}   # value -> k
        # (result j, parameter m) pairs: result j is written into in<m>, not an out<j>
        self.in_place = dict(in_place)
        self.names: dict[Value, str] = {}    # value -> Python variable of its element
        self.ir_names: dict[Value, str] = {}  # value -> its IR name in comments
        self.depth: dict[Value, int] = {}    # value -> loop depth it is computed at
        for k, p in enumerate(region.params):
            self.ir_names[p] = f"%in{k}"
        n = 0
        for op in region.ops:
            for r in op.results:
                self.ir_names[r] = f"%{n}"
                self.names[r] = f"v{n}"
                n += 1

    # --- the target's hooks ---------------------------------------------------------------
    @abstractmethod
    def loop_axes(self, results: dict) -> list[int]:
        """The axes the kernel loops over, outermost first (``results``: value -> out index)."""

    @abstractmethod
    def start_in_output(self, out: int, target: str, start: str, axes: tuple) -> str:
        """For a reduction accumulating in its output: the expression of the partial
        result read before each update (``start`` is the accumulator's first value)."""

    def accumulator_target(self, out: int, target: str, axes: tuple) -> str:
        """Where a reduction accumulating in its output ``out`` folds the element at
        ``target`` (an element of ``out``; a target may fold into a partial instead)."""
        return target

    @abstractmethod
    def finish_in_output(self, out: int, target: str, T: str, count: str, axes: tuple) -> None:
        """For a mean accumulating in its output: divide by ``count`` at the end."""

    @abstractmethod
    def make_spec(self, symbols: tuple):
        """The spec of the generated kernel (its source from :meth:`source`)."""

    @abstractmethod
    def decorator(self) -> str:
        """The decorator line the kernel function gets (``@njit(...)``, ``@cuda.jit``)."""

    def accumulator(self, op: Op, axes) -> DType:
        """The dtype a local accumulator of reduction ``op`` over ``axes`` (those its loops
        sum) has: :func:`accumulator_dtype` by default."""
        return accumulator_dtype(op)

    def local_combine(self, kind: str, element: str, acc: str, dtype: DType) -> str:
        """A local accumulator's update (a reduction over the innermost loops): by default
        :meth:`combine`; a target may emit an update the compiler can vectorize."""
        return self.combine(kind, element, acc, dtype)

    def shape_comment(self) -> str:
        return f"# iteration shape [{','.join(map(str, self.shape))}]"

    def prologue(self) -> list[str]:
        """Statements before the loop nest (the CUDA thread's indices)."""
        return []

    def loop_range(self, depth: int, axis: int) -> str:
        return f"range({self.bound(axis)})"

    # --- validation -----------------------------------------------------------------------
    def iteration_shape(self) -> tuple:
        """The region's iteration shape, after checking the contract and the templates."""
        check_kernel_region(self.region)
        if is_staged(self.region) and not self.staged:
            raise CodegenError(f"a staged region (ops using a reduction's result) needs "
                               f"the {self.backend} generator of staged kernels")
        for op in self.region.ops:
            dtype = op.results[0].type.dtype
            kind = (get_opdef(op.kind).reduction.combine if self.is_reduction(op) else op.kind)
            if self.templates.template_for(kind, dtype) is None:
                raise CodegenError(f"op {op.kind} needs the {self.backend} template of "
                                   f"{kind} for {dtype.value}, which it does not have")
        return next(iteration_shape_of(op) for op in self.region.ops if op.kind != "constant")

    @staticmethod
    def is_reduction(op: Op) -> bool:
        return get_opdef(op.kind).has(REDUCTION)

    def operand_index(self, value: Value) -> tuple[list[str], int]:
        """The index expressions of parameter ``value`` and the loop depth of its load
        (its dims are 1 or the iteration dims: the contract)."""
        shape, rank = value.type.shape, len(self.shape)
        index, depth = [], 0
        for j, dim in enumerate(shape):
            axis = rank - len(shape) + j
            if dim == 1:
                index.append("0")
                continue
            index.append(f"i{axis}")
            depth = max(depth, self.loop_depth.get(axis, 0))
        return index, depth

    # --- emission -------------------------------------------------------------------------
    def run(self):
        region = self.region
        self.shape = self.iteration_shape()
        results = {r: j for j, r in enumerate(region.results)}
        self.loops = self.loop_axes(results)                          # loop k runs axis loops[k]
        self.loop_depth = {a: k + 1 for k, a in enumerate(self.loops)}   # axis -> depth inside it
        m = len(self.loops)
        self.pre = [[] for _ in range(m + 1)]    # statements at depth d, before loop d
        self.post = [[] for _ in range(m + 1)]   # statements at depth d, after loop d closes
        for k in sorted(set(self.in_place.values())):   # read before anything writes them
            self.element(region.params[k])
        for op in region.ops:
            if op.kind == "constant":
                self.emit_constant(op)
            elif self.is_reduction(op):
                if op.results[0] in results:
                    self.emit_reduction(op, results[op.results[0]])
            elif get_opdef(op.kind).has(ROW_GATHER):
                self.emit_row_gather(op, results.get(op.results[0]))
            else:
                self.emit_elementwise(op, results.get(op.results[0]))
        return self.make_spec(tuple(dict.fromkeys(d for d in self.shape if isinstance(d, Sym))))

    def ir_line(self, op: Op) -> str:
        defs = ", ".join(f"{self.ir_names[r]}: {r.type}" for r in op.results)
        operands = ", ".join(self.ir_names[v] for v in op.operands)
        attrs = format_attrs(op.attrs)
        return " ".join(p for p in (f"{defs} = {op.kind}", operands, attrs) if p)

    def element(self, value: Value) -> str:
        """The variable holding ``value``'s element, loading a parameter on first use."""
        if value not in self.names:
            k = self.param_index[id(value)]
            index, depth = self.operand_index(value)
            name = f"a{k}"
            self.names[value] = name
            self.depth[value] = depth
            self.pre[depth].append((f"{name} = in{k}[{subscript(index)}]",
                                    self.ir_names[value]))
        return self.names[value]

    def constant(self, value, dtype: DType) -> str:
        """The expression of the scalar ``value`` of ``dtype`` (the target's template)."""
        return self.templates.template_for("constant", dtype).format(
            T=self.templates.SCALAR_TYPES[dtype], value=literal(value, dtype))

    def combine(self, kind: str, element: str, acc: str, dtype: DType) -> str:
        """The accumulator ``acc`` of ``dtype`` updated with ``element`` by op ``kind``."""
        return self.templates.template_for(kind, dtype).format(
            element, acc, T=self.templates.SCALAR_TYPES[dtype])

    def emit_constant(self, op: Op) -> None:
        r = op.results[0]
        expr = self.constant(op.attrs["value"], r.type.dtype)
        self.depth[r] = 0
        self.pre[0].append((f"{self.names[r]} = {expr}", self.ir_line(op)))

    def expression(self, op: Op, *args: str) -> str:
        """``op``'s element from its operands' ``args``: the target's template of its kind
        at its result's dtype."""
        dtype = op.results[0].type.dtype
        return self.templates.template_for(op.kind, dtype).format(
            *args, T=self.templates.SCALAR_TYPES[dtype])

    def emit_elementwise(self, op: Op, out: int | None) -> None:
        r = op.results[0]
        args = [self.element(v) for v in op.operands]
        depth = max((self.depth[v] for v in op.operands), default=0)
        expr = self.expression(op, *args)
        name = self.names[r]
        self.depth[r] = depth
        self.pre[depth].append((f"{name} = {expr}", self.ir_line(op)))
        if out is not None:
            self.store(out, name)

    def store(self, out: int, name: str) -> None:
        """Result ``out``'s element, in the innermost body: into ``out<j>``, or into the
        parameter it is written in place of."""
        index = subscript([f"i{a}" for a in range(len(self.shape))])
        target = f"in{self.in_place[out]}" if out in self.in_place else f"out{out}"
        self.pre[-1].append((f"{target}[{index}] = {name}", None))

    def emit_row_gather(self, op: Op, out: int | None) -> None:
        """A ``gather_rows`` (the kernel contract's row gathers): its rows parameter viewed
        as ``[N, D]`` once, before the loops; each element read from the row its slot
        names (loaded once per row) or zero, by the target's ``gather_rows`` template
        ``(rows, slot, column index)``."""
        rows, slots = op.operands
        k = self.param_index[id(rows)]
        table = f"rows{k}"
        self.pre[0].append((f"{table} = np.ascontiguousarray(in{k}).reshape((-1, in{k}.shape[-1]))",
                            f"{self.ir_names[rows]}: {rows.type} as rows"))
        slot = self.element(slots)
        r = op.results[0]
        column = len(self.shape) - 1
        expr = self.expression(op, table, slot, f"i{column}")
        depth = max(self.depth[slots], self.loop_depth.get(column, 0))
        self.depth[r] = depth
        self.pre[depth].append((f"{self.names[r]} = {expr}", self.ir_line(op)))
        if out is not None:
            self.store(out, self.names[r])

    def emit_reduction(self, op: Op, out: int) -> None:
        fold = get_opdef(op.kind).reduction
        x, r = op.operands[0], op.results[0]
        arg = self.element(x)
        axes, keepdims = tuple(op.attrs["axes"]), op.attrs["keepdims"]   # sorted (the op's rule)
        dtype = r.type.dtype
        T = self.templates.SCALAR_TYPES[dtype]
        out_index = [("0" if keepdims else None) if a in axes else f"i{a}"
                     for a in range(len(self.shape))]
        target = f"out{out}[{subscript([i for i in out_index if i is not None])}]"
        count = self.count(axes)
        first = len(self.loops)    # the first of the last loops that all run reduced axes
        while first > 0 and self.loops[first - 1] in axes:
            first -= 1
        whole = first == len(self.loops) - len(axes)     # every axis is one of the last loops
        local = whole or (self.partial_sums and first < len(self.loops))
        if local:
            # The last loops: a local accumulator around loop ``first``.
            acc_dtype = self.accumulator(op, self.loops[first:])
            acc = f"acc{self.names[r][1:]}"
            self.pre[first].append((f"{acc} = {self.constant(fold.identity(acc_dtype), acc_dtype)}",
                                    None))
            self.pre[-1].append((f"{acc} = {self.local_combine(fold.combine, arg, acc, acc_dtype)}",
                                 self.ir_line(op)))
        if whole:
            value = f"{acc} / {count}" if fold.mean else acc
            self.post[first].append((f"{target} = {T}({value})", None))
            return
        # Other axes: accumulate in the output array itself (the local partial of the
        # last loops, or each element).
        cur = f"r{self.names[r][1:]}"
        target = self.accumulator_target(out, target, axes)
        start = self.start_in_output(out, target, self.constant(fold.identity(dtype), dtype),
                                     axes)
        where = self.post[first] if local else self.pre[-1]
        element = f"{T}({acc})" if local else arg
        where.append((f"{cur} = {start}", None))
        where.append((f"{target} = {self.combine(fold.combine, element, cur, dtype)}",
                      None if local else self.ir_line(op)))
        if fold.mean:
            self.finish_in_output(out, target, T, count, axes)

    def loop_nest(self) -> list[str]:
        """The body's lines: ``pre[d]``, loop ``d`` (around the deeper ones), ``post[d]``."""
        body: list[str] = []

        def nest(depth: int, indent: str) -> None:
            body.extend(statement_lines(self.pre[depth], indent))
            if depth < len(self.loops):
                axis = self.loops[depth]
                body.append(f"{indent}for i{axis} in {self.loop_range(depth, axis)}:")
                nest(depth + 1, indent + "    ")
            body.extend(statement_lines(self.post[depth], indent))

        nest(0, "    ")
        return body

    def bound(self, axis: int) -> str:
        dim = self.shape[axis]
        return f"n_{dim.name}" if isinstance(dim, Sym) else str(dim)

    def count(self, axes) -> str:
        """The number of elements the reduction over ``axes`` sees, as an expression."""
        static = math.prod(d for a, d in enumerate(self.shape) if a in axes and isinstance(d, int))
        symbolic = [f"n_{d.name}" for a, d in enumerate(self.shape)
                    if a in axes and isinstance(d, Sym)]
        terms = ([str(static)] if static != 1 or not symbolic else []) + symbolic
        return terms[0] if len(terms) == 1 else f"({' * '.join(terms)})"

    def source(self, name: str, symbols: tuple) -> str:
        region = self.region
        ins = [f"in{k}" for k in range(len(region.params))]
        outs = [f"out{j}" for j in range(len(region.results)) if j not in self.in_place]
        sizes = [f"n_{s.name}" for s in symbols]
        lines = [
            f'"""A fused kernel generated by fusegraph\'s {self.backend} backend (see',
            f'fusegraph/backends/{self.backend}/codegen.py). Generated: edits are overwritten."""',
            "import math",
            "",
            "import numpy as np",
            self.numba_import,
            *self.imports,
            "",
            "",
            self.shape_comment(),
        ]
        for k, p in enumerate(region.params):
            lines.append(f"# in{k}: {p.type}")
        for j, r in enumerate(region.results):
            target = (f"written into in{self.in_place[j]}" if j in self.in_place
                      else f"out{j}")
            lines.append(f"# {target}: {r.type} = {self.ir_names[r]}")
        lines += [self.decorator(), f"def {name}({', '.join(ins + outs + sizes)}):"]
        body = list(self.prologue()) + self.loop_nest()
        lines += body or ["    pass"]
        return "\n".join(lines) + "\n"
