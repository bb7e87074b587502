"""ReversibleEmbedding: an Embedding that also projects vectors back to vocabulary logits, as Keras 3's.

``layer(token_ids)`` embeds as `Embedding` does (``mask_zero=True`` masks index 0); ``layer(vectors,
reverse=True)`` multiplies (..., output_dim) vectors by the transposed embeddings (``tie_weights=True``) or by
a trainable ``reverse_embeddings`` (output_dim, input_dim) matrix of their own, giving (..., input_dim) logits
with no mask. ``reverse_dtype`` computes that product in another dtype; ``logit_soft_cap`` maps the logits
to ``tanh(logits / cap) * cap``.
"""
import jax.numpy as jnp

from scanfit.layers.embedding import Embedding


class ReversibleEmbedding(Embedding):
    """Embedding of `input_dim` tokens in `output_dim` dimensions, callable in reverse (vectors to logits)."""

    argument_names = ("reverse",)

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.tie_weights = bool(tie_weights)
        if reverse_dtype is not None and not (isinstance(reverse_dtype, str) and _is_floating(reverse_dtype)):
            raise ValueError(f"ReversibleEmbedding reverse_dtype must be None or the name of a floating dtype "
                             f"('float32', 'bfloat16', ...), got {reverse_dtype!r}.")
        self.reverse_dtype = reverse_dtype
        if logit_soft_cap is not None and (isinstance(logit_soft_cap, bool)
                                           or not isinstance(logit_soft_cap, (int, float)) or logit_soft_cap <= 0):
            raise ValueError(f"ReversibleEmbedding logit_soft_cap must be None or a positive number, got "
                             f"{logit_soft_cap!r}.")
        self.logit_soft_cap = logit_soft_cap

    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.tie_weights:  # as Keras 3: trainable, with the embeddings' initializer, no regularizer
            self.add_weight(name="reverse_embeddings", shape=(self.output_dim, self.input_dim),
                            initializer=self.embeddings_initializer)

    def call_arguments(self, args, kwargs):
        arguments = super().call_arguments(args, kwargs)
        if not isinstance(arguments.get("reverse", False), bool):
            raise TypeError(f"ReversibleEmbedding reverse must be True or False, got {arguments['reverse']!r}.")
        return arguments

    def build_for(self, input_shape, arguments=None):
        shape = super().build_for(input_shape, arguments)
        if arguments and arguments.get("reverse"):
            if tuple(input_shape)[-1] != self.output_dim:
                raise ValueError(f"ReversibleEmbedding {self.name!r} called with reverse=True needs vectors of "
                                 f"{self.output_dim} features (its output_dim), got shape {tuple(input_shape)}.")
            shape = self.compute_output_shape(input_shape, reverse=True)
            self.output_shape = shape
        return shape

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return tuple(input_shape)[:-1] + (self.input_dim,)
        return super().compute_output_shape(input_shape)

    def compute_mask_of_call(self, x, mask, arguments):
        return None if arguments and arguments.get("reverse") else self.compute_mask(x, mask)

    def pure_call(self, weights, x, *, training=False, rng=None, reverse=False):
        if not reverse:
            return super().pure_call(weights, x, training=training, rng=rng)
        kernel = weights["embeddings"].T if self.tie_weights else weights["reverse_embeddings"]
        if self.reverse_dtype is not None:
            x, kernel = x.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
        logits = jnp.matmul(x, kernel)
        if self.logit_soft_cap is not None:
            logits = jnp.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits, {}

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}


def _is_floating(name):
    try:
        return jnp.issubdtype(jnp.dtype(name), jnp.floating)
    except TypeError:
        return False
