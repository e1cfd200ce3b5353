"""From a ``fused`` op's region to the Python source of one ``numba.cuda`` kernel.

The region satisfies the contract of :mod:`fusegraph.passes.fusion` (elementwise ops and
reductions over one *iteration shape*, scalar constants copied in, parameters that
broadcast to it, no op using a reduction's result). The kernel runs **one thread per
element of the iteration shape's non-reduced part** and loops over the reduced axes
inside the thread::

    @cuda.jit(cache=True, fastmath=False)
    def cuda_kernel_<hash>(in0, in1, out0, out1, n_B):
        t = cuda.grid(1)                 # flattened thread index
        if t >= n_B:                     # threads past the end do nothing
            return
        i0 = t                           # unflattened: one index per thread axis
        acc3 = np.float64(0)
        for i1 in range(10):             # the reduced axes, inside the thread
            a0 = in0[i0, i1]             # %in0
            a1 = in1[i1]                 # %in1: dims of 1 index 0, missing dims drop
            v0 = (a0 + a1)               # %0: f32[B,10] = add %in0, %in1
            out0[i0, i1] = v0
            acc3 = (acc3 + v0)           # %1: f32[B] = reduce_sum %0 {axes=[1], ...}
        out1[i0] = np.float32(acc3)

Arguments, as numba_cpu's: the region's parameters (``in<k>``), one preallocated array
per region result (``out<j>``), then the size of each symbol of the iteration shape
(``n_<symbol>``, int64) in order of first appearance. Integer sizes are literals in the
source (constant divisors); the thread count, ``prod(non-reduced sizes)``, is computed
from them in the kernel, so the caller launches ``ceil(count / block)`` blocks of any
size. The kernel initializes every element of every output; the caller allocates them
with ``cuda.device_array``.

Decided statically, from the types alone:

* thread axes and loop axes: the *reduced axes* ``R`` are the union of the axes of the
  region's reductions; the other axes are the thread axes (all axes when there is no
  reduction; none when a reduction reduces everything: one thread). ``cuda.grid(1)``
  is unflattened into the thread axes' indices (C order: the last axis varies
  fastest, so neighbouring threads read neighbouring elements when the last axis is
  not reduced), and one ``for`` loop per reduced axis, in axis order, runs inside.
* broadcasting, as numba_cpu: an operand dim of literal 1 is indexed with 0; missing
  leading dims are dropped; a rank-0 operand is read as ``in0[()]``. An operand dim that
  is a different symbol than the iteration dim is indexed by the loop index and
  :attr:`CudaKernelSpec.checks` lists it for the caller to compare first.
* placement: each load and elementwise statement goes at the shallowest loop depth
  whose indices it uses (outside every loop when it uses thread indices only); stores
  of elementwise results and reduction updates go in the innermost body.
* reductions: one whose axes are the *last* reduced axes in loop order (always so when
  every reduction of the kernel reduces the same axes, the common case) accumulates in
  a local variable opened before its first loop and stored after it; sums accumulate
  float32 in float64 and ints in int64 (numba_cpu's :class:`Reduction` table). Any
  other one accumulates in its output array: each output element belongs to exactly
  one thread (its thread-axis indices are the thread's), which starts it at its first
  visit (every reduced index 0) and, for a mean, divides at its last. No atomics and no
  races, by construction.

**This is the simple, correct first version.** A kernel whose reduced axes are long and
whose thread axes are short (a loss summed over the batch; a bias gradient, summed over
``B`` for each of 64 units) runs few threads with long serial loops. The faster version
does block-level tree reductions: a block of threads per output element (or per tile of
them) strides the reduced axes, combines partial results in shared memory with
``cuda.syncthreads()`` (or warp shuffles) in log2(block) steps, and one thread writes
the result; a reduction over everything uses a grid of such blocks and a second pass
(or atomics where their order does not matter to the result). Mean/sum accumulators
stay float64 there too (an FP64 add per element is cheap next to the load).

No ``fastmath``: NaN, inf and signed zeros behave as in the reference. The source names
nothing that varies between equal regions, so equal kernels share one source, one
cached file and one compiled function; the kernel's name carries a hash of the region's
structure (numba_cpu's :func:`structural_hash`) and of this generator's version.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from fusegraph.backends.numba_cpu.codegen import structural_hash
from fusegraph.ir.core import Graph, Op, Value
from fusegraph.ir.opdef import ELEMENTWISE, get_opdef
from fusegraph.ir.printer import format_attrs
from fusegraph.ir.types import DType, Sym

from .templates import REDUCTIONS, SCALAR_TYPES, template_for

CODEGEN_VERSION = "cuda-1"     # bump when the generated code changes meaning
_COMMENT_COLUMN = 60


class CodegenError(Exception):
    """The region breaks the fused-op contract, or an op has no CUDA template."""


@dataclass(frozen=True)
class CudaKernelSpec:
    """One generated CUDA kernel.

    ``iteration_shape``: ints and symbols. ``thread_axes``: the axes that threads run
    over (the rest are looped over in each thread). ``symbols``: the size arguments
    after the outputs, in order. ``checks``: ``(operand, axis, iteration_axis)``
    triples whose sizes the caller compares before the launch. ``param_types`` and
    ``result_types``: the region's, for building signatures (PTX).
    """

    name: str
    source: str
    iteration_shape: tuple
    thread_axes: tuple
    symbols: tuple
    checks: tuple
    param_types: tuple
    result_types: tuple

    def thread_count(self, env: dict) -> int:
        """The number of threads the kernel needs, with the symbols bound by ``env``."""
        return math.prod(env[d] if isinstance(d, Sym) else d
                         for a, d in enumerate(self.iteration_shape) if a in self.thread_axes)


def kernel_name(region: Graph) -> str:
    digest = hashlib.sha256(f"{CODEGEN_VERSION} {structural_hash(region)}".encode())
    return f"cuda_kernel_{digest.hexdigest()[:16]}"


def generate_kernel(region: Graph) -> CudaKernelSpec:
    """The CUDA kernel of ``region``; CodegenError if the region breaks the contract."""
    return _Generator(region).run()


def _literal(value, dtype: DType) -> str:
    """The Python literal of a constant's value, converted as its ``ref`` does."""
    item = np.array(value, dtype=dtype.numpy).item()
    if isinstance(item, float):
        if math.isnan(item):
            return "np.nan"
        if math.isinf(item):
            return "np.inf" if item > 0 else "-np.inf"
    return repr(item)


class _Generator:
    def __init__(self, region: Graph):
        self.region = region
        self.names: dict[int, str] = {}      # id(value) -> variable of its element
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
        shapes, reduced = set(), set()
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
                raise CodegenError(f"op {op.kind} has no numba_cuda template")
            shapes.add(op.results[0].type.shape)
        if len(shapes) != 1:
            raise CodegenError(f"ops of the kernel have {len(shapes)} iteration shapes "
                               f"({', '.join(sorted(map(str, shapes)))}), expected one")
        return shapes.pop()

    def operand_index(self, value: Value, k: int) -> tuple[list[str], int]:
        """The index expressions of parameter ``value`` and the loop depth of its load;
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
            depth = max(depth, self.loop_depth.get(axis, 0))
        return index, depth

    # --- emission -----------------------------------------------------------------------
    def run(self) -> CudaKernelSpec:
        region = self.region
        self.shape = shape = self.iteration_shape()
        rank = len(shape)
        self.checks: list = []
        results = {id(r): j for j, r in enumerate(region.results)}
        reduced = sorted({a for op in region.ops
                          if op.kind in REDUCTIONS and id(op.results[0]) in results
                          for a in op.attrs["axes"]})
        self.loops = reduced                                     # loop k runs axis loops[k]
        self.loop_depth = {a: k + 1 for k, a in enumerate(reduced)}   # axis -> depth inside it
        self.thread_axes = tuple(a for a in range(rank) if a not in self.loop_depth)
        m = len(reduced)
        self.pre = [[] for _ in range(m + 1)]    # statements at depth d, before loop d
        self.post = [[] for _ in range(m + 1)]   # statements at depth d, after loop d closes
        defined = {id(r) for op in region.ops for r in op.results if op.kind != "constant"}
        for j, r in enumerate(region.results):
            if id(r) not in defined:
                raise CodegenError(f"kernel result {j} is not computed by an elementwise op "
                                   f"or a reduction of the kernel")
        for op in region.ops:
            if op.kind == "constant":
                self.emit_constant(op)
            elif op.kind in REDUCTIONS:
                if id(op.results[0]) in results:
                    self.emit_reduction(op, results[id(op.results[0])])
            else:
                self.emit_elementwise(op, results.get(id(op.results[0])))
        symbols = tuple(dict.fromkeys(d for d in shape if isinstance(d, Sym)))
        name = kernel_name(region)
        return CudaKernelSpec(name, self.source(name, symbols), shape, self.thread_axes,
                              symbols, tuple(self.checks),
                              tuple(p.type for p in region.params),
                              tuple(r.type for r in region.results))

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
            self.pre[depth].append((f"{name} = in{k}[{_subscript(index)}]",
                                    self.ir_names[id(value)]))
        return self.names[id(value)]

    def emit_constant(self, op: Op) -> None:
        r = op.results[0]
        dtype = r.type.dtype
        expr = template_for("constant", dtype).format(
            T=SCALAR_TYPES[dtype], value=_literal(op.attrs["value"], dtype))
        self.depth[id(r)] = 0
        self.pre[0].append((f"{self.names[id(r)]} = {expr}", self.ir_line(op)))

    def emit_elementwise(self, op: Op, out: int | None) -> None:
        r = op.results[0]
        args = [self.element(v) for v in op.operands]
        depth = max((self.depth[id(v)] for v in op.operands), default=0)
        expr = template_for(op.kind, r.type.dtype).format(*args, T=SCALAR_TYPES[r.type.dtype])
        name = self.names[id(r)]
        self.depth[id(r)] = depth
        self.pre[depth].append((f"{name} = {expr}", self.ir_line(op)))
        if out is not None:
            index = [f"i{a}" for a in range(len(self.shape))]
            self.pre[-1].append((f"out{out}[{_subscript(index)}] = {name}", None))

    def emit_reduction(self, op: Op, out: int) -> None:
        spec = REDUCTIONS[op.kind]
        x, r = op.operands[0], op.results[0]
        arg = self.element(x)
        axes, keepdims = tuple(sorted(op.attrs["axes"])), op.attrs["keepdims"]
        rank = len(self.shape)
        dtype = r.type.dtype
        T = SCALAR_TYPES[dtype]
        out_index = [("0" if keepdims else None) if a in axes else f"i{a}" for a in range(rank)]
        target = f"out{out}[{_subscript([i for i in out_index if i is not None])}]"
        count = self.count(axes)
        floats = dtype.is_float
        init, update = ((spec.init_float, spec.update_float) if floats
                        else (spec.init_int, spec.update_int))
        limits = {} if floats else {"min": np.iinfo(dtype.numpy).min,
                                    "max": np.iinfo(dtype.numpy).max}
        m = len(self.loops)
        first = m - len(axes)      # the loop this reduction's axes start at, if trailing
        if axes == tuple(self.loops[first:]):
            # The last loops: a local accumulator around loop ``first``.
            acc_type = T
            if spec.wide:
                acc_type = "np.float64" if floats else "np.int64"
            acc = f"acc{self.names[id(r)][1:]}"
            self.pre[first].append((f"{acc} = {init.format(A=acc_type, **limits)}", None))
            self.pre[-1].append((f"{acc} = {update.format(arg, acc=acc)}", self.ir_line(op)))
            value = f"{acc} / {count}" if spec.divide else acc
            self.post[first].append((f"{target} = {T}({value})", None))
        else:
            # Other axes: accumulate in the output array, whose elements this thread owns.
            cur = f"r{self.names[id(r)][1:]}"
            at_first = " and ".join(f"i{a} == 0" for a in axes)
            self.pre[-1].append((f"{cur} = {init.format(A=T, **limits)} if {at_first} "
                                 f"else {target}", None))
            new = update.format(arg, acc=cur)
            if dtype.is_int and spec.wide:
                new = f"{T}{new}"
            self.pre[-1].append((f"{target} = {new}", self.ir_line(op)))
            if spec.divide:
                at_last = " and ".join(f"i{a} == {self.bound(a)} - 1" for a in axes)
                self.pre[-1].append((f"if {at_last}:", None))
                self.pre[-1].append((f"    {target} = {T}({target} / {T}({count}))", None))

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
        outs = [f"out{j}" for j in range(len(region.results))]
        sizes = [f"n_{s.name}" for s in symbols]
        shape = "[" + ",".join(map(str, self.shape)) + "]"
        threads = ", ".join(map(str, self.thread_axes)) or "none: one thread"
        loops = ", ".join(map(str, self.loops)) or "none"
        lines = [
            '"""A fused kernel generated by fusegraph\'s numba_cuda backend (see',
            'fusegraph/backends/numba_cuda/codegen.py). Generated: edits are overwritten."""',
            "import math",
            "",
            "import numpy as np",
            "from numba import cuda",
            "",
            "",
            f"# iteration shape {shape}: threads over axes {threads}; "
            f"loops over reduced axes {loops}",
        ]
        for k, p in enumerate(region.params):
            lines.append(f"# in{k}: {p.type}")
        for j, r in enumerate(region.results):
            lines.append(f"# out{j}: {r.type} = {self.ir_names[id(r)]}")
        lines += [
            "@cuda.jit(cache=True, fastmath=False)",
            f"def {name}({', '.join(ins + outs + sizes)}):",
        ]
        body: list[str] = []

        def put(statements, indent: str) -> None:
            for code, comment in statements:
                code = indent + code
                if comment is not None:
                    code += " " * max(2, _COMMENT_COLUMN - len(code)) + "# " + comment
                body.append(code)

        # The thread's indices from its flattened number, the last axis fastest.
        sizes_of_threads = [self.bound(a) for a in self.thread_axes]
        total = " * ".join(sizes_of_threads) if sizes_of_threads else "1"
        body += ["    t = cuda.grid(1)", f"    if t >= {total}:", "        return"]
        for pos in range(len(self.thread_axes) - 1, -1, -1):
            a = self.thread_axes[pos]
            if pos == 0:
                body.append(f"    i{a} = t")
            else:
                body += [f"    i{a} = t % {self.bound(a)}", f"    t = t // {self.bound(a)}"]

        def nest(depth: int, indent: str) -> None:
            put(self.pre[depth], indent)
            if depth < len(self.loops):
                axis = self.loops[depth]
                body.append(f"{indent}for i{axis} in range({self.bound(axis)}):")
                nest(depth + 1, indent + "    ")
            put(self.post[depth], indent)

        nest(0, "    ")
        lines += body
        return "\n".join(lines) + "\n"


def _subscript(index: list[str]) -> str:
    return ", ".join(index) if index else "()"
