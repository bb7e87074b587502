"""Dot-product (Luong) and additive (Bahdanau) attention: `Attention` and `AdditiveAttention`.

Both take ``[query, value]`` or ``[query, value, key]`` (the key defaults to
the value), each (batch, steps, dim), and return (batch, query steps, dim):
a softmax over the value steps of the query-key scores, applied to the
values. Masks from ``Embedding(mask_zero=True)`` or ``Masking`` flow in as in
Keras 3: masked value steps get no weight, masked query steps give zeros.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.base import Layer


class Attention(Layer):
    """Scores ``query @ key^T`` (``score_mode='dot'``, times a learned scalar with ``use_scale``) or
    ``sum(tanh(query + key))`` (``'concat'``, times a learned scalar); `dropout` on the weights while training."""

    accepts_mask = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"{type(self).__name__} score_mode must be 'dot' or 'concat', got {score_mode!r}.")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__} dropout must be a number in [0, 1), got dropout={dropout!r}.")
        self.use_scale, self.score_mode, self.dropout, self.seed = bool(use_scale), score_mode, float(dropout), seed

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) not in (2, 3):
            raise ValueError(f"{type(self).__name__} {self.name!r} takes a list [query, value] or "
                             f"[query, value, key], got inputs of shape {input_shape}.")
        if self.use_scale:
            self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.add_weight(name="concat_score_weight", shape=(), initializer="ones")

    def compute_output_shape(self, input_shape):
        query, value = input_shape[0], input_shape[1]
        return tuple(query[:-1]) + (value[-1],)

    def compute_mask(self, x, mask=None):
        return mask[0] if isinstance(mask, list) else None

    def scores(self, weights, query, key):
        if self.score_mode == "dot":
            scores = query @ jnp.swapaxes(key, -2, -1)
            return scores * weights["scale"] if self.use_scale else scores
        pairs = query[..., :, None, :] + key[..., None, :, :]
        if self.use_scale:
            pairs = weights["scale"] * pairs
        return weights["concat_score_weight"] * jnp.sum(jnp.tanh(pairs), axis=-1)

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None):
        query, value = x[0], x[1]
        key = x[2] if len(x) > 2 else value
        query_mask, value_mask = (list(mask) + [None, None])[:2] if isinstance(mask, list) else (None, None)
        scores = self.scores(weights, query, key)
        if value_mask is not None:
            big = 65504.0 if scores.dtype == jnp.float16 else 1.0e9
            scores = jnp.where(value_mask[..., None, :], scores, scores - big)
        attention = jax.nn.softmax(scores, axis=-1)
        if training and self.dropout > 0 and rng is not None:
            keep = threefry.bernoulli(rng, 1.0 - self.dropout, attention.shape)
            attention = jnp.where(keep, attention / (1.0 - self.dropout), 0.0)
        output = attention @ value
        if query_mask is not None:
            output = jnp.where(query_mask[..., None], output, 0.0)
        return output, {}

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Scores ``sum(scale * tanh(query + key))`` with a learned `scale` per feature (``use_scale=True``)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) not in (2, 3):
            raise ValueError(f"AdditiveAttention {self.name!r} takes a list [query, value] or [query, value, key], "
                             f"got inputs of shape {input_shape}.")
        if self.use_scale:
            self.add_weight(name="scale", shape=(input_shape[1][-1],), initializer="glorot_uniform")

    def scores(self, weights, query, key):
        pairs = jnp.tanh(query[..., :, None, :] + key[..., None, :, :])
        return jnp.sum(weights["scale"] * pairs if self.use_scale else pairs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.pop("score_mode")
        return config
