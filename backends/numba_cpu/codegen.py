"""From a ``fused`` op's region to the Python source of one Numba kernel.

The region satisfies the contract of :mod:`fusegraph.passes.fusion`: elementwise ops and
reductions over one *iteration shape*, scalar constants copied in, parameters that
broadcast to the iteration shape, and no op using a reduction's result. The kernel is::

    @njit(cache=True, error_model="numpy", fastmath=False, parallel=False)
    def kernel_<hash>(in0, in1, ..., out0, out1, ..., n_B, ...):
        for i0 in range(n_B):               # one loop nest over the iteration shape
            acc3 = np.float64(0)
            for i1 in range(10):
                a0 = in0[i0, i1]            # %in0
                a1 = in1[i1]                # %in1: dims of 1 index 0, missing dims drop
                v0 = (a0 + a1)              # %0: f32[B,10] = add %in0, %in1
                out0[i0, i1] = v0
                acc3 = (acc3 + v0)          # %1: f32[B,1] = reduce_sum %0 {axes=[1], ...}
            out1[i0, 0] = np.float32(acc3)

Arguments: the region's parameters as arrays (``in<k>``), then one preallocated array per
region result (``out<j>``), then the size of each symbol of the iteration shape
(``n_<symbol>``), in order of first appearance. **The caller allocates outputs with
``np.empty``; the kernel initializes every element of every output**, reductions
included (their accumulators start at 0, or at -inf/+inf for max/min, inside the
kernel), so nothing depends on what the caller filled in.

Decided statically, from the types alone:

* broadcasting: an operand dim of literal 1 is indexed with 0; missing leading dims are
  dropped; a rank-0 operand is read once before the loops (``in0[()]``). An operand dim
  that is a different symbol than the iteration dim (``N`` against ``B`` or ``10``) is
  indexed by the loop variable, and :attr:`KernelSpec.checks` lists it, so the caller
  checks the sizes before the call (the reference runs the region when they differ);
* placement: each load and each elementwise statement goes at the shallowest loop depth
  whose indices it uses (a ``[B,1]`` operand is read once per row); stores and
  reduction updates go in the innermost body;
* reductions: one whose axes are the trailing axes ``k..rank-1`` accumulates in a local
  variable opened before loop ``k`` and stored after it; any other (a sum over the batch
  axis of ``[B,512]``) accumulates in its output array (filled first). ``reduce_mean``
  divides by the reduced count, symbols included, at the end. Local sums accumulate
  float32 in float64 and ints in int64 (see :class:`.templates.Reduction`);
* parallelism: the outermost loop is ``numba.prange`` (and the kernel ``parallel=True``)
  when no reduction reduces axis 0 and the iteration space is at least
  :data:`PARALLEL_MIN_ELEMENTS` elements, each symbol counted as
  :data:`SYMBOL_SIZE_GUESS` (the decision must be static: the source, and so the cache
  key, may not depend on the first batch seen). Override the threshold with the
  environment variable ``FUSEGRAPH_NUMBA_PARALLEL_MIN``.

No ``fastmath``: NaN, inf and signed zeros behave as in the reference. The source has
one statement per region op with the IR line as a comment, and names nothing that varies
between equal regions (no source locations, no region or parameter names), so equal
kernels of different layers share one source, one file and one compiled function. The
kernel's name carries :func:`structural_hash` of the region.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np

from fusegraph.ir.core import Graph, Op, Value, attrs_key
from fusegraph.ir.opdef import ELEMENTWISE, get_opdef
from fusegraph.ir.printer import format_attrs
from fusegraph.ir.types import DType, Sym

from .templates import REDUCTIONS, SCALAR_TYPES, template_for

PARALLEL_MIN_ELEMENTS = 1 << 18   # below this many elements, threads cost more than they save
SYMBOL_SIZE_GUESS = 32            # a symbolic dim (the batch) counts this much for that estimate
CODEGEN_VERSION = "1"             # bump when the generated code changes meaning
_COMMENT_COLUMN = 60


class CodegenError(Exception):
    """The region breaks the fused-op contract, or an op has no template."""


@dataclass(frozen=True)
class KernelSpec:
    """One generated kernel.

    ``checks``: ``(operand, axis, iteration_axis)`` triples whose sizes the caller must
    compare before calling (the operand dim and the iteration dim are different symbols,
    or a symbol and an int). ``iteration_shape``: ints and symbols. ``symbols``: the
    size arguments after the outputs, in order.
    """

    name: str
    source: str
    iteration_shape: tuple
    symbols: tuple
    parallel: bool
    checks: tuple


def structural_hash(region: Graph) -> str:
    """A hex digest of what the kernel computes: parameter types, ops (kind, operands by
    position, attributes, result types) and results by position; names and source
    locations are left out."""
    number = {id(p): i for i, p in enumerate(region.params)}
    ops = []
    for op in region.ops:
        ops.append((op.kind, tuple(number.get(id(v), -1) for v in op.operands),
                    attrs_key(op.attrs), tuple(str(r.type) for r in op.results)))
        for r in op.results:
            number[id(r)] = len(number)
    key = (CODEGEN_VERSION, tuple(str(p.type) for p in region.params), tuple(ops),
           tuple(number.get(id(r), -1) for r in region.results))
    return hashlib.sha256(repr(key).encode()).hexdigest()[:16]


def parallel_threshold() -> int:
    value = os.environ.get("FUSEGRAPH_NUMBA_PARALLEL_MIN")
    return PARALLEL_MIN_ELEMENTS if value is None else int(value)


def generate_kernel(region: Graph) -> KernelSpec:
    """The kernel of ``region``; CodegenError if the region breaks the contract."""
    return _Generator(region).run()


def _scalar_type(dtype: DType) -> str:
    return SCALAR_TYPES[dtype]


def _literal(value, dtype: DType) -> str:
    """The Python literal of a constant's value converted as its ``ref`` does."""
    item = np.array(value, dtype=dtype.numpy).item()
    if isinstance(item, float):
        if math.isnan(item):
            return "np.nan"
        if math.isinf(item):
            return "np.inf" if item > 0 else "-np.inf"
        return repr(item)
    return repr(item)


class _Generator:
    def __init__(self, region: Graph):
        self.region = region
        self.names: dict[int, str] = {}      # id(value) -> Python variable of its element
        self.ir_names: dict[int, str] = {}   # id(value) -> its IR name in comments
        self.depth: dict[int, int] = {}      # id(value) -> loop depth it is computed at
        for k, p in enumerate(region.params):
            self.ir_names[id(p)] = f"%in{k}"
        n = 0
        for op in region.ops:
            for r in op.results:
                self.ir_names[id(r)] = f"%{n}"
                self.names[id(r)] = f"v{n}"
                n += 1

    # --- validation ---------------------------------------------------------------------
    def iteration_shape(self) -> tuple:
        shapes = set()
        reduced = set()
        for op in self.region.ops:
            if any(id(v) in reduced for v in op.operands):
                raise CodegenError(f"{op.kind} uses the result of a reduction in the same kernel")
            if op.kind == "constant":
                if op.results[0].type.rank != 0:
                    raise CodegenError(f"constant of type {op.results[0].type} in a kernel "
                                       f"(only scalar constants are copied in)")
                continue
            if op.kind in REDUCTIONS:
                shapes.add(op.operands[0].type.shape)
                reduced.add(id(op.results[0]))
                continue
            if not get_opdef(op.kind).has(ELEMENTWISE):
                raise CodegenError(f"op {op.kind} is neither elementwise nor a reduction")
            if template_for(op.kind, op.results[0].type.dtype) is None:
                raise CodegenError(f"op {op.kind} has no numba_cpu template")
            shapes.add(op.results[0].type.shape)
        if len(shapes) != 1:
            raise CodegenError(f"ops of the kernel have {len(shapes)} iteration shapes "
                               f"({', '.join(sorted(map(str, shapes)))}), expected one")
        return shapes.pop()

    def operand_index(self, value: Value, k: int) -> tuple[list[str], int]:
        """The index expressions of parameter ``value`` and the depth of its load; also
        records the runtime size checks it needs."""
        shape, rank = value.type.shape, len(self.shape)
        if len(shape) > rank:
            raise CodegenError(f"operand %in{k}: {value.type} has more dims than the "
                               f"iteration shape {list(self.shape)}")
        index, depth = [], 0
        for j, dim in enumerate(shape):
            axis = rank - len(shape) + j
            it = self.shape[axis]
            if dim == 1:
                index.append("0")
                continue
            if dim != it:
                if isinstance(dim, int) and isinstance(it, int):
                    raise CodegenError(f"operand %in{k}: {value.type} does not broadcast to "
                                       f"the iteration shape {list(self.shape)}")
                self.checks.append((k, j, axis))
            index.append(f"i{axis}")
            depth = axis + 1
        return index, depth

    # --- emission -----------------------------------------------------------------------
    def run(self) -> KernelSpec:
        region = self.region
        self.shape = shape = self.iteration_shape()
        rank = len(shape)
        self.checks: list = []
        self.pre = [[] for _ in range(rank + 1)]    # statements opening loop depth d
        self.post = [[] for _ in range(rank + 1)]   # statements after loop i_d closes
        results = {id(r): j for j, r in enumerate(region.results)}
        defined = {id(r) for op in region.ops for r in op.results if op.kind != "constant"}
        for j, r in enumerate(region.results):
            if id(r) not in defined:
                raise CodegenError(f"kernel result {j} is not computed by an elementwise op "
                                   f"or a reduction of the kernel")
        reduced_axes: set[int] = set()
        for op in region.ops:
            if op.kind == "constant":
                self.emit_constant(op)
            elif op.kind in REDUCTIONS:
                reduced_axes.update(op.attrs["axes"])
                if id(op.results[0]) in results:
                    self.emit_reduction(op, results[id(op.results[0])])
            else:
                self.emit_elementwise(op, results.get(id(op.results[0])))
        symbols = tuple(dict.fromkeys(d for d in shape if isinstance(d, Sym)))
        estimate = math.prod(SYMBOL_SIZE_GUESS if isinstance(d, Sym) else d for d in shape)
        parallel = rank > 0 and 0 not in reduced_axes and estimate >= parallel_threshold()
        name = f"kernel_{structural_hash(region)}"
        source = self.source(name, symbols, parallel)
        return KernelSpec(name, source, shape, symbols, parallel, tuple(self.checks))

    @staticmethod
    def line(code: str, comment: str | None = None) -> tuple:
        """A statement and its comment, aligned when the body is laid out."""
        return code, comment

    def ir_line(self, op: Op) -> str:
        defs = ", ".join(f"{self.ir_names[id(r)]}: {r.type}" for r in op.results)
        operands = ", ".join(self.ir_names[id(v)] for v in op.operands)
        attrs = format_attrs(op.attrs)
        return " ".join(p for p in (f"{defs} = {op.kind}", operands, attrs) if p)

    def element(self, value: Value) -> str:
        """The variable holding ``value``'s element, loading a parameter on first use."""
        if id(value) not in self.names:
            k = next((i for i, p in enumerate(self.region.params) if p is value), None)
            if k is None:
                raise CodegenError(f"an op of the kernel uses {value!r}, which is neither a "
                                   f"parameter of the region nor computed in it")
            index, depth = self.operand_index(value, k)
            name = f"a{k}"
            self.names[id(value)] = name
            self.depth[id(value)] = depth
            self.pre[depth].append(self.line(f"{name} = in{k}[{self.subscript(index)}]",
                                             self.ir_names[id(value)]))
        return self.names[id(value)]

    @staticmethod
    def subscript(index: list[str]) -> str:
        return ", ".join(index) if index else "()"

    def emit_constant(self, op: Op) -> None:
        r = op.results[0]
        dtype = r.type.dtype
        expr = template_for("constant", dtype).format(
            T=_scalar_type(dtype), value=_literal(op.attrs["value"], dtype))
        self.depth[id(r)] = 0
        self.pre[0].append(self.line(f"{self.names[id(r)]} = {expr}", self.ir_line(op)))

    def emit_elementwise(self, op: Op, out: int | None) -> None:
        r = op.results[0]
        args = [self.element(v) for v in op.operands]
        depth = max((self.depth[id(v)] for v in op.operands), default=0)
        expr = template_for(op.kind, r.type.dtype).format(*args, T=_scalar_type(r.type.dtype))
        name = self.names[id(r)]
        self.depth[id(r)] = depth
        self.pre[depth].append(self.line(f"{name} = {expr}", self.ir_line(op)))
        if out is not None:
            index = [f"i{a}" for a in range(len(self.shape))]
            self.pre[-1].append(self.line(f"out{out}[{self.subscript(index)}] = {name}"))

    def emit_reduction(self, op: Op, out: int) -> None:
        spec = REDUCTIONS[op.kind]
        x, r = op.operands[0], op.results[0]
        arg = self.element(x)
        axes, keepdims = op.attrs["axes"], op.attrs["keepdims"]
        rank = len(self.shape)
        dtype = r.type.dtype
        T = _scalar_type(dtype)
        out_index = [("0" if keepdims else None) if a in axes else f"i{a}" for a in range(rank)]
        target = f"out{out}[{self.subscript([i for i in out_index if i is not None])}]"
        count = self.count(axes)
        floats = dtype.is_float
        init, update = (spec.init_float, spec.update_float) if floats else (spec.init_int,
                                                                           spec.update_int)
        limits = {} if floats else {"min": np.iinfo(dtype.numpy).min,
                                    "max": np.iinfo(dtype.numpy).max}
        first = min(axes) if axes else rank
        if tuple(axes) == tuple(range(first, rank)):
            # Trailing axes: a local accumulator around loop ``first``.
            acc_type = T
            if spec.wide:
                acc_type = "np.float64" if floats else "np.int64"
            acc = f"acc{self.names[id(r)][1:]}"
            self.pre[first].append(self.line(f"{acc} = {init.format(A=acc_type, **limits)}"))
            self.pre[-1].append(self.line(f"{acc} = {update.format(arg, acc=acc)}",
                                          self.ir_line(op)))
            value = f"{acc} / {count}" if spec.divide else acc
            store = self.line(f"{target} = {T}({value})")
            if first == rank:
                self.pre[-1].append(store)
            else:
                self.post[first].append(store)
        else:
            # Other axes: accumulate in the output array itself.
            self.pre[0].append(self.line(f"out{out}.fill({init.format(A=T, **limits)})"))
            cur = f"r{self.names[id(r)][1:]}"
            self.pre[-1].append(self.line(f"{cur} = {target}"))
            new = update.format(arg, acc=cur)
            if dtype.is_int and spec.wide:
                new = f"{T}{new}"
            self.pre[-1].append(self.line(f"{target} = {new}", self.ir_line(op)))
            if spec.divide:
                self.post[0].append(self.line(f"out{out} /= {T}({count})"))

    def count(self, axes) -> str:
        """The number of elements the reduction over ``axes`` sees, as an expression."""
        static = math.prod(d for a, d in enumerate(self.shape) if a in axes and isinstance(d, int))
        symbolic = [f"n_{d.name}" for a, d in enumerate(self.shape)
                    if a in axes and isinstance(d, Sym)]
        terms = ([str(static)] if static != 1 or not symbolic else []) + symbolic
        return terms[0] if len(terms) == 1 else f"({' * '.join(terms)})"

    def source(self, name: str, symbols: tuple, parallel: bool) -> str:
        region = self.region
        ins = [f"in{k}" for k in range(len(region.params))]
        outs = [f"out{j}" for j in range(len(region.results))]
        sizes = [f"n_{s.name}" for s in symbols]
        shape = "[" + ",".join(map(str, self.shape)) + "]"
        lines = [
            '"""A fused kernel generated by fusegraph\'s numba_cpu backend (see',
            'fusegraph/backends/numba_cpu/codegen.py). Generated: edits are overwritten."""',
            "import math",
            "",
            "import numpy as np",
            "from numba import njit, prange",
            "",
            "",
            f"# iteration shape {shape}",
        ]
        for k, p in enumerate(region.params):
            lines.append(f"# in{k}: {p.type}")
        for j, r in enumerate(region.results):
            lines.append(f"# out{j}: {r.type} = {self.ir_names[id(r)]}")
        lines += [
            f"@njit(cache=True, error_model=\"numpy\", fastmath=False, parallel={parallel})",
            f"def {name}({', '.join(ins + outs + sizes)}):",
        ]
        rank = len(self.shape)
        body: list[str] = []

        def put(statements, indent: str) -> None:
            for code, comment in statements:
                code = indent + code
                if comment is not None:
                    code += " " * max(2, _COMMENT_COLUMN - len(code)) + "# " + comment
                body.append(code)

        def nest(depth: int, indent: str) -> None:
            put(self.pre[depth], indent)
            if depth == rank:
                return
            dim = self.shape[depth]
            bound = f"n_{dim.name}" if isinstance(dim, Sym) else str(dim)
            loop = "prange" if parallel and depth == 0 else "range"
            body.append(f"{indent}for i{depth} in {loop}({bound}):")
            nest(depth + 1, indent + "    ")
            put(self.post[depth], indent)

        nest(0, "    ")
        lines += body or ["    pass"]
        return "\n".join(lines) + "\n"
