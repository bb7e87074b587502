"""Multi-head attention (Vaswani et al. 2017): `MultiHeadAttention`, with Keras 3's arguments and results.

``layer(query, value, key=None, attention_mask=None, return_attention_scores=False, use_causal_mask=False)``
projects the query, key and value to `num_heads` heads, attends over the
attention axes (the steps of (batch, steps, dim) inputs), and projects the
heads' outputs back to the query's last dimension (or `output_shape`).

Masks work as in Keras 3: the query's mask (from ``Embedding(mask_zero=True)``
or ``Masking``) keeps rows, the value's and key's masks keep columns, and
`attention_mask` (batch, query steps, value steps) and `use_causal_mask` are
combined with them; the output carries the query's mask. Keras 3 computes the
common case (no dropout, no returned scores, one attention axis) with
``dot_product_attention``, in which a query row with every column masked
averages all values; elsewhere such a row gives zeros. scanfit follows both.

The weights are Keras's, in its order (query, key, gate with ``use_gate``,
value, output projections: kernel then bias); their short names join the
projection and the weight (``query_kernel``; the paths are Keras's, ``mha/query/kernel``), and a ``.weights.h5`` file
keeps them in Keras's groups, so files move between the two libraries.
"""
import math
import string

import jax
import jax.numpy as jnp

from scanfit import constraints, initializers, mixed_precision, regularizers, threefry
from scanfit.layers import execution
from scanfit.layers.base import Layer

# The projections in Keras's weight order: (name, group in a .weights.h5 file).
_QUERY, _KEY, _GATE, _VALUE, _OUTPUT = "query", "key", "gate", "value", "attention_output"
_FILE_GROUPS = {_QUERY: "query_dense", _KEY: "key_dense", _GATE: "_gate_dense", _VALUE: "value_dense",
                _OUTPUT: "output_dense"}


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"MultiHeadAttention {what} must be a positive integer, got {what}={value!r}.")
    return value


class QueryValueAttention(Layer):
    """What MultiHeadAttention and GroupQueryAttention share: a call ``layer(query, value, key=None, ...)`` whose
    further arguments are checked, building from the three shapes (kept for the ``build_config``), the
    projections with their activity penalty, the call's masks and the dropout of the attention weights; a subclass
    gives `build(query_shape, value_shape, key_shape)`, `compute_output_shape` and `scores_shape`, and has
    `use_bias`, `dropout` and `sliding_window`."""

    def split_input(self, args, kwargs):
        """The query: the first positional argument or, as Keras names it, ``query=`` (``layer(query=x, value=x,
        key=x)``, as Deep Learning with Python's Transformer calls it)."""
        if not args and "query" in kwargs:
            return kwargs.pop("query"), ()
        return super().split_input(args, kwargs)

    def call_arguments(self, args, kwargs):
        arguments = super().call_arguments(args, kwargs)
        kind = type(self).__name__
        if arguments.get("value") is None:
            raise TypeError(f"{kind} {self.name!r} needs a value: call it as layer(query, value) or "
                            "layer(query, value, key); for self-attention pass the same tensor twice.")
        for flag in ("return_attention_scores", "use_causal_mask"):
            if not isinstance(arguments.get(flag, False), bool):
                raise TypeError(f"{kind} {flag} must be True or False, got {arguments[flag]!r}.")
        return arguments

    def build_for(self, input_shape, arguments=None):
        if not arguments or arguments.get("value") is None:
            raise TypeError(f"{type(self).__name__} {self.name!r} needs a value: call it as layer(query, value).")
        query_shape = tuple(input_shape)
        value_shape = tuple(arguments["value"].shape)
        key = arguments.get("key")
        key_shape = value_shape if key is None else tuple(key.shape)
        if not self.built:
            self.build(query_shape, value_shape, key_shape)
            self.built = True
            self.input_shape = query_shape
            self.shapes = {"query_shape": query_shape, "value_shape": value_shape}
            if key is not None:
                self.shapes["key_shape"] = key_shape
        output_shape = self.compute_output_shape(query_shape)
        self.output_shape = output_shape
        if arguments.get("return_attention_scores"):
            return [output_shape, self.scores_shape(query_shape, value_shape)]
        return output_shape

    @property
    def projection_penalty(self):
        """The activity regularizer each projection's output gets (Keras gives it to its projection layers)."""
        return self.activity_regularizer

    def _project(self, weights, name, x, contracted=1, activation=None):
        """``x`` through projection `name` (then `activation`), contracting its last `contracted` axes with the
        kernel's first; the activity penalty sees the activated values, as Keras's projection layers give it."""
        y = jnp.tensordot(x, weights[f"{name}_kernel"], axes=contracted)
        if self.use_bias:
            y = y + weights[f"{name}_bias"]
        if activation is not None:
            y = activation(y)
        if self.projection_penalty is not None:
            execution.current().add_loss(self.projection_penalty(y) / y.shape[0])
        return y

    def _value_key_and_mask(self, query, value, key, query_mask, value_mask, key_mask, attention_mask,
                            use_causal_mask):
        """``(value, key, attention_mask, causal_only)`` of a call: value and key in the query's dtype (key: the
        value when not given) and the masks combined, unless the causal mask alone applies (`causal_only`: the
        fused attention makes it itself)."""
        value = mixed_precision.cast_floating(jnp.asarray(value), query.dtype)
        key = value if key is None else mixed_precision.cast_floating(jnp.asarray(key), query.dtype)
        causal_only = (use_causal_mask and query_mask is None and value_mask is None and key_mask is None
                       and attention_mask is None and self.sliding_window is None)
        if not causal_only:
            attention_mask = combined_mask(query, value, query_mask, value_mask, key_mask, attention_mask,
                                           use_causal_mask, self.sliding_window)
        return value, key, attention_mask, causal_only

    def _dropped(self, scores, training, rng):
        """The attention weights: `scores` with dropout while training with a key."""
        if not (training and self.dropout > 0 and rng is not None):
            return scores
        keep = threefry.bernoulli(rng, 1.0 - self.dropout, scores.shape)
        return jnp.where(keep, scores / (1.0 - self.dropout), 0.0)


class MultiHeadAttention(QueryValueAttention):
    """Attention of `num_heads` heads with query and key size `key_dim` and value size `value_dim`
    (default `key_dim`); `dropout` on the attention weights while training."""

    supports_masking = True
    accepts_mask = True  # the query's mask
    argument_names = ("value", "key", "query_mask", "value_mask", "key_mask", "attention_mask",
                      "return_attention_scores", "use_causal_mask")

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = _positive(num_heads, "num_heads")
        self.key_dim = _positive(key_dim, "key_dim")
        self.value_dim = self.key_dim if value_dim is None else _positive(value_dim, "value_dim")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention dropout must be a number in [0, 1), got dropout={dropout!r}.")
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        if isinstance(output_shape, int):
            output_shape = (output_shape,)
        if output_shape is not None and (not isinstance(output_shape, (list, tuple)) or not output_shape
                                         or not all(isinstance(d, int) and d > 0 for d in output_shape)):
            raise ValueError(f"MultiHeadAttention output_shape must be a positive int or a tuple of them, "
                             f"got {output_shape!r}.")
        self.output_shape_argument = None if output_shape is None else tuple(output_shape)
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        if attention_axes is not None and (not isinstance(attention_axes, (list, tuple))
                                           or not all(isinstance(a, int) for a in attention_axes)):
            raise ValueError(f"MultiHeadAttention attention_axes must be an int, a list or tuple of ints, or None, "
                             f"got {attention_axes!r}.")
        self.attention_axes = None if attention_axes is None else tuple(attention_axes)
        if sliding_window is not None:
            _positive(sliding_window, "sliding_window")
        self.sliding_window = sliding_window
        if flash_attention:
            raise ValueError("MultiHeadAttention(flash_attention=True) is not supported by scanfit, which computes "
                             "attention with XLA; leave flash_attention at None or False.")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.projection_regularizer = regularizers.get(activity_regularizer)  # Keras applies it per projection
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.seed = seed
        self.shapes = None  # {"query_shape": ..., "value_shape": ..., "key_shape": ...} once built

    # --- calls and building ------------------------------------------------------
    def scores_shape(self, query_shape, value_shape):
        """The shape of the attention scores that ``return_attention_scores=True`` returns."""
        batch_axes, query_axes = self._axes(len(query_shape))
        projected = tuple(query_shape[:-1]) + (self.num_heads,)
        keys = (None,) + tuple(value_shape[1:-1]) + (self.num_heads,)
        return (tuple(projected[a] for a in batch_axes) + tuple(projected[a] for a in query_axes)
                + tuple(keys[a] for a in query_axes))

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Create the projections' weights (`value_shape` is required; `key_shape` defaults to it)."""
        if value_shape is None:
            raise TypeError("MultiHeadAttention.build needs the query's and the value's shapes.")
        key_shape = value_shape if key_shape is None else key_shape
        if len(query_shape) < 3 or len(value_shape) != len(query_shape) or len(key_shape) != len(query_shape):
            raise ValueError(f"MultiHeadAttention {self.name!r} needs query, value and key of the same rank, at "
                             f"least 3 (batch, steps, features); got {query_shape}, {value_shape}, {key_shape}.")
        if tuple(value_shape[1:-1]) != tuple(key_shape[1:-1]):
            raise ValueError(f"MultiHeadAttention {self.name!r}: value and key must agree in every dimension but "
                             f"the last; got value {value_shape} and key {key_shape}.")
        if any(d is None for d in (query_shape[-1], value_shape[-1], key_shape[-1])):
            raise ValueError(f"MultiHeadAttention {self.name!r} needs known feature sizes; got {query_shape}.")
        self.attention_axes = tuple(self._axes(len(query_shape))[1])  # checked and made explicit, as Keras does
        if self.sliding_window is not None and len(query_shape) != 3:
            raise ValueError(f"MultiHeadAttention {self.name!r}: sliding_window needs (batch, steps, features) inputs.")
        heads = self.num_heads
        output = self.output_shape_argument or (query_shape[-1],)
        self._projection(_QUERY, query_shape[-1], (heads, self.key_dim))
        self._projection(_KEY, key_shape[-1], (heads, self.key_dim))
        if self.use_gate:
            self._projection(_GATE, query_shape[-1], (heads, self.value_dim))
        self._projection(_VALUE, value_shape[-1], (heads, self.value_dim))
        self._projection(_OUTPUT, (heads, self.value_dim), output)

    def _projection(self, name, inputs, outputs):
        """A projection's kernel (input dims + output dims, initialized with those fans, as Keras 3's
        EinsumDense does) and bias (output dims)."""
        inputs = (inputs,) if isinstance(inputs, int) else tuple(inputs)
        fan_in, fan_out = math.prod(inputs), math.prod(outputs)
        init = self.kernel_initializer

        def kernel_initializer(shape, dtype="float32"):
            return jnp.reshape(init((fan_in, fan_out), dtype=dtype), shape)

        kernel = self.add_weight(shape=inputs + tuple(outputs), name=f"{name}/kernel", initializer=kernel_initializer,
                                 regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        kernel.short_name = f"{name}_kernel"  # the key of the weight dicts; the path is Keras's "mha/query/kernel"
        if self.use_bias:
            bias = self.add_weight(shape=tuple(outputs), name=f"{name}/bias", initializer=self.bias_initializer,
                                   regularizer=self.bias_regularizer, constraint=self.bias_constraint)
            bias.short_name = f"{name}_bias"

    def _axes(self, rank):
        """The projected (query rank + 1) tensors' batch axes (heads included) and attention axes."""
        free = list(range(1, rank - 1))  # the projected tensors' axes between batch and heads
        if self.attention_axes is None:
            attention = free
        else:
            attention = [a if a >= 0 else rank + a for a in self.attention_axes]  # as axes of the projections
            if not attention or any(a not in free for a in attention) or len(set(attention)) != len(attention):
                raise ValueError(f"MultiHeadAttention {self.name!r}: attention_axes {self.attention_axes} must be "
                                 f"distinct axes among {free} of a rank-{rank} query.")
        batch = [a for a in range(rank + 1) if a not in attention and a != rank]
        return batch, attention

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_shape_argument or (input_shape[-1],))

    def compute_mask(self, x, mask=None):
        return mask

    def get_build_config(self):
        return {"shapes_dict": {name: list(shape) for name, shape in self.shapes.items()}}

    def weights_in_file(self):
        """Keras 3's ``.weights.h5`` layout: each projection's kernel and bias in its own group."""
        groups = [("vars", self.name, []), ("_dropout_layer/vars", "dropout", []), ("_softmax/vars", "softmax", [])]
        for name in (_QUERY, _KEY, _GATE, _VALUE, _OUTPUT):
            variables = [v for v in self.weights if v.short_name in (f"{name}_kernel", f"{name}_bias")]
            if variables:
                groups.append((f"{_FILE_GROUPS[name]}/vars", name, variables))
        return groups

    # --- computation ---------------------------------------------------------------
    @property
    def penalizes_activity(self):
        return self.projection_regularizer is not None

    @property
    def projection_penalty(self):
        return self.projection_regularizer

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None, value=None, key=None, query_mask=None,
                  value_mask=None, key_mask=None, attention_mask=None, return_attention_scores=False,
                  use_causal_mask=False):
        query = x
        value, key, attention_mask, causal_only = self._value_key_and_mask(
            query, value, key, mask if query_mask is None else query_mask, value_mask, key_mask, attention_mask,
            use_causal_mask)
        gate = self._project(weights, _GATE, query, 1, jax.nn.sigmoid) if self.use_gate else None
        query = self._project(weights, _QUERY, query, 1)
        key = self._project(weights, _KEY, key, 1)
        value = self._project(weights, _VALUE, value, 1)
        rank = query.ndim
        batch_axes, attention = self._axes(rank - 1)
        scale = 1.0 / math.sqrt(float(self.key_dim))
        scores = None
        if self.dropout == 0 and not return_attention_scores and rank == 4:
            output = fused_attention(query, key, value, attention_mask, causal_only, scale)
        else:
            if causal_only:
                attention_mask = causal_mask(query.shape[1], value.shape[1])
            score_equation, combine_equation = _equations(rank, batch_axes, attention)
            scores = jnp.einsum(score_equation, key, query * jnp.asarray(scale, query.dtype))
            scores = masked_softmax(scores, attention_mask, len(attention))
            output = jnp.einsum(combine_equation, self._dropped(scores, training, rng), value)
        if gate is not None:
            output = output * gate
        output = self._project(weights, _OUTPUT, output, 2)
        return ((output, scores) if return_attention_scores else output), {}

    # --- configuration -------------------------------------------------------------
    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "use_gate": self.use_gate,
            "output_shape": self.output_shape_argument,
            "attention_axes": self.attention_axes,
            "sliding_window": self.sliding_window,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.projection_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }


def causal_mask(query_steps, value_steps):
    """(1, query steps, value steps): step i attends to steps up to i."""
    return (jnp.arange(query_steps)[:, None] >= jnp.arange(value_steps)[None, :])[None]


def combined_mask(query, value, query_mask, value_mask, key_mask, attention_mask, use_causal_mask,
                   sliding_window):
    """Keras 3's attention mask (batch, query steps, value steps): the given one and the masks of the
    query (rows), value and key (columns), the causal and the sliding-window ones, all combined."""
    parts = []
    if query_mask is not None:
        parts.append(jnp.asarray(query_mask, bool)[..., None])
    for column_mask in (value_mask, key_mask):
        if column_mask is not None:
            parts.append(jnp.asarray(column_mask, bool)[..., None, :])
    if use_causal_mask:
        parts.append(causal_mask(query.shape[1], value.shape[1]))
    if sliding_window is not None:
        rows = jnp.arange(query.shape[1])[:, None]
        columns = jnp.arange(value.shape[1])[None, :]
        parts.append((jnp.abs(rows - columns) < sliding_window)[None])
    if attention_mask is not None:
        parts.append(jnp.asarray(attention_mask) != 0)
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined


def _equations(rank, batch_axes, attention):
    """The einsum equations of the scores (key, query -> batch axes, query steps, key steps) and of the
    output (scores, value -> the query's layout) for projected tensors of `rank`."""
    letters = string.ascii_lowercase
    target = letters[:rank]
    source = "".join(letters[rank + attention.index(i)] if i in attention else target[i] for i in range(rank))
    product = ("".join(target[i] for i in batch_axes) + "".join(target[i] for i in attention)
               + "".join(source[i] for i in attention))
    return f"{source},{target}->{product}", f"{product},{source}->{target}"


def masked_softmax(scores, mask, attention_count):
    """Softmax over the last `attention_count` axes where `mask` (expanded to the scores' rank) keeps a score;
    masked scores get -1e9 (-3e4 in float16) before and 0 after, as Keras's Softmax layer with a mask."""
    if mask is not None:
        mask = jnp.asarray(mask, bool)
        while mask.ndim < scores.ndim:
            mask = jnp.expand_dims(mask, -2 * attention_count - 1)
        scores = jnp.where(mask, scores, -3e4 if scores.dtype == jnp.float16 else -1e9)
    axes = tuple(range(scores.ndim - attention_count, scores.ndim))
    result = jnp.exp(scores - jax.scipy.special.logsumexp(scores, axis=axes, keepdims=True)) if len(axes) > 1 \
        else jax.nn.softmax(scores, axis=-1)
    return result if mask is None else jnp.where(mask, result, 0.0)


def fused_attention(query, key, value, mask, causal, scale):
    """Keras 3's ``dot_product_attention`` on (batch, steps, heads, dim) tensors: scaled scores, masked ones at
    -0.7 times the dtype's largest value (so a fully masked row averages the values), softmax in float32."""
    logits_dtype = jnp.promote_types(query.dtype, jnp.float32)
    logits = jnp.einsum("btnh,bsnh->bnts", query, key, preferred_element_type=logits_dtype)
    logits = logits * jnp.asarray(scale, logits.dtype)
    keep = None
    if mask is not None:
        keep = jnp.asarray(mask, bool)
        while keep.ndim < 4:
            keep = jnp.expand_dims(keep, -3)
    if causal:
        tril = causal_mask(logits.shape[2], logits.shape[3])[None]
        keep = tril if keep is None else keep & tril
    if keep is not None:
        logits = jnp.where(keep, logits, jnp.asarray(-0.7 * jnp.finfo(logits.dtype).max, logits.dtype))
    probabilities = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(key.dtype)
    return jnp.einsum("bnts,bsnh->btnh", probabilities, value)
