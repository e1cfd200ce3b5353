"""The four workloads in PyTorch eager, written the idiomatic way.

Modules from ``torch.nn`` (Linear, Embedding, LSTM with ``batch_first``, LayerNorm with
Keras's epsilon), the attention as Linear projections to ``heads * key_dim`` and
``F.scaled_dot_product_attention`` (``nn.MultiheadAttention`` cannot have ``key_dim =
embed_dim`` with several heads), losses on logits where torch fuses them (cross-entropy,
binary cross-entropy with logits; Keras applies softmax/sigmoid, clips to [1e-7, 1 - 1e-7]
and takes the log: the same loss up to that clipping), ``torch.optim.Adam`` /
``RMSprop`` with Keras's hyper-parameters (torch adds epsilon to ``sqrt(v_hat)`` for Adam
and to ``sqrt(v)`` for RMSprop, where Keras adds it to ``sqrt(v)`` and inside the root:
differences of about epsilon), ``zero_grad(set_to_none=True)``, and the loss returned as a
Python float each step, like ``train_on_batch``. The batch becomes tensors once.

Weights come from :func:`specs.initial_weights` (Keras layout): a Dense kernel ``(in, out)``
is a Linear weight ``(out, in)``; an LSTM's kernels ``(in, 4u)``/``(u, 4u)`` are
``weight_ih``/``weight_hh`` transposed (the same gate order i, f, g, o), Keras's bias goes
to ``bias_ih`` and ``bias_hh`` is zero; attention kernels ``(d, h, k)`` flatten to
``(d, h*k)`` (head-major, as fusegraph's projections do) and transpose.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import specs


def _linear(kernel, bias) -> nn.Linear:
    layer = nn.Linear(*kernel.shape)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def _embedding(table) -> nn.Embedding:
    return nn.Embedding.from_pretrained(torch.from_numpy(table.copy()), freeze=False)


def _lstm(kernel, recurrent, bias) -> nn.LSTM:
    layer = nn.LSTM(kernel.shape[0], recurrent.shape[0], batch_first=True)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
        layer.weight_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(recurrent.T)))
        layer.bias_ih_l0.copy_(torch.from_numpy(bias))
        layer.bias_hh_l0.zero_()
    return layer


def _layer_norm(gamma, beta) -> nn.LayerNorm:
    layer = nn.LayerNorm(gamma.shape[0], eps=specs.LAYER_NORM_EPSILON)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    return layer


class MLP(nn.Module):
    def __init__(self, w):
        super().__init__()
        count = len(w)
        layers = []
        for i in range(count):
            layers.append(_linear(*w[f"dense_{i}"]))
            if i < count - 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Ticket(nn.Module):
    """Returns (priority probability, department logits)."""

    def __init__(self, w, recurrent: bool):
        super().__init__()
        self.recurrent = recurrent
        self.title_embedding = _embedding(*w["title_embedding"])
        self.body_embedding = _embedding(*w["body_embedding"])
        if recurrent:
            self.title_lstm = _lstm(*w["title_lstm"])
            self.body_lstm = _lstm(*w["body_lstm"])
        self.hidden = _linear(*w["hidden"])
        self.priority = _linear(*w["priority"])
        self.department = _linear(*w["department"])

    def forward(self, title, body, tags):
        title_x, body_x = self.title_embedding(title), self.body_embedding(body)
        if self.recurrent:
            title_x = self.title_lstm(title_x)[1][0][-1]
            body_x = self.body_lstm(body_x)[1][0][-1]
        else:
            title_x, body_x = title_x.mean(dim=1), body_x.mean(dim=1)
        x = F.relu(self.hidden(torch.cat([title_x, body_x, tags], dim=1)))
        return torch.sigmoid(self.priority(x)), self.department(x)


class Transformer(nn.Module):
    """Embedding, the encoder block, max over positions, one logit."""

    def __init__(self, w, heads: int):
        super().__init__()
        self.heads = heads
        self.embedding = _embedding(*w["embedding"])
        qk, qb, kk, kb, vk, vb, ok, ob = w["attention"]
        flat = lambda k: k.reshape(k.shape[0], -1)           # noqa: E731
        self.query, self.key, self.value = (_linear(flat(k), b.reshape(-1))
                                            for k, b in ((qk, qb), (kk, kb), (vk, vb)))
        self.attention_output = _linear(ok.reshape(-1, ok.shape[-1]), ob)
        self.layernorm_1 = _layer_norm(*w["layernorm_1"])
        self.ffn_1, self.ffn_2 = _linear(*w["ffn_1"]), _linear(*w["ffn_2"])
        self.layernorm_2 = _layer_norm(*w["layernorm_2"])
        self.output = _linear(*w["output"])

    def _split(self, x):
        batch, length, _ = x.shape
        return x.view(batch, length, self.heads, -1).transpose(1, 2)

    def forward(self, tokens):
        x = self.embedding(tokens)
        q, k, v = (self._split(p(x)) for p in (self.query, self.key, self.value))
        context = F.scaled_dot_product_attention(q, k, v)    # scale 1/sqrt(key_dim)
        context = context.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        x = self.layernorm_1(x + self.attention_output(context))
        x = self.layernorm_2(x + self.ffn_2(F.relu(self.ffn_1(x))))
        return self.output(x.amax(dim=1))


def _optimizer(kind: str, params):
    if kind == "adam":
        a = specs.ADAM
        return torch.optim.Adam(params, lr=specs.LEARNING_RATE, betas=(a["beta_1"], a["beta_2"]),
                                eps=a["epsilon"])
    return torch.optim.RMSprop(params, lr=specs.LEARNING_RATE, alpha=specs.RMSPROP["rho"],
                               eps=specs.RMSPROP["epsilon"])


def build(name: str, sizes=None):
    """``(model, step)``: workload ``name`` at ``sizes`` (default: its full sizes) with
    the shared initial weights; ``step()`` trains one step on the shared batch and returns
    the loss computed before the update, as a float."""
    sizes = sizes or specs.WORKLOADS[name].sizes
    w = specs.initial_weights(name, sizes)
    inputs, targets = specs.batch(name, sizes)
    t = {k: torch.from_numpy(v.astype(np.int64) if v.dtype.kind == "i" else v)
         for k, v in {**inputs, **targets}.items()}
    if name == "mlp":
        model = MLP(w)
        loss_of = lambda: F.cross_entropy(model(t["x"]), t["y"])             # noqa: E731
    elif name in ("ticket", "lstm"):
        model = Ticket(w, recurrent=name == "lstm")

        def loss_of():
            priority, department = model(t["title"], t["body"], t["tags"])
            return (F.mse_loss(priority, t["priority"])
                    + F.cross_entropy(department, t["department"]))
    elif name == "transformer":
        model = Transformer(w, sizes.heads)
        loss_of = lambda: F.binary_cross_entropy_with_logits(model(t["tokens"]),  # noqa: E731
                                                             t["label"])
    else:
        raise KeyError(f"unknown workload {name!r}; expected one of {sorted(specs.WORKLOADS)}")
    optimizer = _optimizer(specs.WORKLOADS[name].optimizer, model.parameters())

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of()
        loss.backward()
        optimizer.step()
        return loss.item()
    return model, step
