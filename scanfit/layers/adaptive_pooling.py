"""Adaptive pooling layers: AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D.

The output has the spatial shape `output_size` whatever the input's. Output
position ``i`` of an axis of length ``n`` pooled to ``m`` covers the inputs
``floor(i * n / m)`` up to (not including) ``ceil((i + 1) * n / m)``, as in
Keras 3 (and PyTorch): windows overlap where ``m`` does not divide ``n``, and
repeat inputs where ``m > n``. The pooling is separable, one axis after the
other (the mean of a box is the mean of its axis means, its maximum the
maximum of its axis maxima): each axis gathers its windows, padded to the
longest one, and reduces them over their real values.
"""
import jax.numpy as jnp
import numpy as np

from scanfit.layers.base import Layer
from scanfit.layers.convolution import (
    check_spatial_rank,
    data_format_of,
    from_channels_last,
    int_tuple,
    spatial_and_channels,
    to_channels_last,
    with_spatial,
)


def adaptive_windows(size, output_size):
    """``(starts, ends)``: numpy int arrays of the `output_size` windows' bounds over an axis of length `size`."""
    position = np.arange(output_size)
    starts = position * size // output_size
    ends = -(-(position + 1) * size // output_size)
    return starts, ends


def adaptive_pool(x, mode, output_size):
    """'max' or 'average' adaptive pooling of channels_last `x` (N, *spatial, C) to the spatial shape `output_size`."""
    if mode not in ("max", "average"):
        raise ValueError(f"adaptive pooling mode must be 'max' or 'average', got {mode!r}")
    if len(output_size) != x.ndim - 2:
        raise ValueError(f"output_size {tuple(output_size)} needs one entry per spatial axis of inputs of shape "
                         f"{tuple(x.shape)}")
    for axis, length in enumerate(output_size, start=1):
        x = _pool_axis(x, mode, axis, int(length))
    return x


def _pool_axis(x, mode, axis, output_size):
    """`x` pooled along `axis` to `output_size` positions."""
    size = x.shape[axis]
    starts, ends = adaptive_windows(size, output_size)
    width = int((ends - starts).max())
    positions = starts[:, None] + np.arange(width)  # (output_size, width); past a window's end: padding
    real = positions < ends[:, None]
    windows = jnp.take(x, np.minimum(positions, size - 1).reshape(-1), axis=axis)
    windows = windows.reshape(x.shape[:axis] + (output_size, width) + x.shape[axis + 1:])
    real = real.reshape(real.shape + (1,) * (x.ndim - axis - 1))
    if mode == "max":
        return jnp.max(jnp.where(real, windows, -jnp.inf), axis=axis + 1)
    counts = (ends - starts).reshape((output_size,) + (1,) * (x.ndim - axis - 1))
    return jnp.sum(jnp.where(real, windows, 0.0), axis=axis + 1) / jnp.asarray(counts, x.dtype)


class AdaptivePooling(Layer):
    """Max or mean over windows sized to give the spatial shape `output_size`; subclasses fix the rank and mode."""

    rank = None
    mode = None

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = int_tuple(output_size, self.rank, "output_size")
        self.data_format = data_format_of(data_format)

    def build(self, input_shape):
        check_spatial_rank(self, input_shape)

    def compute_output_shape(self, input_shape):
        _, channels = spatial_and_channels(input_shape, self.data_format)
        return with_spatial(input_shape, self.output_size, channels, self.data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        y = adaptive_pool(to_channels_last(x, self.data_format), self.mode, self.output_size)
        return from_channels_last(y, self.data_format), {}

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size, "data_format": self.data_format}


class AdaptiveAveragePooling1D(AdaptivePooling):
    """Mean over `output_size` windows of (batch, steps, channels) inputs."""

    rank, mode = 1, "average"


class AdaptiveAveragePooling2D(AdaptivePooling):
    """Mean over ``output_size = (rows, cols)`` windows of images."""

    rank, mode = 2, "average"


class AdaptiveAveragePooling3D(AdaptivePooling):
    """Mean over ``output_size = (depth, rows, cols)`` windows of volumes."""

    rank, mode = 3, "average"


class AdaptiveMaxPooling1D(AdaptivePooling):
    """Maximum over `output_size` windows of (batch, steps, channels) inputs."""

    rank, mode = 1, "max"


class AdaptiveMaxPooling2D(AdaptivePooling):
    """Maximum over ``output_size = (rows, cols)`` windows of images."""

    rank, mode = 2, "max"


class AdaptiveMaxPooling3D(AdaptivePooling):
    """Maximum over ``output_size = (depth, rows, cols)`` windows of volumes."""

    rank, mode = 3, "max"
