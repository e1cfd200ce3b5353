"""A product with a scalar constant that only linear ops read is applied to their
results instead: ``matmul(x * c, w)`` -> ``matmul(x, w) * c``.

The gradient of the attention's query scaling, ``dq * 0.088``, is a ``[B, 128, 512]``
array written once and read by the query projection's weight gradient (a tensordot), its
input gradient (a matmul) and its bias gradient (a sum): 1.6 ms of the Transformer
block's step for a multiplication each reader could do on its much smaller result, where
the kernel after it (the input gradients' sum, the optimizer's update) does it for free.

Contract of the rule: ``mul(x, c)`` (either order) with ``c`` a float constant of one
element (a scalar, or a broadcast of one) and the product typed as ``x``, which only
``matmul``, ``permuted_matmul``, ``tensordot`` (either operand) and ``reduce_sum`` /
``reduce_mean`` read, and which is no result of the graph: each reader reads ``x``
instead, and its result is multiplied by ``c`` (once per operand it read the product
as). The numbers agree to rounding (the scaling moves past sums), not bit for bit.

numba_cpu's pipeline runs it before fusion, so the new products join the kernels that
read the readers' results. Statistics: ``products_scaled_late`` (readers rewritten).
"""
from __future__ import annotations

from ..ir.builder import emit
from ..ir.core import Graph, Op, Value
from ..ir.ops.vjp_utils import const, splat_value

from .manager import Pass, count, register_pass
from .rewrite import rebuild, reemit

_LINEAR_IN_EVERY_OPERAND = ("matmul", "permuted_matmul", "tensordot")
_LINEAR_IN_THE_FIRST = ("reduce_sum", "reduce_mean")


def _scalar_of(op: Op) -> tuple[Value, float] | None:
    """``(x, c)`` when ``op`` is ``mul(x, c)`` or ``mul(c, x)`` of a float constant ``c``
    of one element, the product typed as ``x``; None otherwise."""
    if op.kind != "mul" or not op.results[0].type.dtype.is_float:
        return None
    for x, c in (op.operands, op.operands[::-1]):
        value = splat_value(c)
        if value is not None and value.size == 1 and x.type == op.results[0].type:
            return x, float(value.reshape(()))
    return None


def _reads_linearly(reader: Op, value: Value) -> bool:
    if reader.kind in _LINEAR_IN_EVERY_OPERAND:
        return True
    return reader.kind in _LINEAR_IN_THE_FIRST and all(
        v is not value for v in reader.operands[1:])


def late_scaling(graph: Graph) -> Graph:
    """``graph`` with each scalar product that only linear ops read applied after them
    (module docstring); ``graph`` itself when there is none."""
    users = graph.users()
    returned = {id(r) for r in graph.results}
    scaled: dict[int, float] = {}          # id(product) -> c
    for op in graph.ops:
        found = _scalar_of(op)
        product = op.results[0]
        readers = users.get(id(product), [])
        if (found is not None and readers and id(product) not in returned
                and all(_reads_linearly(r, product) for r in readers)):
            scaled[id(product)] = found[1]
    if not scaled:
        return graph

    def rule(op: Op, operands) -> tuple | None:
        if not any(id(v) in scaled for v in op.operands):
            return None
        factor, reads = 1.0, []
        for v, new in zip(op.operands, operands):
            if id(v) in scaled:            # read x, the product's other operand, instead
                factor *= scaled[id(v)]
                new = _scalar_of(new.producer)[0]
            reads.append(new)
        count("products_scaled_late")
        (result,) = reemit(op, reads)
        return (emit("mul", result, const(factor, result.type.dtype)),)

    return rebuild(graph, rule)


register_pass(Pass("late_scaling", late_scaling,
                   "a scalar product only linear ops read is applied to their results"))
