"""Core layers: InputLayer/Input, Dense, Flatten, Dropout, Activation, Reshape."""
import math

import jax.numpy as jnp

from scanfit import activations, constraints, initializers, regularizers, threefry
from scanfit.layers.base import Layer
from scanfit.layers.input_spec import InputSpec
from scanfit.layers.symbolic import History, KerasTensor, Node


class InputLayer(Layer):
    """A model input: holds the symbolic tensor that `keras.Input` returns (no computation)."""

    is_input_layer = True
    autocast = False  # model inputs keep their dtype; each layer casts what it takes

    def __init__(self, shape=None, batch_size=None, dtype=None, input_shape=None, batch_shape=None, name=None, **kwargs):
        if shape is None and input_shape is not None:
            shape = input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer needs shape= (the shape of one sample, without the batch axis).")
            batch_shape = (batch_size,) + tuple(_as_shape(shape, "shape"))
        kwargs.pop("batch_input_shape", None)
        kwargs.pop("sparse", None)
        kwargs.pop("ragged", None)
        if dtype is str or dtype in ("string", "str"):
            raise ValueError(
                f"Input dtype={dtype!r}: scanfit models compute on numeric arrays only, as Keras's do on JAX. Map "
                "the strings to numbers before the model (TextVectorization, StringLookup or Hashing on the data) "
                "and give the model an integer or float Input.")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.batch_shape = tuple(batch_shape)
        tensor = KerasTensor(self.batch_shape, self.dtype, History(self, 0, 0), name=self.name)
        self.inbound_nodes.append(Node(self, [], [tensor]))
        self.built = True
        self.input_shape = self.output_shape = self.batch_shape

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x, {}

    def get_config(self):
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "ragged": False, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic model input, as `keras.Input(shape=(28, 28), name="image")`: call layers on it."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape).output


def _as_shape(shape, what):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        return tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a tuple of ints, got {shape!r}") from None


def _positive_int(value, what):
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{what} must be a positive int, got {value!r}")
    value = int(value)
    if value < 1:
        raise ValueError(f"{what} must be a positive int, got {value}")
    return value


class Dense(Layer):
    """Densely connected layer: ``activation(x @ kernel + bias)`` on the last axis."""

    stored_weight_names = ("kernel", "bias")  # as Keras's save_own_variables
    supports_masking = True

    def __init__(
        self,
        units,
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
        self.units = _positive_int(units, "Dense units")
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"Dense layer {self.name!r} needs a known last input dimension, got {input_shape}.")
        self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.input_spec = InputSpec(min_ndim=2, axes={-1: input_shape[-1]})  # later inputs must fit the kernel

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def pure_call(self, weights, x, *, training=False, rng=None):
        y = jnp.matmul(x, weights["kernel"])
        if self.use_bias:
            y = y + weights["bias"]
        return self.activation(y), {}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }


class Flatten(Layer):
    """Flattens every axis but the batch axis."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = data_format

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x.reshape(x.shape[0], -1), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format or "channels_last"}


class Reshape(Layer):
    """Reshapes each sample to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = _as_shape(target_shape, "Reshape target_shape")

    def compute_output_shape(self, input_shape):
        shape = list(self.target_shape)
        if -1 in shape and all(d is not None for d in input_shape[1:]):
            known = math.prod(d for d in shape if d != -1)
            shape[shape.index(-1)] = math.prod(input_shape[1:]) // known
        return (input_shape[0],) + tuple(shape)

    def build(self, input_shape):
        if all(d is not None for d in input_shape[1:]) and -1 not in self.target_shape:
            if math.prod(input_shape[1:]) != math.prod(self.target_shape):
                raise ValueError(
                    f"Reshape {self.name!r}: cannot reshape samples of shape {input_shape[1:]} "
                    f"({math.prod(input_shape[1:])} values) to {self.target_shape}."
                )

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x.reshape((x.shape[0],) + self.target_shape), {}

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Dropout(Layer):
    """Sets a fraction `rate` of inputs to 0 while training, scaling the rest by 1/(1-rate)."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"{name} rate must be a number in [0, 1), got {rate!r}")
        if noise_shape is not None:
            if not isinstance(noise_shape, (list, tuple)) or not all(
                    n is None or (isinstance(n, int) and not isinstance(n, bool) and n >= 1) for n in noise_shape):
                raise ValueError(f"{name} noise_shape must be a tuple of positive ints or None, "
                                 f"got noise_shape={noise_shape!r}")
            noise_shape = tuple(noise_shape)
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed

    def build(self, input_shape):
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape):
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: noise_shape {self.noise_shape} needs one entry per input axis "
                f"(inputs have shape {tuple(input_shape)})."
            )

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or self.rate == 0 or rng is None:
            return x, {}
        shape = x.shape
        if self.noise_shape is not None:
            shape = tuple(s if n is None else n for s, n in zip(x.shape, self.noise_shape))
        return self.drop(x, threefry.bernoulli(rng, 1.0 - self.rate, shape)), {}

    def drop(self, x, keep):
        """The training output for the boolean `keep` mask (broadcast against `x`)."""
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed, "noise_shape": self.noise_shape}


class Activation(Layer):
    """Applies an activation function given by name or callable."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return self.activation(x), {}

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
