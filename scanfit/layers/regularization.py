"""Noise and dropout layers beyond `Dropout`: AlphaDropout, GaussianNoise, GaussianDropout, SpatialDropout1D/2D/3D.

Each is the identity at inference (and when no random key is given); while
training it draws only from the `rng` key that `call` receives.
"""
import math

import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.base import Layer
from scanfit.layers.convolution import data_format_of
from scanfit.layers.core import Dropout

# SELU's constants, which AlphaDropout's noise is built around.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def rate_of(layer, rate):
    """`rate` as a float in [0, 1), or a ValueError naming the layer and the argument."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(f"{layer} rate must be a number in [0, 1), got rate={rate!r}")
    return float(rate)


def alpha_dropout(x, keep, rate):
    """AlphaDropout's output for a given boolean `keep` mask (broadcast against `x`).

    Dropped values become SELU's negative saturation ``-alpha * scale``; then
    ``a * x + b`` with ``a = ((1 - rate) * (1 + rate * alpha'^2)) ** -0.5``
    and ``b = -a * alpha' * rate`` restores a zero mean and unit variance.
    """
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    return a * jnp.where(keep, x, jnp.asarray(alpha_p, x.dtype)) + b


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of SELU activations (for self-normalizing networks)."""

    def drop(self, x, keep):
        return alpha_dropout(x, keep, self.rate)


class GaussianNoise(Layer):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` while training."""

    supports_masking = True

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or not 0 <= stddev < math.inf:
            raise ValueError(f"GaussianNoise stddev must be a finite number >= 0, got stddev={stddev!r}")
        self.stddev = float(stddev)
        self.seed = seed

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or self.stddev == 0 or rng is None:
            return x, {}
        return x + self.stddev * threefry.normal(rng, x.shape, x.dtype), {}

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies inputs by Gaussian noise of mean 1 and variance ``rate / (1 - rate)`` while training."""

    supports_masking = True

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate_of("GaussianDropout", rate)
        self.seed = seed

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or self.rate == 0 or rng is None:
            return x, {}
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + stddev * threefry.normal(rng, x.shape, x.dtype)), {}

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class SpatialDropout(Layer):
    """Dropout of whole feature maps: one keep/drop draw per sample and channel, kept ones scaled by 1/(1-rate)."""

    rank = None

    def __init__(self, rate, data_format=None, seed=None, **kwargs):  # Keras 3's order (SpatialDropout2D/3D)
        super().__init__(**kwargs)
        self.rate = rate_of(type(self).__name__, rate)
        self.seed = seed
        self.data_format = data_format_of(data_format)

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r} expects inputs with {self.rank + 2} axes "
                f"(batch, {self.rank} spatial, channels), got input shape {tuple(input_shape)}."
            )

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or self.rate == 0 or rng is None:
            return x, {}
        channel_axis = 1 if self.data_format == "channels_first" else x.ndim - 1
        shape = tuple(n if axis in (0, channel_axis) else 1 for axis, n in enumerate(x.shape))
        keep = threefry.bernoulli(rng, 1.0 - self.rate, shape)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x)), {}

    def get_config(self):
        # Keras 3 writes only these keys for the spatial dropout layers.
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout1D(SpatialDropout):
    """SpatialDropout over (batch, steps, channels): drops whole channels of a sequence."""

    rank = 1

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(rate, seed=seed, data_format=None, **kwargs)  # channels last, as in Keras


class SpatialDropout2D(SpatialDropout):
    """SpatialDropout over images: drops whole feature maps (channels_last or channels_first)."""

    rank = 2

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout3D(SpatialDropout):
    """SpatialDropout over volumes: drops whole feature maps (channels_last or channels_first)."""

    rank = 3

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}
