"""GroupQueryAttention against Keras 3: outputs and gradients from the same weights for self- and
cross-attention, multi-query (one key/value head) to multi-head (as many as the query's), with explicit
and Keras masks, attention_mask, the causal mask and the returned scores; masked models train like Keras;
.keras and .weights.h5 files move both ways; configs equal Keras's; bad options fail clearly."""
import re

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(83)
QUERY = RNG.normal(size=(3, 5, 6)).astype("float32")
VALUE = RNG.normal(size=(3, 7, 4)).astype("float32")
KEY = RNG.normal(size=(3, 7, 2)).astype("float32")
ATTENTION_MASK = RNG.random((3, 5, 7)) > 0.3
QUERY_MASK = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1] * 5], bool)
VALUE_MASK = np.array([[1] * 6 + [0], [1, 1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1]], bool)


def _same_weights(k_layer, s_layer):
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)


def _as_tuple(result):
    return result if isinstance(result, (tuple, list)) else (result,)


def _keras_outputs_and_gradients(k_layer, query, value, call, cotangents):
    """Keras's outputs and the gradients of sum(outputs * cotangents) for (weights..., query, value)."""
    fixed = [v.value for v in k_layer.non_trainable_variables]

    def objective(trainable, query, value):
        outputs, _ = k_layer.stateless_call(trainable, fixed, query, value, **call)
        outputs = _as_tuple(outputs)
        return sum(jnp.sum(y * c) for y, c in zip(outputs, cotangents)), outputs

    (_, outputs), grads = jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True)(
        [v.value for v in k_layer.trainable_variables], query, value)
    return [np.asarray(y) for y in outputs], [np.asarray(g) for g in grads[0]] + [np.asarray(grads[1]),
                                                                                 np.asarray(grads[2])]


def _our_outputs_and_gradients(s_layer, query, value, call, cotangents):
    """scanfit's outputs and gradients in the same order (weights in Keras's order, query, value)."""

    def objective(weights, query, value):
        outputs, _ = s_layer.pure_call(weights, query, value=value, **call)
        outputs = _as_tuple(outputs)
        return sum(jnp.sum(y * c) for y, c in zip(outputs, cotangents)), outputs

    (_, outputs), grads = jax.value_and_grad(objective, argnums=(0, 1, 2), has_aux=True)(
        s_layer.weight_values(), jnp.asarray(query), jnp.asarray(value))
    names = [v.short_name for v in s_layer.weights]
    return [np.asarray(y) for y in outputs], [np.asarray(grads[0][n]) for n in names] + [np.asarray(grads[1]),
                                                                                        np.asarray(grads[2])]


@pytest.mark.parametrize("self_attention, options, call", [
    (True, {}, {}),  # grouped: 4 query heads share 2 key/value heads
    (False, {"num_key_value_heads": 1}, {"key": KEY}),  # multi-query, cross-attention with a key of its own
    (False, {"num_key_value_heads": 4}, {"return_attention_scores": True}),  # multi-head
    (True, {"dropout": 0.3}, {}),  # inference: no dropout, but Keras's scores path
    (True, {}, {"use_causal_mask": True}),
    (False, {"num_key_value_heads": 1}, {"attention_mask": ATTENTION_MASK}),
    (False, {}, {"query_mask": QUERY_MASK, "value_mask": VALUE_MASK, "return_attention_scores": True}),
    (True, {}, {"query_mask": QUERY_MASK, "value_mask": VALUE_MASK}),  # fused: masked rows average the values
    (False, {}, {"attention_mask": ATTENTION_MASK, "use_causal_mask": True, "return_attention_scores": True}),
    (True, {"use_gate": True, "use_bias": False}, {"attention_mask": ATTENTION_MASK[:, :1]}),  # broadcast rows
    (False, {"sliding_window": 2, "num_key_value_heads": 1}, {"key": KEY, "key_mask": VALUE_MASK}),
])
def test_outputs_and_gradients_equal_keras(self_attention, options, call):
    options = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, **options}
    query = QUERY
    value = QUERY if self_attention else VALUE
    if self_attention:  # the arguments that run over the value's 7 steps, cut to the query's 5
        call = {name: (array[..., :5] if name == "attention_mask" else array[:, :5]
                       if name in ("key", "value_mask", "key_mask") else array) for name, array in call.items()}
    k_layer = keras.layers.GroupQueryAttention(**options)
    s_layer = scanfit.layers.GroupQueryAttention(**options)
    k_layer(query, value, **call)
    s_layer(query, value, **call)
    k_names = [w.path.split("/", 1)[1].replace("/", "_") for w in k_layer.weights]  # query_kernel, ...
    assert [v.short_name for v in s_layer.weights] == k_names
    assert [w.shape for w in s_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    _same_weights(k_layer, s_layer)
    shapes = [np.shape(y) for y in _as_tuple(k_layer(query, value, **call))]
    cotangents = [RNG.normal(size=shape).astype("float32") for shape in shapes]
    k_outputs, k_grads = _keras_outputs_and_gradients(k_layer, query, value, call, cotangents)
    s_outputs, s_grads = _our_outputs_and_gradients(s_layer, query, value, call, cotangents)
    assert [y.shape for y in s_outputs] == [y.shape for y in k_outputs]
    for mine, theirs in zip(s_outputs, k_outputs):
        assert np.abs(theirs).max() > 0.1  # a real output, not zeros
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)
    assert len(s_grads) == len(k_grads)
    for mine, theirs in zip(s_grads, k_grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5 * max(1.0, float(np.abs(theirs).max())))
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    assert re.sub(r"_\d+$", "", s_config.pop("name")) == re.sub(r"_\d+$", "", k_config.pop("name"))
    assert s_config == k_config


@pytest.mark.parametrize("call", [{}, {"return_attention_scores": True, "use_causal_mask": True}])
def test_mixed_precision_equals_keras(call):
    """bfloat16 projections and attention from float32 weights (the fused path's softmax in float32)."""
    value = RNG.normal(size=(3, 7, 6)).astype("float32")
    k_layer = keras.layers.GroupQueryAttention(3, 4, 2, dtype="mixed_bfloat16")
    s_layer = scanfit.layers.GroupQueryAttention(3, 4, 2, dtype="mixed_bfloat16")
    k_layer(QUERY, value, **call)
    s_layer(QUERY, value, **call)
    _same_weights(k_layer, s_layer)
    for mine, theirs in zip(_as_tuple(s_layer(QUERY, value, **call)), _as_tuple(k_layer(QUERY, value, **call))):
        assert mine.dtype == theirs.dtype == jnp.bfloat16
        np.testing.assert_allclose(np.asarray(mine, "float32"), np.asarray(theirs, "float32"), rtol=1e-2, atol=1e-2)


def test_dropout_applies_while_training_only():
    layer = scanfit.layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2, dropout=0.5)
    quiet = np.asarray(layer(QUERY, VALUE))
    np.testing.assert_array_equal(np.asarray(layer(QUERY, VALUE)), quiet)
    noisy = [np.asarray(layer(QUERY, VALUE, training=True)) for _ in range(2)]
    assert not np.allclose(noisy[0], quiet) and not np.allclose(noisy[0], noisy[1])


def test_activity_regularizer_penalizes_projections_and_outputs_as_in_keras():
    """Keras 3 penalizes each projection (the gate's after its sigmoid) and the layer's outputs, scores too."""
    options = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2, "use_gate": True,
               "activity_regularizer": "l2"}
    k_layer = keras.layers.GroupQueryAttention(**options)
    s_layer = scanfit.layers.GroupQueryAttention(**options)
    k_layer(QUERY, VALUE)
    s_layer(QUERY, VALUE)
    _same_weights(k_layer, s_layer)
    k_layer(QUERY, VALUE, return_attention_scores=True)
    s_layer(QUERY, VALUE, return_attention_scores=True)
    assert len(k_layer.losses) == 7  # query, key, gate, value, output projections; output and scores
    np.testing.assert_allclose(sum(float(v) for v in s_layer.losses), sum(float(v) for v in k_layer.losses), rtol=1e-5)


def _tokens(count, steps, seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 20, size=(count, steps))
    tokens[:, steps - 2:] = 0
    tokens[::4, 2:] = 0
    return tokens


@pytest.mark.parametrize("cross, causal", [(False, True), (True, False)])
def test_masked_model_trains_like_keras(cross, causal):
    """Embedding(mask_zero=True) masks reach the attention as its query's, value's and key's masks (Keras 3
    fills query_mask, value_mask and key_mask from them); two epochs of Adam give Keras's losses and weights."""
    x = [_tokens(16, 6, 1), _tokens(16, 5, 2)]
    y = RNG.integers(0, 2, size=16).astype("float32")

    def build(K):
        queries, sources = K.Input((6,), dtype="int32"), K.Input((5,), dtype="int32")
        embedded = K.layers.Embedding(20, 8, mask_zero=True)(queries)
        attention = K.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2)
        if cross:
            value = K.layers.Embedding(20, 8, mask_zero=True)(sources)
            key = K.layers.Embedding(20, 8, mask_zero=True)(sources)
            attended = attention(embedded, value, key=key)
        else:
            attended = attention(embedded, embedded, use_causal_mask=causal)
        normed = K.layers.LayerNormalization()(K.layers.Add()([embedded, attended]))
        pooled = K.layers.GlobalAveragePooling1D()(normed)
        return K.Model([queries, sources], K.layers.Dense(1, activation="sigmoid")(pooled))

    k_model, s_model = build(keras), build(scanfit)
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    for model in (k_model, s_model):
        model.compile(optimizer="adam", loss="binary_crossentropy")
    k_history = k_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-4)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)


def test_files_move_between_the_libraries(tmp_path):
    """A node with a tensor argument (attention_mask), flags and two outputs (the scores), gated projections.
    (Keras's functional API needs the value's features to equal the query's; its eager calls, and scanfit, do not.)"""

    def build(K):
        query, value = K.Input((5, 6)), K.Input((7, 6))
        allowed = K.Input((5, 7), dtype="bool")
        attended, scores = K.layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=1,
                                                        use_gate=True)(
            query, value, attention_mask=allowed, return_attention_scores=True)
        return K.Model([query, value, allowed], [attended, scores])

    inputs = [QUERY, RNG.normal(size=(3, 7, 6)).astype("float32"), ATTENTION_MASK]
    k_model, s_model = build(keras), build(scanfit)
    k_model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()])
    expected = k_model.predict(inputs, verbose=0)
    k_model.save(tmp_path / "k.keras")
    k_model.save_weights(tmp_path / "k.weights.h5")
    loaded = scanfit.models.load_model(tmp_path / "k.keras")
    for got, want in zip(loaded.predict(inputs, verbose=0), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    s_model.load_weights(tmp_path / "k.weights.h5")
    for got, want in zip(s_model.predict(inputs, verbose=0), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    s_model.save(tmp_path / "s.keras")
    s_model.save_weights(tmp_path / "s.weights.h5")
    again = keras.models.load_model(tmp_path / "s.keras")
    for got, want in zip(again.predict(inputs, verbose=0), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    fresh = build(keras)
    fresh.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(fresh.predict(inputs, verbose=0)[0], expected[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options, words", [
    ({"num_key_value_heads": 3}, "num_query_heads must be divisible by num_key_value_heads"),
    ({"head_dim": 0}, "head_dim must be a positive integer"),
    ({"flash_attention": True}, r"flash_attention=True\) is not supported"),
    ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
    ({"sliding_window": 0}, "sliding_window must be a positive integer"),
])
def test_bad_options_fail_clearly(options, words):
    with pytest.raises(ValueError, match=words):
        scanfit.layers.GroupQueryAttention(**{"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2,
                                              **options})


@pytest.mark.parametrize("call, error, words", [
    (lambda layer: layer(QUERY), TypeError, "needs a value"),
    (lambda layer: layer(QUERY, VALUE, key=KEY[:, :3]), ValueError, "value and key must have the same steps"),
    (lambda layer: layer(QUERY[0], VALUE[0]), ValueError, r"needs \(batch, steps, features\)"),
    (lambda layer: layer(QUERY, VALUE, return_attention_scores=1), TypeError, "must be True or False"),
])
def test_bad_calls_fail_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call(scanfit.layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2))
