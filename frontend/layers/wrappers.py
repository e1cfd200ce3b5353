"""Layer wrappers: TimeDistributed (a layer applied to every time step) and
Bidirectional (a recurrent layer run forwards and backwards, the two outputs merged).

TimeDistributed traces ONE ``scan`` over axis 1 of its ``(batch, time, ...)`` input
(the same loop the recurrent layers use, :func:`.recurrent.scan`): the loop's body is
the wrapped layer called on one step ``(batch, ...)``, its weights the loop's
invariants, so the graph does not grow with the number of steps (which may be a
symbol) and the weights' gradients are sums over the steps. Keras calls the layer once
per step (and ``vectorized_map`` for an unknown length): the same numbers. The body
may read only its step and the wrapped layer's weights: a layer that updates variables
as it runs (BatchNormalization in training, a random layer's seed) or reads the
training flag (Dropout in a model being built) is refused with an error saying so.

Bidirectional builds, as Keras does, its own ``forward_layer`` (a copy of the given
layer named ``forward_<name>``) and ``backward_layer`` (``backward_layer`` if given,
else a copy with ``go_backwards=True`` named ``backward_<name>``); the given layer
itself is never called. Weights: the forward layer's, then the backward layer's
(Keras's ``get_weights()`` order). The backward sequence output is flipped back to
time order before the merge (``"concat"`` on the last axis, ``"sum"``, ``"mul"``,
``"ave"``, or None: both outputs as a list). With ``return_state`` the states follow,
the forward layer's then the backward layer's, and ``initial_state`` is split the same
way. With a mask and ``return_sequences``, masked steps of both sequences are zeros
(Keras sets its sublayers' ``zero_output_for_mask``), and the sequence output keeps the
mask.

The copies are made from the layer's constructor arguments, read back from the
attributes of the same names (fusegraph's recurrent layers keep each as such).
"""
from __future__ import annotations

import inspect

from ...ir.builder import user_site
from .. import ops, state
from ..layer import Layer
from ..layer_config import layer_config
from ..nest import flatten, pack_like
from .core import incompatible
from .recurrent import GRU, LSTM, SimpleRNN, reverse_time, scan


def _check_layer(owner: str, key: str, layer, kinds=(Layer,)) -> None:
    if not isinstance(layer, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ValueError(f"{user_site()}: {owner}: `{key}` must be a {names} instance, "
                         f"got {layer!r}")


class TimeDistributed(Layer):
    """Applies ``layer`` to every step of a ``(batch, time, ...)`` input: the output is
    ``(batch, time, ...)`` of the layer's per-step outputs (see the module docstring).
    A mask (``(batch, time)``) passes through, and each step's slice of it is given to
    a layer whose ``call`` takes ``mask``."""

    single_input = True
    supports_masking = True

    def __init__(self, layer, **kwargs):
        _check_layer("TimeDistributed", "layer", layer)
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise incompatible(self, "expected an input of rank >= 3 (batch, time, ...)",
                               input_shape)
        if not self.layer.built:
            self.layer.build((input_shape[0], *input_shape[2:]))
            self.layer.built = True

    def call(self, inputs, mask=None):
        x = ops.convert_to_tensor(inputs)
        if x.ndim < 3:
            raise incompatible(self, "expected an input of rank >= 3 (batch, time, ...)", x.shape)
        sequences = [x]
        if mask is not None and "mask" in inspect.signature(self.layer.call).parameters:
            sequences.append(mask)
        weights = self.layer.weights
        structure = []

        def body(carries, steps, invariants):
            with state.tracing_state() as trace:
                for weight, placeholder in zip(weights, invariants):
                    trace.assign(weight, placeholder)     # reads of a weight: the invariant
                outputs = self.layer(steps[0], **({"mask": steps[1]} if len(steps) > 1 else {}))
                self._refuse_updates(trace, invariants)
            structure.append(outputs)
            return [], flatten(outputs)

        try:
            _, stacked = scan(body, [], sequences, weights, axis=1, name=f"{self.name}_step")
        except ValueError as e:
            if "reads a tensor it was not given" not in str(e):
                raise
            raise ValueError(f"{user_site()}: TimeDistributed '{self.name}' cannot run layer "
                             f"'{self.layer.name}' ({type(self.layer).__name__}) step by step: "
                             f"its call reads a tensor other than its input and its weights "
                             f"(the training flag: call it with training=True or False, or "
                             f"another layer's output)") from None
        return pack_like(structure[0], stacked)

    def _refuse_updates(self, trace, invariants) -> None:
        """A ValueError if the wrapped layer assigned any variable in the step."""
        changed = [variable.path for variable, tensor in trace.updates
                   if not any(tensor is p for p in invariants)]
        if changed:
            raise ValueError(f"{user_site()}: TimeDistributed '{self.name}' cannot run layer "
                             f"'{self.layer.name}' ({type(self.layer).__name__}): it updates "
                             f"{changed} as it runs, which a loop over the steps cannot carry "
                             f"(BatchNormalization in training, a random layer's seed)")


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)
_RECURRENT = (SimpleRNN, LSTM, GRU)


class Bidirectional(Layer):
    """Runs a recurrent layer over the sequence forwards and backwards and merges the
    two outputs by ``merge_mode`` (see the module docstring). ``weights``: initial
    weights, the forward layer's then the backward layer's, set when built."""

    single_input = True
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None,
                 **kwargs):
        _check_layer("Bidirectional", "layer", layer, _RECURRENT)
        if backward_layer is not None:
            _check_layer("Bidirectional", "backward_layer", backward_layer, _RECURRENT)
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"{user_site()}: Bidirectional: `merge_mode` must be one of "
                             f"{list(_MERGE_MODES)}, got {merge_mode!r}")
        super().__init__(**kwargs)
        self.forward_layer = _copy(layer, name=f"forward_{_unprefixed(layer.name, 'forward_')}")
        self.backward_layer = backward_layer if backward_layer is not None else _copy(
            layer, go_backwards=True, name=f"backward_{_unprefixed(layer.name, 'backward_')}")
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(f"{user_site()}: Bidirectional: the forward and backward layers "
                             f"must have different go_backwards, both have "
                             f"{forward.go_backwards}")
        for key in ("return_sequences", "return_state"):
            if getattr(forward, key) != getattr(backward, key):
                raise ValueError(f"{user_site()}: Bidirectional: the forward and backward "
                                 f"layers must have the same {key}, got "
                                 f"{getattr(forward, key)} and {getattr(backward, key)}")
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = forward.return_sequences, forward.return_state
        self.initial_weights = None if weights is None else list(weights)

    def get_config(self) -> dict:
        """Keras's: the constructor's arguments but ``weights`` (they travel in the
        weights file, not the config)."""
        config = layer_config(self, with_arguments=True)
        del config["weights"]
        return config

    def build(self, sequences_shape, initial_state_shape=None):
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(sequences_shape)
                layer.built = True
        if self.initial_weights is not None:
            self.set_weights(self.initial_weights)

    def call(self, sequences, initial_state=None, mask=None):
        forward_state, backward_state = self._split_states(initial_state)
        extra = {} if mask is None else {"mask": mask}
        y = self.forward_layer(sequences, initial_state=forward_state, **extra)
        y_rev = self.backward_layer(sequences, initial_state=backward_state, **extra)
        states = []
        if self.return_state:
            (y, *forward_states), (y_rev, *backward_states) = y, y_rev
            states = forward_states + backward_states
        if self.return_sequences:
            y_rev = reverse_time(y_rev)
            if mask is not None:           # Keras: zero_output_for_mask = return_sequences
                keep = ops.expand_dims(ops.cast(mask, y.dtype), -1)
                y, y_rev = ops.multiply(y, keep), ops.multiply(y_rev, keep)
        if self.merge_mode is None:
            return [y, y_rev, *states]
        merged = {"concat": lambda: ops.concatenate([y, y_rev], axis=-1),
                  "sum": lambda: ops.add(y, y_rev),
                  "mul": lambda: ops.multiply(y, y_rev),
                  "ave": lambda: ops.divide(ops.add(y, y_rev), 2.0)}[self.merge_mode]()
        return [merged, *states] if self.return_state else merged

    def _split_states(self, initial_state):
        """(the forward layer's initial states, the backward layer's): the first half of
        ``initial_state``, the second half (None, None without)."""
        if initial_state is None:
            return None, None
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else \
            [initial_state]
        half = len(self.forward_layer.state_names)
        if len(states) != 2 * half:
            raise ValueError(f"{user_site()}: Bidirectional '{self.name}': initial_state must "
                             f"hold {2 * half} tensors (the forward layer's {half} states, "
                             f"then the backward layer's), got {len(states)}")
        return states[:half], states[half:]

    def compute_mask(self, inputs, mask=None):
        """Keras's: the sequence output(s) keep the input's mask; a last output and the
        states have none."""
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            masks += [None] * (2 * len(self.forward_layer.state_names))
        return masks if len(masks) > 1 else masks[0]


def _unprefixed(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


def _copy(layer: Layer, **changes) -> Layer:
    """A new layer of ``layer``'s class made with ``layer``'s constructor arguments (each
    read from the attribute of its name, up the class's ``__init__``s), ``changes``
    replacing some."""
    arguments = {}
    for cls in type(layer).__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        for name, parameter in inspect.signature(init).parameters.items():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) \
                    and name != "self" and name not in arguments and name in vars(layer):
                arguments[name] = getattr(layer, name)
    return type(layer)(**{**arguments, **changes})
