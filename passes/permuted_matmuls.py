"""A matmul whose product only a transpose reads writes the transposed layout itself.

``reshape(transpose(matmul(p, v), [0, 2, 1, 3]), [B, L, H*D])``, the attention's heads
put back side by side, copies the ``[B, H, L, D]`` product into ``[B, L, H, D]`` order
(the reshape cannot be a view of the transpose): 1.2 ms per copy in the Transformer
block's step, three copies. A BLAS product can be written with any row stride and any
per-matrix address, so ``permuted_matmul(p, v, perm)`` (:mod:`fusegraph.ir.ops.linalg`)
writes it in the transposed order directly, and the reshape is a view.

Contract of the rule: ``transpose(x, perm)`` where ``x`` is a ``matmul``'s product that
nothing else reads (no other op, not a result of the graph) and ``perm`` ends with one of
the product's last two axes (its matrices then have unit stride along rows or columns:
a BLAS layout) -> ``permuted_matmul(a, b, perm)``. The numbers are the product's, bit
for bit on the same BLAS (a transposed layout is the transposed product's row-major
one). Top-level ops only: a scan body's compiled loop calls ``matmul`` itself.

numba_cpu's pipeline runs it before ``reduce_views`` and fusion (its plans run
``permuted_matmul``: :mod:`fusegraph.backends.numba_cpu.contractions`), so that a reduction
of the transposed product (a bias gradient) reads it in the order it is written.
Statistics: ``matmuls_permuted``.
"""
from __future__ import annotations

from ..ir.builder import emit
from ..ir.core import Graph, Op

from .manager import Pass, count, register_pass
from .rewrite import rebuild


def permuted_matmuls(graph: Graph) -> Graph:
    """``graph`` with each transpose of an otherwise unread matmul product written by the
    product (module docstring); ``graph`` itself when there is none."""
    users, returned = graph.users(), {id(r) for r in graph.results}

    def applies(op: Op) -> bool:
        if op.kind != "transpose":
            return False
        x, perm = op.operands[0], op.attrs["perm"]
        return (x.producer is not None and x.producer.kind == "matmul"
                and users[id(x)] == [op] and id(x) not in returned
                and perm[-1] >= len(perm) - 2)

    if not any(applies(op) for op in graph.ops):
        return graph

    def rule(op: Op, operands) -> tuple | None:
        if not applies(op):
            return None
        count("matmuls_permuted")
        perm = op.attrs["perm"]
        a, b = operands[0].producer.operands      # the product emitted again: dropped, unread
        return (emit("permuted_matmul", a, b, perm=perm),)

    return rebuild(graph, rule)


register_pass(Pass("permuted_matmuls", permuted_matmuls,
                   "a matmul read only by a transpose writes the transposed layout"))
