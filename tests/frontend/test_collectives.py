"""frontend/collectives.py: what a data-parallel step traces (all-reduces of gradients,
metric totals and BatchNormalization's moments), checked in one process with stand-in
communicators (no MPI): the graphs, their bucketing and how often a backend talks."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph.ir.ops import collective
from fusegraph.frontend import random_state
from fusegraph.passes import DEFAULT_PIPELINE, run_pipeline
from fusegraph.runtime import distribute


class OneRank:
    """The part of an mpi4py communicator a one-rank DataParallel uses."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def bcast(self, value, root=0):
        return value

    def Bcast(self, buffer, root=0):
        pass


class Counting:
    """A job of one process that counts its all-reduce calls."""
    size = 1

    def __init__(self):
        self.calls = 0

    def all_reduce(self, arrays, mean):
        self.calls += 1
        return [a.copy() for a in arrays]


@pytest.fixture
def strategy():
    made = fg.distribute.DataParallel(comm=OneRank())
    counting = Counting()
    collective.install(counting)
    made.counting = counting
    yield made
    collective.install(None)
    random_state.set_replica(0)
    distribute._STRATEGY = None


X = np.random.default_rng(0).normal(size=(32, 5)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


def bn_model(strategy=None, backend="reference"):
    fg.utils.set_random_seed(0)
    inputs = fg.Input((5,))
    h = fg.layers.BatchNormalization()(fg.layers.Dense(4, activation="relu")(inputs))
    model = fg.Model(inputs, fg.layers.Dense(2, activation="softmax")(h))
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  backend=backend, distribute=strategy)
    return model


def test_a_replicated_step_averages_gradients_sums_metrics_and_syncs_batch_norm(strategy):
    model = bn_model(strategy)
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    text = model.ir("train_step")
    reduces = [line for line in text.splitlines() if "all_reduce" in line]
    means = [line for line in reduces if "mean=true" in line]
    sums = [line for line in reduces if "mean=false" in line]
    # 6 gradients + the BN forward's 2 moments and their 2 cotangents; loss and accuracy
    # totals and counts: 4 sums
    assert len(means) == 10 and len(sums) == 4, text
    assert all("# test_collectives.py:" in line for line in reduces)   # the user's lines
    optimized = model.ir("train_step", after="all_reduce_buckets")
    buckets = [line for line in optimized.splitlines() if "all_reduce" in line]
    assert len(buckets) < len(reduces)


def test_batch_norm_outside_a_replicated_step_compiles_without_all_reduces():
    model = bn_model()
    assert "%replicated" in model.ir() and "all_reduce" in model.ir()   # both ways kept
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    assert "all_reduce" not in model.ir("train_step")      # the step inlined False
    forward = model._functional.stepped                      # run on its own: False too
    for training in (True, False):
        compiled, _ = run_pipeline(forward.specialized(training), DEFAULT_PIPELINE)
        assert not any(op.kind == "all_reduce" for op in compiled.ops)


def test_numba_cpu_talks_once_per_bucket_per_step_even_while_it_checks_a_plan(strategy):
    """The plan check reruns the first call's step: its all-reduces replay the checked
    path's results instead of talking to the other processes again."""
    model = bn_model(strategy, backend="numba_cpu")
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)     # traces, 2 steps
    fg.config.wait_for_kernels()
    graph = model._train_fn().last_trace.graph
    optimized = model.ir("train_step", after="all_reduce_buckets")
    buckets = sum(1 for line in optimized.splitlines() if "= all_reduce" in line)
    strategy.counting.calls = 0
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0)     # 4 steps, a plan made
    assert graph is not None and buckets >= 2 and strategy.counting.calls == 4 * buckets
    # the plan runs every all-reduce on its one worker thread, in graph order (two in
    # flight on two threads could pair up wrongly across ranks)
    plan = model._train_fn().last_trace.traced_graph.executable(True).plan_source()
    lines = [line for line in plan.splitlines() if "# all_reduce" in line]
    assert len(lines) == 2 * buckets            # run and run_profiled
    assert all("SUBMIT_COLLECTIVE(" in line for line in lines)


def test_the_replicated_step_trains_as_the_plain_one_in_one_process(strategy):
    plain, replicated = bn_model(), bn_model(strategy)
    for model in (plain, replicated):
        model.fit(X, Y, batch_size=16, epochs=2, verbose=0, seed=3)
    for a, b in zip(plain.weights, replicated.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_a_model_inside_a_model_keeps_batch_norm_synchronized(strategy):
    """The inner model's BatchNormalization, inlined while the outer model is built, keeps
    its replicated branch for the outer model's replicated step (it had been dropped)."""
    def count(model):
        model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
        return model.ir("train_step").count("= all_reduce")

    flat = count(bn_model(strategy))
    fg.utils.set_random_seed(0)
    inputs = fg.Input((5,))
    inner = fg.Model(inputs, fg.layers.BatchNormalization()(
        fg.layers.Dense(4, activation="relu")(inputs)))
    outer_inputs = fg.Input((5,))
    nested = fg.Model(outer_inputs, fg.layers.Dense(2, activation="softmax")(
        inner(outer_inputs)))
    nested.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                   distribute=strategy)
    assert count(nested) == flat


def test_a_plan_that_raises_is_rerun_without_sending_its_all_reduces_again(strategy):
    """numba_cpu reruns a step whose plan raised on its checked path: the all-reduces the
    plan already sent replay their results (the other ranks would not send them again)."""
    model = bn_model(strategy, backend="numba_cpu")
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    fg.config.wait_for_kernels()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)      # a plan is made and used
    executable = model._train_fn().last_trace.traced_graph.executable(True)
    assert any(p is not None for p in executable._plans.values())

    class FailsOnce(Counting):
        """Its second call of the next step fails once (the BatchNorm variance's)."""
        def all_reduce(self, arrays, mean):
            if self.calls == 1 and not getattr(self, "failed", False):
                self.failed = True
                raise RuntimeError("a message failed")
            return super().all_reduce(arrays, mean)

    flaky = FailsOnce()
    collective.install(flaky)
    model.fit(X[:16], Y[:16], batch_size=16, epochs=1, verbose=0)
    buckets = model.ir("train_step", after="all_reduce_buckets").count("= all_reduce")
    assert flaky.failed and flaky.calls == buckets     # the first one was not sent twice
    assert any("a message failed" in e for e in executable.plan_errors)
