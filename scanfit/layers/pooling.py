"""Pooling layers: Max/AveragePooling1D/2D/3D and their global forms.

`strides` defaults to `pool_size`. How the pooling runs is chosen in
`scanfit.layers.lowering`: non-overlapping windows (the usual
``strides == pool_size``) become a reshape and a reduction; other windows a
reduction over strided slices on CPU, `lax.reduce_window` elsewhere.
`pool_size` defaults to 2 for the average pooling layers too, as in tf.keras 2.
"""
import jax.numpy as jnp

from scanfit.layers import lowering
from scanfit.layers.base import Layer
from scanfit.layers.convolution import (
    check_spatial_rank,
    data_format_of,
    from_channels_last,
    int_tuple,
    padding_of,
    spatial_and_channels,
    to_channels_last,
    with_spatial,
)


class Pooling(Layer):
    """Max or average over windows of the spatial axes; subclasses fix the rank and the mode."""

    rank = None
    mode = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int_tuple(pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else int_tuple(strides, self.rank, "strides")
        self.padding = padding_of(padding, ("valid", "same"))
        self.data_format = data_format_of(data_format)

    def build(self, input_shape):
        check_spatial_rank(self, input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        spatial, channels = spatial_and_channels(input_shape, self.data_format)
        out = tuple(
            lowering.output_length(size, k, s, 1, self.padding)
            for size, k, s in zip(spatial, self.pool_size, self.strides)
        )
        if any(n is not None and n < 1 for n in out):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: input shape {tuple(input_shape)} is too small for "
                f"pool_size={self.pool_size}, strides={self.strides}, padding={self.padding!r}."
            )
        return with_spatial(input_shape, out, channels, self.data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        x = to_channels_last(x, self.data_format)
        pads = lowering.padding_pairs(x.shape[1:-1], self.pool_size, self.strides, (1,) * self.rank, self.padding)
        y = lowering.pool(x, self.mode, self.pool_size, self.strides, pads)
        return from_channels_last(y, self.data_format), {}

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        }


class MaxPooling1D(Pooling):
    """Maximum over windows of (batch, steps, channels) inputs."""

    rank, mode = 1, "max"


class AveragePooling1D(Pooling):
    """Mean over windows of (batch, steps, channels) inputs ('same' windows average their real values)."""

    rank, mode = 1, "average"


class MaxPooling2D(Pooling):
    """Maximum over windows of (batch, rows, cols, channels) images."""

    rank, mode = 2, "max"


class AveragePooling2D(Pooling):
    """Mean over windows of (batch, rows, cols, channels) images ('same' windows average their real values)."""

    rank, mode = 2, "average"


class MaxPooling3D(Pooling):
    """Maximum over windows of (batch, depth, rows, cols, channels) volumes."""

    rank, mode = 3, "max"


class AveragePooling3D(Pooling):
    """Mean over windows of (batch, depth, rows, cols, channels) volumes ('same' windows average their real values)."""

    rank, mode = 3, "average"


class GlobalPooling(Layer):
    """Max or mean over all spatial axes; ``keepdims=True`` keeps them with length 1."""

    rank = None
    mode = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format_of(data_format)
        self.keepdims = bool(keepdims)

    def _spatial_axes(self):
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs with {self.rank + 2} axes, "
                f"got input shape {tuple(input_shape)}."
            )

    def compute_output_shape(self, input_shape):
        _, channels = spatial_and_channels(input_shape, self.data_format)
        if self.keepdims:
            return with_spatial(input_shape, (1,) * self.rank, channels, self.data_format)
        return (input_shape[0], channels)

    def pure_call(self, weights, x, *, training=False, rng=None):
        reduce = jnp.max if self.mode == "max" else jnp.mean
        return reduce(x, axis=self._spatial_axes(), keepdims=self.keepdims), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(GlobalPooling):
    """Maximum over the steps of (batch, steps, channels) inputs (over all steps, masked or not, as in Keras 3)."""

    rank, mode = 1, "max"


class GlobalAveragePooling1D(GlobalPooling):
    """Mean over the steps of (batch, steps, channels) inputs; with a mask, over the unmasked steps only."""

    rank, mode = 1, "average"
    accepts_mask = True

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None):
        if mask is None:
            return super().pure_call(weights, x, training=training)
        keep = jnp.expand_dims(jnp.asarray(mask, bool), 1 if self.data_format == "channels_first" else 2)
        axis = self._spatial_axes()
        total = jnp.sum(jnp.where(keep, x, 0.0), axis=axis, keepdims=self.keepdims)
        return total / jnp.sum(keep.astype(x.dtype), axis=axis, keepdims=self.keepdims), {}


class GlobalMaxPooling2D(GlobalPooling):
    """Maximum over the rows and columns of (batch, rows, cols, channels) images."""

    rank, mode = 2, "max"


class GlobalAveragePooling2D(GlobalPooling):
    """Mean over the rows and columns of (batch, rows, cols, channels) images."""

    rank, mode = 2, "average"


class GlobalMaxPooling3D(GlobalPooling):
    """Maximum over the three spatial axes of (batch, depth, rows, cols, channels) volumes."""

    rank, mode = 3, "max"


class GlobalAveragePooling3D(GlobalPooling):
    """Mean over the three spatial axes of (batch, depth, rows, cols, channels) volumes."""

    rank, mode = 3, "average"
