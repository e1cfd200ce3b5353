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

* ``replicated`` (bool scalar): whether the graph runs as a data-parallel step on every
  replica of a job (:mod:`.collectives`). A layer that computes over the global batch
  there (BatchNormalization's moments), called while a functional model is built,
  emits both ways and selects with this flag; a replicated step inlining the model
  substitutes True, and every other graph False before it compiles
  (:meth:`.graphs.TracedGraph.specialized`), so the replicated way's all-reduces are
  dropped there and never run outside a replicated step.

Each is one shared parameter Value, so every graph that reads it names it the same way.
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, TensorType, Value
from . import random_state
from .tensor import SymbolicTensor

TRAINING = Value(TensorType((), DType.bool), name="training")
RNG_KEY = Value(TensorType((), DType.i64), name="rng_key")
REPLICATED = Value(TensorType((), DType.bool), name="replicated")
CONTEXT_PARAMS = (TRAINING, RNG_KEY, REPLICATED)


def training_flag() -> SymbolicTensor:
    return SymbolicTensor(TRAINING, None, "training")


def rng_key() -> SymbolicTensor:
    return SymbolicTensor(RNG_KEY, None, "rng_key")


def replicated_flag() -> SymbolicTensor:
    return SymbolicTensor(REPLICATED, None, "replicated")


def is_context_param(value: Value) -> bool:
    return any(value is p for p in CONTEXT_PARAMS)


def context_value(param: Value, training: bool = False) -> np.ndarray:
    """The array to pass for a context parameter on one run."""
    if param is TRAINING:
        return np.array(training)
    if param is REPLICATED:
        return np.array(False)
    return np.array(random_state.next_run_key(), dtype=np.int64)
