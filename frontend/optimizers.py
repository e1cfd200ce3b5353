"""``fg.optimizers``: SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Ftrl, Adamax, Nadam and
Lion with Keras 3's update rules and defaults.

An optimizer's update is traced like everything else. ``apply_gradients`` inside a
trace (a ``train_step``, an ``fg.function``, or any symbolic gradient) emits the update
into the step graph: every new value (weights, slots, ``iterations``) is a
``variable.assign`` that the trace records, later reads in the step see, and the
runtime writes back after the step ran. So the optimizer's state lives in the step
graph, where the update fuses with the backward pass; nothing is computed in Python.
Called with numpy gradients outside a trace, the same code runs through a
:class:`~fusegraph.frontend.function.Function` cached on the optimizer (see
:mod:`.dispatch`; one trace per set of variables updated), so the numbers are the same
either way.

The base class and what one update does (checks, slots, clipping, weight decay, the
learning rate and its schedules) are in :mod:`.optimizer_base`; this module holds the
update rules and :func:`get`.
"""
from __future__ import annotations

import numpy as np

from ..ir import as_dtype
from . import ops
from .checks import check_bool, check_fraction, check_number
from .optimizer_base import Optimizer
from .variables import Variable


class SGD(Optimizer):
    """Gradient descent, with momentum and Nesterov momentum (Keras 3's rule):
    ``m <- momentum * m - lr * g``; ``w <- w + m`` (nesterov: ``w <- w + momentum * m - lr
    * g`` with the new ``m``); without momentum ``w <- w - lr * g`` and no slot."""

    default_name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("SGD", "momentum", momentum, low=0.0, high=1.0)
        self.momentum = float(momentum)
        check_bool("SGD", "nesterov", nesterov)
        self.nesterov = bool(nesterov)

    def slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        if self.momentum == 0:
            variable.assign_sub(gradient * lr)
            return
        m = self.get_slot(variable, "momentum")
        m_new = m.read_value() * self.momentum - gradient * lr
        m.assign(m_new)
        if self.nesterov:
            variable.assign_add(m_new * self.momentum - gradient * lr)
        else:
            variable.assign_add(m_new)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop (Keras 3's rule): ``v <- rho * v + (1 - rho) * g**2``; centered also keeps
    ``a <- rho * a + (1 - rho) * g`` and divides by ``sqrt(v - a**2 + eps)``, otherwise by
    ``sqrt(v + eps)`` (epsilon inside the root); with momentum, ``mom <- momentum * mom +
    lr * g / root`` and ``w <- w - mom``, otherwise ``w <- w - lr * g / root``."""

    default_name = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("RMSprop", "rho", rho, low=0.0, high=1.0)
        check_number("RMSprop", "momentum", momentum, low=0.0)
        check_number("RMSprop", "epsilon", epsilon, low=0.0)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        check_bool("RMSprop", "centered", centered)
        self.centered = bool(centered)

    def slot_names(self):
        return (("velocity",) + (("momentum",) if self.momentum > 0 else ())
                + (("average_gradient",) if self.centered else ()))

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        rho = self.rho
        velocity = self.get_slot(variable, "velocity")
        v = velocity.read_value() * rho + ops.square(gradient) * (1 - rho)
        velocity.assign(v)
        if self.centered:
            average = self.get_slot(variable, "average_gradient")
            a = average.read_value() * rho + gradient * (1 - rho)
            average.assign(a)
            denominator = v - ops.square(a) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * gradient / ops.sqrt(denominator)
        if self.momentum > 0:
            momentum = self.get_slot(variable, "momentum")
            mom = momentum.read_value() * self.momentum + increment
            momentum.assign(mom)
            variable.assign_sub(mom)
        else:
            variable.assign_sub(increment)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam (Keras 3's rule, t = iterations + 1): ``alpha = lr * sqrt(1 - beta_2**t) /
    (1 - beta_1**t)``; ``m <- m + (g - m)(1 - beta_1)``; ``v <- v + (g**2 - v)(1 -
    beta_2)``; ``w <- w - alpha * m / (sqrt(v) + eps)`` (epsilon added to sqrt(v), not to
    the bias-corrected root: Keras's, not the paper's or PyTorch's). With ``amsgrad`` the
    root uses ``v_hat <- max(v_hat, v)``."""

    default_name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):  # 1: 0/0 in the correction
            check_fraction(type(self).__name__, key, value)
        check_number(type(self).__name__, "epsilon", epsilon, low=0.0)
        check_bool(type(self).__name__, "amsgrad", amsgrad)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)

    def slot_names(self):
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def update_step(self, gradient, variable, learning_rate):
        alpha = self.once_per_apply(("alpha", variable.dtype),
                                    lambda: self._alpha(learning_rate, variable.dtype))
        m, v = _moments(self, variable, gradient)
        if self.amsgrad:
            v_hat = self.get_slot(variable, "velocity_hat")
            v = ops.maximum(v_hat.read_value(), v)
            v_hat.assign(v)
        variable.assign_sub(m * alpha / (ops.sqrt(v) + self.epsilon))

    def _alpha(self, learning_rate, dtype):
        """The bias-corrected step size ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``."""
        t = self.local_step(dtype.keras_name)
        beta_1_power = ops.power(ops.convert_to_tensor(self.beta_1, dtype), t)
        beta_2_power = ops.power(ops.convert_to_tensor(self.beta_2, dtype), t)
        return ops.cast(learning_rate, dtype) * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


def _moments(optimizer, variable, gradient) -> tuple:
    """Adam's moments of ``variable``'s slots, updated and assigned: ``m <- m + (g - m)(1
    - beta_1)``, ``v <- v + (g**2 - v)(1 - beta_2)``; the new ``(m, v)``."""
    m_slot = optimizer.get_slot(variable, "momentum")
    v_slot = optimizer.get_slot(variable, "velocity")
    m = m_slot.read_value()
    m = m + (gradient - m) * (1 - optimizer.beta_1)
    m_slot.assign(m)
    v = v_slot.read_value()
    v = v + (ops.square(gradient) - v) * (1 - optimizer.beta_2)
    v_slot.assign(v)
    return m, v


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w <- w - w * weight_decay * lr`` (default
    weight_decay 0.004), then the Adam update."""

    default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: argument `weight_decay` must be a float, got None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=amsgrad, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)


class Adagrad(Optimizer):
    """Adagrad (Keras 3's rule): ``acc <- acc + g**2`` (starting at
    ``initial_accumulator_value``); ``w <- w - lr * g / sqrt(acc + eps)``."""

    default_name = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("Adagrad", "initial_accumulator_value", initial_accumulator_value, low=0.0)
        check_number("Adagrad", "epsilon", epsilon, low=0.0)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def slot_names(self):
        return ("accumulator",)

    def slot_initial_value(self, slot: str) -> float:
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def update_step(self, gradient, variable, learning_rate):
        accumulator = self.get_slot(variable, "accumulator")
        total = accumulator.read_value() + ops.square(gradient)
        accumulator.assign(total)
        variable.assign_sub(ops.cast(learning_rate, variable.dtype) * gradient
                            / ops.sqrt(total + self.epsilon))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon,
                "initial_accumulator_value": self.initial_accumulator_value}


class Adadelta(Optimizer):
    """Adadelta (Keras 3's rule, Zeiler 2012 with a learning rate): ``acc_g <- rho acc_g +
    (1 - rho) g**2``; ``d = -sqrt(acc_d + eps) g / sqrt(acc_g + eps)`` (``acc_d`` before
    its update); ``acc_d <- rho acc_d + (1 - rho) d**2``; ``w <- w + lr d``. The paper's
    form is ``learning_rate=1.0``."""

    default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("Adadelta", "rho", rho, low=0.0, high=1.0)
        check_number("Adadelta", "epsilon", epsilon, low=0.0)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def update_step(self, gradient, variable, learning_rate):
        rho = self.rho
        grad_slot = self.get_slot(variable, "accumulated_grad")
        delta_slot = self.get_slot(variable, "accumulated_delta_var")
        acc_g = grad_slot.read_value() * rho + ops.square(gradient) * (1 - rho)
        grad_slot.assign(acc_g)
        acc_d = delta_slot.read_value()
        delta = -(ops.sqrt(acc_d + self.epsilon) * gradient) / ops.sqrt(acc_g + self.epsilon)
        delta_slot.assign(acc_d * rho + ops.square(delta) * (1 - rho))
        variable.assign_add(ops.cast(learning_rate, variable.dtype) * delta)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al. 2013; Keras 3's rule, ``p = learning_rate_power``,
    ``l1``, ``l2``, ``l2_shrinkage`` the regularization strengths): ``n' = n + g**2``;
    ``z <- z + g + 2 l2_shrinkage w - (n'**-p - n**-p) / lr * w``; ``w <- (clip(z, -l1,
    l1) - z) / (n'**-p / lr + 2 l2 + beta / lr)``; ``n <- n'`` (``n`` starts at
    ``initial_accumulator_value``, ``z`` at 0)."""

    default_name = "ftrl"

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("Ftrl", "learning_rate_power", learning_rate_power, high=0.0)
        for key, value in (("initial_accumulator_value", initial_accumulator_value),
                           ("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength",
                            l2_shrinkage_regularization_strength),
                           ("beta", beta)):
            check_number("Ftrl", key, value, low=0.0)
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = float(beta)

    def slot_names(self):
        return ("accumulator", "linear")

    def slot_initial_value(self, slot: str) -> float:
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        power = -self.learning_rate_power
        accumulator = self.get_slot(variable, "accumulator")
        linear_slot = self.get_slot(variable, "linear")
        w, n = variable.read_value(), accumulator.read_value()
        n_new = n + ops.square(gradient)
        shrunk = gradient + 2 * self.l2_shrinkage_regularization_strength * w
        sigma = (ops.power(n_new, power) - ops.power(n, power)) / lr
        z = linear_slot.read_value() + (shrunk - sigma * w)
        linear_slot.assign(z)
        l1 = self.l1_regularization_strength
        quadratic = ops.power(n_new, power) / lr + 2 * (
            self.l2_regularization_strength + self.beta / (2.0 * lr))
        variable.assign((ops.clip(z, -l1, l1) - z) / quadratic)
        accumulator.assign(n_new)

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class _BetasOptimizer(Optimizer):
    """An optimizer with ``beta_1``, ``beta_2`` and ``epsilon`` (Adamax, Nadam)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        for key, value in (("beta_1", beta_1), ("beta_2", beta_2)):
            check_fraction(type(self).__name__, key, value)
        check_number(type(self).__name__, "epsilon", epsilon, low=0.0)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adamax(_BetasOptimizer):
    """Adamax (Keras 3's rule, t = iterations + 1): ``m <- m + (g - m)(1 - beta_1)``;
    ``u <- max(beta_2 * u, |g|)``; ``w <- w - lr * m / ((1 - beta_1**t)(u + eps))``."""

    default_name = "adamax"

    def slot_names(self):
        return ("momentum", "norm")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        t = self.local_step(dtype.keras_name)
        m_slot, u_slot = self.get_slot(variable, "momentum"), self.get_slot(variable, "norm")
        m = m_slot.read_value()
        m = m + (gradient - m) * (1 - self.beta_1)
        m_slot.assign(m)
        u = ops.maximum(u_slot.read_value() * self.beta_2, ops.abs(gradient))
        u_slot.assign(u)
        correction = 1 - ops.power(ops.convert_to_tensor(self.beta_1, dtype), t)
        variable.assign_sub(ops.cast(learning_rate, dtype) * m / (correction * (u + self.epsilon)))


class Nadam(_BetasOptimizer):
    """Nadam (Keras 3's rule, t = iterations + 1): momentum schedule ``mu_t = beta_1 (1 -
    0.96**t / 2)``, its running product ``P_t = P_{t-1} mu_t`` (a variable, from 1);
    ``m`` and ``v`` as Adam's; ``m_hat = mu_{t+1} m / (1 - P_t mu_{t+1}) + (1 - mu_t) g
    / (1 - P_t)``, ``v_hat = v / (1 - beta_2**t)``; ``w <- w - lr * m_hat / (sqrt(v_hat)
    + eps)``."""

    default_name = "nadam"

    def slot_names(self):
        return ("momentum", "velocity")

    def build(self, variables) -> None:
        if self.built:
            return
        super().build(variables)
        dtype = list(variables)[0].dtype if variables else "float32"
        self._u_product = Variable(np.ones((), as_dtype(dtype).numpy), "u_product",
                                   f"{self.name}/u_product", trainable=False, dtype=dtype)
        self._slot_list.append(self._u_product)    # among ``variables``: saved, restored

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        t = self.local_step(dtype.keras_name)
        mu_t, mu_next = self._mu(t, dtype), self._mu(t + 1, dtype)
        product = ops.cast(self.once_per_apply("u_product", self._next_u_product), dtype)
        m, v = _moments(self, variable, gradient)
        m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu_t) * gradient / (1 - product)
        v_hat = v / (1 - ops.power(ops.convert_to_tensor(self.beta_2, dtype), t))
        variable.assign_sub(ops.cast(learning_rate, dtype) * m_hat
                            / (ops.sqrt(v_hat) + self.epsilon))

    def _mu(self, step, dtype):
        """The momentum schedule at ``step``: ``beta_1 (1 - 0.96**step / 2)``."""
        return self.beta_1 * (1.0 - 0.5 * ops.power(ops.convert_to_tensor(0.96, dtype), step))

    def _next_u_product(self):
        """``P_t``: the running product times this step's ``mu_t``, assigned once per
        apply (every variable's update reads it)."""
        dtype = self._u_product.dtype
        product = self._u_product.read_value() * self._mu(self.local_step(dtype.keras_name),
                                                          dtype)
        self._u_product.assign(product)
        return product


class Lion(Optimizer):
    """Lion (Keras 3's rule): ``w <- w - lr * sign(beta_1 m + (1 - beta_1) g)``, then
    ``m <- beta_2 m + (1 - beta_2) g``."""

    default_name = "lion"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        check_number("Lion", "beta_1", beta_1, low=0.0, high=1.0, open_low=True)
        check_fraction("Lion", "beta_2", beta_2)
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)

    def slot_names(self):
        return ("momentum",)

    def update_step(self, gradient, variable, learning_rate):
        m_slot = self.get_slot(variable, "momentum")
        m = m_slot.read_value()
        direction = ops.sign(m * self.beta_1 + gradient * (1.0 - self.beta_1))
        variable.assign_sub(ops.cast(learning_rate, variable.dtype) * direction)
        m_slot.assign(m * self.beta_2 + gradient * (1.0 - self.beta_2))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "adamax": Adamax, "nadam": Nadam, "lion": Lion, "adadelta": Adadelta, "ftrl": Ftrl}


def get(identifier):
    """An optimizer from a name (``"adam"``, any case), a config dict
    (``{"class_name": "Adam", "config": {...}}``) or an optimizer (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or an Optimizer instance")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(str(identifier["class_name"]).lower())
        if cls is None:
            raise ValueError(f"unknown optimizer class {identifier['class_name']!r}; "
                             f"expected one of {[c.__name__ for c in _BY_NAME.values()]}")
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"could not interpret optimizer identifier {identifier!r}: expected a "
                     f"name ({', '.join(sorted(_BY_NAME))}), a config dict or an Optimizer")


__all__ = ["Adadelta", "Adagrad", "Adam", "Adamax", "AdamW", "Ftrl", "Lion", "Nadam", "Optimizer",
           "RMSprop", "SGD", "get"]
