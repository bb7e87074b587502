"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax."""
import jax.numpy as jnp

from scanfit import activations, constraints, initializers, regularizers
from scanfit.layers.base import Layer


class ReLU(Layer):
    """``max(x, 0)`` with Keras's optional max_value, negative_slope and threshold."""

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU max_value must be >= 0 or None, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU negative_slope must be >= 0, got {negative_slope}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def pure_call(self, weights, x, *, training=False, rng=None):
        y = activations.relu(x, negative_slope=self.negative_slope, max_value=self.max_value, threshold=self.threshold)
        return y, {}

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise (tf.keras's `alpha=` accepted)."""

    supports_masking = True

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None:
            negative_slope = alpha
        if negative_slope < 0:
            raise ValueError(f"LeakyReLU negative_slope must be >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return activations.leaky_relu(x, negative_slope=self.negative_slope), {}

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(Layer):
    """Leaky ReLU whose slope ``alpha`` is learned per input unit."""

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None or isinstance(shared_axes, (list, tuple)):
            self.shared_axes = None if shared_axes is None else list(shared_axes)
        else:
            self.shared_axes = [shared_axes]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            shape[axis - 1] = 1
        self.add_weight(name="alpha", shape=tuple(shape), initializer=self.alpha_initializer,
                        regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def pure_call(self, weights, x, *, training=False, rng=None):
        alpha = weights["alpha"]
        return jnp.where(x >= 0, x, alpha * x), {}

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        }


class ELU(Layer):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return activations.elu(x, alpha=self.alpha), {}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(Layer):
    """Softmax over `axis`."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def pure_call(self, weights, x, *, training=False, rng=None):
        return activations.softmax(x, axis=self.axis), {}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
