"""The primitive op set. Importing this package registers every op.

The set is small on purpose: higher-level ops (log-softmax, layer norm, attention,
cross-entropies, activations) are traced as compositions of these, so the passes and
backends have few ops to understand and fusion recovers the speed. Softmax is traced as
one composite op for its VJP, and written as primitives before any pass.

* elementwise: neg abs sign exp log sqrt rsqrt tanh sigmoid erf sin cos floor;
  add sub mul div pow maximum minimum; eq ne lt le gt ge; logical_and logical_or
  logical_not; stop_gradient; where; cast; constant
* reductions: reduce_sum reduce_mean reduce_max reduce_min argmax argmin; dim_size (the
  size of one axis, symbolic ones included)
* contraction: matmul
* movement: reshape transpose broadcast_to concatenate slice take one_hot iota; pad and
  scatter_add (the transposes of slice and take, which their gradients need)
* random: random_uniform (counter-based, a pure function of its key)
* collective: all_reduce (a sum or mean over the processes of a data-parallel job)
* regions: fused (a fused kernel); scan (a loop over a sequence axis with carried
  state: recurrent layers, never unrolled)
* composite: softmax, which the first pass (``expand``) writes as the primitives above;
  it exists for its own VJP (:mod:`.composite`)

Every op has a VJP rule or is marked NO_GRADIENT; ``stop_gradient`` (elementwise
identity) has a zero rule, which is what makes it stop gradients.
"""
from . import (collective, composite, elementwise, linalg, movement, random, reduction, region,
               scan, scatter)

__all__ = ["collective", "composite", "elementwise", "linalg", "movement", "random",
           "reduction", "region", "scan", "scatter"]
