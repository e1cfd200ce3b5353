"""The benchmark workloads at tiny sizes, on the ``reference`` backend: each builds from
the shared initial weights, trains, and computes what a hand computation (MLP, ticket
model) or the peer frameworks (when installed) compute. No timings."""
import importlib
import math

import numpy as np
import pytest

from workloads import WORKLOADS, batch, fusegraph_models, initial_weights, matmul_flops
from workloads.specs import MLPSizes

NAMES = sorted(WORKLOADS)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _mlp_loss(w, x, y):
    h = x
    for i in range(len(w)):
        kernel, bias = w[f"dense_{i}"]
        h = h @ kernel + bias
        if i < len(w) - 1:
            h = np.maximum(h, 0)
    return -np.log(_softmax(h)[np.arange(len(y)), y]).mean()


def _ticket_loss(w, x, y):
    title = w["title_embedding"][0][x["title"]].mean(axis=1)
    body = w["body_embedding"][0][x["body"]].mean(axis=1)
    kernel, bias = w["hidden"]
    h = np.maximum(np.concatenate([title, body, x["tags"]], axis=1) @ kernel + bias, 0)
    priority = 1 / (1 + np.exp(-(h @ w["priority"][0] + w["priority"][1])))
    department = _softmax(h @ w["department"][0] + w["department"][1])
    return (np.square(priority - y["priority"]).mean()
            - (y["department"] * np.log(department)).sum(axis=1).mean())


@pytest.mark.parametrize("name", NAMES)
def test_workload_trains_and_its_loss_decreases(name):
    _, step = fusegraph_models.build(name, WORKLOADS[name].tiny, "reference")
    losses = [step() for _ in range(3)]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[0] > losses[1] > losses[2]


@pytest.mark.parametrize("name, by_hand", [("mlp", _mlp_loss), ("ticket", _ticket_loss)])
def test_first_loss_is_the_hand_computed_one(name, by_hand):
    sizes = WORKLOADS[name].tiny
    _, step = fusegraph_models.build(name, sizes, "reference")
    x, y = batch(name, sizes)
    w = initial_weights(name, sizes)
    expected = by_hand(w, x["x"], y["y"]) if name == "mlp" else by_hand(w, x, y)
    assert step() == pytest.approx(expected, rel=1e-5)


def test_weights_and_batch_are_deterministic_in_keras_layout():
    sizes = WORKLOADS["lstm"].tiny
    first, again = initial_weights("lstm", sizes), initial_weights("lstm", sizes)
    assert list(first) == ["title_embedding", "body_embedding", "title_lstm", "body_lstm",
                           "hidden", "priority", "department"]
    for a, b in zip(first.values(), again.values()):
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    kernel, recurrent, bias = first["title_lstm"]
    u = sizes.title_units
    assert kernel.shape == (sizes.embed, 4 * u) and recurrent.shape == (u, 4 * u)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(u), atol=1e-5)   # orthogonal
    assert bias[u:2 * u].tolist() == [1.0] * u and not bias[:u].any()            # forget gate
    x, y = batch("lstm", sizes)
    assert x["title"].dtype == np.int32 and x["title"].max() < sizes.vocab
    assert y["department"].sum(axis=1).tolist() == [1.0] * sizes.batch


def test_matmul_flops_of_the_mlp():
    sizes = MLPSizes(batch=8, widths=(12, 16, 16, 5))
    forward = 2 * 8 * (12 * 16 + 16 * 16 + 16 * 5)
    assert matmul_flops("mlp", sizes) == 2 * forward + 2 * 8 * (16 * 16 + 16 * 5)
    assert matmul_flops("lstm", WORKLOADS["lstm"].tiny) is None


@pytest.mark.slow
@pytest.mark.parametrize("peer, names", [("torch", NAMES), ("jax", ["lstm", "transformer"])])
def test_peers_compute_the_same_first_loss(peer, names):
    """The peers' models start from the same weights on the same batch: their first loss
    is fusegraph's (JAX only on the two workloads without a hand computation above: each
    costs an XLA compile of seconds; compare.py checks all of them on every run)."""
    pytest.importorskip(peer)
    module = importlib.import_module(f"workloads.{peer}_models")
    for name in names:
        sizes = WORKLOADS[name].tiny
        _, ours = fusegraph_models.build(name, sizes, "reference")
        _, theirs = module.build(name, sizes)
        assert theirs() == pytest.approx(ours(), rel=1e-5), name
