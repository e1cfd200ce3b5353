"""The numba_cuda Executable: the reference interpreter's plan, with each ``fused`` op a
generated ``numba.cuda`` kernel and each matmul on cuBLAS (through CuPy) when a GPU is
there.

Calling convention: the reference's. ``exe(*arrays)`` takes numpy arrays (checked and
bound exactly as the reference does, by
:func:`~fusegraph.ir.binding.bind_inputs`: same errors, same
symbols) and returns numpy arrays, one per graph result.

Where each op runs:

* a ``fused`` op with a kernel (:mod:`.codegen`): on the device. Its operands are copied
  to the device once (``cuda.to_device``; a value keeps its device copy until it dies),
  its outputs are allocated there (``cuda.device_array``), and the kernel is launched
  with one thread per element of the non-reduced part of its iteration space. A call
  whose iteration space is empty runs the reference interpreter of its region on the
  host instead, as numba_cpu does. A region the generator refuses is an error at
  ``compile`` (:func:`~fusegraph.backends.numba.steps.kernel_spec`);
* ``matmul``: ``cupy.matmul`` on the device (cuBLAS; CuPy's default keeps float32 in
  full precision, no TF32) when CuPy imports and a GPU is present, else the reference
  on the host. :attr:`Executable.matmul_path` says which (``"cublas"`` or ``"host"``)
  and :attr:`Executable.matmul_reason` why; in the simulator it is always the host;
* every other op (gathers, reshapes, random draws, ...): its reference on the host, its
  operands copied back from the device when they live there.

The graph's results are copied to the host. :attr:`Executable.counts` tallies what the
last call did (``kernel``, ``kernel_fallback``, ``cublas``, ``host_op``, ``to_device``,
``to_host``), so a test or a benchmark can see which path ran.

**Next steps** (this is the first, simple version): weights and optimizer state resident
on the device across steps (today every call copies its inputs in, weights included, and
its results, updated weights included, out: the Executable holds no state buffers yet,
like the reference); device implementations of the remaining ops (gathers, one_hot,
random draws, reshapes as views), so that a step never leaves the device; block-level
tree reductions (see :mod:`.codegen`); one stream and no host synchronisation inside a
step.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..executable import Executable as ExecutableProtocol
from ..numba import steps
from ..numba.kernels import load_kernel
from ..reference.interpreter import Step, free_schedule, interpret, run_op
from ...ir.binding import bind_inputs
from ...ir.core import Graph
from ...ir.errors import FusegraphError
from ...ir.opdef import CONTRACTION

from . import device
from .codegen import CudaKernelSpec, generate_kernel

BLOCK = 128          # threads per block on a GPU (a multiple of the warp, 32)


class CudaUnavailableError(FusegraphError, RuntimeError):
    """Neither a GPU nor Numba's CUDA simulator is there to run the kernels."""


class _Cell:
    """One live value of a call: its array on the host, on the device, or both (values
    are immutable, so a copy made once serves every later use)."""

    __slots__ = ("host", "dev")

    def __init__(self, host=None, dev=None):
        self.host, self.dev = host, dev


class KernelStep(steps.KernelStep):
    """One fused op run by its CUDA kernel; ``ref`` is the reference step (its fallback)."""

    __slots__ = ("simulator",)

    def __init__(self, ref: Step, spec: CudaKernelSpec, kernel, simulator: bool):
        super().__init__(ref, spec, kernel)
        self.simulator = simulator

    def launch(self, cuda, args: list, env: dict) -> list:
        """The kernel's outputs, on the device, for device arrays ``args`` (the iteration
        space not empty)."""
        spec = self.spec
        sizes = self.sizes(env)
        outs = [cuda.device_array(shape, dtype)
                for shape, dtype in zip(self.output_shapes(env), self.out_dtypes)]
        threads = spec.thread_count(env)
        block = min(threads, BLOCK) if self.simulator else min(BLOCK, -(-threads // 32) * 32)
        try:
            self.kernel[-(-threads // block), block](*args, *outs, *sizes)
        except Exception as e:
            raise self.launch_error(args, e) from e
        return outs


# How a contraction (an op with the CONTRACTION trait) runs on cuBLAS: its CuPy function,
# by op name.
_CUBLAS = {"matmul": "matmul"}


class _Call:
    """One call: its runners (``run(step, args, env)`` of the shared interpreter loop, on
    :class:`_Cell` values), the copies between host and device, and ``counts``."""

    __slots__ = ("cuda", "cupy", "counts")

    def __init__(self, cuda, cupy):
        self.cuda, self.cupy, self.counts = cuda, cupy, Counter()

    def on_host(self, cell: _Cell) -> np.ndarray:
        if cell.host is None:
            d = cell.dev
            cell.host = d.copy_to_host() if hasattr(d, "copy_to_host") else d.get()
            self.counts["to_host"] += 1
        return cell.host

    def on_device(self, cell: _Cell):
        if cell.dev is None:
            a = cell.host
            cell.dev = self.cuda.to_device(a if a.flags.c_contiguous else np.ascontiguousarray(a))
            self.counts["to_device"] += 1
        return cell.dev

    def host_op(self, step: Step, args: list, env: dict) -> list:
        self.counts["host_op"] += 1
        return [_Cell(host=a) for a in run_op(step, [self.on_host(c) for c in args], env)]

    def kernel(self, step: KernelStep, args: list, env: dict) -> list:
        if step.empty(env):
            self.counts["kernel_fallback"] += 1
            return [_Cell(host=a)
                    for a in run_op(step.ref, [self.on_host(c) for c in args], env)]
        outs = step.launch(self.cuda, [self.on_device(c) for c in args], env)
        self.counts["kernel"] += 1
        return [_Cell(dev=d) for d in outs]

    def cublas(self, step: Step, args: list, env: dict) -> list:
        cp = self.cupy
        a, b = (cp.asarray(self.on_device(c)) for c in args)
        self.counts["cublas"] += 1
        return [_Cell(dev=getattr(cp, _CUBLAS[step.op.kind])(a, b))]


class Executable(ExecutableProtocol):
    """A compiled graph (:class:`fusegraph.backends.executable.Executable`):
    ``exe(*arrays)`` returns one array per graph result.

    ``kernels``: the KernelSteps, one per fused op with a kernel, in graph order.
    ``simulator: whether kernels run in Numba's CUDA simulator. ``device``: what they
    run on, in words. ``matmul_path``: ``"cublas"`` (CuPy on the GPU) or ``"host"``
    (the reference's numpy matmul), and ``matmul_reason`` when it is the host.
    ``counts``: what the last call did. :meth:`source` gives the kernels' sources.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.cuda = device.cuda_module()
        self.simulator = device.is_simulator()
        if not self.simulator and not device.gpu_available():
            raise CudaUnavailableError(
                "the numba_cuda backend needs an NVIDIA GPU with a working driver "
                "(numba.cuda.is_available() is False), or Numba's CUDA simulator: set "
                "NUMBA_ENABLE_CUDASIM=1 before numba.cuda is first imported")
        self.device = device.device_name()
        self._cupy, reason = (None, "the simulator has no cuBLAS") if self.simulator \
            else device.cupy_module()
        self.matmul_path = "cublas" if self._cupy is not None else "host"
        self.matmul_reason = reason
        self.kernels: list[KernelStep] = []
        self.counts: Counter = Counter()
        self._steps = []     # (the _Call runner's name, step, ref): see ``interpret``
        for op, dying in zip(graph.ops, free_schedule(graph)):
            ref = Step(op, dying)
            run, step = "host_op", ref
            spec = steps.kernel_spec(op, generate_kernel)
            if spec is not None:
                run, step = "kernel", KernelStep(ref, spec, load_kernel(spec), self.simulator)
                self.kernels.append(step)
            elif ref.opdef.has(CONTRACTION) and op.kind in _CUBLAS and self._cupy is not None:
                run = "cublas"
            self._steps.append((run, step, ref))

    def __call__(self, *arrays) -> list[np.ndarray]:
        graph = self.graph
        arrays, env = bind_inputs(graph, arrays, {})
        call = _Call(self.cuda, self._cupy)
        self.counts = call.counts
        schedule = [(getattr(call, run), step, ref) for run, step, ref in self._steps]
        out = interpret(graph, schedule, [_Cell(host=a) for a in arrays], env)
        return [call.on_host(cell) for cell in out]

    def source(self) -> str:
        """Every generated kernel's source, once each, headed by the fused ops using it."""
        return steps.kernel_sources(self.kernels)

    def __repr__(self) -> str:
        return (f"<numba_cuda Executable of {self.graph!r} on {self.device}: "
                f"{len(self.kernels)} kernels, "
                f"matmul on {self.matmul_path}>")


def compile(graph: Graph, donate=()) -> Executable:
    """The numba_cuda Executable of ``graph`` (see the module docstring); imports
    ``numba.cuda`` on first use. CudaUnavailableError without a GPU or the simulator.
    ``donate`` (see the Executable protocol) is not used: results come back as new host
    arrays."""
    if not isinstance(graph, Graph):
        raise TypeError(f"compile expects a Graph, got {type(graph).__name__}")
    return Executable(graph)


def kernel_signature(spec: CudaKernelSpec) -> tuple:
    """The Numba argument types of ``spec``'s kernel for C-contiguous arrays (what
    ``cuda.to_device``, ``cuda.device_array`` and CuPy's matmul make) and int64 sizes."""
    from numba import from_dtype, types

    arrays = [types.Array(from_dtype(t.dtype.numpy), t.rank, "C")
              for t in (*spec.param_types, *spec.result_types)]
    return (*arrays, *([types.int64] * len(spec.symbols)))


def compile_ptx_all(graph: Graph, *, cc: tuple[int, int] | None = None,
                    optimize: bool = False) -> dict[str, str]:
    """``{kernel name: PTX}`` for every fused op of ``graph``; equal kernels appear once.

    ``graph``: a graph after the fusion pipeline (an Executable's ``graph``), or any
    graph with ``optimize=True`` to run the backend's pipeline first. ``cc``: the
    compute capability; default: the current GPU's when there is one, else
    :func:`.device.ptx_cc` (7.5 unless ``FUSEGRAPH_CUDA_PTX_CC`` says otherwise).
    Needs NVVM and libdevice (a CUDA toolkit or NVIDIA's wheels), not a GPU, and a
    process without the simulator (:func:`.device.ptx_status` says whether this one
    can); raises CudaUnavailableError otherwise, with the reason.
    """
    ok, reason = device.ptx_status()
    if not ok:
        raise CudaUnavailableError(reason)
    cuda = device.cuda_module()
    if optimize:
        from .. import run_backend_pipeline

        graph = run_backend_pipeline(graph, "numba_cuda", verify=False)
    if cc is None and not device.gpu_available():
        cc = device.ptx_cc()
    out: dict[str, str] = {}
    for op in graph.ops:
        spec = steps.kernel_spec(op, generate_kernel)
        if spec is None or spec.name in out:
            continue
        kernel = load_kernel(spec)
        pyfunc = getattr(kernel, "py_func", None) or kernel.fn
        sig = kernel_signature(spec)
        if cc is None:
            ptx, _ = cuda.compile_ptx_for_current_device(pyfunc, sig, fastmath=False)
        else:
            ptx, _ = cuda.compile_ptx(pyfunc, sig, cc=cc, fastmath=False)
        out[spec.name] = ptx
    return out


__all__ = ["BLOCK", "CudaUnavailableError", "Executable", "KernelStep", "compile",
           "compile_ptx_all", "kernel_signature"]
