"""Weight initializers with Keras's names, defaults and fan computation."""
from __future__ import annotations

import numpy as np

from ..ir import as_dtype
from ..ir.builder import current_layer_path, user_site
from .random_state import generator
from .serialization import arguments_config


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[float, float]:
    """Keras's fans: the products of ``input_axes`` and ``output_axes`` when both are
    given (an einsum kernel's contracted and produced axes); else for rank > 2 the
    leading axes form the receptive field."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (float(np.prod([shape[a] for a in input_axes])),
                float(np.prod([shape[a] for a in output_axes])))
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = float(np.prod(shape[:-2])) if len(shape) > 2 else 1.0
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Call with (shape, dtype) to get a numpy array."""

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.sample(tuple(shape)), dtype=as_dtype(dtype).numpy)

    def sample(self, shape):
        raise TypeError(f"{type(self).__name__} does not define sample()")

    def get_config(self) -> dict:
        """Keras's config: the constructor's arguments (kept as attributes)."""
        return arguments_config(self)

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class Zeros(Initializer):
    def sample(self, shape):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def sample(self, shape):
        return np.full(shape, self.value)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def sample(self, shape):
        return generator(self.seed).uniform(self.minval, self.maxval, shape)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return generator(self.seed).normal(self.mean, self.stddev, shape)


class GlorotUniform(Initializer):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out)); ``input_axes`` and
    ``output_axes`` as :func:`compute_fans` takes them."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        self.seed, self.input_axes, self.output_axes = seed, input_axes, output_axes

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return generator(self.seed).uniform(-limit, limit, shape)


class GlorotNormal(Initializer):
    """Truncated normal (2 stddev) with stddev = sqrt(2 / (fan_in + fan_out)) / .8796;
    ``input_axes`` and ``output_axes`` as :func:`compute_fans` takes them."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        self.seed, self.input_axes, self.output_axes = seed, input_axes, output_axes

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        stddev = np.sqrt(2.0 / (fan_in + fan_out)) / TRUNCATED_STDDEV
        return _truncated_normal(generator(self.seed), 0.0, stddev, shape)


# The standard deviation of a unit normal truncated at 2 (a truncated draw of this
# stddev is divided by it to have the stddev asked for).
TRUNCATED_STDDEV = 0.87962566103423978


def _truncated_normal(rng, mean, stddev, shape):
    """Normal draws of ``mean`` and ``stddev``, each beyond 2 stddev drawn again."""
    out = rng.normal(mean, stddev, shape)
    bad = np.abs(out - mean) > 2 * stddev
    while bad.any():
        out[bad] = rng.normal(mean, stddev, int(bad.sum()))
        bad = np.abs(out - mean) > 2 * stddev
    return out


class TruncatedNormal(Initializer):
    """Normal draws, each beyond 2 ``stddev`` of the ``mean`` drawn again (Keras's)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def sample(self, shape):
        return _truncated_normal(generator(self.seed), self.mean, self.stddev, shape)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: ``scale`` over the fan ``mode`` says (``fan_in``,
    ``fan_out``, ``fan_avg``) is the variance of a ``truncated_normal`` (its stddev
    corrected for the truncation), an ``untruncated_normal`` or a ``uniform``
    distribution; ``input_axes`` and ``output_axes`` as :func:`compute_fans` takes them."""

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0:
            raise ValueError(f"VarianceScaling: scale must be a positive number, got {scale!r}")
        if mode not in self.MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {self.MODES}, got {mode!r}")
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of "
                             f"{self.DISTRIBUTIONS}, got {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.input_axes, self.output_axes = input_axes, output_axes

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        variance = self.scale / max(1.0, fan[self.mode])
        rng = generator(self.seed)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, np.sqrt(variance), shape)
        return _truncated_normal(rng, 0.0, np.sqrt(variance) / TRUNCATED_STDDEV, shape)


class HeNormal(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed, input_axes, output_axes)


class HeUniform(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(2.0, "fan_in", "uniform", seed, input_axes, output_axes)


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed, input_axes, output_axes)


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(1.0, "fan_in", "uniform", seed, input_axes, output_axes)


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only, as Keras's)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def sample(self, shape):
        if len(shape) != 2:
            raise ValueError(f"{_where()}the identity initializer needs a 2-D shape, got "
                             f"{shape}")
        return self.gain * np.eye(*shape)


class Orthogonal(Initializer):
    """Keras's orthogonal matrix: the Q of the QR decomposition of a standard normal
    matrix, its columns' signs fixed by R's diagonal (so Q is uniformly distributed),
    times ``gain``. A shape of rank > 2 is drawn as the (prod(shape[:-1]), shape[-1])
    matrix and reshaped. With fewer rows than columns the rows are orthonormal (the
    transpose of a tall draw), else the columns."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"{_where()}the orthogonal initializer needs a shape of rank >= 2 "
                             f"(a matrix), got {shape}")
        rows, cols = int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]
        a = generator(self.seed).normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


_BY_NAME = {"zeros": Zeros, "ones": Ones, "random_uniform": RandomUniform,
            "uniform": RandomUniform, "random_normal": RandomNormal, "normal": RandomNormal,
            "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
            "orthogonal": Orthogonal, "constant": Constant,
            "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
            "he_normal": HeNormal, "he_uniform": HeUniform, "lecun_normal": LecunNormal,
            "lecun_uniform": LecunUniform, "identity": Identity}


# Keras's get() also takes the class names ("Zeros", PReLU's default; "GlorotUniform").
_BY_NAME.update({cls.__name__: cls for cls in set(_BY_NAME.values())})


def get(identifier) -> Initializer:
    """An initializer from a Keras name (or class name), an Initializer or any
    callable(shape, dtype)."""
    try:
        return _lookup(identifier)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{_where()}{e}") from None


def check(owner: str, **identifiers) -> None:
    """Each ``argument=identifier`` names an initializer :func:`get` takes, else its
    error naming ``owner`` and the argument (a layer's constructor checks its
    initializers so, before anything is built)."""
    for key, identifier in identifiers.items():
        try:
            _lookup(identifier)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{owner}: `{key}`: {e}") from None


def _lookup(identifier) -> Initializer:
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown initializer {identifier!r}: expected one of "
                             f"{sorted(_BY_NAME)}")
        return _BY_NAME[identifier]()
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name or a callable, got {identifier!r}")


def with_fan_axes(identifier, input_axes, output_axes):
    """``identifier`` as Keras 3.15's EinsumDense builds its kernel: a variance-scaling
    initializer (Glorot, He, LeCun, VarianceScaling) without axes becomes one with these
    fan axes; anything else is returned as it is."""
    initializer = get(identifier)
    if isinstance(initializer, (GlorotUniform, GlorotNormal, VarianceScaling)) and (
            initializer.input_axes is None or initializer.output_axes is None):
        return type(initializer).from_config({**initializer.get_config(),
                                              "input_axes": input_axes,
                                              "output_axes": output_axes})
    return initializer


def _where() -> str:
    """The user's line, and the layer when called while one builds its weights."""
    layer = current_layer_path()
    return f"{user_site()}: " + (f"layer '{layer}': " if layer else "")
