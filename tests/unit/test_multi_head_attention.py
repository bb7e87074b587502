"""MultiHeadAttention and layer calls with further arguments, against Keras 3.

Outputs for each argument mix from the same weights; masked functional models and Chollet's Transformer
encoder (a Keras-style layer calling MultiHeadAttention with the mask its input carries) predict and train
step for step like Keras; .keras and .weights.h5 files move both ways; configs equal Keras's; bad calls fail
clearly. Also: a Keras-style layer's own call arguments in a graph, and BatchNormalization's masked moments.
"""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(61)
QUERY = RNG.normal(size=(3, 5, 6)).astype("float32")
VALUE = RNG.normal(size=(3, 7, 4)).astype("float32")
KEY = RNG.normal(size=(3, 7, 2)).astype("float32")
ATTENTION_MASK = RNG.random((3, 5, 7)) > 0.3
IMAGE = RNG.normal(size=(2, 3, 4, 5)).astype("float32")


def _same_weights(k_layer, s_layer):
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)


def _outputs(result):
    return [np.asarray(a) for a in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("options, call", [
    ({}, {}),
    ({}, {"key": KEY}),
    ({}, {"return_attention_scores": True}),
    ({"dropout": 0.3}, {}),  # inference: no dropout, but the scores' softmax path
    ({}, {"use_causal_mask": True}),
    ({}, {"attention_mask": ATTENTION_MASK}),
    ({}, {"attention_mask": ATTENTION_MASK, "use_causal_mask": True, "return_attention_scores": True}),
    ({"value_dim": 2, "output_shape": 3, "dropout": 0.1}, {"key": KEY}),  # Keras's fused path fails for these
    ({"output_shape": (2, 3)}, {}),
    ({"use_gate": True, "use_bias": False}, {"attention_mask": ATTENTION_MASK}),
    ({"sliding_window": 2}, {}),
    ({"num_heads": 3, "key_dim": 1}, {"attention_mask": ATTENTION_MASK[:, :1, :]}),  # broadcast over queries
])
def test_outputs_equal_keras(options, call):
    options = {"num_heads": 2, "key_dim": 3, **options}
    k_layer = keras.layers.MultiHeadAttention(**options)
    s_layer = scanfit.layers.MultiHeadAttention(**options)
    k_layer(QUERY, VALUE, **call)
    s_layer(QUERY, VALUE, **call)
    assert [w.shape for w in s_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    _same_weights(k_layer, s_layer)
    expected, got = _outputs(k_layer(QUERY, VALUE, **call)), _outputs(s_layer(QUERY, VALUE, **call))
    assert [a.shape for a in got] == [a.shape for a in expected]
    for mine, theirs in zip(got, expected):
        assert np.abs(theirs).max() > 0.1  # a real output, not zeros
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config


@pytest.mark.parametrize("axes", [None, 2, (1, 2), -2])
def test_attention_over_image_axes_equals_keras(axes):
    k_layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
    s_layer = scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
    k_layer(IMAGE, IMAGE)
    s_layer(IMAGE, IMAGE)
    _same_weights(k_layer, s_layer)
    np.testing.assert_allclose(np.asarray(s_layer(IMAGE, IMAGE)), np.asarray(k_layer(IMAGE, IMAGE)), rtol=1e-5,
                               atol=1e-6)
    k_scores = k_layer(IMAGE, IMAGE, return_attention_scores=True)[1]
    s_scores = s_layer(IMAGE, IMAGE, return_attention_scores=True)[1]
    np.testing.assert_allclose(np.asarray(s_scores), np.asarray(k_scores), rtol=1e-5, atol=1e-6)
    assert s_layer.get_config()["attention_axes"] == k_layer.get_config()["attention_axes"]


def test_value_size_may_differ_from_key_size_without_dropout():
    """Keras 3.15's dot_product_attention path fails for value_dim != key_dim; scanfit computes it, and equals
    the scores path (which Keras takes with dropout) when no query row is fully masked."""
    fused = scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2)
    explicit = scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=2, dropout=0.2)
    fused(QUERY, VALUE, key=KEY)
    explicit(QUERY, VALUE, key=KEY)
    explicit.set_weights(fused.get_weights())
    np.testing.assert_allclose(np.asarray(fused(QUERY, VALUE, key=KEY)), np.asarray(explicit(QUERY, VALUE, key=KEY)),
                               rtol=1e-5, atol=1e-6)


def test_dropout_applies_while_training_only():
    layer = scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5)
    quiet = np.asarray(layer(QUERY, VALUE))
    np.testing.assert_array_equal(np.asarray(layer(QUERY, VALUE)), quiet)
    noisy = [np.asarray(layer(QUERY, VALUE, training=True)) for _ in range(2)]
    assert not np.allclose(noisy[0], quiet) and not np.allclose(noisy[0], noisy[1])


def _masked_tokens():
    tokens = RNG.integers(1, 20, size=(16, 6))
    tokens[:, 4:] = 0
    tokens[::4, 2:] = 0
    return tokens, RNG.integers(0, 2, size=16).astype("float32")


def _fit_both(build, x, y, epochs=2):
    k_model, s_model = build(keras), build(scanfit)
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [RNG.normal(scale=0.3, size=w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
    for model in (k_model, s_model):
        model.compile(optimizer="adam", loss="binary_crossentropy")
    k_history = k_model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-4)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    return s_model


@pytest.mark.parametrize("causal", [False, True])
def test_masked_self_attention_model_trains_like_keras(causal):
    """The padding steps' mask reaches the attention as the query's and the value's masks, then goes on
    through the residual Add and LayerNormalization to the average pooling, as in Keras."""
    tokens, labels = _masked_tokens()

    def build(K):
        inputs = K.Input((6,), dtype="int32")
        embedded = K.layers.Embedding(20, 8, mask_zero=True)(inputs)
        attended = K.layers.MultiHeadAttention(num_heads=2, key_dim=4)(embedded, embedded, use_causal_mask=causal)
        normed = K.layers.LayerNormalization()(K.layers.Add()([embedded, attended]))
        pooled = K.layers.GlobalAveragePooling1D()(normed)
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(pooled))

    _fit_both(build, tokens, labels)


def _transformer_parts(K):
    """Chollet's Transformer encoder and positional embedding (Deep Learning with Python, chapter 11)."""

    class TransformerEncoder(K.layers.Layer):
        def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
            super().__init__(**kwargs)
            self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
            self.attention = K.layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.dense_proj = K.Sequential([K.layers.Dense(dense_dim, activation="relu"), K.layers.Dense(embed_dim)])
            self.layernorm_1 = K.layers.LayerNormalization()
            self.layernorm_2 = K.layers.LayerNormalization()

        def call(self, inputs, mask=None):
            if mask is not None:
                mask = mask[:, None, :]
            attention_output = self.attention(inputs, inputs, attention_mask=mask)
            proj_input = self.layernorm_1(inputs + attention_output)
            return self.layernorm_2(proj_input + self.dense_proj(proj_input))

    class PositionalEmbedding(K.layers.Layer):
        def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.token_embeddings = K.layers.Embedding(input_dim=input_dim, output_dim=output_dim)
            self.position_embeddings = K.layers.Embedding(input_dim=sequence_length, output_dim=output_dim)

        def call(self, inputs):
            positions = K.ops.arange(0, K.ops.shape(inputs)[-1], 1)
            return self.token_embeddings(inputs) + self.position_embeddings(positions)

        def compute_mask(self, inputs, mask=None):
            return K.ops.not_equal(inputs, 0)

    return TransformerEncoder, PositionalEmbedding


def test_chollet_transformer_encoder_trains_like_keras():
    """Inside the encoder's call, its input carries the positional embedding's mask, so the attention gets it as
    the query's and the value's masks besides the explicit attention_mask, as in Keras 3."""
    tokens, labels = _masked_tokens()

    def build(K):
        encoder, positional = _transformer_parts(K)
        inputs = K.Input((None,), dtype="int32")
        h = positional(6, 20, 8)(inputs)
        h = encoder(8, 16, 2)(h)
        h = K.layers.GlobalMaxPooling1D()(h)
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(h))

    model = _fit_both(build, tokens, labels)
    assert model.layers[2].output.shape == (None, None, 8)


def test_files_move_between_the_libraries(tmp_path):
    """A node whose arguments include a tensor (attention_mask) and flags, and two outputs (the scores)."""

    def build(K):
        query, value = K.Input((5, 6)), K.Input((7, 4))
        allowed = K.Input((5, 7), dtype="bool")
        attended, scores = K.layers.MultiHeadAttention(num_heads=2, key_dim=3, use_gate=True)(
            query, value, attention_mask=allowed, return_attention_scores=True)
        return K.Model([query, value, allowed], [attended, scores])

    inputs = [QUERY, VALUE, ATTENTION_MASK]
    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in s_model.get_weights()])
    expected = s_model.predict(inputs, verbose=0)
    s_model.save(tmp_path / "s.keras")
    s_model.save_weights(tmp_path / "s.weights.h5")
    for loaded in (keras.models.load_model(tmp_path / "s.keras"), scanfit.models.load_model(tmp_path / "s.keras")):
        for got, want in zip(loaded.predict(inputs, verbose=0), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    k_model.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(k_model.predict(inputs, verbose=0)[0], expected[0], rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "k.keras")
    k_model.save_weights(tmp_path / "k.weights.h5")
    again = scanfit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(again.predict(inputs, verbose=0)[1], expected[1], rtol=1e-5, atol=1e-6)
    fresh = build(scanfit)
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fresh.predict(inputs, verbose=0)[0], expected[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, error, words", [
    (lambda layer: layer(QUERY), TypeError, "needs a value"),
    (lambda layer: layer(QUERY, VALUE, values=VALUE), TypeError, "unexpected call argument 'values'"),
    (lambda layer: layer(QUERY, VALUE, *[None] * 9), TypeError, r"takes 9 argument\(s\) after its input"),
    (lambda layer: layer(QUERY, VALUE, VALUE, key=VALUE),
     TypeError, "got 'key' twice"),
    (lambda layer: layer(QUERY, VALUE, key=VALUE[:, :3]), ValueError, "value and key must agree"),
    (lambda layer: layer(QUERY, VALUE, use_causal_mask="yes"), TypeError, "use_causal_mask must be True or False"),
])
def test_bad_calls_fail_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call(scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3))


@pytest.mark.parametrize("options, words", [
    ({"num_heads": 0, "key_dim": 3}, "num_heads must be a positive integer"),
    ({"num_heads": 2, "key_dim": 3, "flash_attention": True}, r"flash_attention=True\) is not supported"),
    ({"num_heads": 2, "key_dim": 3, "dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
    ({"num_heads": 2, "key_dim": 3, "attention_axes": "time"}, "attention_axes must be"),
])
def test_bad_options_fail_clearly(options, words):
    with pytest.raises(ValueError, match=words):
        scanfit.layers.MultiHeadAttention(**options)


def test_keras_style_layer_takes_its_own_call_arguments():
    """A user's call(self, inputs, other, factor=2.0): the tensor argument joins the graph, the plain one is kept,
    and both are saved in the config's node as Keras writes them."""

    class Blend(scanfit.layers.Layer):
        def call(self, inputs, other, factor=2.0):
            return inputs * factor + other

    a, b = scanfit.Input((3,)), scanfit.Input((3,))
    model = scanfit.Model([a, b], Blend()(a, b, factor=3.0))
    x, y = np.ones((2, 3), "float32"), np.full((2, 3), 0.5, "float32")
    np.testing.assert_allclose(model.predict([x, y], verbose=0), 3.5)
    node = [layer for layer in model.get_config()["layers"] if layer["class_name"] == "Blend"][0]["inbound_nodes"][0]
    assert node["kwargs"]["factor"] == 3.0
    assert node["kwargs"]["other"]["config"]["keras_history"][0] == model.layers[1].name
    with pytest.raises(TypeError, match="unexpected call argument 'scale'"):
        Blend()(a, b, scale=1.0)


def test_batch_normalization_uses_the_kept_steps_only():
    """Keras 3's BatchNormalization takes its batch statistics over the steps a mask keeps."""
    tokens, labels = _masked_tokens()

    def build(K):
        inputs = K.Input((6,), dtype="int32")
        h = K.layers.Embedding(20, 4, mask_zero=True)(inputs)
        h = K.layers.BatchNormalization()(h)
        h = K.layers.GaussianNoise(0.0)(K.layers.LayerNormalization()(h))  # both pass the mask on
        h = K.layers.GlobalAveragePooling1D()(h)
        return K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(h))

    model = _fit_both(build, tokens, labels)
    moving_mean = model.layers[2].get_weights()[2]
    assert np.abs(moving_mean).max() > 1e-4  # the statistics moved


def test_keras_file_whose_masks_meet_a_merge_loads(tmp_path):
    """Keras 3 records the mask of a merge as NotEqual and LogicalOr operations and passes it to the pooling
    as its mask argument; scanfit reads those and predicts what Keras does."""
    tokens, _ = _masked_tokens()
    inputs = keras.Input((6,), dtype="int32")
    embedded = keras.layers.Embedding(20, 8, mask_zero=True)(inputs)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(embedded, embedded)
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Add()([embedded, attended]))
    model = keras.Model(inputs, keras.layers.Dense(1)(pooled))
    model.save(tmp_path / "k.keras")
    classes = [layer["class_name"] for layer in model.get_config()["layers"]]
    assert "NotEqual" in classes and "LogicalOr" in classes
    loaded = scanfit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(tokens, verbose=0), model.predict(tokens, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_activity_regularizer_applies_to_each_projection_as_in_keras():
    k_layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, activity_regularizer="l2")
    s_layer = scanfit.layers.MultiHeadAttention(num_heads=2, key_dim=3, activity_regularizer="l2")
    k_layer(QUERY, VALUE)
    s_layer(QUERY, VALUE)
    _same_weights(k_layer, s_layer)
    k_layer(QUERY, VALUE)
    s_layer(QUERY, VALUE)
    assert len(k_layer.losses) == 4  # query, key, value and output projections
    np.testing.assert_allclose(sum(float(v) for v in s_layer.losses), sum(float(v) for v in k_layer.losses), rtol=1e-5)


@pytest.mark.parametrize("use_gate", [False, True])
def test_an_activity_regularized_model_evaluates_as_keras_does(use_gate):
    """The penalties see the real batch (evaluation does not pad it) and the gate's after its sigmoid."""
    rng = np.random.default_rng(4)
    x, results = rng.normal(size=(2, 3, 4)).astype("float32"), []
    weights = None
    for lib in (keras, scanfit):
        inputs = lib.Input((3, 4))
        layer = lib.layers.MultiHeadAttention(2, 3, use_gate=use_gate, activity_regularizer=lib.regularizers.L2(0.1))
        model = lib.Model(inputs, layer(inputs, inputs))
        weights = weights or [rng.normal(size=w.shape).astype("float32") * 0.3 for w in model.get_weights()]
        model.set_weights(weights)
        model.compile(optimizer="sgd", loss="mse")
        results.append(model.evaluate(x, np.zeros_like(x), verbose=0))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5)
