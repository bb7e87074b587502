"""Attention and AdditiveAttention against Keras 3: outputs and gradients for every score mode, with and
without a key, with the masks of a masked embedding; a sequence model using them trains like Keras."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(40)
QUERY = RNG.normal(size=(3, 4, 5)).astype("float32")
VALUE = RNG.normal(size=(3, 6, 5)).astype("float32")
KEY = RNG.normal(size=(3, 6, 5)).astype("float32")


@pytest.mark.parametrize("make", [
    lambda L: L.Attention(),
    lambda L: L.Attention(use_scale=True),
    lambda L: L.Attention(score_mode="concat"),
    lambda L: L.Attention(use_scale=True, score_mode="concat"),
    lambda L: L.AdditiveAttention(),
    lambda L: L.AdditiveAttention(use_scale=False),
])
@pytest.mark.parametrize("with_key", [False, True])
def test_outputs_equal_keras(make, with_key):
    inputs = [QUERY, VALUE, KEY] if with_key else [QUERY, VALUE]
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_layer(inputs)
    s_layer(inputs)
    weights = [RNG.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    np.testing.assert_allclose(np.asarray(s_layer(inputs)), np.asarray(k_layer(inputs)), rtol=1e-5, atol=1e-6)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config


@pytest.mark.parametrize("kind", ["Attention", "AdditiveAttention"])
def test_masked_sequence_model_trains_like_keras(kind):
    """Hands-on ML's pattern: a masked embedding, a recurrent encoder and decoder, attention over the encoder's
    outputs; the padding steps get no weight, as in Keras."""
    tokens = RNG.integers(1, 20, size=(48, 7))
    tokens[:, 5:] = 0
    tokens[::3, 3:] = 0
    targets = RNG.integers(0, 3, size=48)

    def build(K):
        inputs = K.Input((7,))
        embedded = K.layers.Embedding(20, 6, mask_zero=True)(inputs)
        encoded = K.layers.SimpleRNN(6, return_sequences=True)(embedded)
        decoded = K.layers.GRU(6, return_sequences=True)(embedded)
        attended = getattr(K.layers, kind)()([decoded, encoded])
        merged = K.layers.Concatenate()([attended, decoded])  # the mask goes on through the merge
        pooled = K.layers.GlobalAveragePooling1D()(merged)  # over the unmasked steps only
        return K.Model(inputs, K.layers.Dense(3, activation="softmax")(pooled))

    k_model, s_model = build(keras), build(scanfit)
    weights = [RNG.normal(scale=0.4, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model, K in ((k_model, keras), (s_model, scanfit)):
        model.set_weights(weights)
        model.compile(K.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    np.testing.assert_allclose(s_model.predict(tokens, verbose=0), k_model.predict(tokens, verbose=0),
                               rtol=1e-5, atol=1e-6)
    k_hist = k_model.fit(tokens, targets, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    s_hist = s_model.fit(tokens, targets, epochs=2, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(s_hist["loss"], k_hist["loss"], rtol=1e-4)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-5)


def test_dropout_on_the_weights_only_while_training_and_bad_input():
    layer = scanfit.layers.Attention(dropout=0.5)
    plain = np.asarray(layer([QUERY, VALUE]))
    np.testing.assert_array_equal(np.asarray(layer([QUERY, VALUE])), plain)
    assert not np.allclose(np.asarray(layer([QUERY, VALUE], training=True)), plain)
    with pytest.raises(ValueError, match="score_mode"):
        scanfit.layers.Attention(score_mode="general")
    with pytest.raises(ValueError, match=r"takes a list \[query, value\]"):
        scanfit.layers.Attention()(QUERY)
    with pytest.raises(TypeError, match="use_causal_mask"):
        scanfit.layers.Attention()([QUERY, VALUE], use_causal_mask=True)


@pytest.mark.parametrize("merge", ["Add", "Concatenate", "Average"])
def test_merge_layers_combine_masks_as_keras(merge):
    """Two embeddings masking different steps, merged, then averaged over the steps the merged mask keeps."""
    first, second = RNG.integers(0, 5, size=(6, 5)), RNG.integers(0, 5, size=(6, 5))
    outputs = []
    for K in (keras, scanfit):
        a, b = K.Input((5,)), K.Input((5,))
        left = K.layers.Embedding(5, 3, mask_zero=True)(a)
        right = K.layers.Embedding(5, 3, mask_zero=True)(b)
        model = K.Model([a, b], K.layers.GlobalAveragePooling1D()(getattr(K.layers, merge)()([left, right])))
        model.set_weights([np.arange(15, dtype="float32").reshape(5, 3), np.arange(15, 30, dtype="float32").reshape(5, 3)])
        outputs.append(np.asarray(model.predict([first, second], verbose=0)))
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-6)


@pytest.mark.parametrize("kind", ["Attention", "AdditiveAttention"])
def test_files_with_attention_load_in_both_libraries(kind, tmp_path):
    def build(K):
        query, value = K.Input((4, 5)), K.Input((6, 5))
        attention = getattr(K.layers, kind)(use_scale=True, name="attention")
        return K.Model([query, value], K.layers.Dense(2)(attention([query, value])))

    s_model = build(scanfit)
    s_model.set_weights([RNG.normal(size=w.shape).astype("float32") for w in s_model.get_weights()])
    expected = s_model.predict([QUERY, VALUE], verbose=0)
    s_model.save(tmp_path / "s.keras")
    k_model = keras.models.load_model(tmp_path / "s.keras")
    np.testing.assert_allclose(np.asarray(k_model.predict([QUERY, VALUE], verbose=0)), expected, rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "k.keras")
    again = scanfit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(again.predict([QUERY, VALUE], verbose=0), expected, rtol=1e-5, atol=1e-6)
