"""Embedding: integer ids -> rows of a (input_dim, output_dim) table."""
from __future__ import annotations

from ...ir.builder import user_site
from .. import constraints, guards, initializers, ops, regularizers
from ..checks import check_positive_int
from ..layer import Layer


class Embedding(Layer):
    """``take(embeddings, ids, axis=0)``; float ids are cast to int32 (Keras accepts them).
    Ids must lie in ``[0, input_dim)``: when they come from an argument of the traced
    function (a model input), they are checked on the host before the graph runs
    (:func:`.guards.require_token_ids`)."""

    single_input = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", mask_zero=False,
                 embeddings_regularizer=None, embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        check_positive_int(f"{user_site()}: Embedding", "input_dim", input_dim)
        check_positive_int(f"{user_site()}: Embedding", "output_dim", output_dim)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        initializers.check(f"{user_site()}: Embedding",
                           embeddings_initializer=embeddings_initializer)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        self.embeddings_initializer = embeddings_initializer

    def build(self, input_shape):
        self.embeddings = self.add_weight((self.input_dim, self.output_dim),
                                          self.embeddings_initializer, name="embeddings",
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)

    def call(self, inputs):
        guards.require_token_ids(inputs, self)
        ids = inputs if inputs.type.dtype.is_int else ops.cast(inputs, "int32")
        return ops.take(ops.convert_to_tensor(self.embeddings), ids, axis=0)

    def compute_mask(self, inputs, mask=None):
        """With ``mask_zero``: the positions whose id is not 0 (Keras); else none."""
        return ops.not_equal(inputs, 0) if self.mask_zero else None
