"""The generic recurrent layer `RNN(cell)` and the cells `SimpleRNNCell`, `LSTMCell`, `GRUCell`, `StackedRNNCells`.

A cell computes one timestep: ``cell(inputs, states) -> (output, new_states)``
with `states` a list (its ``state_size`` says their sizes). `RNN` runs a cell
over the timesteps of (batch, timesteps, features) inputs in one
``jax.lax.scan`` inside the compiled epoch, with Keras 3's options (masks,
``go_backwards``, ``return_sequences``, ``return_state``, ``unroll``,
``initial_state``). The cell may be one of these, a list of cells (stacked),
or a Keras-style layer a user writes, such as Hands-on ML's
``LNSimpleRNNCell``, which calls a ``SimpleRNNCell`` and a
``LayerNormalization`` inside its own ``call``.

The built-in cells compute exactly as `SimpleRNN`, `LSTM` and `GRU` do (they
share their code) and have Keras 3's weights and configs. As in Keras, a
cell's dropout masks are drawn once per `RNN` call and shared by all timesteps.
"""
import jax
import jax.numpy as jnp

from scanfit.layers import execution, symbolic
from scanfit.layers.base import NOT_GIVEN, Layer
from scanfit.layers.recurrent import GRU, LSTM, SimpleRNN, _masked_matmul, without_implicit_mask
from scanfit.naming import snake_case
from scanfit.saving.config import deserialize_layer, serialize_layer

_LAYER_ONLY = ("return_sequences", "return_state", "go_backwards", "stateful", "unroll", "zero_output_for_mask",
               "use_cudnn")


class _Cell:
    """One timestep of a recurrent layer: ``(output, new_states)`` from ``(inputs, states)``."""

    input_rank = 2
    weight_prefix = None
    accepts_mask = False
    argument_names = ("states",)

    def __init__(self, units, **kwargs):
        wrong = sorted(set(kwargs) & set(_LAYER_ONLY))
        if wrong:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) {wrong}: they belong to "
                            "keras.layers.RNN, which runs the cell.")
        super().__init__(units, **kwargs)

    @property
    def state_size(self):
        return [self.units] * self.state_count if self.state_count > 1 else self.units

    @property
    def output_size(self):
        return self.units

    def __call__(self, x, *args, training=NOT_GIVEN, **kwargs):
        if symbolic.is_symbolic(x):
            raise TypeError(f"{type(self).__name__} computes one timestep on arrays; to run it over a sequence, "
                            f"wrap it: keras.layers.RNN({type(self).__name__}(...)).")
        return super().__call__(x, *args, training=training, **kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def compute_mask(self, x, mask=None):
        return None

    def weights_in_file(self):
        return [("vars", self.name, self.weights)]

    def pure_call(self, weights, x, *, training=False, rng=None, states=None):
        if states is None:
            raise TypeError(f"{type(self).__name__} needs its states: cell(inputs, states).")
        listed = isinstance(states, (list, tuple))
        states = tuple(states) if listed else (states,)
        if len(states) != self.state_count:
            raise ValueError(f"{type(self).__name__} takes {self.state_count} state(s), got {len(states)}.")
        input_masks, recurrent_masks = self._dropout_masks(training, rng, x.shape, jnp.shape(states[0]), x.dtype)
        projected = _masked_matmul(x, weights["kernel"], None if input_masks is None else input_masks[:, :, 0, :])
        bias = self.input_bias(weights)
        if bias is not None:
            projected = projected + bias
        output, new_states = self.step(weights, projected, states, recurrent_masks)
        return (output, list(new_states) if listed else new_states[0]), {}

    def get_config(self):
        config = super().get_config()
        for key in _LAYER_ONLY + ("activity_regularizer",):
            config.pop(key, None)
        config["seed"] = self.seed
        return config


class SimpleRNNCell(_Cell, SimpleRNN):
    """`SimpleRNN`'s timestep: ``h = activation(x @ kernel + h @ recurrent_kernel + bias)``."""


class LSTMCell(_Cell, LSTM):
    """`LSTM`'s timestep; states ``[h, c]``."""


class GRUCell(_Cell, GRU):
    """`GRU`'s timestep (``reset_after=True`` by default, as in Keras 3)."""


class StackedRNNCells(Layer):
    """Cells run one after the other in each timestep: each cell's output is the next one's input; the states
    are one list per cell."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError("StackedRNNCells needs at least one cell.")
        for cell in cells:
            _check_cell(cell)
        self.cells = cells

    @property
    def state_size(self):
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self):
        return getattr(self.cells[-1], "output_size", None) or _first_size(self.cells[-1].state_size)

    def call(self, inputs, states, training=None):
        new_states = []
        for cell, cell_states in zip(self.cells, states):
            inputs, cell_states = cell(inputs, cell_states, training=training)
            new_states.append(cell_states)
        return inputs, new_states

    def weights_in_file(self):
        groups, counts = [("vars", self.name, [])], {}
        for cell in self.cells:
            base = snake_case(type(cell).__name__)
            folder = base if base not in counts else f"{base}_{counts[base]}"
            counts[base] = counts.get(base, 0) + 1
            groups.extend((f"cells/{folder}/{group}", name, variables)
                          for group, name, variables in cell.weights_in_file())
        return groups

    def get_config(self):
        return {**super().get_config(), "cells": [serialize_layer(cell) for cell in self.cells]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cells"] = [deserialize_layer(cell) for cell in config["cells"]]
        return cls(**config)


class RNN(Layer):
    """Runs `cell` (a cell, or a list of cells to stack) over the timesteps of its inputs.

    ``call(sequences, initial_state=None, mask=None, training=None)``: the
    states start from `initial_state` (a list, as the cell's ``state_size``
    nests them) or from zeros. A masked timestep keeps the states and outputs
    the previous output (zeros with `zero_output_for_mask`). With
    `go_backwards` the sequence is read from its end and the returned sequence
    is in that order, as in Keras. ``stateful=True`` is refused (SimpleRNN, LSTM and GRU take it). A graph
    call with initial-state tensors gets no implicit mask, as in Keras 3 (see `without_implicit_mask`).
    """

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        _check_cell(cell)
        if stateful:
            raise ValueError("RNN(stateful=True) is not supported by scanfit: each batch starts from zero states "
                             "(or from initial_state). Use stateful=False, or the layers SimpleRNN, LSTM and GRU, "
                             "which take stateful=True.")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    @property
    def state_size(self):
        return self.cell.state_size

    def call_arguments(self, args, kwargs):
        """As `Layer.call_arguments`; initial-state tensors cancel the implicit mask, as in Keras 3
        (`without_implicit_mask`)."""
        return without_implicit_mask(super().call_arguments(args, kwargs))

    def call(self, sequences, initial_state=None, mask=None, training=None):
        running = execution.current()
        batch = sequences.shape[0]
        if initial_state is None:
            states = _zero_states(self.cell.state_size, batch, sequences.dtype)
        else:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        xs = jnp.swapaxes(sequences, 0, 1)
        keep = None if mask is None else jnp.swapaxes(jnp.asarray(mask, bool), 0, 1)[:, :, None]
        if self.go_backwards:
            xs = xs[::-1]
            keep = None if keep is None else keep[::-1]
        before = _state_of(running)

        def step(carry, inputs):
            states, last = carry
            x_t, keep_t = inputs
            output, new_states = self.cell(x_t, list(states), training=training)
            new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
            if keep_t is not None:
                output = jnp.where(keep_t, output, 0.0 if self.zero_output_for_mask else last)
                new_states = jax.tree.map(lambda new, old: jnp.where(keep_t, new, old), new_states, list(states))
            return (new_states, output), (output if self.return_sequences else None)

        width = getattr(self.cell, "output_size", None) or _first_size(self.cell.state_size)
        carry = (states, jnp.zeros((batch, width), sequences.dtype))
        if self.unroll:
            outputs = []
            for t in range(xs.shape[0]):
                carry, output = step(carry, (xs[t], None if keep is None else keep[t]))
                outputs.append(output)
            sequence = jnp.stack(outputs) if self.return_sequences else None
        else:
            carry, sequence = jax.lax.scan(step, carry, (xs, keep))
        if _state_of(running) != before:
            raise ValueError(f"RNN {self.name!r}: its cell changes layer state or adds losses (a BatchNormalization, "
                             "a variable assigned in call(), add_loss or an activity regularizer inside the cell), "
                             "which scanfit does not support inside the time loop.")
        states, last = carry
        output = jnp.swapaxes(sequence, 0, 1) if self.return_sequences else last
        if self.return_state:
            return [output] + jax.tree.leaves(states)
        return output

    def compute_mask(self, x, mask=None):
        if isinstance(mask, list):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        return output_mask

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: the cell's weights under ``cell/``."""
        return [("vars", self.name, [])] + [(f"cell/{group}", name, variables)
                                            for group, name, variables in self.cell.weights_in_file()]

    def get_config(self):
        return {**super().get_config(), "cell": serialize_layer(self.cell), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": False,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["cell"] = deserialize_layer(config["cell"])
        return cls(**config)


def _check_cell(cell):
    if not isinstance(cell, Layer) or not hasattr(cell, "state_size"):
        raise TypeError(f"An RNN cell must be a layer with a state_size (such as keras.layers.LSTMCell, or a "
                        f"Keras-style layer whose call(inputs, states) returns (output, new_states)); got {cell!r}.")


def _state_of(running):
    """What a forward pass has collected besides outputs (state updates, losses), by identity, or None."""
    if running is None:
        return None
    return ({key: {name: id(value) for name, value in values.items()} for key, values in running.updates.items()},
            id(running.extra_loss))


def _first_size(size):
    return size if isinstance(size, int) else _first_size(size[0])


def _zero_states(size, batch, dtype):
    """Zeros for each state, nested as `size` (an int: one state, a list: one entry per item)."""
    if isinstance(size, int):
        return [jnp.zeros((batch, size), dtype)]
    return [jnp.zeros((batch, s), dtype) if isinstance(s, int) else _zero_states(s, batch, dtype) for s in size]
