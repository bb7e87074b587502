"""Recurrent layers: SimpleRNN, LSTM and GRU, sharing one time loop.

Each layer keeps Keras 3's weights (``kernel``, ``recurrent_kernel``,
``bias``; gate blocks in Keras's order: LSTM i, f, c, o; GRU z, r, h) and
computes Keras's results. The input projection of every timestep
(``x @ kernel + input bias``) is one matmul before the time loop, which
carries only the recurrent matmul and the gates. On CPU the loop is one
native call per batch (`scanfit.native.recurrent`) for Keras's default
activations without recurrent dropout; otherwise it is a ``jax.lax.scan``,
so a whole epoch of batches compiles to a scan of scans.

Masks (batch, timesteps) work as in Keras: a masked step keeps the states
and outputs the previous output (zeros with ``zero_output_for_mask=True``,
which `Bidirectional` sets when it returns sequences). With
``go_backwards=True`` the sequence is read from the end and the returned
sequence is in that (reversed) order, as in Keras. Dropout masks are drawn
once per batch and shared by all timesteps, as in Keras: one input mask, or
one per gate when ``recurrent_dropout > 0`` (Keras's implementation 1).

With ``stateful=True`` the layer starts each call from the states its last
call ended with (zeros after `reset_state`), held in `state_variables` for
a fixed batch size: they travel with the weights through the programs (see
`Layer.carried_variables`) without being weights themselves.

``layer(x, initial_state=[h, c])`` starts from the given states (one
(batch, units) array or tensor per state: LSTM's h and c, one for GRU and
SimpleRNN, which also take it unlisted), as in Keras's encoder-decoders; a
stateful layer uses them for that call and carries on from where it ends.
Such a call runs the XLA scan (the native loops start from zeros). As in
Keras 3, a call on symbolic tensors with symbolic initial states gets no
implicit mask from its input (only an explicit ``mask=``); its output still
carries the input's mask (see `without_implicit_mask`).
"""
import jax
import jax.numpy as jnp

from scanfit import activations, constraints, initializers, regularizers, threefry
from scanfit.layers import symbolic
from scanfit.layers.base import Layer
from scanfit.variables import Variable
from scanfit.layers.core import _positive_int
from scanfit.native import recurrent as native_recurrent


def _rate(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{what} must be a number in [0, 1), got {value!r}")
    return float(value)


def without_implicit_mask(arguments):
    """`arguments` of a recurrent layer's call, with ``mask=None`` where Keras 3 passes the layer no mask.

    Keras 3 gives a call with several tensor arguments only the masks named after them (``value_mask``), so a
    functional call with initial-state tensors does not see its input's mask unless it is given explicitly.
    """
    if symbolic.is_symbolic(arguments.get("initial_state")) and "mask" not in arguments:
        return {**arguments, "mask": None}
    return arguments


def _dropout_mask(key, rate, shape):
    """Keras's dropout of a tensor of ones: 0 or 1 / (1 - rate)."""
    keep = threefry.bernoulli(key, 1.0 - rate, shape)
    return keep.astype(jnp.float32) / (1.0 - rate)


def _masked_matmul(h, kernel, masks, product=jnp.matmul):
    """``product(h, kernel)`` (``h @ kernel``) with dropout `masks`: None, one mask, or one per block of
    `kernel`'s last axis (its columns; a convolution kernel's output channels)."""
    if masks is None:
        return product(h, kernel)
    if len(masks) == 1:
        return product(h * masks[0], kernel)
    blocks = jnp.split(kernel, len(masks), axis=-1)
    return jnp.concatenate([product(h * m, k) for m, k in zip(masks, blocks)], axis=-1)


@jax.custom_vjp
def _project(x, kernel):
    """``x @ kernel`` over the last axis of (batch, timesteps, features) inputs.

    Its gradient computes the kernel's part as one (features, n) x (n, units) product of the inputs and the
    output gradient as XLA:CPU reads them; JAX's own gradient had XLA transpose the output gradient first
    (bench/rnn.py's LSTM: 30 ms of a 0.18 s epoch for the transpose and product, 11-12 ms this way).
    """
    return x @ kernel


def _project_forward(x, kernel):
    return x @ kernel, (x, kernel)


def _project_backward(residuals, d_out):
    x, kernel = residuals
    rows = (((0,), (0,)), ((), ()))
    d_kernel = jax.lax.dot_general(x.reshape(-1, x.shape[-1]), d_out.reshape(-1, d_out.shape[-1]), rows)
    return d_out @ kernel.T, d_kernel


_project.defvjp(_project_forward, _project_backward)


def _blocks(value, count):
    """`value`'s per-gate blocks of its last axis: as given when the time scan's inputs came split."""
    return value if isinstance(value, tuple) else tuple(jnp.split(value, count, axis=-1))


class _ForgetBiasOnes:
    """LSTM's ``unit_forget_bias`` initializer: the forget-gate block is ones, the rest `base`."""

    def __init__(self, base, units):
        self.base, self.units = base, units

    def __call__(self, shape, dtype="float32"):
        u = self.units
        return jnp.concatenate([self.base((u,), dtype=dtype), jnp.ones((u,), dtype),
                                self.base((2 * u,), dtype=dtype)])


class Recurrent(Layer):
    """The time scan, masks, dropout, states and options shared by SimpleRNN, LSTM and GRU.

    A subclass sets `gates` (blocks of the kernels), `cell_name` (Keras's
    cell name, the middle of each weight's path), `state_count`, and defines
    `step(weights, x_t, states, recurrent_masks) -> (output, states)`.

    A layer whose states are not (batch, units) vectors (ConvLSTM's feature maps) sets `state_shape`,
    `input_product` and `recurrent_product` (convolutions in place of matmuls) and may compute in another layout
    than its callers see (`inner_layout`, `outer_layout`: ConvLSTM's channels_first inputs and states).
    """

    gates = 1
    state_count = 1
    cell_name = None
    accepts_mask = True
    argument_names = ("initial_state",)

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        kind = type(self).__name__
        if use_cudnn not in ("auto", False):
            raise ValueError(f"{kind}: use_cudnn must be 'auto' or False (scanfit runs XLA scans), got {use_cudnn!r}")
        self.units = _positive_int(units, f"{kind} units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(dropout, f"{kind} dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, f"{kind} recurrent_dropout")
        self.seed = seed
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.per_gate_dropout = self.recurrent_dropout > 0

    # --- weights ------------------------------------------------------------
    def bias_shape(self):
        return (self.gates * self.units,)

    def bias_initializer_for_build(self):
        return self.bias_initializer

    input_rank = 3  # (batch, timesteps, features); a cell takes one timestep
    weight_prefix = "cell"  # the weights' names are "<cell_name>/kernel", ...; a cell's are "kernel", ...

    def build(self, input_shape):
        if len(input_shape) != self.input_rank or input_shape[-1] is None:
            expected = "(batch, timesteps, features)" if self.input_rank == 3 else "(batch, features)"
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs of shape {expected} "
                f"with known features, got {tuple(input_shape)}."
            )
        width = self.gates * self.units
        prefix = f"{self.cell_name}/" if self.weight_prefix == "cell" else ""
        self.add_weight(name=f"{prefix}kernel", shape=(input_shape[-1], width), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.add_weight(name=f"{prefix}recurrent_kernel", shape=(self.units, width), initializer=self.recurrent_initializer,
                        regularizer=self.recurrent_regularizer, constraint=self.recurrent_constraint)
        if self.use_bias:
            self.add_weight(name=f"{prefix}bias", shape=self.bias_shape(), initializer=self.bias_initializer_for_build(),
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        if self.stateful:
            self._build_states(input_shape[0])

    def _build_states(self, batch):
        """The states a stateful layer carries from batch to batch (zeros; see `reset_states`)."""
        if batch is None:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} is stateful, so its batch size must be fixed: give the model's "
                "input a batch size, e.g. keras.Input(batch_shape=(32, None, 8)) or, as in tf.keras 2, the first "
                "layer's batch_input_shape=[32, None, 8]; then fit, evaluate and predict with that batch_size.")
        dtype = jnp.dtype(self.dtype)
        with self.name_scope(remember=False):  # each state's path is Keras's, "<scopes>/<layer>/rnn_state"
            self.state_variables = [Variable(jnp.zeros(self.state_shape(batch), dtype), path="rnn_state",
                                             trainable=False, autocast=False, layer=self) for _ in self.state_names()]
        for variable, name in zip(self.state_variables, self.state_names()):
            variable.short_name = name  # (unique: the key of the layer's values)

    def state_shape(self, batch):
        """The shape of each state as callers give and get it (`batch` may be None)."""
        return (batch, self.units)

    def inner_layout(self, value):
        """An input or state (batch first) in the layout the layer computes in (`outer_layout` undoes it)."""
        return value

    def outer_layout(self, value):
        """An output or state (batch first) in the layout callers see."""
        return value

    def input_product(self, x, kernel):
        """The input projection of all timesteps: (batch, timesteps, ...) inputs times `kernel`."""
        return _project(x, kernel)

    def recurrent_product(self, h, kernel):
        """A state times the recurrent kernel, in the step."""
        return h @ kernel

    def state_names(self):
        """The short names of the carried states in this layer's values."""
        return ["rnn_state"] + [f"rnn_state_{i}" for i in range(1, self.state_count)]

    @property
    def states(self):
        """A stateful layer's current states (Keras's `layer.states`: one variable per state; None otherwise)."""
        return list(self.state_variables) if self.stateful else None

    def reset_state(self):
        """Set a stateful layer's states back to zeros (Keras 3's name; a layer that is not stateful has none)."""
        for variable in self.state_variables:
            variable.value = jnp.zeros_like(variable.value)

    reset_states = reset_state  # tf.keras 2's name

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return (output,) + ((batch, self.units),) * self.state_count
        return output

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    def weights_in_file(self):
        """Where Keras 3's ``.weights.h5`` keeps the weights: ``(group, name, variables)``, in the cell's group."""
        return [("vars", self.name, []), ("cell/vars", self.cell_name, self.weights)]

    # --- computation ----------------------------------------------------------
    def input_bias(self, weights):
        return weights["bias"] if self.use_bias else None

    def step(self, weights, x_t, states, recurrent_masks):
        raise NotImplementedError

    def native_cell(self):
        """The native time loop computing this layer's step (`scanfit.native.recurrent.CELLS`), or None."""
        return None

    def recurrent_bias(self, weights):
        """The bias added to the recurrent product inside the step (GRU's reset_after form), or None."""
        return None

    def _dropout_masks(self, training, rng, step_shape, state_shape, dtype):
        """Input masks (count, batch, 1, *features) for inputs of one timestep of `step_shape`
        (batch, *features), and recurrent masks (count, *state_shape); either None."""
        if not training or rng is None or (self.dropout == 0 and self.recurrent_dropout == 0):
            return None, None
        count = self.gates if self.per_gate_dropout else 1
        input_key, recurrent_key = threefry.split(rng)
        inputs = recurrent = None
        if self.dropout > 0:
            shape = (count, step_shape[0], 1) + tuple(step_shape[1:])
            inputs = _dropout_mask(input_key, self.dropout, shape).astype(dtype)
        if self.recurrent_dropout > 0:
            shape = (count,) + tuple(state_shape)
            recurrent = _dropout_mask(recurrent_key, self.recurrent_dropout, shape).astype(dtype)
        return inputs, recurrent

    def _native_cell(self, weights, x, recurrent_masks, initial_state):
        """The native cell to run this call with, or None for the XLA scan (unrolled, recurrent dropout, stateful
        or an `initial_state` (the native loops start from zeros), no timesteps, or a setting
        `native_recurrent.usable` refuses: wide layers, GPU, other dtypes)."""
        cell = self.native_cell()
        if (cell is None or recurrent_masks is not None or self.unroll or self.stateful or initial_state is not None
                or x.shape[1] == 0):
            return None
        if any(w.dtype != x.dtype for w in weights.values()):
            return None
        if not native_recurrent.usable(cell, self.units, x.dtype):
            return None
        return cell

    def _native_loop(self, cell, weights, xs, keep):
        """The final states and, for return_sequences, the (time-major) outputs, from the native time loop."""
        if self.go_backwards:
            xs = xs[:, ::-1]
        history = native_recurrent.time_loop(cell, xs, weights["recurrent_kernel"], self.recurrent_bias(weights),
                                             None if keep is None else keep[..., 0])
        states = tuple(history[-1, i] for i in range(self.state_count))
        return states, (history[:, 0] if self.return_sequences else None)

    def call_arguments(self, args, kwargs):
        """As `Layer.call_arguments`; a given ``initial_state`` is checked now (count and widths), also on
        symbolic tensors, and may cancel the implicit mask (`without_implicit_mask`)."""
        arguments = super().call_arguments(args, kwargs)
        if arguments.get("initial_state") is not None:
            self._state_list(arguments["initial_state"], None)
        return without_implicit_mask(arguments)

    def _state_list(self, initial_state, batch):
        """`initial_state` (one array per state, of `state_shape`; a single one unlisted for one state) as a
        list; a ValueError says what is wrong with it (`batch` None: any batch size)."""
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        kind = type(self).__name__
        expected = self.state_shape(batch)
        described = "(" + ", ".join("batch" if n is None else str(n) for n in expected) + ")"
        if len(states) != self.state_count:
            names = "[h, c]" if self.state_count == 2 else "[h] (or h)"
            raise ValueError(f"{kind} {self.name!r} takes {self.state_count} initial state(s) {names}, each of "
                             f"shape {described}; got {len(states)}.")
        for state in states:
            shape = tuple(getattr(state, "shape", None) or jnp.shape(state))
            if len(shape) != len(expected) or any(None not in (n, m) and n != m for n, m in zip(shape, expected)):
                raise ValueError(f"{kind} {self.name!r}: each initial state must have shape {described}, got one "
                                 f"of shape {shape}.")
        return states

    def _initial_states(self, weights, batch, dtype, initial_state=None):
        """The given `initial_state`, else zeros, or a stateful layer's carried states, in `inner_layout`."""
        if self.stateful:
            expected = weights[self.state_names()[0]].shape[0]
            if batch != expected:
                raise ValueError(f"{type(self).__name__} {self.name!r} is stateful with batch size {expected}, but "
                                 f"got a batch of {batch}: use batch_size={expected} and a number of samples it "
                                 "divides.")
        if initial_state is not None:
            states = [jnp.asarray(state).astype(dtype) for state in self._state_list(initial_state, batch)]
        elif not self.stateful:
            states = [jnp.zeros(self.state_shape(batch), dtype) for _ in range(self.state_count)]
        else:
            states = [weights[name].astype(dtype) for name in self.state_names()]
        return tuple(self.inner_layout(state) for state in states)

    def _scan(self, weights, xs, keep, training, recurrent_masks, zero_output, states):
        """The time loop in XLA from `states`: the final states and, for return_sequences, the (time-major)
        outputs."""
        steps = xs.shape[0]
        if not training and self.gates > 1:
            # XLA on CPU compiles an elementwise step that takes several column blocks of the one array
            # it reads at this timestep into a scalar loop, and vectorizes one that reads a separate array
            # per gate: a forward epoch of bench/rnn.py's LSTM took 0.08 s instead of 0.20 s. Under
            # autodiff the split costs more than it saves (a training epoch 0.30 s instead of 0.28 s).
            xs = _blocks(xs, self.gates)

        def scan_step(states, inputs):
            x_t, keep_t = inputs
            output, new_states = self.step(weights, x_t, states, recurrent_masks)
            if keep_t is not None:
                output = jnp.where(keep_t, output, 0.0 if zero_output else states[0])
                new_states = tuple(jnp.where(keep_t, n, s) for n, s in zip(new_states, states))
            return new_states, (output if self.return_sequences else None)

        if self.unroll:
            outputs, started = [], False
            for t in range(steps):
                x_t = jax.tree.map(lambda a: a[t], xs)
                states, output = scan_step(states, (x_t, None if keep is None else keep[t]))
                if keep is not None and output is not None:
                    # Keras's unrolled loop outputs zeros (not the initial h) until a row reads its first step
                    started = started | keep[t]
                    output = jnp.where(started, output, 0.0)
                outputs.append(output)
            sequence = jnp.stack(outputs) if self.return_sequences else None
        else:
            states, sequence = jax.lax.scan(scan_step, states, (xs, keep))
        return states, sequence

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None, initial_state=None):
        x = self.inner_layout(x)
        batch = x.shape[0]
        states = self._initial_states(weights, batch, x.dtype, initial_state)
        input_masks, recurrent_masks = self._dropout_masks(training, rng, x.shape[:1] + x.shape[2:],
                                                           states[0].shape, x.dtype)
        keep = None
        if mask is not None:  # (timesteps, batch, 1, ...): broadcast over a state
            keep = jnp.swapaxes(jnp.asarray(mask, bool), 0, 1)
            keep = keep.reshape(keep.shape + (1,) * (states[0].ndim - 1))
        if self.go_backwards and keep is not None:
            keep = keep[::-1]
        zero_output = self.zero_output_for_mask and not self.unroll  # Keras's unrolled loop ignores it
        projected = _masked_matmul(x, weights["kernel"], input_masks, self.input_product)
        bias = self.input_bias(weights)
        if bias is not None:
            projected = projected + bias
        native_cell = self._native_cell(weights, x, recurrent_masks, initial_state)
        if native_cell is not None:
            states, sequence = self._native_loop(native_cell, weights, projected, keep)
            if sequence is not None and zero_output and keep is not None:
                sequence = jnp.where(keep, sequence, 0.0)
        else:
            xs = jnp.swapaxes(projected, 0, 1)
            if self.go_backwards:
                xs = xs[::-1]
            states, sequence = self._scan(weights, xs, keep, training, recurrent_masks, zero_output, states)
        if self.return_sequences:
            output = jnp.swapaxes(sequence, 0, 1)
        elif zero_output and keep is not None:
            output = jnp.where(keep[-1], states[0], 0.0)
        elif self.unroll and keep is not None:  # Keras's unrolled loop: zeros for a row that reads no step
            output = jnp.where(keep.any(axis=0), states[0], 0.0)
        else:
            output = states[0]
        output, states = self.outer_layout(output), tuple(self.outer_layout(state) for state in states)
        updates = {name: state.astype(weights[name].dtype) for name, state in zip(self.state_names(), states)
                   } if self.stateful else {}
        if self.return_state:
            return (output,) + tuple(states), updates
        return output, updates

    # --- configuration ------------------------------------------------------------
    def get_config(self):
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
        }
        return config


class SimpleRNN(Recurrent):
    """Fully connected recurrence: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``."""

    cell_name = "simple_rnn_cell"

    def step(self, weights, x_t, states, recurrent_masks):
        h = self.activation(x_t + _masked_matmul(states[0], weights["recurrent_kernel"], recurrent_masks))
        return h, (h,)

    def native_cell(self):
        return "simple" if self.activation is activations.tanh else None


class _Gated(Recurrent):
    """LSTM and GRU: a `recurrent_activation` for the gates."""

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", implementation=2, **kwargs):
        super().__init__(units, activation, **kwargs)
        if implementation not in (1, 2):
            raise ValueError(f"{type(self).__name__} implementation must be 1 or 2, got {implementation!r}")
        self.recurrent_activation = activations.get(recurrent_activation)
        self.per_gate_dropout = self.recurrent_dropout > 0 or implementation == 1

    def default_activations(self):
        """Keras's defaults, tanh and sigmoid gates: the native time loops compute only these."""
        return self.activation is activations.tanh and self.recurrent_activation is activations.sigmoid

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "seed": self.seed}


class LSTM(_Gated):
    """Long short-term memory (Hochreiter & Schmidhuber 1997); states ``[h, c]``.

    ``unit_forget_bias=True`` (the default) starts the forget-gate bias at 1.
    """

    gates = 4
    state_count = 2
    cell_name = "lstm_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def bias_initializer_for_build(self):
        if self.unit_forget_bias:
            return _ForgetBiasOnes(self.bias_initializer, self.units)
        return self.bias_initializer

    def step(self, weights, x_t, states, recurrent_masks):
        h, c = states
        recurrent = _masked_matmul(h, weights["recurrent_kernel"], recurrent_masks, self.recurrent_product)
        recurrent = jnp.split(recurrent, 4, axis=-1)
        z_i, z_f, z_c, z_o = (x + r for x, r in zip(_blocks(x_t, 4), recurrent))
        gate = self.recurrent_activation
        c = gate(z_f) * c + gate(z_i) * self.activation(z_c)
        h = gate(z_o) * self.activation(c)
        return h, (h, c)

    def native_cell(self):
        return "lstm" if self.default_activations() else None

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_Gated):
    """Gated recurrent unit (Cho et al. 2014); ``reset_after=True`` (default) is Keras 3's and cuDNN's form.

    With ``reset_after=True`` the bias has shape (2, 3 * units): input bias, then recurrent bias.
    """

    gates = 3
    cell_name = "gru_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, activation, recurrent_activation, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def input_bias(self, weights):
        if not self.use_bias:
            return None
        return weights["bias"][0] if self.reset_after else weights["bias"]

    def step(self, weights, x_t, states, recurrent_masks):
        h = states[0]
        kernel = weights["recurrent_kernel"]
        u = self.units
        x_z, x_r, x_h = _blocks(x_t, 3)
        if self.reset_after:
            inner = _masked_matmul(h, kernel, recurrent_masks)
            if self.use_bias:
                inner = inner + weights["bias"][1]
            r_z, r_r, r_h = jnp.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            # recurrent dropout always has one mask per gate here (Keras's implementation 1)
            gate_masks = None if recurrent_masks is None else recurrent_masks[:2]
            r_z, r_r = jnp.split(_masked_matmul(h, kernel[:, :2 * u], gate_masks), 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            h_h = h if recurrent_masks is None else h * recurrent_masks[2]
            candidate = self.activation(x_h + (r * h_h) @ kernel[:, 2 * u:])
        h = z * h + (1 - z) * candidate
        return h, (h,)

    def native_cell(self):
        return "gru" if self.reset_after and self.default_activations() else None

    def recurrent_bias(self, weights):
        return weights["bias"][1] if self.reset_after and self.use_bias else None

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
