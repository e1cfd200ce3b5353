"""From a ``fused`` op's region to the Python source of one Numba kernel.

The region keeps the kernel contract of the ``fused`` op (:mod:`fusegraph.ir.ops.region`),
and holds what :data:`CAPABILITY` admits (every op with a template here). The kernel is::

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
  dropped; a rank-0 operand is read once before the loops (``in0[()]``); every other
  dim is the iteration dim (the contract), indexed by the loop variable;
* placement: each load and each elementwise statement goes at the shallowest loop depth
  whose indices it uses (a ``[B,1]`` operand is read once per row); stores and
  reduction updates go in the innermost body;
* reductions: one whose axes are the trailing axes ``k..rank-1`` accumulates in a local
  variable opened before loop ``k`` and stored after it; any other (a sum over the batch
  axis of ``[B,512]``) accumulates in its output array (filled first), one whose axes end
  with trailing axes ``k..rank-1`` (``[0, 3]`` of a rank-4 shape) through a local partial
  over them, added into the output after loop ``k``. ``reduce_mean``
  divides by the reduced count, symbols included, at the end. Local sums accumulate
  float32 in float64 (but those of at most :data:`SHORT_SUM` elements) and ints in int64 (:mod:`fusegraph.backends.numba.generator`), a
  float sum through ``fast_math.sum_add``, an addition LLVM may reassociate, so that
  the loop vectorizes (partial sums: exact up to the order of additions);
* parallelism: when fusegraph runs on more than one thread
  (:func:`fusegraph.backends.threads.get_num_threads` when the kernel is generated), the
  outermost loop is ``numba.prange`` (and the kernel ``parallel=True``) when no
  reduction reduces axis 0 (when one does, a bias gradient's sum over the batch, one
  ``prange`` chunk per thread takes a range of axis 0 and folds it into its own partial
  of each such output, combined in chunk order after the threads: partials of a sum
  add up in another order than one thread's loop, to rounding) and the iteration space
  is at least
  :data:`PARALLEL_MIN_ELEMENTS` elements, each symbol counted as
  :data:`SYMBOL_SIZE_GUESS` (the decision must be static: the source, and so the cache
  key, may not depend on the first batch seen). ``FUSEGRAPH_NUMBA_PARALLEL_MIN`` sets
  that size (``off``: every kernel serial). Measured on 2 cores, 2 threads, serial ->
  parallel kernels, with MKL's GEMM (one BLAS pool: :mod:`.gemm`): wide MLP 2.40 ->
  2.11 ms, ticket model 1.95 -> 1.55, LSTM ticket model 9.7 -> 9.3, Transformer block
  77 -> 69.5; with numpy's OpenBLAS, whose idle workers spin against Numba's: 2.67 ->
  2.73, 1.94 -> 1.69, 102 -> 100. A parallel kernel compiles slower (0.3-0.6 s against
  0.1 s: the tiered start hides it). Numba kills a child ``fork``ed after its GNU
  OpenMP pool started at the child's first parallel kernel: there, kernels are
  generated serial and each executable swaps its parallel ones for serial twins
  (:meth:`.executable.Executable.serialize_after_fork`).

No ``fastmath``: NaN, inf and signed zeros behave as in the reference. ``exp``, ``log``,
``tanh``, ``sigmoid`` and ``erf`` call :mod:`fusegraph.backends.numba.fast_math` (the
kernel file imports it), whose functions LLVM vectorizes, within the ulp bounds it
states. The source has one statement per region op with the IR line as a comment, and
names nothing that varies between equal regions (no source locations, no region or
parameter names), so equal kernels of different layers share one source, one file and
one compiled function. The kernel's name carries the region's
:func:`~fusegraph.backends.numba.generator.structural_hash`.

What the CPU and CUDA generators share (validation, broadcasting, placement, the local
accumulators, the source's layout) is :class:`fusegraph.backends.numba.generator.
KernelGenerator`; this module gives it the base template table
(:mod:`fusegraph.backends.numba.templates`) and the CPU's loop wrapper: every axis a
``range`` loop (the outermost a ``prange`` when parallel), ``@njit``, an output
accumulator filled before the loops and divided after them.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from .. import threads
from ..numba import templates
from ..numba.generator import (CodegenError, KernelGenerator, accumulator_dtype,
                               statement_lines, structural_hash, subscript)
from ...ir.core import Graph
from ...ir.opdef import get_opdef
from ...ir.ops.region import KernelCapability, is_staged, row_axes, stages
from ...ir.types import DType, Sym

SYMBOL_SIZE_GUESS = 32            # a symbolic dim (the batch) counts this much for that estimate
PARALLEL_MIN_ELEMENTS = 1 << 18   # a kernel this large runs its outer loop on Numba's threads
# Bump when the generated code changes meaning (2: fast_math, 3: sum_add, 4: partial sums
# and short float32 sums).
CODEGEN_VERSION = "4"
# A float32 sum over at most this many elements (a softmax's or a LayerNorm's row of 128)
# accumulates in float32, not float64: LLVM vectorizes it into partial sums of a few
# elements each, combined by a tree (error about that of numpy's pairwise float32 sum),
# and the conversions to float64 had halved the vectors (softmax's exp-and-sum stage of
# [32,4,128,128]: 2.45 -> 1.18 ms). Longer sums keep float64.
SHORT_SUM = 128

LONE_KERNEL_MIN_ELEMENTS = 1 << 15  # an op alone this large still becomes a kernel


def estimated_size(shape: tuple) -> int:
    """The elements of an iteration shape, each symbol counted as :data:`SYMBOL_SIZE_GUESS`
    (what a static decision about a kernel may go by: its source, and so the cache key,
    may not depend on the first batch seen)."""
    return math.prod(SYMBOL_SIZE_GUESS if isinstance(d, Sym) else d for d in shape)


def _lone_kernel(shape: tuple) -> bool:
    """Whether an op that fused with nothing becomes a kernel of its own: from
    :data:`LONE_KERNEL_MIN_ELEMENTS` (:func:`estimated_size`). Such a kernel writes into
    a buffer the plan keeps and runs threaded where kernels do (numpy's single op
    allocates and runs on one thread), and a reduction over the last axis vectorizes
    (numpy's max over rows of 128 is slow; its mean over the middle axis of [32,100,64]
    took 70 us). Same session, MKL: from 2^18 elements, Transformer block 65 -> 60.5 ms
    (2 threads), 105 -> 101 ms (1 thread); from 2^15 instead, ticket model 1.97 -> 1.92
    ms and LSTM ticket model 9.7 -> 9.6 ms (1 thread), the rest even. An op on a strided
    view (a transpose's, a reshape's) compiles that view's signature at its first call
    (the kernel is compiled ahead for C arrays), once per kernel cache."""
    return estimated_size(shape) >= LONE_KERNEL_MIN_ELEMENTS


# What a numba_cpu kernel holds: every elementwise op and reduction with a template.
CAPABILITY = KernelCapability("numba_cpu",
                              lambda kind, dtype: templates.template_for(kind, dtype) is not None,
                              lone_kernel=_lone_kernel, staged=True)

__all__ = ["CAPABILITY", "CodegenError", "KernelSpec", "generate_kernel", "parallel_threshold"]


@dataclass(frozen=True)
class KernelSpec:
    """One generated kernel. ``iteration_shape``: ints and symbols. ``symbols``: the size
    arguments after the outputs, in order. ``in_place``: ``(result j, parameter m)``
    pairs: result j is written into operand m (it has no output argument)."""

    name: str
    source: str
    iteration_shape: tuple
    symbols: tuple
    parallel: bool
    in_place: tuple = ()


def parallel_threshold() -> int | None:
    """The iteration size (elements) from which a kernel's outer loop runs in parallel,
    or None (every kernel serial): ``FUSEGRAPH_NUMBA_PARALLEL_MIN`` (a whole number, or
    ``off``), else :data:`PARALLEL_MIN_ELEMENTS` when fusegraph runs on more than one
    thread and None on one."""
    value = os.environ.get("FUSEGRAPH_NUMBA_PARALLEL_MIN")
    if value is None:
        return PARALLEL_MIN_ELEMENTS if threads.get_num_threads() > 1 else None
    if value.strip().lower() == "off":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"FUSEGRAPH_NUMBA_PARALLEL_MIN must be a whole number of elements "
                         f"or 'off', got {value!r}") from None


def generate_kernel(region: Graph, in_place: tuple = ()) -> KernelSpec:
    """The kernel of ``region``: ContractError if it breaks the kernel contract,
    CodegenError if an op has no template. ``in_place``: ``(result j, parameter m)``
    pairs, each result computed elementwise over the iteration shape from parameter m
    of the same type (read at the index it is written at): result j is stored into
    operand m, which the kernel reads first at each index (``fusegraph.backends.
    numba_cpu.donation`` says when the caller allows it)."""
    if is_staged(region):
        if in_place:
            raise CodegenError("a staged kernel writes no operand in place")
        return _StagedGenerator(region).run()
    return _Generator(region, tuple(sorted(in_place))).run()


class _Generator(KernelGenerator):
    backend = "numba_cpu"
    numba_import = "from numba import njit, prange"
    imports = templates.CPU_IMPORTS
    templates = templates
    parallel = False
    partial_sums = True
    rows_split = 0              # threads splitting axis 0 (:meth:`threading`): their count
    row_loops: list = []        # a staged kernel's row axes (walked once per stage)

    def loop_axes(self, results: dict) -> list[int]:
        """One loop per axis, in order; decides :attr:`rows_split` first (it changes where
        the reductions over axis 0 accumulate)."""
        self.reduction_into = {results[op.results[0]]: op for op in self.region.ops
                               if self.is_reduction(op) and op.results[0] in results}
        self.rows_split = self.threading()[1]
        return list(range(len(self.shape)))

    def threading(self) -> tuple[bool, int]:
        """``(parallel, rows_split)``: whether the kernel runs on Numba's threads, from
        :func:`parallel_threshold`'s size on; and, for a kernel one of whose reductions reduces
        axis 0 (a bias gradient's sum over the batch, which a ``prange`` over axis 0
        would race on), the threads splitting axis 0, each folding its rows into partials
        of those outputs (0: the outer loop is the ``prange``, or the kernel is serial; a
        staged kernel whose rows hold axis 0 has no outer loop to split: serial)."""
        shape, threshold = self.shape, parallel_threshold()
        if threshold is None or not shape or estimated_size(shape) < threshold:
            return False, 0
        if not any(0 in op.attrs["axes"] for op in self.region.ops if self.is_reduction(op)):
            return True, 0
        chunks = threads.get_num_threads()
        if (chunks < 2 or (isinstance(shape[0], int) and shape[0] < chunks)
                or 0 in self.row_loops):
            return False, 0
        return True, chunks

    def accumulator_target(self, out: int, target: str, axes: tuple) -> str:
        """With :attr:`rows_split`, a reduction over axis 0 folds into its thread's
        partial ``part<out>[c, ...]``."""
        if self.rows_split and 0 in axes:
            return f"part{out}[c, {target[target.index('[') + 1:]}"
        return target

    def start_in_output(self, out: int, target: str, start: str, axes: tuple) -> str:
        if self.rows_split and 0 in axes:
            # Each thread folds its rows into its own partial, combined after the threads:
            # plain loops, not array expressions, which a parallel kernel would make into
            # parallel loops of their own (a 3.9 s compile against 0.8 s).
            chunks, op = self.rows_split, self.reduction_into[out]
            fold, dtype = get_opdef(op.kind).reduction.combine, op.results[0].type.dtype
            both = f"flat{out}[c * size{out} + e]"
            self.pre[0] += [
                (f"part{out} = np.empty(({chunks},) + out{out}.shape, out{out}.dtype)", None),
                (f"flat{out} = part{out}.reshape(-1)", None),
                (f"for e in range(flat{out}.size):", None),
                (f"    flat{out}[e] = {start}", None)]
            self.post[0] += [
                (f"whole{out} = out{out}.reshape(-1)", None),
                (f"size{out} = whole{out}.size", None),
                (f"for e in range(size{out}):", None),
                (f"    r = flat{out}[e]", None),
                (f"    for c in range(1, {chunks}):", None),
                (f"        r = {self.combine(fold, both, 'r', dtype)}", None),
                (f"    whole{out}[e] = {self.templates.SCALAR_TYPES[dtype]}(r)", None)]
            return target
        self.pre[0].append((f"out{out}.fill({start})", None))
        return target

    def finish_in_output(self, out: int, target: str, T: str, count: str, axes: tuple) -> None:
        self.post[0].append((f"out{out} /= {T}({count})", None))

    def accumulator(self, op, axes) -> DType:
        """float32 for a float32 sum or mean over at most :data:`SHORT_SUM` elements (every
        summed dim static), else :func:`accumulator_dtype`'s wider type."""
        sizes = [self.shape[a] for a in axes]
        if (op.results[0].type.dtype == DType.f32 and get_opdef(op.kind).reduction.rounds
                and all(isinstance(d, int) for d in sizes) and math.prod(sizes) <= SHORT_SUM):
            return DType.f32
        return accumulator_dtype(op)

    def local_combine(self, kind: str, element: str, acc: str, dtype: DType) -> str:
        if kind == "add" and dtype.is_float:      # a sum LLVM may vectorize: fast_math
            return f"fast_math.sum_add({acc}, {element})"
        return super().local_combine(kind, element, acc, dtype)

    def decorator(self) -> str:
        return (f"@njit(cache=True, error_model=\"numpy\", fastmath=False, "
                f"parallel={self.parallel})")

    def loop_range(self, depth: int, axis: int) -> str:
        if self.rows_split and depth == 0:
            return "range(lo, hi)"
        loop = "prange" if self.parallel and depth == 0 else "range"
        return f"{loop}({self.bound(axis)})"

    def loop_nest(self) -> list[str]:
        """The base nest; with :attr:`rows_split`, inside ``for c in prange(chunks)``, each
        chunk looping over its own ``[lo, hi)`` of axis 0 (what comes before and after the
        loops, the partials and their combination included, once, outside)."""
        if not self.rows_split:
            return super().loop_nest()
        before, after = self.pre[0], self.post[0]
        self.pre[0], self.post[0] = [], []
        inner = super().loop_nest()
        self.pre[0], self.post[0] = before, after
        return (statement_lines(before, "    ") + self.chunk_loop()
                + ["    " + line for line in inner] + statement_lines(after, "    "))

    def chunk_loop(self) -> list[str]:
        """With :attr:`rows_split`: the ``prange`` over the threads' chunks, each setting
        the ``[lo, hi)`` of axis 0 it loops over."""
        n, chunks = self.bound(0), self.rows_split
        return [f"    for c in prange({chunks}):",
                f"        lo = c * {n} // {chunks}", f"        hi = (c + 1) * {n} // {chunks}"]

    def make_spec(self, symbols: tuple) -> KernelSpec:
        shape = self.shape
        self.parallel = self.threading()[0]
        version = CODEGEN_VERSION + (f" in place {sorted(self.in_place.items())}"
                                     if self.in_place else "")
        name = f"kernel_{structural_hash(self.region, version)}"
        return KernelSpec(name, self.source(name, symbols), shape, symbols, self.parallel,
                          tuple(sorted(self.in_place.items())))


def _ordered_fold(op) -> bool:
    """Whether a staged kernel folds ``op`` with :data:`templates.ORDERED_FOLDS` and a
    NaN flag: a float max or min."""
    return (op.results[0].type.dtype.is_float
            and get_opdef(op.kind).reduction.combine in templates.ORDERED_FOLDS)


class _StagedGenerator(_Generator):
    """A staged region's kernel (the contract's ``reduction results`` rule: softmax,
    a LayerNorm's mean and variance): one loop nest over the outer axes; in it, stage by
    stage, a loop nest over the row axes that computes again what the stage needs from
    the operands and the earlier stages' reductions (a row of 128 floats stays in L1
    between stages: no value of the row's length is written to memory between them),
    folds the stage's reductions into local accumulators, and stores the results made in
    it; after the stage's loops, its reductions' results are scalars the next stages
    read. Recomputing costs arithmetic, not memory traffic; a value a later stage reads
    that a result's array can hold until then is stored there instead (:meth:`scratch`:
    softmax's exp is computed once). A column reduction (:func:`fusegraph.ir.ops.region.
    is_column_reduction`: a LayerNorm's gamma gradient) folds each row's elements into an
    accumulator array of the row's length (one per thread of a rows split), written to its
    output after the outer loops."""

    staged = True

    def run(self):
        region = self.region
        self.iteration_shape()                  # the contract and the templates checked
        self.shape = next(op.operands[0].type.shape for op in region.ops
                          if self.is_reduction(op))
        self.row_ops = {id(op) for op in region.ops if op.kind != "constant"
                        and not self.is_reduction(op) and op.results[0].type.shape != self.shape}
        rows = row_axes(region)
        self.row_loops = list(rows)
        self.loops = [a for a in range(len(self.shape)) if a not in rows]
        self.columns = {id(op) for op in region.ops
                        if self.is_reduction(op) and tuple(op.attrs["axes"]) != rows}
        self.stage = stages(region)
        self.results = {r: j for j, r in enumerate(region.results)}
        self.rows_split = self.threading()[1]
        return self.make_spec(tuple(dict.fromkeys(d for d in self.shape if isinstance(d, Sym))))

    def index(self, value) -> str:
        """``value``'s subscript at the current element: its dims of 1 at 0, missing
        leading dims dropped, a rank-0 value ``()``."""
        shape, rank = value.type.shape, len(self.shape)
        return subscript(["0" if d == 1 else f"i{rank - len(shape) + j}"
                          for j, d in enumerate(shape)])

    def loop_nest(self) -> list[str]:
        region, stage = self.region, self.stage
        reductions = [op for op in region.ops if self.is_reduction(op)]
        producers = {id(r): op for op in region.ops for r in op.results}
        before = [(f"{self.names[op.results[0]]} = "
                   f"{self.constant(op.attrs['value'], op.results[0].type.dtype)}",
                   self.ir_line(op)) for op in region.ops if op.kind == "constant"]
        for k, p in enumerate(region.params):
            if p.type.rank == 0:
                self.names[p] = f"a{k}"
                before.append((f"a{k} = in{k}[()]", self.ir_names[p]))
        columns = [op for op in reductions if id(op) in self.columns]
        before += [line for op in columns for line in self.column_start(op)]
        body = statement_lines(before, "    ")
        indent = "    "
        if self.rows_split:
            body += self.chunk_loop()
            indent += "    "
        for depth, axis in enumerate(self.loops):
            body.append(f"{indent}for i{axis} in {self.loop_range(depth, axis)}:")
            indent += "    "
        last = max(stage[id(r)] for op in region.ops if op.kind != "constant"
                   for r in op.results)
        spilled = self.scratch(stage, producers)
        written: set = set()        # ids of the values stored by the stages so far
        for s in range(last + 1):
            body += self.row_lines([op for op in region.ops if id(op) in self.row_ops
                                    and stage[id(op.results[0])] == s], indent)
            folded = [op for op in reductions if stage[id(op.results[0])] == s + 1]
            stored = [r for r in region.results if stage[id(r)] == s
                      and id(producers[id(r)]) not in self.row_ops
                      and not self.is_reduction(producers[id(r)])]
            stored += [v for v in spilled if stage[id(v)] == s]
            needed = self.needed([op.operands[0] for op in folded] + stored, producers, written)
            if not needed and not folded:
                continue
            body += self.stage_lines(s, folded, stored, needed, written, indent)
            written.update(id(r) for r in stored)
        for op in columns:
            body += self.column_finish(op)
        return body

    def column_index(self) -> str:
        """The element of a column reduction's accumulator that the current element
        folds into: its row index (after the thread's, with a rows split)."""
        return subscript((["c"] if self.rows_split else []) + [f"i{a}" for a in self.row_loops])

    def column_start(self, op) -> list:
        """The statements making column reduction ``op``'s accumulator array (one row per
        thread of a rows split), filled with its identity by a plain loop (an array
        expression would become a parallel loop of its own: a slow compile), before the
        outer loops."""
        wide = accumulator_dtype(op)
        dims = ([str(self.rows_split)] if self.rows_split else []) + [
            self.bound(a) for a in self.row_loops]
        identity = self.constant(get_opdef(op.kind).reduction.identity(wide), wide)
        col = f"col{self.names[op.results[0]][1:]}"
        return [(f"{col} = np.empty(({', '.join(dims)},), {self.templates.SCALAR_TYPES[wide]})",
                 self.ir_line(op)),
                (f"flat{col} = {col}.reshape(-1)", None),
                (f"for e in range(flat{col}.size):", None),
                (f"    flat{col}[e] = {identity}", None)]

    def column_finish(self, op) -> list[str]:
        """After the outer loops: column reduction ``op``'s accumulator (the threads'
        combined) into its output, divided by the count for a mean."""
        fold, r = get_opdef(op.kind).reduction, op.results[0]
        wide = accumulator_dtype(op)
        col, row = f"col{self.names[r][1:]}", ", ".join(f"i{a}" for a in self.row_loops)
        lines, indent = [], "    "
        for axis in self.row_loops:
            lines.append(f"{indent}for i{axis} in range({self.bound(axis)}):")
            indent += "    "
        if self.rows_split:
            inner = [(f"r = {col}[0, {row}]", None),
                     (f"for c in range(1, {self.rows_split}):", None),
                     (f"    r = {self.combine(fold.combine, f'{col}[c, {row}]', 'r', wide)}",
                      None)]
        else:
            inner = [(f"r = {col}[{row}]", None)]
        value = f"r / {self.count(op.attrs['axes'])}" if fold.mean else "r"
        T = self.templates.SCALAR_TYPES[r.type.dtype]
        inner.append((f"out{self.results[r]}[{self.index(r)}] = {T}({value})", None))
        return lines + statement_lines(inner, indent)

    def scratch(self, stage: dict, producers: dict) -> list:
        """The values that are not results but that a later stage reads, each given the
        output array of a result of its type that is stored no earlier than that read
        (:attr:`outputs`): a stage stores the value there and later stages read it back,
        before the result overwrites it, instead of computing it again (softmax's exp,
        stored into the softmax's own array by the stage that sums it, divided there by
        the next)."""
        self.outputs = {id(r): j for r, j in self.results.items()}   # value -> out index
        last_read: dict = {}            # id(value) -> (value, the last stage reading it)
        for op in self.region.ops:
            if op.kind == "constant" or id(op) in self.row_ops:
                continue
            reads = stage[id(op.results[0])] - (1 if self.is_reduction(op) else 0)
            for v in op.operands:
                made = producers.get(id(v))
                if (made is None or made.kind == "constant" or self.is_reduction(made)
                        or id(made) in self.row_ops or v in self.results
                        or reads <= stage[id(v)]):
                    continue
                last_read[id(v)] = (v, max(reads, last_read.get(id(v), (v, 0))[1]))
        free = [r for r in self.region.results if id(producers[id(r)]) not in self.row_ops
                and not self.is_reduction(producers[id(r)])]
        spilled = []
        for v, reads in last_read.values():
            r = next((r for r in free if r.type == v.type and stage[id(r)] >= reads), None)
            if r is not None:
                free.remove(r)
                self.outputs[id(v)] = self.results[r]
                spilled.append(v)
        return spilled

    def needed(self, values, producers, written: set) -> list:
        """The elementwise ops (region order) a stage computes for ``values``: theirs and
        those they read, back to the parameters, the earlier stages' reductions and the
        results the earlier stages stored (``written``: read back from their output)."""
        want, stack, first = set(), list(values), {id(v) for v in values}
        while stack:
            v = stack.pop()
            op = producers.get(id(v))
            if (op is None or id(op) in want or self.is_reduction(op) or op.kind == "constant"
                    or id(op) in self.row_ops or (id(v) in written and id(v) not in first)):
                continue
            want.add(id(op))
            stack.extend(op.operands)
        return [op for op in self.region.ops if id(op) in want]

    def row_lines(self, ops, indent: str) -> list[str]:
        """Row ops (the region's elementwise ops of the row shape: a LayerNorm's
        ``rsqrt(variance + eps)``) once per row, before the stage that reads them: their
        row-shaped operands loaded, their results stored when they are results."""
        lines, loaded = [], set()
        for op in ops:
            for v in op.operands:
                if v.producer is None and v.type.rank > 0 and id(v) not in loaded:
                    loaded.add(id(v))
                    lines.append(self.load(v))
            r = op.results[0]
            expr = self.expression(op, *(self.names[v] for v in op.operands))
            lines.append((f"{self.names[r]} = {expr}", self.ir_line(op)))
            if r in self.results:
                lines.append((f"out{self.results[r]}[{self.index(r)}] = {self.names[r]}", None))
        return statement_lines(lines, indent)

    def load(self, param) -> tuple:
        """The statement reading region parameter ``param``'s element into ``a<k>``."""
        k = self.param_index[id(param)]
        self.names[param] = f"a{k}"
        return f"a{k} = in{k}[{self.index(param)}]", self.ir_names[param]

    def stage_lines(self, s: int, folded, stored, needed, written: set,
                    indent: str) -> list[str]:
        """Stage ``s``: its accumulators, its loop nest over the row axes (an earlier
        stage's stored result read back from its output), its reductions' results after
        the loops (and those that are results, stored); its column reductions fold into
        their arrays in the loops."""
        lines = [f"{indent}# stage {s}"]
        head, inner = [], []
        columns = [op for op in folded if id(op) in self.columns]
        folded = [op for op in folded if id(op) not in self.columns]
        for op in folded:
            wide = self.accumulator(op, self.row_loops)
            n = self.names[op.results[0]][1:]
            head.append((f"acc{n} = "
                         f"{self.constant(get_opdef(op.kind).reduction.identity(wide), wide)}",
                         None))
            if _ordered_fold(op):
                head.append((f"nan{n} = False", None))
        loaded: set = set()
        for op in needed + folded + columns:
            for v in op.operands:
                if id(v) in written and id(v) not in loaded:
                    loaded.add(id(v))
                    inner.append((f"{self.names[v]} = out{self.outputs[id(v)]}[{self.index(v)}]",
                                  f"{self.ir_names[v]}, stored by an earlier stage"))
                elif v.producer is None and v.type.rank > 0 and id(v) not in loaded:
                    loaded.add(id(v))
                    inner.append(self.load(v))
        for op in needed:
            expr = self.expression(op, *(self.names[v] for v in op.operands))
            inner.append((f"{self.names[op.results[0]]} = {expr}", self.ir_line(op)))
        for op in folded:
            n, element = self.names[op.results[0]][1:], self.names[op.operands[0]]
            kind = get_opdef(op.kind).reduction.combine
            if _ordered_fold(op):      # vectorizes: the comparison, and a NaN flag beside it
                inner.append((f"nan{n} |= {element} != {element}", None))
                combine = templates.ORDERED_FOLDS[kind].format(element, f"acc{n}")
            else:
                combine = self.local_combine(kind, element, f"acc{n}",
                                             self.accumulator(op, self.row_loops))
            inner.append((f"acc{n} = {combine}", self.ir_line(op)))
        for op in columns:
            target = f"col{self.names[op.results[0]][1:]}[{self.column_index()}]"
            combine = self.combine(get_opdef(op.kind).reduction.combine,
                                   self.names[op.operands[0]], target, accumulator_dtype(op))
            inner.append((f"{target} = {combine}", self.ir_line(op)))
        for r in stored:
            inner.append((f"out{self.outputs[id(r)]}[{self.index(r)}] = {self.names[r]}",
                          None if r in self.results else f"{self.ir_names[r]}, read by a later stage"))
        lines += statement_lines(head, indent)
        deeper = indent
        for axis in self.row_loops:
            lines.append(f"{deeper}for i{axis} in range({self.bound(axis)}):")
            deeper += "    "
        lines += statement_lines(inner, deeper)
        after = []
        for op in folded:
            fold = get_opdef(op.kind).reduction
            r = op.results[0]
            T = self.templates.SCALAR_TYPES[r.type.dtype]
            acc = f"acc{self.names[r][1:]}"
            value = f"{acc} / {self.count(op.attrs['axes'])}" if fold.mean else acc
            if _ordered_fold(op):
                value = f"np.nan if nan{self.names[r][1:]} else {acc}"
            after.append((f"{self.names[r]} = {T}({value})", None))
            if r in self.results:
                after.append((f"out{self.results[r]}[{self.index(r)}] = {self.names[r]}", None))
        return lines + statement_lines(after, indent)
