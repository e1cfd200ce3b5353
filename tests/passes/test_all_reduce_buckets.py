"""passes/all_reduce_buckets.py: a data-parallel step's all-reduces joined into buckets,
each placed after the op that makes its last member, numbered; results unchanged."""
import importlib

import numpy as np

from fusegraph.backends.reference import run_graph
from fusegraph.ir import emit
from fusegraph.ir.ops import collective
from fusegraph.passes.all_reduce_buckets import all_reduce_buckets

from helpers.backend_checks import graph, param

pass_module = importlib.import_module("fusegraph.passes.all_reduce_buckets")


class Doubling:
    """Two processes holding the same arrays: a sum doubles, a mean keeps."""
    size = 2

    def __init__(self):
        self.calls = []

    def all_reduce(self, arrays, mean):
        self.calls.append([a.shape for a in arrays])
        return [a.copy() if mean else a * 2 for a in arrays]


def step_like():
    """Two 'gradients' made one after the other, each averaged where an optimizer would
    (after both), a 'metric' total summed, and a forward mean read by later ops."""
    x, w = param("x", 4, 3), param("w", 3, 2)
    forward_mean = emit("all_reduce", emit("reduce_mean", x, axes=(0,)), mean=True)
    h = emit("mul", x, emit("broadcast_to", forward_mean, shape=(4, 3)))
    g1 = emit("matmul", emit("transpose", h, perm=(1, 0)), emit("matmul", h, w))
    g2 = emit("reduce_sum", h, axes=(0,))
    a1, a2 = emit("all_reduce", g1, mean=True), emit("all_reduce", g2, mean=True)
    total = emit("all_reduce", emit("reduce_sum", g2, axes=(0,)), mean=False)
    return graph([x, w], [emit("sub", w, a1), a2, total]), [x, w]


def test_gradients_join_one_bucket_after_the_last_and_results_are_unchanged(monkeypatch):
    g, _ = step_like()
    arrays = [np.random.default_rng(0).normal(size=s).astype(np.float32)
              for s in ((4, 3), (3, 2))]
    comm = Doubling()
    collective.install(comm)
    try:
        want = run_graph(g, arrays)
        comm.calls.clear()
        out = all_reduce_buckets(g)
        got = run_graph(out, arrays)
    finally:
        collective.install(None)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    reduces = [op for op in out.ops if op.kind == "all_reduce"]
    # the forward mean alone (read by the forward), both gradients together, the sum alone
    assert [len(op.operands) for op in reduces] == [1, 2, 1]
    assert [op.attrs["tag"] for op in reduces] == [0, 1, 2]
    assert [op.attrs["mean"] for op in reduces] == [True, True, False]
    assert comm.calls == [[(3,)], [(3, 2), (3,)], [()]]
    position = {id(op): i for i, op in enumerate(out.ops)}
    bucket = reduces[1]     # right after the op that makes its last member
    assert max(position[id(v.producer)] for v in bucket.operands) + 1 == position[id(bucket)]


def test_a_bucket_holds_at_most_bucket_bytes(monkeypatch):
    monkeypatch.setattr(pass_module, "BUCKET_BYTES", 24)   # the [3, 2] gradient alone
    g, _ = step_like()
    sizes = [len(op.operands) for op in all_reduce_buckets(g).ops if op.kind == "all_reduce"]
    assert sizes == [1, 1, 1, 1]


def test_a_graph_without_all_reduces_is_left_alone():
    x = param("x", 3)
    g = graph([x], [emit("exp", x)])
    assert all_reduce_buckets(g) is g
