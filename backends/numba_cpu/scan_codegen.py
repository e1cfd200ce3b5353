"""From a ``scan`` op's body to the Python source of ONE Numba function that runs the whole
loop: every step's kernels and matmuls are calls inside one compiled ``for`` loop, with
no Python between them.

The function (``@njit(cache=True, error_model="numpy", nogil=True)``: it releases the
GIL, so that a plan can run independent scans on two threads) takes the initial carries
(``c<k>``), the stacked sequences (``s<k>``), the invariants the loop reads (``w<j>``),
the *hoisted* values it reads (``g<m>``: see below) and the size of each symbol of the
body's parameters (``n_<symbol>``), every array C-contiguous (the caller makes them so:
one type signature, and layouts known when the source is written). It returns a tuple:
the final carries, then each per-step output stacked along the scan's axis. Each body
op becomes, in body order:

* ``fused``, and a standalone elementwise op or reduction (fusion leaves a group of one
  op unfused; it runs here as a one-op kernel): a call of its kernel, writing its results
  into preallocated buffers. The loop calls the kernel's Python function compiled with
  ``inline="always"`` (Numba inlines it as Numba IR, so LLVM optimizes it once, in the
  loop: calling the kernel's dispatcher links its optimized module into the loop's, which
  LLVM then optimizes all again); a parallel kernel's dispatcher is called, to keep its
  threads. Operands that are not C-contiguous (a slice of the gates, a step of a sequence
  along axis 1) are copied into a buffer first, once per step however many kernels read
  them: a kernel whose arrays have unknown strides does not vectorize, and its ``exp``
  and ``tanh`` cost several times more than the copy;
* ``matmul`` of two float matrices: ``np.dot(a, b, out)`` into a buffer (BLAS ``gemm``,
  through SciPy), in a Numba function of its own (``matmul``: Numba expands ``np.dot``
  wherever it is compiled); an operand neither C- nor Fortran-contiguous is copied;
* ``slice``, ``transpose``, ``broadcast_to``, ``reshape``: views (a reshape of a value
  that is not C-contiguous copies it first);
* ``pad``: its buffer is zero-filled once, before the loop; each step writes the
  operand into the same interior, so the border stays zero;
* pure ops of the invariants and constants alone (and ``SHAPE_ONLY`` ops, which read
  shapes alone) are **hoisted**: computed once per call, before the loop, by the
  reference (any pure op may be), and passed in (``LoopSource.hoisted``). (The
  ``hoist_invariants`` pass moves most of them out of the scan already.)

Any other op (an integer matmul, a gather, a random draw, a nested scan in the loop)
raises :class:`Unsupported` naming it: the scan then runs step by step.

Buffers are allocated once per call, before the loop: one per value an op writes, and
two per carry, used in turn (step ``i`` writes the new carry into one while the body
reads the old from the other), so no carry is copied unless the body's new carry is a
value it does not write (a parameter, a view, another carry's value, a pad). The op
making a carry's new value writes it straight into that carry's buffer. The initial
carries are copied into the second buffer before the loop; the final carries are the
buffers of the last step (fresh arrays of this call). Each step's outputs are copied
into their slot of the stacked outputs (``y[:, t] = ...`` for axis 1). Every copy is a
loop nest (:func:`copy_lines`). ``reverse`` runs ``t = T-1, ..., 0``. The source names
nothing that varies between equal bodies (no source locations, no value names), so equal
bodies share one source and one compiled function; the kernels it calls are imported
from their modules, whose names carry their source hashes, so the source's hash covers
every kernel's too.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

from ..numba.templates import SCALAR_TYPES
from ..reference.interpreter import describe_op
from ...ir.binding import param_symbols
from ...ir.core import Graph, Op, Value
from ...ir.opdef import COLLECTIVE, RANDOM, SHAPE_ONLY, SIDE_EFFECTS, get_opdef
from ...ir.types import Sym

_COMMENT_COLUMN = 64


class Unsupported(Exception):
    """The body holds an op the compiled loop cannot run (the message names it and why)."""


@dataclass(frozen=True)
class LoopSource:
    """One generated loop function. ``name`` and ``source`` as a kernel spec has them (the
    kernel loader takes it); ``symbols``: the size arguments, in order; ``hoisted``: the
    body ops run before the loop, in order; ``invariants``: the indices of the invariants
    the loop reads; ``hoisted_args``: the hoisted values it reads, in argument order;
    ``products``: the shape ``(m, k, n)`` of each matmul a step runs."""

    name: str
    source: str
    symbols: tuple
    hoisted: tuple
    invariants: tuple
    hoisted_args: tuple
    products: tuple


def shape_code(shape) -> str:
    dims = [f"n_{d.name}" if isinstance(d, Sym) else str(d) for d in shape]
    return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"


def copy_lines(dst: str, src: str, rank: int, target=None) -> list[str]:
    """Lines copying array ``src`` into ``dst`` element by element, ``target(indices)``
    giving ``dst``'s subscript (default: the same indices). A loop nest, because Numba
    compiles one in a fraction of the time an array assignment (``dst[:] = src``) takes:
    about 0.4 s against 1.2 s each, and 9 s for the first in a process."""
    index = [f"i{a}" for a in range(rank)]
    lines = ["    " * a + f"for i{a} in range({src}.shape[{a}]):" for a in range(rank)]
    into = target(index) if target is not None else ", ".join(index) or "()"
    return lines + ["    " * rank + f"{dst}[{into}] = {src}[{', '.join(index) or '()'}]"]


class LoopGenerator:
    """The loop function of one scan op's ``body`` (see the module docstring).
    ``kernel_for(op)`` gives ``(dispatcher, spec, operands)`` of the kernel running a
    ``fused``, elementwise or reduction op of the body (its arguments: those operands,
    one output per result, the sizes of ``spec.symbols``), or raises
    :class:`Unsupported`."""

    def __init__(self, body: Graph, attrs: dict, kernel_for: Callable[[Op], object],
                 matmul):
        self.body, self.kernel_for, self.matmul_into = body, kernel_for, matmul
        self.nc, self.ns = attrs["num_carries"], attrs["num_sequences"]
        self.axis, self.reverse = attrs["axis"], attrs["reverse"]
        params = body.params
        self.carries = params[:self.nc]
        self.seqs = params[self.nc:self.nc + self.ns]
        self.invs = params[self.nc + self.ns:]
        self.hoisted_values = set(self.invs)   # computed once per call, before the loop
        self.expr: dict[Value, str] = {}      # value -> its expression in the loop
        self.layout: dict[Value, str] = {}    # value -> "C", "F" or "A" (any)
        self.home: dict[Value, str] = {}      # value -> the buffer an op writes it into
        self.copies: dict[Value, str] = {}    # value -> its C-contiguous copy, per step
        self.imports: list[str] = []
        self.local_names: dict[tuple, str] = {}   # (id(dispatcher), inline) -> its name
        self.setup: list[str] = []            # before the loop
        self.step: list[tuple[str, str | None]] = []   # the loop body: (code, comment)
        self.args: list[str] = []
        self.hoisted_args: list[Value] = []   # the hoisted values the loop reads: g0, g1, ...
        self.products: list[tuple] = []       # each matmul's (m, k, n)
        self.count = 0

    # --- values -----------------------------------------------------------------------
    def name(self, v: Value, code: str, layout: str) -> str:
        self.expr[v], self.layout[v] = code, layout
        return code

    def buffer(self, v: Value, zeros: bool = False) -> str:
        """A buffer allocated before the loop that ``v`` is written into each step (the
        new carry's buffer when ``v`` is a carry's new value and no op wrote that yet)."""
        carry = next((k for k in range(self.nc) if self.body.results[k] is v
                      and f"n{k}" not in self.home.values()), None)
        if carry is not None and not zeros:
            self.home[v] = f"n{carry}"
            return self.name(v, f"n{carry}", "C")
        self.count += 1
        code = f"b{self.count}"
        make = "np.zeros" if zeros else "np.empty"
        self.setup.append(f"{code} = {make}({shape_code(v.type.shape)}, "
                          f"{SCALAR_TYPES[v.type.dtype]})")
        self.home[v] = code
        return self.name(v, code, "C")

    def put(self, lines: list[str], comment: str | None) -> None:
        """Lines of the loop's body, the first commented."""
        self.step.append((lines[0], comment))
        self.step += [(line, None) for line in lines[1:]]

    def view(self, v: Value, code: str, layout: str) -> None:
        self.count += 1
        name = f"v{self.count}"
        self.step.append((f"{name} = {code}", v.producer.kind))
        self.name(v, name, layout)

    def contiguous(self, v: Value, layouts: str = "C") -> str:
        """``v`` as an array of one of ``layouts``: itself, or its copy into a buffer of
        its own (made once per step, however many ops read it)."""
        if self.layout[v] in layouts:
            return self.expr[v]
        copy = self.copies.get(v)
        if copy is None:
            self.count += 1
            copy = self.copies[v] = f"b{self.count}"
            self.setup.append(f"{copy} = np.empty({shape_code(v.type.shape)}, "
                              f"{SCALAR_TYPES[v.type.dtype]})")
            self.put(copy_lines(copy, self.expr[v], v.type.rank), "contiguous copy")
        return copy

    # --- the ops ----------------------------------------------------------------------
    def run(self, symbols: tuple) -> LoopSource:
        self.bind_params()
        hoisted = []
        for op in self.body.ops:
            opdef = get_opdef(op.kind)
            pure = not (opdef.has(RANDOM) or opdef.has(SIDE_EFFECTS) or opdef.has(COLLECTIVE))
            if pure and (opdef.has(SHAPE_ONLY) or self.hoisted_values.issuperset(op.operands)):
                hoisted.append(op)          # of invariants and constants alone, or of shapes
                self.hoisted_values.update(op.results)
            else:
                self.op(op)
        return self.finish(symbols, tuple(hoisted))

    def bind_params(self) -> None:
        index = ":, " * self.axis + "t"
        for k, p in enumerate(self.carries):
            self.args.append(f"c{k}")
            self.name(p, f"h{k}", "C")
            for buf in ("ca", "cb"):
                self.setup.append(f"{buf}{k} = np.empty({shape_code(p.type.shape)}, "
                                  f"{SCALAR_TYPES[p.type.dtype]})")
            self.setup += copy_lines(f"cb{k}", f"c{k}", p.type.rank) + [f"h{k} = cb{k}"]
        for k, p in enumerate(self.seqs):
            self.args.append(f"s{k}")
            if p.type.rank == 0:       # Numba indexes a scalar out: copied into a 0-d array
                self.setup.append(f"x{k} = np.empty((), {SCALAR_TYPES[p.type.dtype]})")
                self.step.append((f"x{k}[()] = s{k}[t]", None))
            else:
                self.step.append((f"x{k} = s{k}[{index}]", None))
            self.name(p, f"x{k}", "C" if self.axis == 0 else "A")

    def op(self, op: Op) -> None:
        for v in op.operands:
            if v not in self.expr:
                self.outside(v)
        kind = op.kind
        if kind == "matmul":
            self.matmul(op)
        elif kind == "pad":
            self.pad(op)
        elif kind in ("slice", "transpose", "reshape", "broadcast_to"):
            getattr(self, kind)(op)
        elif kind == "fused" or op.region is None:
            self.kernel(op)
        else:
            raise Unsupported(f"{describe_op(op)}: a {kind} in a loop body")

    def outside(self, v: Value) -> None:
        """An invariant or hoisted value the loop reads: an argument."""
        if v in self.invs:
            j = self.invs.index(v)
            self.name(v, f"w{j}", "C")
        else:
            self.name(v, f"g{len(self.hoisted_args)}", "C")
            self.hoisted_args.append(v)

    def imported(self, dispatcher, inline: bool = False) -> str:
        """The name the source calls ``dispatcher`` by, imported from its module (a
        loaded kernel's module is registered under a name carrying its source hash).
        ``inline``: a Numba function of the same Python function, inlined where it is
        called (``inline="always"``: Numba IR, so LLVM optimizes the kernel once, in the
        loop; a call of the dispatcher itself would link its optimized code into the
        loop's module and optimize it all again, doubling the compile time)."""
        key = (id(dispatcher), inline)
        local = self.local_names.get(key)
        if local is None:
            local = self.local_names[key] = f"k{len(self.local_names)}"
            name = f"_{local}" if inline else local
            self.imports.append(f"from {dispatcher.py_func.__module__} import "
                                f"{dispatcher.__name__} as {name}")
            if inline:
                self.imports.append(f'{local} = njit(inline="always")({name}.py_func)')
        return local

    def kernel(self, op: Op) -> None:
        dispatcher, spec, operands = self.kernel_for(op)
        local = self.imported(dispatcher, inline=not spec.parallel)   # keep its threads
        outs = [self.buffer(r) for r in op.results]
        args = ([self.contiguous(v) for v in operands] + outs
                + [f"n_{s.name}" for s in spec.symbols])
        self.step.append((f"{local}({', '.join(args)})", op.kind))

    def matmul(self, op: Op) -> None:
        a, b = op.operands
        if not (a.type.dtype.is_float and a.type.rank == b.type.rank == 2):
            raise Unsupported(f"{describe_op(op)}: a matmul of {a.type} and {b.type} in a "
                              f"loop (only products of two float matrices are)")
        self.products.append(a.type.shape + b.type.shape[1:])
        out = self.buffer(op.results[0])
        self.step.append((f"{self.imported(self.matmul_into)}({self.contiguous(a, 'CF')}, "
                           f"{self.contiguous(b, 'CF')}, {out})", "matmul"))

    def pad(self, op: Op) -> None:
        x, attrs = op.operands[0], op.attrs

        def target(index: list[str]) -> str:   # where element i of an axis lands
            return ", ".join(i if isinstance(d, Sym) or lo == mid == 0 else
                             f"{lo} + {i} * {mid + 1}" if mid else f"{lo} + {i}"
                             for i, d, lo, mid in zip(index, x.type.shape, attrs["low"],
                                                      attrs["interior"])) or "()"
        out = self.buffer(op.results[0], zeros=True)
        self.put(copy_lines(out, self.expr[x], x.type.rank, target), "pad")

    def slice(self, op: Op) -> None:
        x, attrs = op.operands[0], op.attrs
        index = [":"] * x.type.rank
        for a, b, e, s in zip(attrs["axes"], attrs["begin"], attrs["end"], attrs["stride"]):
            index[a] = f"{b}:{e}:{s}"
        self.view(op.results[0], f"{self.expr[x]}[{', '.join(index)}]", "A")

    def transpose(self, op: Op) -> None:
        x, perm = op.operands[0], tuple(op.attrs["perm"])
        layout = self.layout[x]
        if perm == tuple(range(len(perm))):
            self.view(op.results[0], self.expr[x], layout)
        elif perm == (1, 0):
            self.view(op.results[0], f"{self.expr[x]}.T", {"C": "F", "F": "C"}.get(layout, "A"))
        else:
            self.view(op.results[0], f"np.transpose({self.expr[x]}, {perm})", "A")

    def reshape(self, op: Op) -> None:
        x = op.operands[0]
        code = self.contiguous(x)
        self.view(op.results[0], f"{code}.reshape({shape_code(op.results[0].type.shape)})", "C")

    def broadcast_to(self, op: Op) -> None:
        x = op.operands[0]
        self.view(op.results[0], f"np.broadcast_to({self.expr[x]}, "
                                 f"{shape_code(op.results[0].type.shape)})", "A")

    # --- the function -----------------------------------------------------------------
    def finish(self, symbols: tuple, hoisted: tuple) -> LoopSource:
        results = self.body.results
        for v in results:
            if v not in self.expr:
                self.outside(v)
        ends = []
        axis = self.axis

        def slot(index: list[str]) -> str:   # step t's slot of a stacked output
            return ", ".join(index[:axis] + ["t"] + index[axis:])
        for m, v in enumerate(results[self.nc:]):
            self.setup.append(f"y{m} = np.empty({shape_code(self.stacked(v))}, "
                              f"{SCALAR_TYPES[v.type.dtype]})")
            ends += copy_lines(f"y{m}", self.expr[v], v.type.rank, slot)
        for k, v in enumerate(results[:self.nc]):
            if self.home.get(v) != f"n{k}":
                ends += copy_lines(f"n{k}", self.expr[v], v.type.rank)
        ends += [f"h{k} = n{k}" for k in range(self.nc)]
        invariants = tuple(sorted(self.invs.index(v) for v in self.expr if v in self.invs))
        args = (self.args + [f"w{j}" for j in invariants]
                + [f"g{m}" for m in range(len(self.hoisted_args))]
                + [f"n_{s.name}" for s in symbols])
        lines = self.text(args, ends)
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
        name = f"scan_{digest}"
        source = "\n".join(lines).replace("def LOOP(", f"def {name}(") + "\n"
        return LoopSource(name, source, symbols, hoisted, invariants,
                          tuple(self.hoisted_args), tuple(self.products))

    def stacked(self, v: Value) -> tuple:
        steps = Sym("_steps")       # n__steps in the source
        return v.type.shape[:self.axis] + (steps,) + v.type.shape[self.axis:]

    def text(self, args: list, ends: list) -> list[str]:
        order = "n__steps - 1 - i" if self.reverse else "i"
        lines = ['"""A scan loop generated by fusegraph\'s numba_cpu backend (see',
                 'fusegraph/backends/numba_cpu/scan_codegen.py). Generated: edits are '
                 'overwritten."""',
                 "import numpy as np", "from numba import njit", *self.imports, "", "",
                 '@njit(cache=True, error_model="numpy", nogil=True)',
                 f"def LOOP({', '.join(args)}):",
                 f"    n__steps = s0.shape[{self.axis}]"]
        lines += ["    " + line for line in self.setup]
        lines.append("    for i in range(n__steps):")
        lines.append(f"        t = {order}")
        if self.nc:
            lines.append("        if i % 2 == 0:")
            lines += [f"            n{k} = ca{k}" for k in range(self.nc)]
            lines.append("        else:")
            lines += [f"            n{k} = cb{k}" for k in range(self.nc)]
        for code, comment in self.step:
            line = "        " + code
            if comment is not None:
                line += " " * max(2, _COMMENT_COLUMN - len(line)) + "# " + comment
            lines.append(line)
        lines += ["        " + line for line in ends]
        outs = [f"h{k}" for k in range(self.nc)] + [f"y{m}" for m in
                                                     range(len(self.body.results) - self.nc)]
        lines.append(f"    return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        return lines


def generate_loop(body: Graph, attrs: dict, kernel_for: Callable[[Op], object],
                  matmul) -> LoopSource:
    """The loop function of a scan op with ``body`` and ``attrs`` (see the module
    docstring; ``matmul(a, b, out)``: the Numba function of ``np.dot`` into ``out``);
    :class:`Unsupported` if an op of the body cannot run in it."""
    return LoopGenerator(body, attrs, kernel_for, matmul).run(param_symbols(body))
