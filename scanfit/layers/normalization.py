"""BatchNormalization and LayerNormalization."""
import jax.numpy as jnp
from jax import lax

from scanfit import constraints, initializers, regularizers
from scanfit.layers.base import Layer
from scanfit.checks import in_range


class BatchNormalization(Layer):
    """Normalizes each feature with batch statistics while training, moving ones otherwise.

    ``gamma``/``beta`` are trainable; ``moving_mean``/``moving_variance`` are
    not and follow ``moving = moving * momentum + batch_stat * (1 - momentum)``.
    A frozen layer (``trainable = False``) always runs in inference mode, as
    in Keras 3. Under a mixed policy it computes in float32 (its weights are
    never cast) and returns its compute dtype, as Keras does.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization supports one axis, got axis={axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = in_range("momentum", momentum, 0, 1)
        self.epsilon = in_range("epsilon", epsilon, 0, low_open=True)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = synchronized

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        features = input_shape[axis]
        if features is None:
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} of {input_shape} must be known.")
        self._axis_index = axis
        if self.scale:
            self.add_weight("gamma", (features,), self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint, autocast=False)
        if self.center:
            self.add_weight("beta", (features,), self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint, autocast=False)
        self.add_weight("moving_mean", (features,), self.moving_mean_initializer, trainable=False, autocast=False)
        self.add_weight("moving_variance", (features,), self.moving_variance_initializer, trainable=False,
                        autocast=False)

    def call(self, weights, x, *, training=False, rng=None):
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        axis = self.axis % x.ndim
        reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        updates = {}
        if training and self.trainable:
            mean = jnp.mean(x, axis=reduce_axes)
            variance = jnp.mean(jnp.square(x - mean.reshape(shape)), axis=reduce_axes)
            m = self.momentum
            updates = {
                "moving_mean": weights["moving_mean"] * m + mean * (1.0 - m),
                "moving_variance": weights["moving_variance"] * m + variance * (1.0 - m),
            }
        else:
            mean, variance = weights["moving_mean"], weights["moving_variance"]
        inv = 1.0 / jnp.sqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * weights["gamma"]
        y = (x - mean.reshape(shape)) * inv.reshape(shape)
        if self.center:
            y = y + weights["beta"].reshape(shape)
        return y.astype(self.compute_dtype), updates

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": self.synchronized,
        }


class LayerNormalization(Layer):
    """Normalizes each sample over `axis` (the last by default): ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    `axis` is an int or a list of ints; ``gamma``/``beta`` have the shape of
    those axes. As in Keras 3, the config's `axis` becomes a sorted list once
    the layer is built. Under a mixed policy its inputs and weights are not
    cast: it computes in (at least) float32 and returns its compute dtype, as
    Keras does.
    """

    autocast = False

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        rms_scaling=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rms_scaling:
            raise ValueError(
                "LayerNormalization rms_scaling=True is deprecated in Keras 3 (it scales by the variance) and "
                "not supported: leave rms_scaling=False."
            )
        if isinstance(axis, (list, tuple)):
            if not axis or not all(_is_int(a) for a in axis):
                raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got axis={axis!r}")
            self.axis = [int(a) for a in axis]
        elif _is_int(axis):
            self.axis = int(axis)
        else:
            raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got axis={axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization epsilon must be a positive number, got epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = False
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for axis in axes:
            if not -ndim <= axis < ndim:
                raise ValueError(f"LayerNormalization {self.name!r}: axis {axis} is out of range for inputs of rank {ndim}.")
        return sorted({axis % ndim for axis in axes})

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if None in shape:
            raise ValueError(f"LayerNormalization {self.name!r}: the normalized axes of {input_shape} must be known.")
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def call(self, weights, x, *, training=False, rng=None):
        axes = self._axes(x.ndim)
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        mean = jnp.mean(x, axis=axes, keepdims=True)
        variance = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) * lax.rsqrt(variance + self.epsilon)
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        if self.scale:
            y = y * weights["gamma"].reshape(shape)
        if self.center:
            y = y + weights["beta"].reshape(shape)
        return y.astype(self.compute_dtype), {}

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "rms_scaling": self.rms_scaling,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        }


def _is_int(value):
    return hasattr(value, "__index__") and not isinstance(value, bool)
