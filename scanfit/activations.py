"""Activation functions with Keras 3's names, defaults and formulas.

Each function takes an array (or anything `jnp.asarray` accepts) and returns a
JAX array, so it can be used inside `jax.jit` and differentiated. Layer configs
store an activation as its plain name (``"relu"``); `serialize` and
`deserialize` convert between the two.
"""
import functools
import inspect
import types

import jax
import jax.numpy as jnp

from scanfit.serialization import built_in, function_config, lookup, object_config, resolve


def _is_symbolic(x):
    """Whether `x` is a `keras.Input` tensor (or one made from it), on which an activation records itself."""
    from scanfit.layers import symbolic  # (here, not at the top: importing scanfit.layers imports this module)
    return isinstance(x, symbolic.KerasTensor)


def _graph_operation(name):
    """The `keras.ops` operation `name`, which records itself in the functional graph on symbolic tensors."""
    from scanfit.layers import symbolic
    return symbolic.OPERATIONS[name]


def _operation(name):
    """Keras 3's activations are its operations: on a `keras.Input` tensor the decorated activation adds the
    `keras.ops` operation `name` (with the activation's arguments) to the functional graph, as Keras does."""
    def decorate(function):
        signature = inspect.signature(function)

        @functools.wraps(function)
        def activation(x, *args, **kwargs):
            if not _is_symbolic(x):
                return function(x, *args, **kwargs)
            bound = signature.bind(x, *args, **kwargs)
            bound.apply_defaults()
            arguments = {key: value for key, value in bound.arguments.items() if key != "x"}
            return _graph_operation(name)(x, **arguments)

        return activation

    return decorate


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit, optionally leaky, capped and/or shifted.

    Values above `threshold` pass through (capped at `max_value`), values
    below it become ``negative_slope * (x - threshold)``.
    """
    if _is_symbolic(x):
        if (negative_slope, max_value, threshold) != (0.0, None, 0.0):
            raise NotImplementedError("activations.relu with negative_slope, max_value or threshold cannot be "
                                      "applied to a keras.Input tensor in scanfit; use keras.layers.ReLU(...) there.")
        return _graph_operation("relu")(x)  # (Keras records an operation of its own, named re_lu)
    x = jnp.asarray(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0:
        return jax.nn.leaky_relu(x, negative_slope=negative_slope)
    clip_to_max = max_value is not None
    if threshold != 0:
        y = jnp.where(x > threshold, x, jnp.zeros_like(x))
    elif max_value == 6:
        y = jax.nn.relu6(x)
        clip_to_max = False
    else:
        y = jax.nn.relu(x)
    if clip_to_max:
        y = jnp.clip(y, 0, max_value).astype(y.dtype)
    if negative_slope != 0.0:
        y = y - negative_slope * jax.nn.relu(threshold - x)
    return y


@_operation("leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    """``x`` for positive inputs, ``negative_slope * x`` otherwise."""
    return jax.nn.leaky_relu(jnp.asarray(x), negative_slope=negative_slope)


@_operation("relu6")
def relu6(x):
    """ReLU capped at 6."""
    return jax.nn.relu6(jnp.asarray(x))


@_operation("sigmoid")
def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return jax.nn.sigmoid(jnp.asarray(x))


@_operation("hard_sigmoid")
def hard_sigmoid(x):
    """Piecewise-linear sigmoid: ``clip(x / 6 + 0.5, 0, 1)``."""
    return jax.nn.hard_sigmoid(jnp.asarray(x))


@_operation("log_sigmoid")
def log_sigmoid(x):
    """``log(sigmoid(x))``, computed stably."""
    return jax.nn.log_sigmoid(jnp.asarray(x))


@_operation("sparse_sigmoid")
def sparse_sigmoid(x):
    """0 below -1, 1 above 1, ``(x + 1) / 2`` in between."""
    return jax.nn.sparse_sigmoid(jnp.asarray(x))


@_operation("softmax")
def softmax(x, axis=-1):
    """Exponentials normalised to sum to 1 along `axis` (an int or a tuple)."""
    return jax.nn.softmax(jnp.asarray(x), axis=axis)


@_operation("log_softmax")
def log_softmax(x, axis=-1):
    """``log(softmax(x))``, computed stably."""
    return jax.nn.log_softmax(jnp.asarray(x), axis=axis)


@_operation("sparsemax")
def sparsemax(x, axis=-1):
    """Euclidean projection of `x` onto the probability simplex along `axis`."""
    x = jnp.moveaxis(jnp.asarray(x), axis, -1)
    descending = -jnp.sort(-x, axis=-1)
    running_sum = jnp.cumsum(descending, axis=-1)
    rank = jnp.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    in_support = 1 + rank * descending > running_sum
    support_size = jnp.sum(in_support, axis=-1, keepdims=True)
    support_sum = jnp.take_along_axis(running_sum, support_size - 1, axis=-1)
    tau = (support_sum - 1) / support_size.astype(x.dtype)
    return jnp.moveaxis(jnp.maximum(x - tau, 0), -1, axis)


@_operation("tanh")
def tanh(x):
    """Hyperbolic tangent."""
    return jnp.tanh(jnp.asarray(x))


@_operation("hard_tanh")
def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return jax.nn.hard_tanh(jnp.asarray(x))


@_operation("tanh_shrink")
def tanh_shrink(x):
    """``x - tanh(x)``."""
    x = jnp.asarray(x)
    return x - jnp.tanh(x)


@_operation("elu")
def elu(x, alpha=1.0):
    """``x`` for positive inputs, ``alpha * (exp(x) - 1)`` otherwise."""
    return jax.nn.elu(jnp.asarray(x), alpha=alpha)


@_operation("selu")
def selu(x):
    """Scaled ELU with the self-normalising constants of Klambauer et al."""
    return jax.nn.selu(jnp.asarray(x))


@_operation("celu")
def celu(x, alpha=1.0):
    """``x`` for positive inputs, ``alpha * (exp(x / alpha) - 1)`` otherwise."""
    return jax.nn.celu(jnp.asarray(x), alpha=alpha)


@_operation("gelu")
def gelu(x, approximate=False):
    """Gaussian error linear unit; exact (erf) unless `approximate` is True."""
    return jax.nn.gelu(jnp.asarray(x), approximate=approximate)


@_operation("silu")
def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return jax.nn.silu(jnp.asarray(x))


swish = silu


@_operation("hard_silu")
def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    return jax.nn.hard_silu(jnp.asarray(x))


hard_swish = hard_silu


def mish(x):
    """``x * tanh(softplus(x))``."""
    if _is_symbolic(x):  # (three operations; Keras 3.15 fails here)
        return x * _graph_operation("tanh")(_graph_operation("softplus")(x))
    x = jnp.asarray(x)
    return x * jnp.tanh(jax.nn.softplus(x))


@_operation("softplus")
def softplus(x):
    """``log(exp(x) + 1)``, computed stably."""
    return jax.nn.softplus(jnp.asarray(x))


@_operation("softsign")
def softsign(x):
    """``x / (abs(x) + 1)``."""
    return jax.nn.soft_sign(jnp.asarray(x))


@_operation("squareplus")
def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``."""
    return jax.nn.squareplus(jnp.asarray(x), b=b)


@_operation("sparse_plus")
def sparse_plus(x):
    """0 below -1, ``x`` above 1, ``(x + 1)**2 / 4`` in between."""
    return jax.nn.sparse_plus(jnp.asarray(x))


@_operation("soft_shrink")
def soft_shrink(x, threshold=0.5):
    """Moves values toward 0 by `threshold`; values within it become 0."""
    x = jnp.asarray(x)
    zero = jnp.zeros_like(x)
    return jnp.where(x > threshold, x - threshold, jnp.where(x < -threshold, x + threshold, zero))


@_operation("hard_shrink")
def hard_shrink(x, threshold=0.5):
    """Keeps values whose magnitude exceeds `threshold`; others become 0."""
    x = jnp.asarray(x)
    return jnp.where(jnp.abs(x) > threshold, x, jnp.zeros_like(x))


@_operation("threshold")
def threshold(x, threshold, default_value):
    """Keeps values above `threshold`; others become `default_value`."""
    x = jnp.asarray(x)
    return jnp.where(x > threshold, x, default_value)


@_operation("glu")
def glu(x, axis=-1):
    """Gated linear unit: splits `x` in two halves ``a, b`` and returns ``a * sigmoid(b)``."""
    return jax.nn.glu(jnp.asarray(x), axis=axis)


@_operation("exp")
def exponential(x):
    """``exp(x)``."""
    return jnp.exp(jnp.asarray(x))


def linear(x):
    """The identity: returns `x` unchanged."""
    return x


_ACTIVATIONS = {
    fn.__name__: fn
    for fn in (
        relu, leaky_relu, relu6, sigmoid, hard_sigmoid, log_sigmoid, sparse_sigmoid,
        softmax, log_softmax, sparsemax, tanh, hard_tanh, tanh_shrink, elu, selu, celu,
        gelu, silu, hard_silu, mish, softplus, softsign, squareplus, sparse_plus,
        soft_shrink, hard_shrink, threshold, glu, exponential, linear,
    )
}
_ALIASES = {"swish": silu, "hard_swish": hard_silu}
_REGISTRY = {**_ACTIVATIONS, **_ALIASES}
_NAME_OF = {fn: name for name, fn in _ACTIVATIONS.items()}


def serialize(activation):
    """The name Keras stores for `activation` in a layer config.

    Built-in activations become their name (``swish`` becomes ``"silu"``, as
    in Keras). Other named functions become Keras's dict for a plain function,
    which `deserialize` reads back given ``custom_objects``.
    """
    if activation in _NAME_OF:
        return _NAME_OF[activation]
    if isinstance(activation, types.FunctionType) and activation.__name__ != "<lambda>":
        return function_config(activation)
    if not isinstance(activation, types.FunctionType) and callable(getattr(activation, "get_config", None)):
        # a layer as the activation (Hands-on ML's Dense(activation=LeakyReLU(0.2))): its layer config
        return object_config("keras.layers", activation, built_in("layer"), activation.get_config())
    raise ValueError(
        f"Cannot serialize activation {activation!r}: expected a scanfit activation, a layer "
        "or a named (non-lambda) function."
    )


def deserialize(config, custom_objects=None):
    """The activation function named by `config` (a name or a serialized dict)."""
    if isinstance(config, str):
        return lookup("activation", _REGISTRY, config, custom_objects)
    if isinstance(config, dict):
        if isinstance(config.get("config"), str):
            return lookup("activation", _REGISTRY, config["config"], custom_objects)
        if config.get("module") == "keras.layers":  # a layer saved as the activation
            return resolve("activation", built_in("layer"), config, custom_objects)
        return resolve("activation", _REGISTRY, config, custom_objects)
    raise TypeError(
        f"deserialize expects an activation name or a config dict, "
        f"got {config!r} (a {type(config).__name__})."
    )


def get(identifier):
    """Turn a name, config dict, callable or None (``linear``) into an activation."""
    if identifier is None:
        return linear
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret activation {identifier!r} (a {type(identifier).__name__}): "
        "expected a name such as 'relu', a config dict, a callable, or None."
    )
