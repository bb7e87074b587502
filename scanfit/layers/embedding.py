"""Embedding: integer indices to dense vectors."""
import jax.numpy as jnp
import numpy as np

from scanfit import constraints, initializers, regularizers
from scanfit.layers.base import Layer
from scanfit.layers.core import _positive_int


class Embedding(Layer):
    """Looks up row ``i`` of an ``(input_dim, output_dim)`` table for each index ``i``.

    ``mask_zero=True`` makes index 0 padding: the output mask is ``x != 0``.
    Indices must be integers in ``[0, input_dim)``; `check_indices` says so
    about data before training. Inside the compiled program an index out of
    range gives NaN (never a clamped row), so a missed check cannot pass as
    real results. tf.keras 2's ``input_length=`` fixes the number of
    timesteps of the input shape.
    """

    stored_weight_names = ("embeddings",)  # as Keras's save_own_variables

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, activity_regularizer=None,
                 **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (_positive_int(input_length, "Embedding input_length"),)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.input_dim = _positive_int(input_dim, "Embedding input_dim")
        self.output_dim = _positive_int(output_dim, "Embedding output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape):
        self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim), initializer=self.embeddings_initializer,
                        regularizer=self.embeddings_regularizer, constraint=self.embeddings_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def compute_mask(self, x, mask=None):
        return jnp.not_equal(x, 0) if self.mask_zero else None

    def pure_call(self, weights, x, *, training=False, rng=None):
        indices = x.astype(jnp.int32)
        return jnp.take(weights["embeddings"], indices, axis=0, mode="fill", fill_value=jnp.nan), {}

    def check_indices(self, x, what="x"):
        """Raise ValueError unless every value of `x` is an integer in ``[0, input_dim)``."""
        values = np.asarray(x)
        if values.dtype.kind not in "iufb":
            raise TypeError(f"Embedding {self.name!r}: {what} must hold integer indices, got dtype {values.dtype}.")
        if values.size == 0:
            return
        if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
            bad = values[~(np.isfinite(values) & (values == np.round(values)))].flat[0]
            raise ValueError(f"Embedding {self.name!r}: {what} holds {bad!r}, which is not an integer index.")
        low, high = values.min(), values.max()
        if low < 0 or high >= self.input_dim:
            bad = low if low < 0 else high
            raise ValueError(
                f"Embedding {self.name!r}: {what} holds index {int(bad)}, outside [0, {self.input_dim}) "
                f"(input_dim={self.input_dim}). Raise input_dim, or map rare tokens to an out-of-vocabulary "
                "index below it (e.g. imdb.load_data(num_words=...))."
            )

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "embeddings_constraint": constraints.serialize(self.embeddings_constraint),
            "mask_zero": self.mask_zero,
        }
