"""The primitive op set. Importing this package registers every op.

The set is small on purpose: higher-level ops (softmax, log-softmax, layer norm,
attention, cross-entropies, activations) are traced as compositions of these, so the
passes and backends have few ops to understand and fusion recovers the speed.

* elementwise: neg abs sign exp log sqrt rsqrt tanh sigmoid erf sin cos floor;
  add sub mul div pow maximum minimum; eq ne lt le gt ge; logical_and logical_or
  logical_not; where; cast; constant
* reductions: reduce_sum reduce_mean reduce_max reduce_min argmax argmin
* contraction: matmul
* movement: reshape transpose broadcast_to concatenate slice take one_hot iota
* regions: fused
"""
from . import elementwise, linalg, movement, reduction, region  # noqa: F401  (registration)
