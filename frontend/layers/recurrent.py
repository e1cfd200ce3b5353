"""Recurrent layers: SimpleRNN, LSTM and GRU, with Keras 3's weights, gate order,
initializers and outputs (KERAS_COMPAT.md).

Each layer traces to ONE ``scan`` op over the time axis (axis 1 of the batch-major
``(batch, timesteps, features)`` input; the number of steps may be a symbol), never an
unrolled loop, so the graph's size does not depend on the sequence length:

* the input projection ``inputs @ kernel (+ bias)`` of every step is one matmul before
  the loop (one large contraction instead of one per step), and the loop reads its steps
  as its sequence;
* the per-step cell math is the scan's body (region): the recurrent matmul
  ``h @ recurrent_kernel``, the gates and the new state. The recurrent weights are the
  loop's invariants; the states (``h``, and ``c`` for an LSTM) its carries.

Weights (in ``get_weights()`` order): ``kernel (in, k·u)``, ``recurrent_kernel
(u, k·u)``, ``bias`` with k = 1 (SimpleRNN), 4 (LSTM: gates input, forget, cell,
output) or 3 (GRU: update, reset, candidate). The GRU's bias is ``(2, 3u)`` with
``reset_after=True`` (row 0 applied to the input projection, row 1 to the recurrent
one), ``(3u,)`` otherwise. Defaults as Keras: kernel ``glorot_uniform``, recurrent
kernel ``orthogonal``, bias zeros, the LSTM's forget-gate bias 1 (``unit_forget_bias``).

The equations, per step (σ the recurrent activation, φ the activation, x the step's
input, all products elementwise except @)::

    SimpleRNN  h' = φ(x@K + b + h@R)
    LSTM       z = x@K + b + h@R;  i, f, g, o = σ(z_i), σ(z_f), φ(z_c), σ(z_o)
               c' = f·c + i·g;  h' = o·φ(c')
    GRU        (reset_after)  r_h = h@R + b_rec
               z = σ(x_z + r_h,z);  r = σ(x_r + r_h,r);  n = φ(x_n + r·r_h,n)
               (reset before) z = σ(x_z + h@R_z);  r = σ(x_r + h@R_r);  n = φ(x_n + (r·h)@R_n)
               h' = z·h + (1 − z)·n       (x_* = x@K + b_in, split in thirds)

Outputs follow Keras: the last output ``h_T`` (or, with ``return_sequences``, every
step's ``h`` as ``(batch, timesteps, units)``), then, with ``return_state``, the final
states (LSTM: ``h, c``). ``go_backwards`` runs the loop from the last step to the first
(the scan's ``reverse``) and returns the sequence in that processing order, as Keras
does. ``initial_state`` (a tensor or a list, one per state, ``(batch, units)`` each)
replaces the zero states. A mask (``mask=``, or the input's from Embedding(mask_zero=True)
or Masking) is a second sequence of the loop: a masked step keeps the states, so its
output is the previous step's (Keras's, ``zero_output_for_mask=False``), and the sequence
output keeps the mask. Dropout, ``stateful`` and ``unroll`` are not supported and say so.
"""
from __future__ import annotations

from abc import abstractmethod

import numpy as np

from ...ir import Graph, TensorType, Value, as_dtype, emit
from ...ir.builder import user_site
from ...ir.errors import VerificationError
from .. import activations, initializers, ops
from ..checks import check_bool, check_positive_int
from ..layer import Layer
from ..tensor import CallRecord, SymbolicTensor
from .core import incompatible


def scan(body, carries, sequences, invariants=(), *, axis=1, reverse=False, name="cell",
         carry_names=None, step_names=None, invariant_names=None):
    """Trace ``body`` once into a region and emit one ``scan`` op (see
    :mod:`fusegraph.ir.ops.scan` for the contract); return ``(final carries, stacked
    outputs)`` as lists of symbolic tensors.

    ``body(carries, steps, invariants) -> (new_carries, outputs)`` is called on
    placeholders: the carries, one step of each sequence (its ``axis`` removed) and the
    invariants. It may read nothing else symbolic (the region sees only its parameters):
    pass every tensor it needs as an invariant.
    """
    carries = [ops.convert_to_tensor(t) for t in carries]
    sequences = [ops.convert_to_tensor(t) for t in sequences]
    invariants = [ops.convert_to_tensor(t) for t in invariants]

    def placeholders(tensors, names, default, drop_axis=False):
        names = names or [f"{default}{i}" for i in range(len(tensors))]
        out = []
        for t, n in zip(tensors, names):
            shape = t.type.shape[:axis] + t.type.shape[axis + 1:] if drop_axis else t.type.shape
            out.append(SymbolicTensor(Value(TensorType(shape, t.type.dtype), name=n), None, n))
        return out

    c_in = placeholders(carries, carry_names, "carry")
    x_in = placeholders(sequences, step_names, "x", drop_axis=True)
    w_in = placeholders(invariants, invariant_names, "invariant")
    new_carries, outputs = body(list(c_in), list(x_in), list(w_in))
    new_carries = [ops.cast(t, c.type.dtype) for t, c in zip(new_carries, carries)]
    outputs = [ops.convert_to_tensor(t) for t in outputs]
    params = [t.value for t in (*c_in, *x_in, *w_in)]
    try:
        region = Graph.from_results(name, params, [t.value for t in (*new_carries, *outputs)])
    except VerificationError as e:
        raise ValueError(f"{user_site()}: the body of scan @{name} reads a tensor it was not "
                         f"given; pass it as an invariant ({e})") from None
    out = emit("scan", *(t.value for t in (*carries, *sequences, *invariants)), region=region,
               num_carries=len(carries), num_sequences=len(sequences),
               num_invariants=len(invariants), axis=axis, reverse=reverse)
    out = out if isinstance(out, tuple) else (out,)
    record = CallRecord(None, tuple(carries) + tuple(sequences) + tuple(invariants))
    wrapped = [SymbolicTensor(v, record) for v in out]
    return wrapped[:len(carries)], wrapped[len(carries):]


def reverse_time(x, axis=1):
    """``x`` with its ``axis`` reversed (a ``take``; the length may be a symbol)."""
    length = x.type.shape[axis]
    if isinstance(length, int):
        return ops.take(x, np.arange(length - 1, -1, -1, dtype=np.int32), axis=axis)
    last = ops.subtract(ops.dim_size(x, axis, "int32"), 1)
    return ops.take(x, ops.subtract(last, ops.iota((length,), 0, "int32")), axis=axis)


class _RNN(Layer):
    """The loop shared by the three layers; subclasses give the gate count, the states,
    the weights and the step."""

    supports_masking = True

    single_input = True

    gates = 1
    state_names = ("h",)
    cell_name = "cell"

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", return_sequences=False, return_state=False,
                 go_backwards=False, dropout=0.0, recurrent_dropout=0.0, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        owner = f"{user_site()}: {type(self).__name__}"
        check_positive_int(owner, "units", units)
        for key, value in (("use_bias", use_bias), ("return_sequences", return_sequences),
                           ("return_state", return_state), ("go_backwards", go_backwards),
                           ("zero_output_for_mask", zero_output_for_mask)):
            check_bool(owner, key, value)
        initializers.check(owner, kernel_initializer=kernel_initializer,
                           recurrent_initializer=recurrent_initializer,
                           bias_initializer=bias_initializer)
        unsupported = [f"{name}={value!r}" for name, value, default in (
            ("dropout", dropout, 0.0), ("recurrent_dropout", recurrent_dropout, 0.0),
            ("stateful", stateful, False), ("unroll", unroll, False)) if value != default]
        if unsupported:
            raise ValueError(f"{user_site()}: {type(self).__name__}({', '.join(unsupported)}) "
                             f"is not supported: fusegraph runs a recurrent layer as one "
                             f"stateless loop (never unrolled) without dropout")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards = go_backwards
        # Keras's: a masked step's sequence output is zeros (else the last unmasked one's)
        self.zero_output_for_mask = zero_output_for_mask

    # --- weights ------------------------------------------------------------------
    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3 or sequences_shape[-1] is None:
            raise incompatible(self, "expected a rank-3 input (batch, timesteps, features) "
                                     "with a known number of features", sequences_shape)
        width = self.gates * self.units
        self.kernel = self.add_weight((sequences_shape[-1], width), self.kernel_initializer,
                                      name="kernel")
        self.recurrent_kernel = self.add_weight((self.units, width), self.recurrent_initializer,
                                                name="recurrent_kernel")
        if self.use_bias:
            self.bias = self.add_weight(self.bias_shape(), self.bias_init(), name="bias")

    def bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def bias_init(self):
        return self.bias_initializer

    # --- the loop -----------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None):
        x = ops.convert_to_tensor(sequences, self.dtype)
        if x.ndim != 3 or x.type.shape[-1] != self.kernel.shape[0]:
            raise incompatible(self, f"expected a rank-3 input (batch, timesteps, "
                                     f"{self.kernel.shape[0]})", x.shape)
        states = self.initial_states(x, initial_state)
        projected = ops.matmul(x, ops.convert_to_tensor(self.kernel))
        input_bias = self.input_bias()
        if input_bias is not None:
            projected = ops.add(projected, input_bias)
        invariants, invariant_names = self.invariants()
        steps = [projected]
        if mask is not None:
            mask = ops.cast(mask, "bool")
            if mask.ndim != 2 or mask.shape[1] != x.shape[1]:
                raise incompatible(self, f"expected a (batch, timesteps) mask for the input "
                                         f"of shape {x.shape}", mask.shape)
            steps.append(mask)

        def body(carries, step, weights):
            new = self.step(step[0], carries, weights)
            if mask is not None:        # a masked step keeps the states (Keras)
                keep = ops.expand_dims(step[1], -1)
                new = [ops.where(keep, n, c) for n, c in zip(new, carries)]
            return new, [new[0]] if self.return_sequences else []

        final, outputs = scan(body, states, steps, invariants, axis=1,
                              reverse=self.go_backwards, name=self.cell_name,
                              carry_names=self.state_names,
                              step_names=["x", "mask"][:len(steps)],
                              invariant_names=invariant_names)
        if self.return_sequences:
            output = outputs[0]
            if mask is not None and self.zero_output_for_mask:
                output = ops.where(ops.expand_dims(mask, -1), output, ops.zeros_like(output))
            output = reverse_time(output) if self.go_backwards else output
        else:
            output = final[0]
        return [output, *final] if self.return_state else output

    def compute_mask(self, inputs, mask=None):
        """Keras's: the sequence output keeps the input's mask; a last output and the
        states have none."""
        output_mask = mask if self.return_sequences else None
        return [output_mask] + [None] * len(self.state_names) if self.return_state \
            else output_mask

    def initial_states(self, x, initial_state) -> list:
        if initial_state is None:
            batch = x.type.shape[0]
            zeros = ops.broadcast_to(ops.convert_to_tensor(0.0, self.dtype), (batch, self.units))
            return [zeros for _ in self.state_names]
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(given) != len(self.state_names):
            raise ValueError(f"{user_site()}: layer '{self.name}' ({type(self).__name__}) has "
                             f"{len(self.state_names)} state(s) ({', '.join(self.state_names)}), "
                             f"but initial_state has {len(given)} tensor(s)")
        states = []
        for name, s in zip(self.state_names, given):
            s = ops.convert_to_tensor(s, self.dtype)
            if s.ndim != 2 or s.type.shape[1] != self.units:
                raise incompatible(self, f"initial state '{name}' must have shape (batch, "
                                         f"{self.units})", s.shape)
            states.append(s)
        return states

    def input_bias(self):
        """What is added to the input projection before the loop (None: nothing)."""
        return ops.convert_to_tensor(self.bias) if self.use_bias else None

    def invariants(self):
        """(the loop's invariant tensors, their names in the body)."""
        return [ops.convert_to_tensor(self.recurrent_kernel)], ["recurrent_kernel"]

    @abstractmethod
    def step(self, x, states, weights) -> list:
        """The new states from the step's projected input ``x`` and the states."""


def _gate(z, k, units):
    """Gate block ``k`` (``units`` wide) of the last axis of ``z``."""
    return z[:, k * units:(k + 1) * units]


class SimpleRNN(_RNN):
    """``h' = activation(x @ kernel + bias + h @ recurrent_kernel)``; the output is h."""

    cell_name = "simple_rnn_cell"

    def step(self, x, states, weights):
        (h,), (recurrent,) = states, weights
        return [self.activation(ops.add(x, ops.matmul(h, recurrent)))]


class LSTM(_RNN):
    """Long short-term memory; states (h, c); gate blocks input, forget, cell, output."""

    gates = 4
    state_names = ("h", "c")
    cell_name = "lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    def bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = initializers.get(self.bias_initializer), self.units

        def forget_gate_ones(shape, dtype="float32"):
            return np.concatenate([base((u,), dtype), np.ones(u, as_dtype(dtype).numpy),
                                   base((2 * u,), dtype)])
        return forget_gate_ones

    def step(self, x, states, weights):
        (h, c), (recurrent,), u = states, weights, self.units
        z = ops.add(x, ops.matmul(h, recurrent))
        i = self.recurrent_activation(_gate(z, 0, u))
        f = self.recurrent_activation(_gate(z, 1, u))
        g = self.activation(_gate(z, 2, u))
        o = self.recurrent_activation(_gate(z, 3, u))
        c_new = ops.add(ops.multiply(f, c), ops.multiply(i, g))
        return [ops.multiply(o, self.activation(c_new)), c_new]


class GRU(_RNN):
    """Gated recurrent unit; gate blocks update, reset, candidate. ``reset_after=True``
    (Keras's default, cuDNN's convention) applies the reset gate after the recurrent
    matmul and has separate input and recurrent biases."""

    gates = 3
    cell_name = "gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", reset_after=True, **kwargs):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self):
        if not self.use_bias:
            return None
        bias = ops.convert_to_tensor(self.bias)
        return bias[0] if self.reset_after else bias

    def invariants(self):
        recurrent, u = ops.convert_to_tensor(self.recurrent_kernel), self.units
        if not self.reset_after:     # h @ R for update/reset; (r·h) @ R for the candidate
            return [recurrent[:, :2 * u], recurrent[:, 2 * u:]], ["recurrent_kernel_zr",
                                                                  "recurrent_kernel_h"]
        if self.use_bias:
            return [recurrent, ops.convert_to_tensor(self.bias)[1]], ["recurrent_kernel",
                                                                      "recurrent_bias"]
        return [recurrent], ["recurrent_kernel"]

    def step(self, x, states, weights):
        (h,), u = states, self.units
        if self.reset_after:
            inner = ops.matmul(h, weights[0])
            if self.use_bias:
                inner = ops.add(inner, weights[1])
            z = self.recurrent_activation(ops.add(_gate(x, 0, u), _gate(inner, 0, u)))
            r = self.recurrent_activation(ops.add(_gate(x, 1, u), _gate(inner, 1, u)))
            candidate = ops.add(_gate(x, 2, u), ops.multiply(r, _gate(inner, 2, u)))
        else:
            inner = ops.matmul(h, weights[0])
            z = self.recurrent_activation(ops.add(_gate(x, 0, u), _gate(inner, 0, u)))
            r = self.recurrent_activation(ops.add(_gate(x, 1, u), _gate(inner, 1, u)))
            candidate = ops.add(_gate(x, 2, u), ops.matmul(ops.multiply(r, h), weights[1]))
        n = self.activation(candidate)
        return [ops.add(ops.multiply(z, h), ops.multiply(ops.subtract(1.0, z), n))]
