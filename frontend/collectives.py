"""What a data-parallel step traces differently: the all-reduces it emits.

A model compiled with ``distribute=`` traces its train and test steps inside
:func:`replicated` (:mod:`fusegraph.distribute` wraps them), and three places then ask
:func:`active` and emit ``all_reduce`` ops (:mod:`fusegraph.ir.ops.collective`):

* the optimizer averages each gradient before its update (:func:`mean_over_replicas`;
  one op per gradient here, joined into buckets by the ``all_reduce_buckets`` pass);
* a Metric's ``update_state`` adds what every replica added (:func:`sync_metric_update`:
  the change of each state variable, summed over replicas, on top of the value all
  replicas shared: :func:`summed_update`), so the logs are the global ones on every
  replica;
* BatchNormalization takes the batch moments over the global batch (SyncBatchNorm);
* a loss whose reduction divides by a count of the batch (a masked mean, a mean over
  the sample weights) divides by the global count, and a summed loss is scaled by the
  number of replicas (:func:`global_count`, :func:`replicas`), so that the averaged
  gradients are the global batch's.

Outside :func:`replicated`, or in eager code, nothing changes.
"""
from __future__ import annotations

import contextvars
import functools

from ..ir import emit
from ..ir.ops import collective
from . import ops
from .context import replicated_flag
from .ops_coerce import _wrap
from .tensor import is_symbolic

_REPLICATED: contextvars.ContextVar[bool] = contextvars.ContextVar("fusegraph_replicated",
                                                                  default=False)


def active() -> bool:
    """Whether the step being traced runs on every replica of a data-parallel job."""
    return _REPLICATED.get()


def replicated(step):
    """``step`` (a train or test step function) traced as a data-parallel step."""
    @functools.wraps(step)
    def traced(*args, **kwargs):
        token = _REPLICATED.set(True)
        try:
            return step(*args, **kwargs)
        finally:
            _REPLICATED.reset(token)
    return traced


def all_reduce(tensors: list, mean: bool) -> list:
    """One ``all_reduce`` op per tensor (the buckets pass joins, places and numbers them)."""
    return [_wrap(emit("all_reduce", t.value, mean=mean), (t,))
            for t in (ops.convert_to_tensor(t) for t in tensors)]


def mean_over_replicas(tensors: list) -> list:
    """``tensors`` averaged over the replicas when :func:`active`, else as they are."""
    return all_reduce(tensors, mean=True) if active() and tensors else list(tensors)


def global_count(count):
    """A loss's denominator (the valid entries of a mask, the sum of sample weights) as
    the mean over replicas of theirs while :func:`active`: a replica's loss over that
    count, averaged over replicas as its gradients are, is then the global batch's
    (sum of all numerators over the sum of all counts). Else ``count``."""
    return mean_over_replicas([count])[0]


def replicas() -> int:
    """How many replicas a step traced now is averaged over (1 outside :func:`active`):
    a summed loss is scaled by it, so that the average of the replicas' gradients is the
    gradient of the global batch's sum."""
    return collective.communicator().size if active() else 1


def moments(x, axes: tuple):
    """``(mean, variance)`` of ``x`` over ``axes`` (Keras's formula: the variance is the
    mean squared deviation), over the global batch in a replicated step: every replica
    holds an equal share of it, so the global mean is the mean of the replicas' means,
    and the variance the mean of their mean squared deviations from it. When
    :func:`active`, that; eagerly, the local moments; while a graph is built outside a
    replicated step (a functional model, which a replicated step may inline later),
    both, selected by the ``replicated`` context flag (:mod:`.context`)."""
    from .nn import moments as local_moments
    if active():
        return _global_moments(x, axes)
    if not is_symbolic(x):
        return local_moments(x, axes)
    flag = replicated_flag()
    return tuple(ops.where(flag, g, l) for g, l in zip(_global_moments(x, axes),
                                                       local_moments(x, axes)))


def _global_moments(x, axes: tuple):
    """The global batch's moments, through mean all-reduces (whether or not a replicated
    step is being traced: :func:`moments` decides when they are used)."""
    (mean,) = all_reduce([ops.mean(x, axis=axes, keepdims=True)], mean=True)
    (variance,) = all_reduce([ops.mean(ops.square(ops.subtract(x, mean)), axis=axes)],
                             mean=True)
    return ops.squeeze_axes(mean, axes), variance


_SYNCING: contextvars.ContextVar[bool] = contextvars.ContextVar("fusegraph_metric_sync",
                                                               default=False)


def summed_update(variables, update):
    """``update()`` (a metric's ``update_state``), and while :func:`active` each state
    variable in ``variables`` ends with the value it had plus the sum over replicas of
    what each replica's update changed (Keras's ``aggregation="sum"`` of a metric
    variable; every replica starts from the same value: all reset together, all updated
    by the same sums). An update inside another (a subclass calling its base's) is
    summed once, by the outer one. Returns what ``update`` returns."""
    if not active() or _SYNCING.get():
        return update()
    before = [v.read_value() for v in variables]
    token = _SYNCING.set(True)
    try:
        returned = update()
    finally:
        _SYNCING.reset(token)
    after = [v.read_value() for v in variables]
    changed = [(v, b, a) for v, b, a in zip(variables, before, after) if a.value is not b.value]
    sums = all_reduce([ops.subtract(a, b) for _, b, a in changed], mean=False)
    for (variable, b, _), total in zip(changed, sums):
        variable.assign(ops.add(b, total))
    return returned
