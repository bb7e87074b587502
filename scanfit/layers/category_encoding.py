"""`CategoryEncoding`: integer category indices as one-hot, multi-hot or count vectors (Hands-on ML's
preprocessing chapter), computed as Keras 3 computes them on JAX.

An index outside ``[0, num_tokens)`` encodes as all zeros, as in Keras on JAX.
"""
import jax
import jax.numpy as jnp

from scanfit.layers.base import Layer

MODES = ("multi_hot", "one_hot", "count")


class CategoryEncoding(Layer):
    """Encodes integer indices below `num_tokens`: ``'one_hot'`` encodes each index (a trailing axis of size 1
    is dropped first); ``'multi_hot'`` (tf.keras 2's ``'binary'``) marks the indices present in each sample
    (each row of a 2D input, or the whole of a 1D one, as Keras does); ``'count'`` counts them, weighted by the
    call's `count_weights`."""

    argument_names = ("count_weights",)

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        output_mode = "multi_hot" if output_mode == "binary" else output_mode
        if output_mode not in MODES:
            raise ValueError(f"CategoryEncoding output_mode must be one of {MODES}, got {output_mode!r}.")
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding needs num_tokens, an int >= 1 (the number of categories), got "
                             f"{num_tokens!r}; without a known count, map the values to indices first.")
        if sparse:
            raise ValueError("CategoryEncoding(sparse=True) is not supported by scanfit, which has no sparse "
                             "tensors; leave sparse=False.")
        self.num_tokens, self.output_mode, self.sparse = num_tokens, output_mode, False

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.num_tokens, self.output_mode)

    def pure_call(self, weights, x, *, training=False, rng=None, count_weights=None):
        if count_weights is not None and self.output_mode != "count":
            raise ValueError(f"CategoryEncoding {self.name!r}: count_weights needs output_mode='count', not "
                             f"{self.output_mode!r}.")
        return encode(x, self.num_tokens, self.output_mode, self.compute_dtype, count_weights), {}

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


def encoded_shape(input_shape, num_tokens, output_mode):
    """The shape `encode` gives for inputs of `input_shape`."""
    input_shape = tuple(input_shape)
    if not input_shape:
        return (num_tokens,)
    if output_mode == "one_hot" and (input_shape[-1] != 1 or len(input_shape) == 1):
        return input_shape + (num_tokens,)
    return input_shape[:-1] + (num_tokens,)


def encode(x, num_tokens, output_mode, dtype, count_weights=None):
    """Integer indices below `num_tokens` encoded as Keras encodes categories: 'one_hot' each index (a trailing axis
    of size 1 dropped first), 'multi_hot' and 'count' the indices of each row of a 2D input (or of the whole of a
    1D one), counts weighted by `count_weights`; outputs in `dtype` (the weights' dtype when given)."""
    x = jnp.asarray(x)
    x = x[None] if x.ndim == 0 else x
    if output_mode == "one_hot":
        x = x[..., 0] if x.ndim > 1 and x.shape[-1] == 1 else x
        return jax.nn.one_hot(x.astype(jnp.int32), num_tokens, dtype=dtype)
    axis = 1 if x.ndim > 1 else 0
    if output_mode == "multi_hot":
        return jnp.max(jax.nn.one_hot(x.astype(jnp.int32), num_tokens, dtype=dtype), axis=axis)
    dtype = dtype if count_weights is None else jnp.asarray(count_weights).dtype
    encoded = jax.nn.one_hot(x.astype(jnp.int32), num_tokens, dtype=dtype)
    if count_weights is not None:
        encoded = encoded * jnp.asarray(count_weights, dtype)[..., None]
    return jnp.sum(encoded, axis=axis)
