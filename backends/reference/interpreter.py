"""The numpy interpreter of the IR: runs a Graph op by op with each OpDef's ``ref``.

Contracts:

* :func:`run_graph` checks the arrays against the graph's parameter types (count, rank,
  exact dtype, concrete dims) and binds every dimension symbol to one size, raising
  :class:`InputError` naming the parameter (:func:`fusegraph.ir.binding.bind_inputs`).
  Shape-kind attributes get their symbols replaced by the bound sizes before ``ref``
  sees them.
* Every result is checked against its op's result type (dtype exact, shape with the
  symbols resolved): a disagreement means a shape rule and its ``ref`` disagree, or the
  arrays broke a promise the types made (two symbols of unequal size broadcast), and
  raises :class:`ExecutionError` naming the op. The reference is the oracle, so the
  check is always on.
* Each intermediate array is dropped after its last use (torch.fx ``Interpreter``,
  JAX ``eval_jaxpr``), so peak memory follows the graph's liveness.
* A region (the ``fused`` op) runs through the same interpreter, with the enclosing
  graph's symbol sizes: one symbol name is one size everywhere in a graph.
* The loop itself, :func:`interpret`, is every backend's: numba_cpu's checked path and
  numba_cuda run it with their own per-op runners (kernels, scans, device ops) in place
  of :func:`run_op` where they have one.
"""
from __future__ import annotations

import numpy as np

from ..executable import Executable as ExecutableProtocol
from ...ir.binding import bind_inputs
from ...ir.core import Graph, Op, Value
from ...ir.errors import FusegraphError
from ...ir.opdef import get_opdef, shape_attr_names
from ...ir.types import resolve_shape


class ExecutionError(FusegraphError, RuntimeError):
    """An op failed, or its result disagrees with its type; the message names the op."""


class Executable(ExecutableProtocol):
    """A compiled graph (:class:`fusegraph.backends.executable.Executable`): ``exe(*arrays)``
    returns one array per graph result; no kernels, no source.

    ``graph`` is the graph it runs; its :class:`Plan` (the per-op work that does not
    depend on the arrays) is made once here. The reference backend holds no state
    buffers: weights are passed as arrays like any other parameter.
    """

    def __init__(self, graph: Graph):
        self.graph = graph
        self.plan = Plan(graph)

    def __call__(self, *arrays) -> list[np.ndarray]:
        return self.plan.run(arrays)

    def __repr__(self) -> str:
        return f"<reference Executable of {self.graph!r}>"


def compile(graph: Graph, donate=()) -> Executable:
    """The reference Executable of ``graph``; KeyError now for an op kind not registered.
    ``donate`` (parameters a call may overwrite, see the Executable protocol) is not
    used: the reference always returns new arrays."""
    if not isinstance(graph, Graph):
        raise TypeError(f"compile expects a Graph, got {type(graph).__name__}")
    return Executable(graph)


class Step:
    """One op with what running it needs, looked up once (``operands``, ``results`` and
    ``dying`` hold Values: the graph holds them as long as any step). Other backends
    build their plans from these too."""

    __slots__ = ("op", "opdef", "attrs", "shape_attrs", "operands", "results", "dying",
                 "region_plan")

    def __init__(self, op: Op, dying: list[Value]):
        self.op = op
        self.opdef = get_opdef(op.kind)
        self.attrs = dict(op.attrs)
        self.shape_attrs = shape_attr_names(self.opdef)
        self.operands = list(op.operands)
        self.results = list(op.results)
        self.dying = list(dying)
        self.region_plan = Plan(op.region) if op.region is not None else None


class Plan:
    """A graph's ops in order with their definitions, attributes and the values that die
    after each (see :func:`free_schedule`); ``run`` executes it."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.steps = [Step(op, dead) for op, dead in zip(graph.ops, free_schedule(graph))]
        self.schedule = [(run_op, step, step) for step in self.steps]

    def run(self, arrays, outer_env: dict | None = None) -> list[np.ndarray]:
        arrays, env = bind_inputs(self.graph, arrays, outer_env or {})
        return interpret(self.graph, self.schedule, arrays, env)


def interpret(graph: Graph, schedule, arrays, env: dict, observe=None) -> list:
    """The interpreter loop of every backend's checked path: one call of ``graph``.

    ``schedule``: per op, in graph order, ``(run, step, ref)``: ``run(step, args, env)``
    returns the op's results from its operands' (:func:`run_op` for the reference; a
    kernel, a scan, a device op for the others), ``ref`` is the op's :class:`Step`
    (its ``operands``, ``results`` and the values ``dying`` after it). ``arrays``: one
    per parameter, in whatever form the backend keeps a value (numpy arrays; numba_cuda:
    a host/device pair); the results come back in that form. A value is dropped after
    its last use. ``observe(ref, results)``, if given, sees each op's results."""
    values = dict(zip(graph.params, arrays))
    for run, step, ref in schedule:
        outs = run(step, [values[v] for v in ref.operands], env)
        values.update(zip(ref.results, outs))
        if observe is not None:
            observe(ref, outs)
        for v in ref.dying:
            del values[v]
    return [values[r] for r in graph.results]


def run_graph(graph: Graph, arrays, outer_env: dict | None = None) -> list[np.ndarray]:
    """Run ``graph`` on ``arrays`` (one per parameter); return one array per result.

    ``outer_env`` holds the symbol sizes of the enclosing graph when ``graph`` is a region.
    (Builds the graph's Plan each call; an Executable keeps its own.)
    """
    return Plan(graph).run(arrays, outer_env)


def free_schedule(graph: Graph) -> list[list[Value]]:
    """For each op, the values whose last use it is (never the graph's results).

    A value nobody uses dies right after the op that makes it; a parameter nobody
    uses is kept (the caller holds it anyway).
    """
    last: dict[Value, int] = {}
    for i, op in enumerate(graph.ops):
        for v in (*op.operands, *op.results):
            last[v] = i
    for r in graph.results:
        last.pop(r, None)
    dying: list[list[Value]] = [[] for _ in graph.ops]
    for v, i in last.items():
        dying[i].append(v)
    return dying


def run_op(step: Step, args: list, env: dict) -> list[np.ndarray]:
    """Run one planned op with its ``ref`` and check its results against their types."""
    op, opdef = step.op, step.opdef
    try:
        attrs = step.attrs
        if step.shape_attrs:
            attrs = dict(attrs)
            for name in step.shape_attrs:
                attrs[name] = resolve_shape(attrs[name], env)
        expected = [resolve_shape(r.type.shape, env) for r in op.results]
    except ValueError as e:
        raise ExecutionError(f"{describe_op(op)}: {e} (symbols bound: {_env_str(env)})") from None
    if step.region_plan is not None:
        plan = step.region_plan
        outs = _ref_outputs(op, args, lambda: opdef.ref(args, attrs, op.region,
                                                        lambda g, xs: plan.run(xs, env)))
    else:
        outs = _ref_outputs(op, args, lambda: opdef.ref(args, attrs))
    for i, (a, r, shape) in enumerate(zip(outs, op.results, expected)):
        if a.dtype != r.type.dtype.numpy or a.shape != shape:
            raise ExecutionError(f"{describe_op(op)}: result {i} is {a.dtype}{list(a.shape)} "
                                 f"but its type is {r.type} = "
                                 f"{r.type.dtype.keras_name}{list(shape)} "
                                 f"(symbols bound: {_env_str(env)})")
    return outs


def run_single(op: Op, arrays) -> list[np.ndarray]:
    """Run one op of concrete shapes on ``arrays`` (an eager op): its ``ref``, the
    results checked against their types; the checks and messages of :func:`run_op`,
    without its per-graph planning (a region op goes through it)."""
    if op.region is not None:
        return run_op(Step(op, []), list(arrays), {})
    arrays = list(arrays)
    outs = _ref_outputs(op, arrays, lambda: get_opdef(op.kind).ref(arrays, op.attrs))
    for i, (a, r) in enumerate(zip(outs, op.results)):
        if a.dtype != r.type.dtype.numpy or a.shape != r.type.shape:
            raise ExecutionError(f"{describe_op(op)}: result {i} is {a.dtype}{list(a.shape)} "
                                 f"but its type is {r.type}")
    return outs


def _ref_outputs(op: Op, args: list, compute) -> list[np.ndarray]:
    """``compute()``'s arrays for ``op``, one per result; its failure an ExecutionError
    naming the op and the arrays it was given."""
    try:
        out = compute()
    except FusegraphError:
        raise
    except Exception as e:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in args)
        raise ExecutionError(f"{describe_op(op)} on arrays ({shapes}): "
                             f"{type(e).__name__}: {e}") from e
    outs = [np.asarray(a) for a in (out if isinstance(out, (tuple, list)) else (out,))]
    if len(outs) != len(op.results):
        raise ExecutionError(f"{describe_op(op)}: ref returned {len(outs)} arrays for "
                             f"{len(op.results)} results")
    return outs


def describe_op(op: Op) -> str:
    """``op <kind> at <location>``: how error messages name an op."""
    return f"op {op.kind}" + (f" at {op.loc}" if str(op.loc) else "")


def _env_str(env: dict) -> str:
    return ", ".join(f"{s}={n}" for s, n in sorted(env.items())) or "none"
