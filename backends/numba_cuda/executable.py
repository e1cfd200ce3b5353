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

from fusegraph.backends.executable import Executable as ExecutableProtocol
from fusegraph.backends.numba import steps
from fusegraph.backends.numba.kernels import load_kernel
from fusegraph.backends.reference.interpreter import Step, free_schedule, run_op
from fusegraph.ir.binding import bind_inputs
from fusegraph.ir.core import Graph
from fusegraph.ir.errors import FusegraphError
from fusegraph.ir.opdef import CONTRACTION

from . import device
from .codegen import CudaKernelSpec, generate_kernel

BLOCK = 128          # threads per block on a GPU (a multiple of the warp, 32)


class CudaUnavailableError(FusegraphError, RuntimeError):
    """Neither a GPU nor Numba's CUDA simulator is there to run the kernels."""


class _Values:
    """The live values of one call, each on the host, on the device, or both (values
    are immutable, so a copy made once serves every later use)."""

    __slots__ = ("host", "dev", "cuda", "counts")

    def __init__(self, cuda, counts: Counter):
        self.host: dict = {}
        self.dev: dict = {}
        self.cuda = cuda
        self.counts = counts

    def on_host(self, i: int) -> np.ndarray:
        a = self.host.get(i)
        if a is None:
            d = self.dev[i]
            a = self.host[i] = d.copy_to_host() if hasattr(d, "copy_to_host") else d.get()
            self.counts["to_host"] += 1
        return a

    def on_device(self, i: int):
        d = self.dev.get(i)
        if d is None:
            a = self.host[i]
            if not a.flags.c_contiguous:
                a = np.ascontiguousarray(a)
            d = self.dev[i] = self.cuda.to_device(a)
            self.counts["to_device"] += 1
        return d

    def drop(self, i: int) -> None:
        self.host.pop(i, None)
        self.dev.pop(i, None)


class KernelStep(steps.KernelStep):
    """One fused op run by its CUDA kernel; ``ref`` is the reference step (its fallback)."""

    __slots__ = ("simulator",)

    def __init__(self, ref: Step, spec: CudaKernelSpec, kernel, simulator: bool):
        super().__init__(ref, spec, kernel)
        self.simulator = simulator

    def run(self, exe: "Executable", values: _Values, operands: list, env: dict):
        spec = self.spec
        sizes = self.sizes(env)
        shapes = self.output_shapes(env)
        if self.empty(env):
            values.counts["kernel_fallback"] += 1
            return run_op(self.ref, [values.on_host(i) for i in operands], env), False
        cuda = values.cuda
        args = [values.on_device(i) for i in operands]
        outs = [cuda.device_array(shape, dtype) for shape, dtype in zip(shapes, self.out_dtypes)]
        threads = spec.thread_count(env)
        block = min(threads, BLOCK) if self.simulator else min(BLOCK, -(-threads // 32) * 32)
        try:
            self.kernel[-(-threads // block), block](*args, *outs, *sizes)
        except Exception as e:
            raise self.launch_error(args, e) from e
        values.counts["kernel"] += 1
        return outs, True


def _run_host(step: Step, exe, values: _Values, operands: list, env: dict):
    values.counts["host_op"] += 1
    return run_op(step, [values.on_host(i) for i in operands], env), False


# How a contraction (an op with the CONTRACTION trait) runs on cuBLAS: its CuPy function,
# by op name.
_CUBLAS = {"matmul": "matmul"}


def _run_cublas(step: Step, exe, values: _Values, operands: list, env: dict):
    cp = exe._cupy
    a, b = (cp.asarray(values.on_device(i)) for i in operands)
    values.counts["cublas"] += 1
    return [getattr(cp, _CUBLAS[step.op.kind])(a, b)], True


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
        self._steps = []     # (run function, step, operand ids, result ids, dying ids)
        for op, dying in zip(graph.ops, free_schedule(graph)):
            ref = Step(op, dying)
            run, step = _run_host, ref
            spec = steps.kernel_spec(op, generate_kernel)
            if spec is not None:
                step = KernelStep(ref, spec, load_kernel(spec), self.simulator)
                run = KernelStep.run
                self.kernels.append(step)
            elif ref.opdef.has(CONTRACTION) and op.kind in _CUBLAS and self._cupy is not None:
                run = _run_cublas
            self._steps.append((run, step, ref.operands, ref.results, ref.dying))

    def __call__(self, *arrays) -> list[np.ndarray]:
        graph = self.graph
        arrays, env = bind_inputs(graph, arrays, {})
        self.counts = counts = Counter()
        values = _Values(self.cuda, counts)
        values.host.update((id(p), a) for p, a in zip(graph.params, arrays))
        for run, step, operands, results, dying in self._steps:
            outs, on_device = run(step, self, values, operands, env)
            (values.dev if on_device else values.host).update(zip(results, outs))
            for i in dying:
                values.drop(i)
        return [values.on_host(id(r)) for r in graph.results]

    def source(self) -> str:
        """Every generated kernel's source, once each, headed by the fused ops using it."""
        return steps.kernel_sources(self.kernels)

    def __repr__(self) -> str:
        return (f"<numba_cuda Executable of {self.graph!r} on {self.device}: "
                f"{len(self.kernels)} kernels, "
                f"matmul on {self.matmul_path}>")


def compile(graph: Graph) -> Executable:
    """The numba_cuda Executable of ``graph`` (see the module docstring); imports
    ``numba.cuda`` on first use. CudaUnavailableError without a GPU or the simulator."""
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
        from fusegraph.backends import run_backend_pipeline

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
