"""Grouped-query attention (Ainslie et al. 2023): `GroupQueryAttention`, with Keras 3's arguments and results.

``layer(query, value, key=None, attention_mask=None, return_attention_scores=False, use_causal_mask=False)``
on (batch, steps, features) inputs projects the query to `num_query_heads` heads and the key and value to
`num_key_value_heads` heads of `head_dim` each; each key/value head serves ``num_query_heads //
num_key_value_heads`` consecutive query heads (one head: multi-query attention; as many as the query's:
multi-head attention). Scores are scaled by ``1 / sqrt(head_dim)``; the output is projected back to the
query's feature size. The scores returned are (batch, num_query_heads, query steps, value steps).

Masks, the causal and sliding-window masks, the fused path (no dropout, no returned scores: a query row with
every column masked averages all values) and the scores path are MultiHeadAttention's. With an
`activity_regularizer`, Keras 3 penalizes each projection (the gate's after its sigmoid) and the layer's
outputs (the scores too, when returned); scanfit does the same.

The weights are Keras's, in its order (query, key, gate with ``use_gate``, value, output projections: kernel
then bias), and a ``.weights.h5`` file keeps them in Keras's groups, so files move between the two libraries.
"""
import math

import jax
import jax.numpy as jnp

from scanfit import constraints, initializers, regularizers
from scanfit.layers.multi_head_attention import QueryValueAttention, causal_mask, fused_attention, masked_softmax
from scanfit.naming import snake_case, unique_name

# The projections in Keras's weight order, with their groups in a .weights.h5 file.
_FILE_GROUPS = {"query": "_query_dense", "key": "_key_dense", "gate": "_gate_dense", "value": "_value_dense",
                "attention_output": "_output_dense"}


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"GroupQueryAttention {what} must be a positive integer, got {what}={value!r}.")
    return value


class GroupQueryAttention(QueryValueAttention):
    """Attention of `num_query_heads` query heads sharing `num_key_value_heads` key/value heads, each of size
    `head_dim`; `dropout` on the attention weights while training."""

    # Keras 3's Python class, whose name gives the layer's default name and its group in weight files.
    keras_python_class = "GroupedQueryAttention"
    supports_masking = True
    accepts_mask = True  # the query's mask
    argument_names = ("value", "key", "query_mask", "value_mask", "key_mask", "attention_mask",
                      "return_attention_scores", "use_causal_mask")

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, use_gate=False, seed=None, name=None, **kwargs):
        super().__init__(name=name or unique_name(snake_case(self.keras_python_class)),
                         activity_regularizer=activity_regularizer, **kwargs)
        self.head_dim = _positive(head_dim, "head_dim")
        self.num_query_heads = _positive(num_query_heads, "num_query_heads")
        self.num_key_value_heads = _positive(num_key_value_heads, "num_key_value_heads")
        if num_query_heads % num_key_value_heads:
            raise ValueError(f"GroupQueryAttention num_query_heads must be divisible by num_key_value_heads, got "
                             f"{num_query_heads} and {num_key_value_heads}.")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"GroupQueryAttention dropout must be a number in [0, 1), got dropout={dropout!r}.")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        if sliding_window is not None:
            _positive(sliding_window, "sliding_window")
        self.sliding_window = sliding_window
        if flash_attention:
            raise ValueError("GroupQueryAttention(flash_attention=True) is not supported by scanfit, which computes "
                             "attention with XLA (Keras 3 needs cuDNN for it); leave flash_attention at None or False.")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self.shapes = None  # {"query_shape": ..., "value_shape": ..., "key_shape": ...} once built

    # --- calls and building ------------------------------------------------------
    def scores_shape(self, query_shape, value_shape):
        """The shape of the attention scores that ``return_attention_scores=True`` returns."""
        return (query_shape[0], self.num_query_heads, query_shape[1], value_shape[1])

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the projections' weights (`value_shape` is required; `key_shape` defaults to it)."""
        if value_shape is None:
            raise TypeError("GroupQueryAttention.build needs the query's and the value's shapes.")
        key_shape = value_shape if key_shape is None else key_shape
        if not len(query_shape) == len(value_shape) == len(key_shape) == 3:
            raise ValueError(f"GroupQueryAttention {self.name!r} needs (batch, steps, features) query, value and key; "
                             f"got {query_shape}, {value_shape}, {key_shape}.")
        if value_shape[1] != key_shape[1]:
            raise ValueError(f"GroupQueryAttention {self.name!r}: value and key must have the same steps; got value "
                             f"{value_shape} and key {key_shape}.")
        if any(d is None for d in (query_shape[-1], value_shape[-1], key_shape[-1])):
            raise ValueError(f"GroupQueryAttention {self.name!r} needs known feature sizes; got {query_shape}.")
        query_heads, key_value_heads = (self.num_query_heads, self.head_dim), (self.num_key_value_heads, self.head_dim)
        self._projection("query", (query_shape[-1],), query_heads)
        self._projection("key", (key_shape[-1],), key_value_heads)
        if self.use_gate:
            self._projection("gate", (query_shape[-1],), query_heads)
        self._projection("value", (value_shape[-1],), key_value_heads)
        self._projection("attention_output", query_heads, (query_shape[-1],))

    def _projection(self, name, inputs, outputs):
        """A projection's kernel (input dims + output dims, initialized with those fans, as Keras 3's
        EinsumDense does) and bias (output dims)."""
        fan_in, fan_out = math.prod(inputs), math.prod(outputs)
        init = self.kernel_initializer

        def kernel_initializer(shape, dtype="float32"):
            return jnp.reshape(init((fan_in, fan_out), dtype=dtype), shape)

        kernel = self.add_weight(shape=inputs + outputs, name=f"{name}/kernel", initializer=kernel_initializer,
                                 regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        kernel.short_name = f"{name}_kernel"  # the key of the weight dicts; the path is Keras's "gqa/query/kernel"
        if self.use_bias:
            bias = self.add_weight(shape=outputs, name=f"{name}/bias", initializer=self.bias_initializer,
                                   regularizer=self.bias_regularizer, constraint=self.bias_constraint)
            bias.short_name = f"{name}_bias"

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_build_config(self):
        return {"shapes_dict": {name: list(shape) for name, shape in self.shapes.items()}}

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: each projection's kernel and bias in its own group."""
        groups = [("vars", self.name, []), ("_dropout_layer/vars", "dropout", []), ("_softmax/vars", "softmax", [])]
        for name, group in _FILE_GROUPS.items():
            variables = [v for v in self.weights if v.short_name in (f"{name}_kernel", f"{name}_bias")]
            if variables:
                groups.append((f"{group}/vars", name, variables))
        return groups

    # --- computation ---------------------------------------------------------------
    def pure_call(self, weights, x, *, training=False, rng=None, mask=None, value=None, key=None, query_mask=None,
                  value_mask=None, key_mask=None, attention_mask=None, return_attention_scores=False,
                  use_causal_mask=False):
        query = x
        value, key, attention_mask, causal_only = self._value_key_and_mask(
            query, value, key, mask if query_mask is None else query_mask, value_mask, key_mask, attention_mask,
            use_causal_mask)
        gate = self._project(weights, "gate", query, activation=jax.nn.sigmoid) if self.use_gate else None
        query = self._project(weights, "query", query)
        repeats = self.num_query_heads // self.num_key_value_heads  # key/value head i serves query heads i*r..
        key = jnp.repeat(self._project(weights, "key", key), repeats, axis=2)
        value = jnp.repeat(self._project(weights, "value", value), repeats, axis=2)
        scale = 1.0 / math.sqrt(float(self.head_dim))
        scores = None
        if self.dropout == 0 and not return_attention_scores:
            output = fused_attention(query, key, value, attention_mask, causal_only, scale)
        else:
            if causal_only:
                attention_mask = causal_mask(query.shape[1], value.shape[1])
            scores = jnp.einsum("bkuh,bquh->buqk", key, query * jnp.asarray(scale, query.dtype))
            scores = masked_softmax(scores, attention_mask, 1)
            output = jnp.einsum("buqk,bkuh->bquh", self._dropped(scores, training, rng), value)
        if gate is not None:
            output = output * gate
        output = self._project(weights, "attention_output", output, 2)
        return ((output, scores) if return_attention_scores else output), {}

    # --- configuration -------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "sliding_window": self.sliding_window,
            "dropout": self.dropout,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }
