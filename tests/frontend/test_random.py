"""``fg.random``: draws inside traced functions (keyed per run, reproducible under
``fg.utils.set_random_seed``), stateless int seeds, symbolic shapes, the distributions'
moments, and eager draws."""
import numpy as np
import pytest

import fusegraph as fg
from fusegraph import ops
from fusegraph.frontend import random as frontend_random
from fusegraph.frontend.dispatch import clear_eager_functions, eager_functions


def draws():
    """An fg.function making two uniform and one normal draw per call."""
    return fg.function(lambda: (fg.random.uniform((1000,)), fg.random.uniform((1000,)),
                                fg.random.normal((1000,))))


def test_successive_calls_draw_anew_and_the_seed_repeats_them():
    f = draws()
    fg.utils.set_random_seed(42)
    first, second = f(), f()
    for a, b in zip(first, second):
        assert not np.array_equal(a, b)
    assert not np.array_equal(first[0], first[1])       # two call sites, two streams
    fg.utils.set_random_seed(42)
    for a, b in zip(first, f()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(second, f()):
        np.testing.assert_array_equal(a, b)
    fg.utils.set_random_seed(43)
    assert not np.array_equal(f()[0], first[0])


def test_the_same_function_built_in_a_fresh_session_draws_the_same():
    fg.utils.set_random_seed(1)
    before = draws()()
    fg.utils.clear_session()
    fg.utils.set_random_seed(1)
    for a, b in zip(before, draws()()):
        np.testing.assert_array_equal(a, b)


def test_an_int_seed_gives_the_same_draws_every_call():
    f = fg.function(lambda: (fg.random.uniform((50,), seed=7), fg.random.uniform((50,), seed=7),
                             fg.random.uniform((50,), seed=8), fg.random.normal((50,), seed=7)))
    a, same, other, normal = f()
    np.testing.assert_array_equal(a, same)                 # stateless: a function of the seed
    assert not np.array_equal(a, other)
    fg.utils.set_random_seed(123)                          # the global seed plays no part
    again = f()
    np.testing.assert_array_equal(again[0], a)
    np.testing.assert_array_equal(again[3], normal)
    np.testing.assert_array_equal(fg.random.uniform((50,), seed=7), a)     # eager too
    np.testing.assert_array_equal(fg.random.normal((50,), seed=7), normal)


def test_seed_generators_follow_the_run_key():
    gen_a, gen_b = fg.random.SeedGenerator(1), fg.random.SeedGenerator(2)
    f = fg.function(lambda: (fg.random.uniform((100,), seed=gen_a),
                             fg.random.uniform((100,), seed=gen_b)))
    fg.utils.set_random_seed(5)
    a, b = f()
    assert not np.array_equal(a, b)
    assert not np.array_equal(f()[0], a)
    fg.utils.set_random_seed(5)
    np.testing.assert_array_equal(f()[0], a)


def test_symbolic_shapes_from_the_batch():
    calls = []

    @fg.function
    def noisy(x):
        calls.append(1)
        batch = ops.shape(x)[0]
        return x + fg.random.normal((batch, 4)), fg.random.uniform((batch,), 2.0, 3.0)

    for n in (3, 5, 1):
        out, u = noisy(np.zeros((n, 4), "float32"))
        assert out.shape == (n, 4) and out.dtype == np.float32
        assert u.shape == (n,) and np.all((u >= 2.0) & (u < 3.0))
    assert len(calls) == 1
    assert "random_uniform %rng_key {shape=[B, 4]" in noisy.ir()


def test_uniform_moments():
    u, scaled, f64 = fg.function(lambda: (
        fg.random.uniform((200_000,)), fg.random.uniform((200_000,), minval=-2.0, maxval=4.0),
        fg.random.uniform((200_000,), dtype="float64")))()
    assert u.dtype == np.float32 and f64.dtype == np.float64
    assert u.min() >= 0.0 and u.max() < 1.0
    assert u.mean() == pytest.approx(0.5, abs=0.005)
    assert u.var() == pytest.approx(1 / 12, abs=0.002)
    assert np.histogram(u, bins=10, range=(0, 1))[0] == pytest.approx(np.full(10, 20_000),
                                                                      rel=0.05)
    assert scaled.min() >= -2.0 and scaled.max() < 4.0
    assert scaled.mean() == pytest.approx(1.0, abs=0.03)
    assert scaled.var() == pytest.approx(3.0, abs=0.06)      # 6**2 / 12
    assert f64.mean() == pytest.approx(0.5, abs=0.005)
    assert abs(np.corrcoef(u, f64)[0, 1]) < 0.01              # independent streams


def test_normal_moments():
    z, shifted = fg.function(lambda: (fg.random.normal((200_000,)),
                                      fg.random.normal((200_000,), mean=3.0, stddev=0.5)))()
    assert z.mean() == pytest.approx(0.0, abs=0.01)
    assert z.std() == pytest.approx(1.0, abs=0.01)
    assert np.mean(z ** 3) == pytest.approx(0.0, abs=0.03)   # symmetric
    assert np.mean(z ** 4) == pytest.approx(3.0, abs=0.08)   # a normal's kurtosis
    assert np.mean(np.abs(z) < 1.0) == pytest.approx(0.6827, abs=0.005)
    assert shifted.mean() == pytest.approx(3.0, abs=0.01)
    assert shifted.std() == pytest.approx(0.5, abs=0.005)


def test_eager_draws_return_numpy():
    fg.utils.set_random_seed(9)
    u = fg.random.uniform((2, 3))
    z = fg.random.normal((4,), dtype="float64")
    assert isinstance(u, np.ndarray) and u.shape == (2, 3) and u.dtype == np.float32
    assert isinstance(z, np.ndarray) and z.shape == (4,) and z.dtype == np.float64
    assert not np.array_equal(fg.random.uniform((2, 3)), u)  # the next run, the next key
    fg.utils.set_random_seed(9)
    np.testing.assert_array_equal(fg.random.uniform((2, 3)), u)
    np.testing.assert_array_equal(fg.random.normal((4,), dtype="float64"), z)


def test_eager_draws_reuse_one_traced_graph_per_signature():
    clear_eager_functions(frontend_random._draw)
    fg.utils.set_random_seed(3)
    first, second = fg.random.uniform((64,)), fg.random.uniform((64,))
    assert not np.array_equal(first, second)                 # a fresh run key per run
    (function,) = eager_functions(frontend_random._draw).values()
    assert len(function._traces) == 1                        # traced and compiled once
    (traced,) = function._traces.values()
    executable = traced.traced_graph._executable
    fg.random.uniform((64,))
    assert traced.traced_graph._executable is executable
    fg.utils.set_random_seed(3)
    np.testing.assert_array_equal(fg.random.uniform((64,)), first)
    fg.random.uniform((65,))                                 # another shape,
    fg.random.uniform((64,), dtype="float64")                # dtype,
    fg.random.uniform((64,), seed=7)                         # seed,
    fg.random.normal((64,))                                  # or kind: a trace of its own
    assert len(function._traces) == 5
    gen, same = fg.random.SeedGenerator(4), fg.random.SeedGenerator(4)
    np.testing.assert_array_equal(fg.random.uniform((64,), seed=7),
                                  fg.random.uniform((64,), seed=7))
    fg.random.uniform((64,), seed=gen), fg.random.uniform((64,), seed=same)
    assert len(function._traces) == 6                        # generators key by their seed


def test_a_bad_seed_is_refused():
    with pytest.raises(TypeError, match=r"seed must be None, an int or a SeedGenerator, "
                                        r"got 'abc'"):
        fg.random.uniform((2,), seed="abc")


# --- set_random_seed decides everything after it, whatever came before ----------------------
def _dropout_net(subclassed):
    if subclassed:
        class Net(fg.Model):
            def __init__(self):
                super().__init__()
                self.hidden = fg.layers.Dense(16)
                self.drop = fg.layers.Dropout(0.5)
                self.head = fg.layers.Dense(1)

            def call(self, x, training=None):
                return self.head(self.drop(self.hidden(x), training=training))
        return Net()
    inputs = fg.Input(shape=(8,))
    hidden = fg.layers.Dropout(0.5)(fg.layers.Dense(16)(inputs))
    return fg.Model(inputs, fg.layers.Dense(1)(hidden))


def _seeded_run(subclassed, seed=1):
    """After set_random_seed(seed): build, train two steps, draw a training-mode output."""
    fg.utils.set_random_seed(seed)
    x = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    model = _dropout_net(subclassed)
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(x, np.ones((8, 1), np.float32))
    model.train_on_batch(x, np.ones((8, 1), np.float32))
    return model.get_weights() + [np.asarray(model(x, training=True))]


def _other_random_work():
    """What a process may have done before: models built, traced, trained and run, draws."""
    for subclassed in (False, True):
        model = _dropout_net(subclassed)
        model.compile(optimizer="sgd", loss="mse")
        model.train_on_batch(np.ones((4, 8), np.float32), np.ones((4, 1), np.float32))
        model(np.ones((2, 8), np.float32), training=True)
    fg.layers.Dropout(0.5)(np.ones((3, 3), np.float32), training=True)
    draws()()
    fg.random.normal((5,))


@pytest.mark.parametrize("subclassed", [False, True], ids=["functional", "subclassed"])
def test_after_set_random_seed_a_model_draws_the_same_whatever_came_before(subclassed):
    first = _seeded_run(subclassed)
    _other_random_work()
    second = _seeded_run(subclassed)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    other_seed = _seeded_run(subclassed, seed=2)
    assert not np.array_equal(other_seed[-1], first[-1])


def test_models_built_under_different_seeds_draw_independently_in_one_graph():
    """Sites restart with the seed but depend on it: a model built under seed 1 and one
    built under seed 2 never share a site, so one graph calling both gets two masks."""
    def dropout_only():
        inputs = fg.Input(shape=(256,))
        return fg.Model(inputs, fg.layers.Dropout(0.5)(inputs))

    fg.utils.set_random_seed(1)
    first = dropout_only()
    fg.utils.set_random_seed(2)
    second = dropout_only()
    inputs = fg.Input(shape=(256,))
    both = fg.Model(inputs, [first(inputs), second(inputs)])
    salts = [op.attrs["salt"] for op in both.graph.ops if op.kind == "random_uniform"]
    assert len(salts) == 2 and len(set(salts)) == 2
    a, b = both(np.ones((4, 256), np.float32), training=True)
    assert not np.array_equal(a == 0, b == 0)
    assert 0.4 < np.mean((a == 0) == (b == 0)) < 0.6                       # independent masks


def test_the_same_seed_numbers_the_sites_of_a_model_alike():
    def salts():
        inputs = fg.Input(shape=(4,))
        model = fg.Model(inputs, fg.layers.Dropout(0.5)(fg.layers.Dropout(0.5)(inputs)))
        return [op.attrs["salt"] for op in model.graph.ops if op.kind == "random_uniform"]

    fg.utils.set_random_seed(7)
    once = salts()
    salts()                                                # a later model: other sites
    assert salts() != once and len(set(once)) == 2
    fg.utils.set_random_seed(7)
    assert salts() == once
    fg.utils.clear_session()                               # restarts the sites, keeps the seed
    assert salts() == once
