"""MultiHeadAttention with Keras 3's weights, scaling and masking.

Weights (KERAS_COMPAT.md): query/key/value kernels (d, heads, key_dim) with biases
(heads, key_dim), output kernel (heads, value_dim, out) with bias (out). The query is
scaled by 1/sqrt(key_dim) before the dot product; masked scores are replaced by -1e9
before the softmax and their probabilities zeroed after it (Keras's Softmax with a
mask, so a query that sees no key attends to nothing); ``use_causal_mask`` hides key
positions after each query position. The inputs' masks (Embedding(mask_zero=True),
Masking; or ``query_mask``/``value_mask``/``key_mask``) join ``attention_mask`` as Keras 3
combines them, and the output carries the query's mask. ``output_shape`` is an int or a tuple (the output
kernel is then (heads, value_dim, *output_shape)). Projections lower to ``matmul`` with
the kernel reshaped to (d, heads*key_dim), so the backend sees one contraction per
projection.

``dropout`` is applied as Keras applies it: a Dropout sub-layer (seeded by ``seed``) on
the attention probabilities, before they weight the values, following ``training``
(left open, it selects with the graph's ``training`` flag); the scores returned with
``return_attention_scores`` are the probabilities before dropout. The Dropout has no
weights, so ``get_weights()`` keeps the order above.
"""
from __future__ import annotations

import numpy as np

import math

from ...ir.builder import user_site
from .. import initializers, nn, ops
from ..checks import check_bool, check_positive_int
from ..layer import Layer
from .core import Dropout, incompatible


class MultiHeadAttention(Layer):
    single_input = True
    supports_masking = True      # the output carries the query's mask (Keras)

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", seed=None, attention_axes=None, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("num_heads", num_heads), ("key_dim", key_dim)) + (
                (("value_dim", value_dim),) if value_dim is not None else ()):
            check_positive_int(f"{user_site()}: MultiHeadAttention", key, value)
        check_bool(f"{user_site()}: MultiHeadAttention", "use_bias", use_bias)
        initializers.check(f"{user_site()}: MultiHeadAttention",
                           kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer)
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim or key_dim)
        self.dropout, self.use_bias = dropout, use_bias
        self.output_dim = output_shape
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.seed = seed
        # Keras's config names the axes attended over; only its default (all but the
        # batch and the features) is built here.
        self.attention_axes = attention_axes
        # Named explicitly, so it takes no auto-name from the user's own Dropout layers.
        self._dropout_layer = Dropout(dropout, seed=seed, name="dropout")

    def build_from_call(self, args, kwargs):
        query = args[0] if args else kwargs.get("query")
        value = args[1] if len(args) > 1 else kwargs.get("value")
        if value is None:
            raise TypeError(f"{user_site()}: layer '{self.name}' (MultiHeadAttention) takes "
                            f"`query` and `value` tensors (and optionally `key`): call it as "
                            f"layer(query, value), or layer(x, x) for self-attention")
        key = kwargs.get("key") if kwargs.get("key") is not None else value
        self.build(query.shape, value.shape, key.shape)

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = key_shape or value_shape
        h, k, v = self.num_heads, self.key_dim, self.value_dim
        inputs = (("query", query_shape, k), ("key", key_shape, k), ("value", value_shape, v))
        for name, shape, _ in inputs:     # all checked before any weight is made
            if len(shape) < 3:
                raise incompatible(self, f"the {name} must have rank >= 3 (batch, positions, "
                                         f"features)", shape)
            if shape[-1] is None:
                raise incompatible(self, f"the {name}'s last axis must have a known size", shape)
        rank = len(query_shape)
        if self.attention_axes is not None and sorted(
                a % rank for a in np.atleast_1d(self.attention_axes)) != list(range(1, rank - 1)):
            raise ValueError(f"{user_site()}: layer '{self.name}' (MultiHeadAttention): "
                             f"attention_axes={self.attention_axes!r} is not supported: "
                             f"fusegraph attends over all axes between the batch and the "
                             f"features ({list(range(1, rank - 1))} here)")
        out = self._output_dims(query_shape)
        for name, shape, width in inputs:
            kernel_init = initializers.with_fan_axes(self.kernel_initializer, [0], [1, 2])
            setattr(self, f"{name}_kernel", self.add_weight((shape[-1], h, width), kernel_init,
                                                            name=f"{name}/kernel"))
            if self.use_bias:
                setattr(self, f"{name}_bias", self.add_weight((h, width), self.bias_initializer,
                                                              name=f"{name}/bias"))
        self.output_kernel = self.add_weight(
            (h, v) + out, initializers.with_fan_axes(self.kernel_initializer, [0, 1],
                                                     list(range(2, 2 + len(out)))),
            name="attention_output/kernel")
        if self.use_bias:
            self.output_bias = self.add_weight(out, self.bias_initializer,
                                               name="attention_output/bias")

    def _output_dims(self, query_shape) -> tuple:
        """``output_shape`` as a tuple (Keras takes an int or a tuple), else the query's width."""
        if self.output_dim is None:
            return (query_shape[-1],)
        return tuple(self.output_dim) if isinstance(self.output_dim, (tuple, list)) \
            else (self.output_dim,)

    def _project(self, x, name, width, scale=None):
        """(B, T, d) -> (B, heads, T, width), times ``scale`` when given: applied before
        the heads are split off and moved (the same numbers, elementwise), so the
        scaling joins the bias add's kernel instead of walking the moved heads apart."""
        kernel = getattr(self, f"{name}_kernel")
        if x.shape[-1] != kernel.shape[0]:
            raise incompatible(self, f"expected the {name}'s last axis to have size "
                                     f"{kernel.shape[0]}", x.shape)
        w = ops.reshape(ops.convert_to_tensor(kernel), (kernel.shape[0], self.num_heads * width))
        y = ops.matmul(x, w)
        if self.use_bias:
            y = ops.add(y, ops.reshape(ops.convert_to_tensor(getattr(self, f"{name}_bias")),
                                       (self.num_heads * width,)))
        if scale is not None:
            y = ops.multiply(y, scale)
        y = ops.reshape(y, x.type.shape[:-1] + (self.num_heads, width))
        return ops.transpose(y, (0, 2, 1, 3))

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
             attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False):
        masks = [m if m is not None else getattr(t, "_keras_mask", None) for m, t in
                 ((query_mask, query), (value_mask, value), (key_mask, key))]
        key = value if key is None else key
        q = self._project(query, "query", self.key_dim, 1.0 / math.sqrt(self.key_dim))
        k = self._project(key, "key", self.key_dim)
        v = self._project(value, "value", self.value_dim)
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))          # (B, h, T, S)
        mask = self._mask(query, value, attention_mask, use_causal_mask, *masks)
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        probs = nn.softmax(scores, axis=-1)
        if mask is not None:   # as Keras's masked Softmax: a query that sees no key gets zeros
            probs = ops.where(mask, probs, 0.0)
        weights = self._dropout_layer(probs, training=training) if self.dropout > 0 else probs
        context = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))     # (B, T, h, v)
        context = ops.reshape(context, query.type.shape[:-1] + (self.num_heads * self.value_dim,))
        out_dims = tuple(self.output_kernel.shape[2:])
        w_out = ops.reshape(ops.convert_to_tensor(self.output_kernel),
                            (self.num_heads * self.value_dim, math.prod(out_dims)))
        out = ops.matmul(context, w_out)
        if self.use_bias:
            out = ops.add(out, ops.reshape(ops.convert_to_tensor(self.output_bias),
                                           (math.prod(out_dims),)))
        if len(out_dims) != 1:
            out = ops.reshape(out, query.type.shape[:-1] + out_dims)
        return (out, probs) if return_attention_scores else out

    def _mask(self, query, value, attention_mask, use_causal_mask, query_mask=None,
              value_mask=None, key_mask=None):
        """A bool mask broadcastable to (B, h, T, S), or None: ``attention_mask`` (B, T, S)
        and the inputs' masks as Keras 3 combines them (query positions (B, T, 1), value
        and key positions (B, 1, S): the masks of Embedding(mask_zero=True) or Masking,
        or given as ``query_mask``/``value_mask``/``key_mask``), and the causal mask."""
        mask = None
        for m, axis in ((query_mask, -1), (value_mask, -2), (key_mask, -2)):
            if m is not None:
                m = ops.expand_dims(ops.cast(m, "bool"), axis)
                mask = m if mask is None else ops.logical_and(mask, m)
        if attention_mask is not None:
            given = ops.cast(attention_mask, "bool")
            mask = given if mask is None else ops.logical_and(given, mask)
        if mask is not None:
            mask = ops.expand_dims(mask, -3)                                 # (B, 1, T, S)
        if use_causal_mask:
            shape = (query.type.shape[1], value.type.shape[1])
            causal = ops.greater_equal(ops.iota(shape, 0), ops.iota(shape, 1))
            mask = causal if mask is None else ops.logical_and(mask, causal)
        return mask
