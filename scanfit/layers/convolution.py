"""Convolution layers: Conv1D and Conv2D.

The kernel has Keras's shape ``(*kernel_size, input_channels // groups,
filters)``, so weights and files interchange with Keras. How the convolution
runs (one matmul over gathered patches on CPU, `lax.conv_general_dilated`
elsewhere) is chosen in `scanfit.layers.lowering`.
"""
from scanfit import activations, constraints, initializers, regularizers
from scanfit.layers import lowering
from scanfit.layers.base import Layer


def int_tuple(value, rank, name):
    """`value` (an int or `rank` ints) as a tuple of positive ints, or a ValueError naming `name`."""
    values = (value,) * rank if _is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != rank or not all(_is_int(v) for v in values):
        raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {name}={value!r}")
    if any(int(v) < 1 for v in values):
        raise ValueError(f"{name} values must be positive, got {name}={value!r}")
    return tuple(int(v) for v in values)


def _is_int(value):
    return hasattr(value, "__index__") and not isinstance(value, bool)


def data_format_of(value):
    """'channels_last' (also for None) or 'channels_first', else a ValueError."""
    data_format = "channels_last" if value is None else str(value).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got data_format={value!r}")
    return data_format


def padding_of(value, allowed):
    """The lower-cased padding name if it is one of `allowed`, else a ValueError."""
    padding = value.lower() if isinstance(value, str) else value
    if padding not in allowed:
        raise ValueError(f"padding must be one of {allowed}, got padding={value!r}")
    return padding


def to_channels_last(x, data_format):
    if data_format == "channels_first":
        return x.transpose((0,) + tuple(range(2, x.ndim)) + (1,))
    return x


def from_channels_last(x, data_format):
    if data_format == "channels_first":
        return x.transpose((0, x.ndim - 1) + tuple(range(1, x.ndim - 1)))
    return x


def spatial_and_channels(input_shape, data_format):
    """``(spatial_dims, channels)`` of a batch-first input shape."""
    if data_format == "channels_first":
        return tuple(input_shape[2:]), input_shape[1]
    return tuple(input_shape[1:-1]), input_shape[-1]


def with_spatial(input_shape, spatial, channels, data_format):
    """A batch-first shape with new spatial dims and channel count."""
    if data_format == "channels_first":
        return (input_shape[0], channels) + tuple(spatial)
    return (input_shape[0],) + tuple(spatial) + (channels,)


class Conv(Layer):
    """N-d convolution over channels_last (or channels_first) inputs; subclasses fix the rank."""

    rank = None
    paddings = ("valid", "same")

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        name = type(self).__name__
        if not _is_int(filters) or int(filters) < 1:
            raise ValueError(f"{name} filters must be a positive int, got filters={filters!r}")
        self.filters = int(filters)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = padding_of(padding, self.paddings)
        self.data_format = data_format_of(data_format)
        if not _is_int(groups) or int(groups) < 1:
            raise ValueError(f"{name} groups must be a positive int, got groups={groups!r}")
        self.groups = int(groups)
        if self.filters % self.groups:
            raise ValueError(f"{name} filters ({self.filters}) must be divisible by groups ({self.groups}).")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"{name} cannot combine strides > 1 with dilation_rate > 1 (as in Keras): "
                f"got strides={self.strides}, dilation_rate={self.dilation_rate}."
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs with {self.rank + 2} axes "
                f"(batch, {self.rank} spatial, channels), got input shape {tuple(input_shape)}."
            )
        _, channels = spatial_and_channels(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known channel dimension, got {input_shape}.")
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: input channels ({channels}) must be divisible by "
                f"groups ({self.groups})."
            )
        self.compute_output_shape(input_shape)
        self.add_weight("kernel", self.kernel_size + (channels // self.groups, self.filters), self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        spatial, _ = spatial_and_channels(input_shape, self.data_format)
        out = tuple(
            lowering.output_length(size, k, s, d, self.padding)
            for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)
        )
        if any(n is not None and n < 1 for n in out):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: input shape {tuple(input_shape)} is too small for "
                f"kernel_size={self.kernel_size}, strides={self.strides}, dilation_rate={self.dilation_rate}, "
                f"padding={self.padding!r} (output spatial shape would be {out})."
            )
        return with_spatial(input_shape, out, self.filters, self.data_format)

    def call(self, weights, x, *, training=False, rng=None):
        x = to_channels_last(x, self.data_format)
        pads = lowering.padding_pairs(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        y = lowering.conv(x, weights["kernel"], self.strides, pads, self.dilation_rate, self.groups)
        if self.use_bias:
            y = y + weights["bias"]
        return from_channels_last(self.activation(y), self.data_format), {}

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Conv1D(Conv):
    """1-D convolution over (batch, steps, channels); padding may also be 'causal'."""

    rank = 1
    paddings = ("valid", "same", "causal")


class Conv2D(Conv):
    """2-D convolution over (batch, rows, cols, channels) images."""

    rank = 2
