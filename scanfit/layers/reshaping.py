"""Spatial reshaping layers: ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D."""
import jax
import jax.numpy as jnp

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

# UpSampling2D interpolations; all but 'nearest' run through `jax.image.resize`, as in Keras on JAX.
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


def amounts_per_axis(value, rank, name):
    """An int, `rank` ints (symmetric per axis) or `rank` pairs ``((before, after), ...)``, all >= 0."""
    if hasattr(value, "__index__") and not isinstance(value, bool):
        pair = int_tuple(value, 2, name, minimum=0)
        return (pair,) * rank
    try:
        axes = tuple(value)
    except TypeError:
        axes = ()
    if len(axes) != rank:
        raise ValueError(
            f"{name} must be an int, a tuple of {rank} ints or a tuple of {rank} (before, after) pairs, "
            f"got {name}={value!r}"
        )
    return tuple(int_tuple(axis, 2, f"{name}[{i}]", minimum=0) for i, axis in enumerate(axes))


class _Spatial(Layer):
    """A parameter-free layer on (batch, *spatial, channels) inputs of a fixed rank."""

    rank = None
    data_format = "channels_last"

    def build(self, input_shape):
        check_spatial_rank(self, input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        spatial, channels = spatial_and_channels(input_shape, self.data_format)
        out = tuple(None if n is None else self._length(axis, n) for axis, n in enumerate(spatial))
        return with_spatial(input_shape, out, channels, self.data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return from_channels_last(self._apply(to_channels_last(x, self.data_format)), self.data_format), {}


class _ZeroPadding(_Spatial):
    """Adds rows/columns of zeros before and after each spatial axis."""

    def _length(self, axis, n):
        return n + sum(self._pairs()[axis])

    def _apply(self, x):
        return jnp.pad(x, ((0, 0),) + self._pairs() + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    """`padding`: an int or ``(before, after)``, zeros added along the steps axis."""

    rank = 1

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = int_tuple(padding, 2, "padding", minimum=0)
        self.data_format = data_format_of(data_format)

    def _pairs(self):
        return (self.padding,)


class ZeroPadding2D(_ZeroPadding):
    """`padding`: an int, ``(rows, cols)`` (symmetric) or ``((top, bottom), (left, right))``."""

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = amounts_per_axis(padding, 2, "padding")
        self.data_format = data_format_of(data_format)

    def _pairs(self):
        return self.padding


class ZeroPadding3D(_ZeroPadding):
    """`padding`: an int, ``(depth, rows, cols)`` (symmetric) or three ``(before, after)`` pairs."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = amounts_per_axis(padding, 3, "padding")
        self.data_format = data_format_of(data_format)

    def _pairs(self):
        return self.padding


class Cropping1D(_Spatial):
    """Removes ``cropping = (before, after)`` steps (an int crops both ends equally)."""

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = int_tuple(cropping, 2, "cropping", minimum=0)

    def _length(self, axis, n):
        return _cropped(self, n, self.cropping)

    def _apply(self, x):
        before, after = self.cropping
        return x[:, before:x.shape[1] - after]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(_Spatial):
    """Removes ``((top, bottom), (left, right))`` rows and columns (or an int, or ``(rows, cols)``, symmetric)."""

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = amounts_per_axis(cropping, 2, "cropping")
        self.data_format = data_format_of(data_format)

    def _length(self, axis, n):
        return _cropped(self, n, self.cropping[axis])

    def _apply(self, x):
        (top, bottom), (left, right) = self.cropping
        return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping3D(_Spatial):
    """Removes three ``(before, after)`` pairs from depth, rows and columns (or an int, or 3 ints, symmetric)."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = amounts_per_axis(cropping, 3, "cropping")
        self.data_format = data_format_of(data_format)

    def _length(self, axis, n):
        return _cropped(self, n, self.cropping[axis])

    def _apply(self, x):
        kept = tuple(slice(before, n - after) for (before, after), n in zip(self.cropping, x.shape[1:-1]))
        return x[(slice(None),) + kept]

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


def _cropped(layer, n, pair):
    if sum(pair) >= n:
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r}: cropping {pair} leaves nothing of an axis of length {n}; "
            "the cropping must be smaller than the input."
        )
    return n - sum(pair)


class UpSampling1D(_Spatial):
    """Repeats each step `size` times."""

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not hasattr(size, "__index__"):
            raise TypeError(f"UpSampling1D size must be a positive int, got size={size!r}")
        (self.size,) = int_tuple(size, 1, "size")

    def _length(self, axis, n):
        return n * self.size

    def _apply(self, x):
        return jnp.repeat(x, self.size, axis=1)

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class UpSampling2D(_Spatial):
    """Scales images by ``size = (rows, cols)``: 'nearest' repeats pixels; 'bilinear' (also 'bicubic',
    'lanczos3', 'lanczos5') interpolates as Keras does (half-pixel centres)."""

    rank = 2

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple(size, 2, "size")
        self.data_format = data_format_of(data_format)
        method = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if method not in _INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {_INTERPOLATIONS}, got interpolation={interpolation!r}")
        self.interpolation = method

    def _length(self, axis, n):
        return n * self.size[axis]

    def _apply(self, x):
        if self.interpolation == "nearest":
            return jnp.repeat(jnp.repeat(x, self.size[0], axis=1), self.size[1], axis=2)
        shape = (x.shape[0], x.shape[1] * self.size[0], x.shape[2] * self.size[1], x.shape[3])
        return jax.image.resize(x, shape, self.interpolation, antialias=False)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(_Spatial):
    """Scales volumes by ``size = (depth, rows, cols)``, repeating each value (Keras 3 has no other interpolation
    here)."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.size = int_tuple(size, 3, "size")
        self.data_format = data_format_of(data_format)

    def _length(self, axis, n):
        return n * self.size[axis]

    def _apply(self, x):
        for axis, repeats in enumerate(self.size, start=1):
            x = jnp.repeat(x, repeats, axis=axis)
        return x

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}
