"""Global pooling over the steps axis of (batch, steps, features) inputs."""
from __future__ import annotations

from .. import ops
from ..layer import Layer


class _GlobalPooling1D(Layer):
    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}")
        self.steps_axis = 1 if data_format == "channels_last" else 2
        self.keepdims = keepdims

    def call(self, inputs):
        return self.reduce(inputs, axis=self.steps_axis, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D):
    reduce = staticmethod(ops.mean)


class GlobalMaxPooling1D(_GlobalPooling1D):
    reduce = staticmethod(ops.max)
