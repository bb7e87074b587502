"""Small weightless layers: Identity, Rescaling, RepeatVector, Permute, ActivityRegularization, UnitNormalization."""
import jax
import jax.numpy as jnp

from scanfit import regularizers
from scanfit.layers.base import Layer


class Identity(Layer):
    """Returns its input unchanged (and passes its mask on)."""

    supports_masking = True

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x, {}


class Rescaling(Layer):
    """``x * scale + offset`` (``Rescaling(1. / 255)`` turns pixel values into [0, 1]); `scale` and `offset` are
    numbers, or lists of numbers, one per channel (the last axis), as EfficientNet's ImageNet stem uses."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = _scale_argument("scale", scale), _scale_argument("offset", offset)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x * jnp.asarray(self.scale, x.dtype) + jnp.asarray(self.offset, x.dtype), {}

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def _scale_argument(name, value):
    """Rescaling's `scale` or `offset`: a float, or a list of floats (one per channel)."""
    def number(item):
        return not isinstance(item, bool) and isinstance(item, (int, float))

    if number(value):
        return float(value)
    if isinstance(value, (list, tuple)) and value and all(number(item) for item in value):
        return [float(item) for item in value]
    raise TypeError(f"Rescaling {name} must be a number or a list of numbers (one per channel), got "
                    f"{name}={value!r}.")


class RepeatVector(Layer):
    """Repeats each sample's feature vector `n` times: (batch, features) becomes (batch, n, features)."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector n must be a positive int, got n={n!r}.")
        self.n = n

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector {self.name!r} takes inputs of shape (batch, features), got {input_shape}.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def pure_call(self, weights, x, *, training=False, rng=None):
        return jnp.repeat(x[:, None, :], self.n, axis=1), {}

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Reorders the axes after the batch axis: `dims` is a permutation of 1..rank-1 (``Permute((2, 1))``)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims) if isinstance(dims, (list, tuple)) else None
        if dims is None or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute dims must be a permutation of 1..{len(dims or ())} (the batch axis stays "
                             f"first), got dims={dims!r}.")
        self.dims = dims

    def build(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute {self.name!r} with dims={self.dims} takes inputs of rank "
                             f"{len(self.dims) + 1}, got shape {input_shape}.")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return jnp.transpose(x, (0,) + self.dims), {}

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class ActivityRegularization(Layer):
    """Returns its input and adds ``l1 * sum(|x|) + l2 * sum(x**2)`` (per sample) to the loss."""

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = self.activity_regularizer.l1, self.activity_regularizer.l2

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x, {}

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer")
        return {**config, "l1": self.l1, "l2": self.l2}


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis` (an int or a list of ints)."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def pure_call(self, weights, x, *, training=False, rng=None):
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        squares = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
        return x * jax.lax.rsqrt(jnp.maximum(squares, jnp.asarray(1e-12, x.dtype))), {}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
