"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: LSTMs whose matmuls are convolutions (Shi et al. 2015).

The inputs are sequences of 1-, 2- or 3-d feature maps, (batch, timesteps,
*spatial, channels) (channels_first: (batch, timesteps, channels,
*spatial)); the states h and c and the output are feature maps with `filters`
channels. Each gate adds a convolution of the input (``strides``,
``padding``, ``dilation_rate``) and a stride-1 'same' convolution of h (no
dilation), as in Keras 3. The layers are `LSTM`s with those convolutions in
place of the two matmuls, so they share its time scan, masks, dropout,
``go_backwards``, ``return_sequences``/``return_state``, ``stateful``,
``unroll`` and ``initial_state``: the input convolution of every timestep is one
convolution before the loop, which carries the recurrent one.

Weights as in Keras 3, under ``conv_lstm_cell/``: ``kernel`` (*kernel_size,
channels, 4 * filters), ``recurrent_kernel`` (*kernel_size, filters,
4 * filters), ``bias`` (4 * filters,), gate blocks i, f, c, o. channels_first
inputs and states are computed channels_last (moved at the layer's edges);
the states a caller gives or gets, and a stateful layer's `states`, are in the
layer's data_format. Dropout draws one mask per gate, as Keras's ConvLSTM does
(from scanfit's random bits, so training masks differ from Keras's).
"""
import jax.numpy as jnp

from scanfit.layers import lowering
from scanfit.layers.convolution import data_format_of, int_tuple, padding_of, spatial_and_channels, with_spatial
from scanfit.layers.recurrent import LSTM


class ConvLSTM(LSTM):
    """The ConvLSTM of any rank; subclasses fix `rank`."""

    rank = None
    cell_name = "conv_lstm_cell"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", unit_forget_bias=True,
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        kind = type(self).__name__
        unknown = sorted({"units", "implementation", "use_cudnn"} & set(kwargs))
        if unknown:
            raise TypeError(f"{kind} got unexpected keyword argument(s) {unknown} (LSTM's, not ConvLSTM's; a "
                            "ConvLSTM's width is `filters`).")
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(f"{kind} filters must be a positive int, got filters={filters!r}")
        super().__init__(
            filters, activation, recurrent_activation, unit_forget_bias, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed, return_sequences=return_sequences,
            return_state=return_state, go_backwards=go_backwards, stateful=stateful, **kwargs)
        self.filters = self.units
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.padding = padding_of(padding, ("valid", "same"))
        self.data_format = data_format_of(data_format)
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{kind} cannot combine strides > 1 with dilation_rate > 1 (as in Keras): got "
                             f"strides={self.strides}, dilation_rate={self.dilation_rate}.")
        self.per_gate_dropout = True  # Keras's ConvLSTM cell drops each gate's inputs with a mask of its own
        self.state_spatial = (None,) * self.rank  # the states' spatial shape, known once built

    # --- shapes and weights ------------------------------------------------------
    def _output_spatial(self, input_shape):
        """The spatial shape of the states for (batch, timesteps, ...) `input_shape`, checked."""
        kind = type(self).__name__
        if len(input_shape) != self.rank + 3:
            raise ValueError(f"{kind} {self.name!r} expects inputs with {self.rank + 3} axes (batch, timesteps, "
                             f"{self.rank} spatial, channels), got input shape {tuple(input_shape)}.")
        spatial, channels = spatial_and_channels(tuple(input_shape[:1]) + tuple(input_shape[2:]), self.data_format)
        if None in spatial or channels is None:
            raise ValueError(f"{kind} {self.name!r} needs known spatial dimensions and channels (as in Keras), got "
                             f"input shape {tuple(input_shape)}.")
        out = tuple(lowering.output_length(size, k, s, d, self.padding)
                    for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))
        if min(out) < 1:
            raise ValueError(f"{kind} {self.name!r}: input shape {tuple(input_shape)} is too small for "
                             f"kernel_size={self.kernel_size}, strides={self.strides}, "
                             f"dilation_rate={self.dilation_rate}, padding={self.padding!r} (states' spatial shape "
                             f"would be {out}).")
        return out, channels

    def build(self, input_shape):
        self.state_spatial, channels = self._output_spatial(input_shape)
        width = 4 * self.filters
        self.add_weight(name=f"{self.cell_name}/kernel", shape=self.kernel_size + (channels, width),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        self.add_weight(name=f"{self.cell_name}/recurrent_kernel", shape=self.kernel_size + (self.filters, width),
                        initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
                        constraint=self.recurrent_constraint)
        if self.use_bias:
            self.add_weight(name=f"{self.cell_name}/bias", shape=(width,),
                            initializer=self.bias_initializer_for_build(), regularizer=self.bias_regularizer,
                            constraint=self.bias_constraint)
        if self.stateful:
            self._build_states(input_shape[0])

    def state_shape(self, batch):
        return with_spatial((batch,), self.state_spatial, self.filters, self.data_format)

    def compute_output_shape(self, input_shape):
        spatial, _ = self._output_spatial(input_shape)
        state = with_spatial(tuple(input_shape[:1]), spatial, self.filters, self.data_format)
        output = state[:1] + tuple(input_shape[1:2]) + state[1:] if self.return_sequences else state
        return (output, state, state) if self.return_state else output

    # --- computation ----------------------------------------------------------------
    def inner_layout(self, value):
        """channels_first values with their channels moved last (the convolutions take channels_last)."""
        return jnp.moveaxis(value, -self.rank - 1, -1) if self.data_format == "channels_first" else value

    def outer_layout(self, value):
        return jnp.moveaxis(value, -1, -self.rank - 1) if self.data_format == "channels_first" else value

    def input_product(self, x, kernel):
        """The input convolution of every timestep of (batch, timesteps, *spatial, channels) `x`, at once."""
        frames = x.reshape((-1,) + x.shape[2:])
        pads = lowering.padding_pairs(frames.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                                      self.padding)
        y = lowering.conv(frames, kernel, self.strides, pads, self.dilation_rate)
        return y.reshape(x.shape[:2] + y.shape[1:])

    def recurrent_product(self, h, kernel):
        ones = (1,) * self.rank
        pads = lowering.padding_pairs(h.shape[1:-1], self.kernel_size, ones, ones, "same")
        return lowering.conv(h, kernel, ones, pads, ones)

    def native_cell(self):
        return None

    # --- configuration ----------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        del config["units"]
        return {**config, "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate}


class ConvLSTM1D(ConvLSTM):
    """ConvLSTM over sequences of 1-d feature maps: (batch, timesteps, steps, channels)."""

    rank = 1


class ConvLSTM2D(ConvLSTM):
    """ConvLSTM over sequences of images: (batch, timesteps, rows, cols, channels)."""

    rank = 2


class ConvLSTM3D(ConvLSTM):
    """ConvLSTM over sequences of volumes: (batch, timesteps, depth, rows, cols, channels)."""

    rank = 3
