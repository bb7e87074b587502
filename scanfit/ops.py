"""`keras.ops`: the tensor operations that Keras 3 code uses inside custom layers, losses and metrics.

Each function has Keras 3's name, arguments and defaults and computes with
`jax.numpy`, `jax.nn` or `jax.lax`, so it works on arrays, on the traced
arrays of a compiled forward pass and on a layer's `Variable`s (read as the
running pass's values):

    from scanfit import ops

    def call(self, inputs):
        return ops.relu(ops.matmul(inputs, self.w) + self.b)

Only the operations listed here exist; any other name is an AttributeError
(use `jax.numpy` for it), never a guess.
"""
import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import backend
from scanfit.layers.base import Variable


def _on_arrays(function):
    """`function` with every `Variable` among its arguments (also in lists) replaced by its current value."""

    def as_array(value):
        return value.current_value() if isinstance(value, Variable) else value

    def is_variable(value):
        return isinstance(value, Variable)

    @functools.wraps(function)
    def operation(*args, **kwargs):
        args, kwargs = jax.tree.map(as_array, (args, kwargs), is_leaf=is_variable)
        return function(*args, **kwargs)

    return operation


def _elementwise(jax_function, name, arguments):
    """The operation ``name(*arguments)``, elementwise (with broadcasting)."""
    operation = _on_arrays(lambda *args: jax_function(*args))
    operation.__name__ = operation.__qualname__ = name
    operation.__doc__ = f"Keras's ``ops.{name}({', '.join(arguments)})``, elementwise."
    operation.__signature__ = inspect.Signature(
        [inspect.Parameter(argument, inspect.Parameter.POSITIONAL_OR_KEYWORD) for argument in arguments])
    return operation


_ELEMENTWISE = {
    "abs": jnp.abs, "absolute": jnp.abs, "ceil": jnp.ceil, "cos": jnp.cos, "erf": jax.lax.erf, "exp": jnp.exp,
    "floor": jnp.floor, "hard_sigmoid": jax.nn.hard_sigmoid, "isfinite": jnp.isfinite, "isinf": jnp.isinf,
    "isnan": jnp.isnan, "log": jnp.log, "log1p": jnp.log1p, "log_sigmoid": jax.nn.log_sigmoid,
    "logical_not": jnp.logical_not, "negative": jnp.negative, "reciprocal": jnp.reciprocal, "relu": jax.nn.relu,
    "relu6": jax.nn.relu6, "rsqrt": jax.lax.rsqrt, "selu": jax.nn.selu, "sigmoid": jax.nn.sigmoid, "sign": jnp.sign,
    "silu": jax.nn.silu, "sin": jnp.sin, "softplus": jax.nn.softplus, "softsign": lambda x: x / (1 + jnp.abs(x)),
    "sqrt": jnp.sqrt, "square": jnp.square, "swish": jax.nn.silu, "tanh": jnp.tanh,
}
_BINARY = {
    "add": jnp.add, "divide": jnp.divide, "dot": jnp.dot, "equal": jnp.equal, "floor_divide": jnp.floor_divide,
    "greater": jnp.greater, "greater_equal": jnp.greater_equal, "less": jnp.less, "less_equal": jnp.less_equal,
    "logical_and": jnp.logical_and, "logical_or": jnp.logical_or, "matmul": jnp.matmul, "maximum": jnp.maximum,
    "minimum": jnp.minimum, "mod": jnp.mod, "multiply": jnp.multiply, "not_equal": jnp.not_equal,
    "power": jnp.power, "subtract": jnp.subtract, "true_divide": jnp.true_divide,
}
for _name, _function in _ELEMENTWISE.items():
    globals()[_name] = _elementwise(_function, _name, ["x"])
for _name, _function in _BINARY.items():
    globals()[_name] = _elementwise(_function, _name, ["x1", "x2"])


# --- reductions ---------------------------------------------------------------------
@_on_arrays
def sum(x, axis=None, keepdims=False):
    return jnp.sum(x, axis=axis, keepdims=keepdims)


@_on_arrays
def mean(x, axis=None, keepdims=False):
    return jnp.mean(x, axis=axis, keepdims=keepdims)


@_on_arrays
def max(x, axis=None, keepdims=False, initial=None):
    return jnp.max(x, axis=axis, keepdims=keepdims, initial=initial)


@_on_arrays
def min(x, axis=None, keepdims=False, initial=None):
    return jnp.min(x, axis=axis, keepdims=keepdims, initial=initial)


@_on_arrays
def prod(x, axis=None, keepdims=False, dtype=None):
    return jnp.prod(x, axis=axis, keepdims=keepdims, dtype=dtype)


@_on_arrays
def std(x, axis=None, keepdims=False):
    return jnp.std(x, axis=axis, keepdims=keepdims)


@_on_arrays
def var(x, axis=None, keepdims=False):
    return jnp.var(x, axis=axis, keepdims=keepdims)


@_on_arrays
def all(x, axis=None, keepdims=False):
    return jnp.all(x, axis=axis, keepdims=keepdims)


@_on_arrays
def any(x, axis=None, keepdims=False):
    return jnp.any(x, axis=axis, keepdims=keepdims)


@_on_arrays
def argmax(x, axis=None, keepdims=False):
    return jnp.argmax(x, axis=axis, keepdims=keepdims)


@_on_arrays
def argmin(x, axis=None, keepdims=False):
    return jnp.argmin(x, axis=axis, keepdims=keepdims)


@_on_arrays
def average(x, axis=None, weights=None):
    return jnp.average(x, axis=axis, weights=weights)


@_on_arrays
def cumsum(x, axis=None, dtype=None):
    return jnp.cumsum(x, axis=axis, dtype=dtype)


@_on_arrays
def cumprod(x, axis=None, dtype=None):
    return jnp.cumprod(x, axis=axis, dtype=dtype)


@_on_arrays
def logsumexp(x, axis=None, keepdims=False):
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


@_on_arrays
def norm(x, ord=None, axis=None, keepdims=False):
    return jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


@_on_arrays
def moments(x, axes, keepdims=False, synchronized=False):
    """The mean and variance of `x` over `axes`."""
    if synchronized:
        raise ValueError("ops.moments(synchronized=True) is not supported by scanfit: its replicas see one "
                         "global batch, so leave synchronized=False.")
    return jnp.mean(x, axis=axes, keepdims=keepdims), jnp.var(x, axis=axes, keepdims=keepdims)


# --- shapes and arrangement ---------------------------------------------------------
@_on_arrays
def reshape(x, newshape):
    return jnp.reshape(x, newshape)


@_on_arrays
def transpose(x, axes=None):
    return jnp.transpose(x, axes)


@_on_arrays
def expand_dims(x, axis):
    return jnp.expand_dims(x, axis)


@_on_arrays
def squeeze(x, axis=None):
    return jnp.squeeze(x, axis)


@_on_arrays
def concatenate(xs, axis=0):
    return jnp.concatenate(xs, axis=axis)


@_on_arrays
def stack(x, axis=0):
    return jnp.stack(x, axis=axis)


@_on_arrays
def split(x, indices_or_sections, axis=0):
    return jnp.split(x, indices_or_sections, axis=axis)


@_on_arrays
def tile(x, repeats):
    return jnp.tile(x, repeats)


@_on_arrays
def repeat(x, repeats, axis=None):
    return jnp.repeat(x, repeats, axis=axis)


@_on_arrays
def flip(x, axis=None):
    return jnp.flip(x, axis=axis)


@_on_arrays
def roll(x, shift, axis=None):
    return jnp.roll(x, shift, axis=axis)


@_on_arrays
def sort(x, axis=-1):
    return jnp.sort(x, axis=axis)


@_on_arrays
def argsort(x, axis=-1):
    return jnp.argsort(x, axis=axis)


@_on_arrays
def top_k(x, k, sorted=True):
    """The `k` largest values along the last axis and their indices (always sorted, which Keras allows)."""
    return jax.lax.top_k(x, k)


@_on_arrays
def take(x, indices, axis=None):
    return jnp.take(x, jnp.asarray(indices, jnp.int32), axis=axis)


@_on_arrays
def take_along_axis(x, indices, axis=None):
    return jnp.take_along_axis(x, jnp.asarray(indices, jnp.int32), axis=axis)


@_on_arrays
def where(condition, x1=None, x2=None):
    if (x1 is None) != (x2 is None):
        raise ValueError("ops.where takes both x1 and x2, or neither (then it gives the indices of the true values).")
    return jnp.where(condition) if x1 is None else jnp.where(condition, x1, x2)


@_on_arrays
def clip(x, x_min, x_max):
    return jnp.clip(x, x_min, x_max)


@_on_arrays
def round(x, decimals=0):
    return jnp.round(x, decimals)


@_on_arrays
def pad(x, pad_width, mode="constant", constant_values=None):
    if constant_values is not None:
        if mode != "constant":
            raise ValueError(f"ops.pad: constant_values is only for mode='constant', got mode={mode!r}.")
        return jnp.pad(x, pad_width, mode=mode, constant_values=constant_values)
    return jnp.pad(x, pad_width, mode=mode)


@_on_arrays
def slice(inputs, start_indices, shape):
    """The block of `inputs` of size `shape` starting at `start_indices`."""
    return jax.lax.dynamic_slice(inputs, start_indices, shape)


@_on_arrays
def tensordot(x1, x2, axes=2):
    return jnp.tensordot(x1, x2, axes=axes)


@_on_arrays
def einsum(subscripts, *operands, **kwargs):
    return jnp.einsum(subscripts, *operands, **kwargs)


@_on_arrays
def tril(x, k=0):
    return jnp.tril(x, k)


@_on_arrays
def triu(x, k=0):
    return jnp.triu(x, k)


@_on_arrays
def diag(x, k=0):
    return jnp.diag(x, k)


# --- creation and conversion -----------------------------------------------------------
def _dtype(dtype, default=None):
    return jnp.dtype(default or backend.floatx()) if dtype is None else jnp.dtype(dtype)


def ones(shape, dtype=None):
    return jnp.ones(shape, _dtype(dtype))


def zeros(shape, dtype=None):
    return jnp.zeros(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    return jnp.full(shape, fill_value, dtype)


def eye(N, M=None, k=0, dtype=None):
    return jnp.eye(N, M, k, dtype=_dtype(dtype))


def arange(start, stop=None, step=None, dtype=None):
    return jnp.arange(start, stop, step, dtype=dtype)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    return jnp.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis)


@_on_arrays
def ones_like(x, dtype=None):
    return jnp.ones_like(x, dtype=dtype)


@_on_arrays
def zeros_like(x, dtype=None):
    return jnp.zeros_like(x, dtype=dtype)


@_on_arrays
def full_like(x, fill_value, dtype=None):
    return jnp.full_like(x, fill_value, dtype=dtype)


@_on_arrays
def cast(x, dtype):
    return jnp.asarray(x).astype(dtype)


@_on_arrays
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if sparse or ragged:
        raise ValueError("ops.convert_to_tensor: scanfit has no sparse or ragged tensors.")
    if dtype is None and isinstance(x, float):
        dtype = backend.floatx()
    return jnp.asarray(x, dtype=dtype)


@_on_arrays
def convert_to_numpy(x):
    return np.asarray(x)


@_on_arrays
def shape(x):
    return tuple(jnp.shape(x))


@_on_arrays
def stop_gradient(variable):
    return jax.lax.stop_gradient(variable)


# --- neural-network functions -------------------------------------------------------
@_on_arrays
def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


@_on_arrays
def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


@_on_arrays
def leaky_relu(x, negative_slope=0.2):
    return jax.nn.leaky_relu(x, negative_slope)


@_on_arrays
def elu(x, alpha=1.0):
    return jax.nn.elu(x, alpha)


@_on_arrays
def gelu(x, approximate=True):
    return jax.nn.gelu(x, approximate=approximate)


@_on_arrays
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("ops.one_hot: scanfit has no sparse tensors; leave sparse=False.")
    return jax.nn.one_hot(x, num_classes, dtype=_dtype(dtype), axis=axis)


@_on_arrays
def normalize(x, axis=-1, order=2, epsilon=None):
    """`x` divided by its `order`-norm along `axis` (at least `epsilon`, by default `backend.epsilon()`)."""
    epsilon = backend.epsilon() if epsilon is None else epsilon
    if order == 2:
        return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis, keepdims=True), epsilon))
    return x / jnp.maximum(jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True), epsilon)


def _probabilities(output, from_logits, axis):
    """Clipped probabilities from `output` (normalized to sum to 1 along `axis` unless logits)."""
    if from_logits:
        return jax.nn.softmax(output, axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    return jnp.clip(output, backend.epsilon(), 1.0 - backend.epsilon())


@_on_arrays
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (probabilities clipped to ``[epsilon, 1 - epsilon]``)."""
    if from_logits:
        return jnp.maximum(output, 0) - output * target + jnp.log1p(jnp.exp(-jnp.abs(output)))
    output = jnp.clip(output, backend.epsilon(), 1.0 - backend.epsilon())
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


@_on_arrays
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy along `axis` between one-hot (or soft) `target` and `output`."""
    if from_logits:
        return -jnp.sum(target * jax.nn.log_softmax(output, axis=axis), axis=axis)
    return -jnp.sum(target * jnp.log(_probabilities(output, False, axis)), axis=axis)


@_on_arrays
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy along `axis` between integer class `target` and `output`."""
    target = jax.nn.one_hot(jnp.asarray(target, jnp.int32), output.shape[axis], axis=axis, dtype=output.dtype)
    return categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)
