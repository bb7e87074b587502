"""Convolution layers: Conv1D/2D/3D, their transposed forms (1D/2D/3D) and depthwise and separable forms (1D/2D).

Kernels have Keras's shapes (``(*kernel_size, input_channels // groups,
filters)`` for Conv2D, ``(*kernel_size, filters, input_channels)`` for
Conv2DTranspose, ``(*kernel_size, input_channels, depth_multiplier)`` for the
depthwise kernels), so weights and files interchange with Keras. How the convolution
runs (one matmul over gathered patches on CPU, `lax.conv_general_dilated`
elsewhere) is chosen in `scanfit.layers.lowering`.
"""
import numbers

import jax.numpy as jnp

from scanfit import activations, constraints, initializers, regularizers
from scanfit.layers import lowering
from scanfit.layers.base import Layer


def int_tuple(value, rank, name, minimum=1):
    """`value` (an int or `rank` ints) as a tuple of ints >= `minimum`, or a ValueError naming `name`."""
    values = (value,) * rank if _is_int(value) else value
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or len(values) != rank or not all(_is_int(v) for v in values):
        raise ValueError(f"{name} must be an int or a tuple of {rank} ints, got {name}={value!r}")
    if any(int(v) < minimum for v in values):
        raise ValueError(f"{name} values must be {'positive' if minimum == 1 else f'>= {minimum}'}, got {name}={value!r}")
    return tuple(int(v) for v in values)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def data_format_of(value):
    """'channels_last' (also for None) or 'channels_first', else a ValueError."""
    data_format = "channels_last" if value is None else str(value).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got data_format={value!r}")
    return data_format


def padding_of(value, allowed):
    """The lower-cased padding name if it is one of `allowed`, else a ValueError."""
    padding = value.lower() if isinstance(value, str) else None
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


def check_spatial_rank(layer, input_shape):
    """Refuse inputs that are not (batch, `layer.rank` spatial axes, channels)."""
    if len(input_shape) != layer.rank + 2:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} expects inputs with {layer.rank + 2} axes "
            f"(batch, {layer.rank} spatial, channels), got input shape {tuple(input_shape)}."
        )


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

    stored_weight_names = ("kernel", "bias")  # as Keras's save_own_variables

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
        check_spatial_rank(self, input_shape)
        _, channels = spatial_and_channels(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known channel dimension, got {input_shape}.")
        if channels % self.groups:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: input channels ({channels}) must be divisible by "
                f"groups ({self.groups})."
            )
        self.compute_output_shape(input_shape)
        self.add_weight(name="kernel", shape=self.kernel_size + (channels // self.groups, self.filters), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
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

    def convolution_op(self, inputs, kernel):
        """Keras's hook: `inputs` (in the layer's data_format) convolved with `kernel` as this layer convolves,
        without bias or activation. A subclass may override it (a standardized convolution, say), which the
        layer's computation then uses, or call it from its own `call`."""
        x = to_channels_last(inputs, self.data_format)
        pads = lowering.padding_pairs(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        y = lowering.conv(x, jnp.asarray(kernel), self.strides, pads, self.dilation_rate, self.groups)
        return from_channels_last(y, self.data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        # Keras's Conv1D convolves by itself, without convolution_op (an override of it there changes nothing)
        convolve = Conv.convolution_op if self.rank == 1 else type(self).convolution_op
        y = to_channels_last(convolve(self, x, weights["kernel"]), self.data_format)
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


class Conv3D(Conv):
    """3-D convolution over (batch, depth, rows, cols, channels) volumes."""

    rank = 3


class ConvTranspose(Conv):
    """Transposed convolution (the gradient of a convolution with respect to its input), for upsampling.

    The output length per axis is ``size * stride`` for 'same' and
    ``(size - 1) * stride + max(kernel_span, stride)`` for 'valid'; `output_padding`
    (each value below its stride) sets the length to ``(size - 1) * stride + kernel_span
    + output_padding`` ('valid') or ``(size - 1) * stride + kernel_span % 2 + output_padding`` ('same').
    Subclasses fix the rank.
    """

    paddings = ("valid", "same")

    @property
    def convolution_op(self):  # Keras's transposed convolutions have no convolution_op
        raise AttributeError(f"{type(self).__name__!r} object has no attribute 'convolution_op'")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
            dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = int_tuple(output_padding, self.rank, "output_padding", minimum=0)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"output_padding must be smaller than strides on every axis, got "
                    f"output_padding={self.output_padding}, strides={self.strides}."
                )

    def build(self, input_shape):
        check_spatial_rank(self, input_shape)
        _, channels = spatial_and_channels(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known channel dimension, got {input_shape}.")
        self.add_weight(name="kernel", shape=self.kernel_size + (self.filters, channels), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _output_paddings(self):
        return self.output_padding or (None,) * self.rank

    def compute_output_shape(self, input_shape):
        spatial, _ = spatial_and_channels(input_shape, self.data_format)
        out = tuple(
            lowering.transpose_output_length(size, k, s, d, self.padding, p)
            for size, k, s, d, p in zip(spatial, self.kernel_size, self.strides, self.dilation_rate,
                                        self._output_paddings())
        )
        return with_spatial(input_shape, out, self.filters, self.data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        x = to_channels_last(x, self.data_format)
        pads = tuple(
            lowering.transpose_padding(size, k, s, d, self.padding, p)
            for size, k, s, d, p in zip(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate,
                                        self._output_paddings())
        )
        y = lowering.conv_transpose(x, weights["kernel"], self.strides, pads, self.dilation_rate)
        if self.use_bias:
            y = y + weights["bias"]
        return from_channels_last(self.activation(y), self.data_format), {}

    def get_config(self):
        config = super().get_config()
        del config["groups"]
        config["output_padding"] = self.output_padding
        return config


class DepthwiseConv(Layer):
    """Convolves each input channel with `depth_multiplier` filters of its own (no mixing of channels).

    The output has ``input_channels * depth_multiplier`` channels, channel ``c * depth_multiplier + m``
    being filter ``m`` of input channel ``c``; the kernel is named 'kernel', as in Keras 3. Subclasses
    fix the rank.
    """

    rank = None
    kernel_name = "kernel"

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if not _is_int(depth_multiplier) or int(depth_multiplier) < 1:
            raise ValueError(f"depth_multiplier must be a positive int, got depth_multiplier={depth_multiplier!r}")
        self.depth_multiplier = int(depth_multiplier)
        self.kernel_size = int_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = int_tuple(strides, self.rank, "strides")
        self.dilation_rate = int_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = padding_of(padding, ("valid", "same"))
        self.data_format = data_format_of(data_format)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _channels(self, input_shape):
        check_spatial_rank(self, input_shape)
        _, channels = spatial_and_channels(input_shape, self.data_format)
        if channels is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs a known channel dimension, got {input_shape}.")
        return channels

    def _output_channels(self, channels):
        return channels * self.depth_multiplier

    def build(self, input_shape):
        channels = self._channels(input_shape)
        self.compute_output_shape(input_shape)
        self.add_weight(name=self.kernel_name, shape=self.kernel_size + (channels, self.depth_multiplier),
                        initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
                        constraint=self.depthwise_constraint)
        self._build_rest(channels)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self._output_channels(channels),), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _build_rest(self, channels):
        """Weights between the depthwise kernel and the bias (SeparableConv's pointwise kernel)."""

    def compute_output_shape(self, input_shape):
        spatial, channels = spatial_and_channels(input_shape, self.data_format)
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
        return with_spatial(input_shape, out, self._output_channels(channels), self.data_format)

    def _depthwise(self, weights, x):
        """The depthwise convolution of channels_last `x`: a convolution with one group per channel."""
        kernel = weights[self.kernel_name]
        channels = kernel.shape[-2]
        pads = lowering.padding_pairs(x.shape[1:-1], self.kernel_size, self.strides, self.dilation_rate, self.padding)
        grouped = kernel.reshape(self.kernel_size + (1, channels * self.depth_multiplier))
        return lowering.conv(x, grouped, self.strides, pads, self.dilation_rate, groups=channels)

    def pure_call(self, weights, x, *, training=False, rng=None):
        y = self._depthwise(weights, to_channels_last(x, self.data_format))
        if self.use_bias:
            y = y + weights["bias"]
        return from_channels_last(self.activation(y), self.data_format), {}

    def get_config(self):
        return {
            **super().get_config(),
            "depth_multiplier": self.depth_multiplier,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class SeparableConv(DepthwiseConv):
    """A depthwise convolution followed by a 1x1 ('pointwise') convolution to `filters` channels.

    Weights, as in Keras: 'depthwise_kernel' ``(*kernel_size, channels, depth_multiplier)``,
    'pointwise_kernel' ``(1, ..., 1, channels * depth_multiplier, filters)``, 'bias' ``(filters,)``.
    Subclasses fix the rank.
    """

    kernel_name = "depthwise_kernel"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            depthwise_initializer=depthwise_initializer, bias_initializer=bias_initializer,
            depthwise_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, depthwise_constraint=depthwise_constraint,
            bias_constraint=bias_constraint, **kwargs)
        if not _is_int(filters) or int(filters) < 1:
            raise ValueError(f"{type(self).__name__} filters must be a positive int, got filters={filters!r}")
        self.filters = int(filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def _output_channels(self, channels):
        return self.filters

    def _build_rest(self, channels):
        self.add_weight(name="pointwise_kernel", shape=(1,) * self.rank + (channels * self.depth_multiplier, self.filters),
                        initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                        constraint=self.pointwise_constraint)

    def pure_call(self, weights, x, *, training=False, rng=None):
        depthwise = self._depthwise(weights, to_channels_last(x, self.data_format))
        pointwise = weights["pointwise_kernel"]
        y = jnp.matmul(depthwise, pointwise.reshape(pointwise.shape[-2:]))
        if self.use_bias:
            y = y + weights["bias"]
        return from_channels_last(self.activation(y), self.data_format), {}

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        }


class Conv1DTranspose(ConvTranspose):
    """Transposed 1-D convolution over (batch, steps, channels)."""

    rank = 1


class Conv2DTranspose(ConvTranspose):
    """Transposed 2-D convolution over images."""

    rank = 2


class Conv3DTranspose(ConvTranspose):
    """Transposed 3-D convolution over volumes; Keras 3 takes `data_format` before `output_padding` here."""

    rank = 3

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, output_padding=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(
            filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint, **kwargs)


class DepthwiseConv1D(DepthwiseConv):
    """Depthwise 1-D convolution over (batch, steps, channels)."""

    rank = 1


class DepthwiseConv2D(DepthwiseConv):
    """Depthwise 2-D convolution over images."""

    rank = 2


class SeparableConv1D(SeparableConv):
    """Separable 1-D convolution: depthwise over the steps, then pointwise."""

    rank = 1


class SeparableConv2D(SeparableConv):
    """Separable 2-D convolution: depthwise over the image, then pointwise."""

    rank = 2
