"""``Optimizer``: the base class of the optimizers and the machinery of an update.

A subclass names its per-variable slots (:meth:`Optimizer.slot_names`) and emits one
variable's rule (:meth:`Optimizer.update_step`); everything else is here. What one
``apply`` does, in Keras's order (``keras/src/optimizers/base_optimizer.py``):

1. check the pairs: every gradient's shape must equal its variable's, checked for all
   pairs before anything is built or assigned, so a bad call changes nothing;
2. build the slots on the first call (for every variable passed, with or without a
   gradient), and drop pairs whose gradient is None (with a warning naming them);
3. clip: ``clipnorm`` per gradient (``g * c / max(||g||, c)``), ``global_clipnorm``
   over all of them (``g * c * min(1 / norm, 1 / c)``, NaN when the norm is not
   finite), or ``clipvalue`` elementwise (at most one of the three);
4. weight decay, when ``weight_decay`` is set, for every optimizer as Keras applies it:
   ``w <- w - w * weight_decay * lr`` before the update rule;
5. each variable's update rule (:meth:`Optimizer.update_step`);
6. with ``use_ema``, the moving average of every variable the optimizer was built on
   (``a <- m a + (1 - m) w``, ``m = ema_momentum``, 0 at the first step so that ``a``
   starts at ``w``), and, with ``ema_overwrite_frequency`` N, ``w <- a`` at every N-th
   step (Keras's JAX backend's order: the average of the new weights, then the
   overwrite); :meth:`Optimizer.finalize_variable_values` writes the averages into the
   weights (``fit`` calls it after its last epoch, as Keras's);
7. each updated variable's constraint (``w <- constraint(w)``);
8. ``iterations <- iterations + 1``.

The learning rate is a non-trainable float32 Variable (``<name>/learning_rate``, as in
Keras), read by the step graph as a parameter: setting ``optimizer.learning_rate`` to a
number between steps (a callback does) takes effect at the next step without tracing
again. A :class:`~fusegraph.frontend.schedules.LearningRateSchedule` is instead called
inside the step with the step count ``iterations`` (before its increment), so it too is
computed in the graph — which is why setting a schedule (on an optimizer that had a
number or another schedule) changes the graph: it bumps :attr:`Optimizer.trace_version`,
and the model's train step, whose traces are valid for one version, is traced again at
its next step (the optimizer's own eager steps too). Setting a number on an optimizer
whose learning rate is a schedule is a TypeError, as in Keras. A step you trace
yourself with ``fg.function`` is not watched: make a new ``fg.function`` after such a
change.

Slots are zeros Variables shaped like their model variable, non-trainable, with Keras's
paths ``<optimizer name>/<variable path, '/' -> '_'>_<slot>`` (``adam/dense_kernel_momentum``).
``variables`` lists ``iterations``, the learning-rate variable, then the slots variable
by variable (``momentum, velocity`` for each variable for Adam), Keras 3's order; with
``use_ema`` the averages (``<path>_average``) of all variables come before the slots.
"""
from __future__ import annotations

import numpy as np

from ..ir.builder import user_site
from . import collectives, ops
from .checks import check_number
from .dispatch import clear_eager_functions, eager_or_traced, tracing
from .optimizer_checks import (check_ema, check_gradients, check_options, check_variables,
                               warn_at_user)
from .schedules import LearningRateSchedule
from .tensor import TraceError, is_symbolic
from .variables import Variable


class Optimizer:
    """Base class of the optimizers; subclasses define :meth:`slot_names` and
    :meth:`update_step` (see the module docstring for what ``apply`` does)."""

    default_name = "optimizer"

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, name=None, **kwargs):
        owner = type(self).__name__
        check_options(owner, kwargs, {"clipnorm": clipnorm, "clipvalue": clipvalue,
                                      "global_clipnorm": global_clipnorm}, weight_decay, name)
        check_ema(owner, use_ema, ema_momentum, ema_overwrite_frequency)
        self.name = name if name is not None else self.default_name
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.built = False
        self._trainable_variables: list[Variable] = []
        self._index: dict[int, int] = {}
        self._slots: dict[tuple[int, str], Variable] = {}
        self._slot_list: list[Variable] = []
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()
        self._per_apply: dict = {}
        self.iterations = Variable(0, "iteration", f"{self.name}/iteration", trainable=False,
                                   dtype="int64")
        self._learning_rate_variable: Variable | None = None
        self._learning_rate = None
        self._trace_version = 0
        self._set_learning_rate(learning_rate)

    @property
    def trace_version(self) -> int:
        """A counter of configuration changes that traced steps cannot see through their
        parameters (a learning-rate schedule set); a trace that applied this optimizer
        is valid for one version (see the module docstring)."""
        return self._trace_version

    # --- learning rate ------------------------------------------------------------
    @property
    def learning_rate(self):
        """The learning rate of the next step: inside a trace a float32 scalar tensor,
        outside it a ``numpy.float32`` (a schedule evaluated at ``iterations``)."""
        if tracing():
            return self._current_learning_rate()
        if isinstance(self._learning_rate, LearningRateSchedule):
            return np.float32(self._learning_rate(self.iterations.numpy()))
        return np.float32(self._learning_rate_variable.numpy())

    @learning_rate.setter
    def learning_rate(self, value):
        self._set_learning_rate(value)

    def _set_learning_rate(self, value) -> None:
        if isinstance(value, LearningRateSchedule):
            if value is not self._learning_rate:
                self._learning_rate = value
                self._trace_version += 1   # traced steps read the old rate: trace them again
                clear_eager_functions(self)
            return
        if callable(value) and not isinstance(value, Variable):
            raise TypeError(f"{type(self).__name__}: `learning_rate` must be a float or a "
                            f"LearningRateSchedule, got the callable {value!r}; write it as "
                            f"a LearningRateSchedule subclass whose __call__(step) gets the "
                            f"step count")
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError(f"{user_site()}: {type(self).__name__}'s learning rate is the "
                            f"LearningRateSchedule {self._learning_rate!r}, so it is not "
                            f"settable to the number {value!r} (as in Keras); set another "
                            f"LearningRateSchedule, or create the optimizer with a float "
                            f"`learning_rate` to set numbers")
        if is_symbolic(value) and self._learning_rate_variable is not None:
            self._learning_rate_variable.assign(value)  # recorded in the current trace
            return
        if isinstance(value, Variable):
            value = value.numpy()
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        check_number(type(self).__name__, "learning_rate", value, low=0.0)
        if self._learning_rate_variable is None:
            self._learning_rate_variable = Variable(
                np.float32(value), "learning_rate", f"{self.name}/learning_rate",
                trainable=False, dtype="float32")
        else:
            self._learning_rate_variable.assign(np.float32(value))
        if self._learning_rate is not self._learning_rate_variable:
            self._learning_rate = self._learning_rate_variable
            clear_eager_functions(self)

    def _current_learning_rate(self):
        """The learning rate as a float32 scalar tensor (inside a trace)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            lr = self._learning_rate(self.iterations.read_value())
            lr = ops.cast(ops.convert_to_tensor(lr), "float32")
            if lr.ndim != 0:
                raise ValueError(f"learning rate schedule {self._learning_rate!r} returned a "
                                 f"tensor of shape {lr.shape}; expected a scalar")
            return lr
        return self._learning_rate_variable.read_value()

    # --- variables ----------------------------------------------------------------
    @property
    def variables(self) -> list[Variable]:
        """``iterations``, the learning-rate variable (unless a schedule), the slots."""
        lr = [self._learning_rate_variable] if self._learning_rate is self._learning_rate_variable \
            else []
        return [self.iterations] + lr + list(self._slot_list)

    def slot_names(self) -> tuple[str, ...]:
        """The slots this optimizer keeps per model variable, in creation order."""
        return ()

    def slot_initial_value(self, slot: str) -> float:
        """The value every element of ``slot`` starts at (0; Adagrad's accumulator: its
        ``initial_accumulator_value``)."""
        return 0.0

    def build(self, variables) -> None:
        """Create the slots for ``variables`` (once; later calls do nothing): with
        ``use_ema`` first every variable's ``average``, then the slots variable by
        variable."""
        if self.built:
            return
        variables = list(variables)
        check_variables(self, variables)
        if self.use_ema:
            for variable in variables:
                self.add_variable_from_reference(variable, "average")
        for i, variable in enumerate(variables):
            self._index[id(variable)] = i
            for slot in self.slot_names():
                self.add_variable_from_reference(variable, slot)
        self._trainable_variables = variables
        self.built = True

    def add_variable_from_reference(self, variable: Variable, slot: str) -> Variable:
        """A slot shaped like ``variable`` filled with :meth:`slot_initial_value`, stored
        for :meth:`get_slot`."""
        path = f"{self.name}/{variable.path.replace('/', '_')}_{slot}"
        created = Variable(np.full(variable.shape, self.slot_initial_value(slot),
                                   variable.dtype.numpy), path.split("/")[-1],
                           path, trainable=False, dtype=variable.dtype)
        self._slots[(id(variable), slot)] = created
        self._slot_list.append(created)
        return created

    def get_slot(self, variable: Variable, slot: str) -> Variable:
        try:
            return self._slots[(id(variable), slot)]
        except KeyError:
            raise KeyError(f"optimizer '{self.name}' has no slot '{slot}' for variable "
                           f"'{variable.path}' (slots: {list(self.slot_names())})") from None

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Exempt variables from weight decay: those in ``var_list``, and those whose
        name contains any of ``var_names`` (as Keras). Call before the first step."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before "
                             "the optimizer is built")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_names = tuple(var_names or ())

    def _use_weight_decay(self, variable: Variable) -> bool:
        return id(variable) not in self._exclude_ids and not any(
            n in variable.name for n in self._exclude_names)

    # --- applying gradients ---------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply ``(gradient, variable)`` pairs; returns ``iterations`` (tf.keras compat)."""
        pairs = list(grads_and_vars)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{user_site()}: apply_gradients expects (gradient, variable) "
                                f"pairs; item {i} is {pair!r}")
        if not pairs:
            return self.iterations
        grads, variables = zip(*pairs)
        self.apply(list(grads), list(variables))
        return self.iterations

    def apply(self, grads, trainable_variables=None) -> None:
        """Update ``trainable_variables`` with ``grads`` (one each, in order); without
        ``trainable_variables``, the variables the optimizer was built on."""
        grads = list(grads)
        if not grads:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError(f"optimizer '{self.name}': when passing `grads` without "
                                 f"variables, the optimizer must already be built; call "
                                 f"`optimizer.build(trainable_variables)` first")
            variables = list(self._trainable_variables)
        else:
            variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"optimizer '{self.name}': got {len(grads)} gradients for "
                             f"{len(variables)} variables; expected one gradient per variable")
        check_variables(self, variables)
        if self.built:
            unknown = [v.path for v in variables if id(v) not in self._index]
            if unknown:
                raise ValueError(f"optimizer '{self.name}' was built for other variables and "
                                 f"cannot update {unknown}; create a new optimizer for a new "
                                 f"set of variables")
        check_gradients(self, grads, variables)
        if not tracing() and any(is_symbolic(g) for g in grads):
            raise TraceError(f"{user_site()}: optimizer '{self.name}' got symbolic gradients "
                             f"outside a traced step; apply them inside fg.function or a "
                             f"model's train_step, or pass numpy arrays")
        missing = [v.path for g, v in zip(grads, variables) if g is None]
        kept = [(g, v) for g, v in zip(grads, variables) if g is not None]
        if not kept:
            raise ValueError(f"optimizer '{self.name}': no gradients provided for any "
                             f"variable ({', '.join(missing)})")
        self.build(variables)  # on every variable passed, as Keras, None gradient or not
        if missing:
            warn_at_user(f"Gradients do not exist for variables {missing} when minimizing "
                          f"the loss; they are left unchanged.")
        grads, variables = [g for g, _ in kept], [v for _, v in kept]
        if not tracing():  # numpy gradients in their variable's dtype: one trace serves all
            grads = [np.asarray(g, dtype=v.dtype.numpy) for g, v in zip(grads, variables)]
        self._apply_update(variables, *grads)

    @eager_or_traced(method=True, data=("grads",), symbolic_batch=False,
                     name=lambda optimizer: f"{optimizer.name}_apply")
    def _apply_update(self, variables, *grads) -> None:
        """Emit the whole update (the average over replicas in a data-parallel step, clip,
        decay, each variable's rule, the step count);
        with numpy gradients outside a trace, through a cached Function (the variables
        are static: one trace per set of them)."""
        grads = [ops.cast(ops.convert_to_tensor(g), v.dtype) for g, v in zip(grads, variables)]
        grads = collectives.mean_over_replicas(grads)    # data-parallel: then clipped, as TF
        grads = self._clip_gradients(grads)
        learning_rate = self._current_learning_rate()
        self._per_apply = {}
        try:
            self._apply_weight_decay(variables, learning_rate)
            for g, v in zip(grads, variables):
                self.update_step(g, v, learning_rate)
        finally:
            self._per_apply = {}
        if self.use_ema:
            self._update_moving_averages()
        for v in variables:
            if v.constraint is not None:        # Keras's: after the update, in the step
                v.assign(v.constraint(v.read_value()))
        self.iterations.assign_add(1)

    def _update_moving_averages(self) -> None:
        """Emit the EMA of every variable built on (step 6 of the module docstring). The
        overwrite test ``(iterations + 1) % N == 0`` is ``q == floor(q)`` for ``q =
        (iterations + 1) / N`` in float64, exact below 2**52 steps (the IR has no
        integer remainder)."""
        iterations = self.iterations.read_value()
        later_step = ops.not_equal(iterations, 0)
        overwrite = None
        if self.ema_overwrite_frequency is not None:
            q = ops.cast(iterations + 1, "float64") / float(self.ema_overwrite_frequency)
            overwrite = ops.equal(q, ops.floor(q))
        for variable in self._trainable_variables:
            average = self.get_slot(variable, "average")
            w = variable.read_value()
            momentum = ops.cast(later_step, variable.dtype) * self.ema_momentum
            new = momentum * average.read_value() + (1 - momentum) * w
            average.assign(new)
            if overwrite is not None:
                variable.assign(ops.where(overwrite, new, w))

    def keeps_average(self, variable) -> bool:
        """Whether this optimizer keeps a moving average (``use_ema``) of ``variable``."""
        return self.use_ema and (id(variable), "average") in self._slots

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``, set each variable of ``var_list`` to its moving average
        (Keras's ``fit`` calls this with the model's trainable weights after training);
        otherwise, or before the first step (no averages yet), nothing. Each variable
        must be one the optimizer was built on."""
        if not (self.use_ema and self.built):
            return
        var_list = list(var_list)
        check_variables(self, var_list)
        unknown = [v.path for v in var_list if id(v) not in self._index]
        if unknown:
            raise ValueError(f"{user_site()}: optimizer '{self.name}' keeps no moving average "
                             f"of {unknown}: it was built on "
                             f"{[v.path for v in self._trainable_variables]}")
        for variable in var_list:
            variable.assign(self.get_slot(variable, "average"))

    def _clip_gradients(self, grads):
        if self.clipnorm is not None and self.clipnorm > 0:
            c = self.clipnorm
            return [g * c / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), c) for g in grads]
        if self.global_clipnorm is not None and self.global_clipnorm > 0:
            c = self.global_clipnorm
            dtype = "float64" if any(g.dtype == "float64" for g in grads) else "float32"
            total = ops.sum(ops.stack([ops.cast(ops.sum(ops.square(g)), dtype) for g in grads]))
            norm = ops.sqrt(total)
            # Keras's clip_by_global_norm to the last rounding: c * min(1 / norm, 1 / c)
            # (c * (1 / c) need not be 1 in float32); NaN when the norm is inf or NaN
            scale = c * ops.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
            return [g * ops.cast(scale, g.dtype) for g in grads]
        if self.clipvalue is not None and self.clipvalue > 0:
            c = self.clipvalue
            return [ops.clip(g, -c, c) for g in grads]
        return grads

    def _apply_weight_decay(self, variables, learning_rate) -> None:
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                w = variable.read_value()
                lr = ops.cast(learning_rate, variable.dtype)
                variable.assign(w - w * ops.cast(self.weight_decay, variable.dtype) * lr)

    def once_per_apply(self, key, compute):
        """``compute()``, emitted once per ``apply`` for ``key`` and reused by every
        variable's update (Adam's bias correction is the same for all of them)."""
        if key not in self._per_apply:
            self._per_apply[key] = compute()
        return self._per_apply[key]

    def local_step(self, dtype="float32"):
        """``iterations + 1`` (the step t, from 1) in ``dtype``."""
        return self.once_per_apply(("local_step", dtype), lambda: ops.cast(
            self.iterations.read_value() + 1, dtype))

    def update_step(self, gradient, variable: Variable, learning_rate) -> None:
        """Emit the update of ``variable`` for ``gradient`` (both symbolic, the gradient
        already clipped and in the variable's dtype)."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    # --- config -----------------------------------------------------------------------
    def get_config(self) -> dict:
        if isinstance(self._learning_rate, LearningRateSchedule):
            from .serialization import serialize_keras_object   # Keras's record, with module
            lr = serialize_keras_object(self._learning_rate)
        else:
            lr = float(self._learning_rate_variable.numpy())
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": None, "gradient_accumulation_steps": None}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):        # a schedule's record: ours, a registered one, Keras's
            from .serialization import deserialize_keras_object
            schedule = deserialize_keras_object(
                {"module": "keras.optimizers.schedules", **lr})
            if not isinstance(schedule, LearningRateSchedule):
                raise ValueError(f"the learning rate {lr.get('class_name')!r} is not a "
                                 f"learning rate schedule")
            config["learning_rate"] = schedule
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name} built={self.built}>"
