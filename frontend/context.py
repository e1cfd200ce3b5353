"""Context parameters: values a graph reads from how it is run, not from its inputs.

* ``training`` (bool scalar): a layer whose behaviour depends on training mode, called
  without a Python ``training`` value (as in a functional model's construction), emits
  both behaviours and selects with this flag. Calling the model with ``training=True``
  or ``False`` substitutes a constant for it; a graph run with it still open gets False.
* ``rng_key`` (int64 scalar): the key of the in-graph random stream (``random_uniform``).
  The runtime passes a fresh key on every run of a graph that reads it, drawn from a
  counter that ``fg.utils.set_random_seed`` restarts: same seed, same draws; different
  steps, different draws. A run whose compiled graph no longer reads it (inference,
  with the training branch removed) draws none, so predictions and validation between
  training steps leave the steps' draws as they were (see ``TracedGraph.arguments``).

Each is one shared parameter Value, so every graph that reads it names it the same way.
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, TensorType, Value
from . import random_state
from .tensor import SymbolicTensor

TRAINING = Value(TensorType((), DType.bool), name="training")
RNG_KEY = Value(TensorType((), DType.i64), name="rng_key")
CONTEXT_PARAMS = (TRAINING, RNG_KEY)


def training_flag() -> SymbolicTensor:
    return SymbolicTensor(TRAINING, None, "training")


def rng_key() -> SymbolicTensor:
    return SymbolicTensor(RNG_KEY, None, "rng_key")


def is_context_param(value: Value) -> bool:
    return any(value is p for p in CONTEXT_PARAMS)


def context_value(param: Value, training: bool = False) -> np.ndarray:
    """The array to pass for a context parameter on one run."""
    if param is TRAINING:
        return np.array(training)
    return np.array(random_state.next_run_key(), dtype=np.int64)
