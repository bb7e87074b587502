"""ReversibleEmbedding against Keras 3: lookups and reverse projections (tied or own weights, soft-capped
logits, another reverse dtype) with their gradients; the forward call's mask and none in reverse; a small
language model trains like Keras; .keras and .weights.h5 files move both ways; configs; bad options."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(29)
TOKENS = np.array([[1, 7, 3, 0, 0], [4, 0, 0, 0, 0], [9, 2, 5, 6, 8]])
VECTORS = RNG.normal(size=(3, 5, 4)).astype("float32")


def _twins(**options):
    options = {"input_dim": 10, "output_dim": 4, **options}
    k_layer, s_layer = keras.layers.ReversibleEmbedding(**options), scanfit.layers.ReversibleEmbedding(**options)
    k_layer(TOKENS)
    s_layer(TOKENS)
    assert [v.short_name for v in s_layer.weights] == [w.name for w in k_layer.weights]
    weights = [RNG.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    return k_layer, s_layer


@pytest.mark.parametrize("options, tolerance", [
    ({}, 1e-6),
    ({"tie_weights": False}, 1e-6),
    ({"logit_soft_cap": 2.0, "mask_zero": True}, 1e-6),
    ({"tie_weights": False, "logit_soft_cap": 0.5}, 1e-6),
    ({"reverse_dtype": "float16"}, 2e-3),  # the product in float16, as Keras computes it
])
def test_forward_and_reverse_outputs_and_gradients_equal_keras(options, tolerance):
    k_layer, s_layer = _twins(**options)
    names = [v.short_name for v in s_layer.weights]
    for reverse, x in ((False, TOKENS), (True, VECTORS)):
        shape = tuple(k_layer.compute_output_shape(x.shape, reverse=reverse))
        assert s_layer.compute_output_shape(x.shape, reverse=reverse) == shape
        cotangent = jnp.asarray(RNG.normal(size=shape), jnp.float32)

        def k_objective(weights, x):
            y, _ = k_layer.stateless_call(weights, [], x, reverse=reverse)
            return jnp.sum(y.astype(jnp.float32) * cotangent), y

        def s_objective(weights, x):
            y, _ = s_layer.pure_call(weights, x, reverse=reverse)
            return jnp.sum(y.astype(jnp.float32) * cotangent), y

        argnums = (0, 1) if reverse else 0
        (_, k_y), k_grads = jax.value_and_grad(k_objective, argnums, has_aux=True)(
            [v.value for v in k_layer.trainable_variables], jnp.asarray(x))
        (_, s_y), s_grads = jax.value_and_grad(s_objective, argnums, has_aux=True)(
            s_layer.weight_values(), jnp.asarray(x))
        assert s_y.shape == k_y.shape == shape and s_y.dtype == k_y.dtype
        np.testing.assert_allclose(np.asarray(s_y, "float32"), np.asarray(k_y, "float32"), rtol=tolerance,
                                   atol=tolerance)
        k_grads, s_grads = (k_grads, s_grads) if reverse else ((k_grads,), (s_grads,))
        mine = [s_grads[0][n] for n in names] + list(s_grads[1:])
        theirs = list(k_grads[0]) + list(k_grads[1:])
        for got, want in zip(mine, theirs, strict=True):
            np.testing.assert_allclose(np.asarray(got, "float32"), np.asarray(want, "float32"), rtol=tolerance,
                                       atol=tolerance * max(1.0, float(np.abs(want).max())))
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    assert k_config.pop("quantization_config") is None  # scanfit does not quantize; its loader drops the None
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config


def _language_model(K, tie_weights):
    """Tokens -> embeddings (index 0 masked) -> a masked GRU -> logits over the vocabulary by the same layer."""
    tokens = K.Input((5,), dtype="int32")
    embedding = K.layers.ReversibleEmbedding(10, 4, mask_zero=True, tie_weights=tie_weights, logit_soft_cap=5.0)
    hidden = K.layers.GRU(4, return_sequences=True)(embedding(tokens))
    return K.Model(tokens, K.layers.Activation("softmax")(embedding(hidden, reverse=True)))


@pytest.mark.parametrize("tie_weights", [True, False])
def test_language_model_trains_like_keras(tie_weights):
    """The GRU gets the lookup's mask; the reverse call's logits carry none, so every step counts in the loss."""
    x = RNG.integers(0, 10, size=(16, 5))
    y = RNG.integers(0, 10, size=(16, 5))
    k_model, s_model = _language_model(keras, tie_weights), _language_model(scanfit, tie_weights)
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model in (k_model, s_model):
        model.set_weights(weights)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    k_history = k_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    s_history = s_model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(s_history, k_history, rtol=1e-4)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_files_move_between_the_libraries(tmp_path):
    k_model, s_model = _language_model(keras, False), _language_model(scanfit, False)
    k_model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()])
    expected = k_model.predict(TOKENS, verbose=0)
    k_model.save(tmp_path / "k.keras")
    k_model.save_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(scanfit.models.load_model(tmp_path / "k.keras").predict(TOKENS, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    s_model.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(s_model.predict(TOKENS, verbose=0), expected, rtol=1e-5, atol=1e-6)
    s_model.save(tmp_path / "s.keras")
    s_model.save_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.keras").predict(TOKENS, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    fresh = _language_model(keras, False)
    fresh.load_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(fresh.predict(TOKENS, verbose=0), expected, rtol=1e-5, atol=1e-6)


def test_reverse_call_on_a_model_input_reads_vectors():
    """The index check of a layer reading a model input skips a reverse call, whose input is vectors."""

    def build(K):
        vectors = K.Input((5, 4))
        return K.Model(vectors, K.layers.ReversibleEmbedding(10, 4)(vectors, reverse=True))

    k_model, s_model = build(keras), build(scanfit)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(s_model.predict(VECTORS, verbose=0), k_model.predict(VECTORS, verbose=0), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("options, words", [
    ({"logit_soft_cap": 0}, "logit_soft_cap must be None or a positive number"),
    ({"reverse_dtype": "int32"}, "reverse_dtype must be None or the name of a floating dtype"),
])
def test_bad_options_fail_clearly(options, words):
    with pytest.raises(ValueError, match=words):
        scanfit.layers.ReversibleEmbedding(10, 4, **options)


def test_bad_calls_fail_clearly():
    layer = scanfit.layers.ReversibleEmbedding(10, 4)
    with pytest.raises(TypeError, match="reverse must be True or False"):
        layer(VECTORS, reverse="yes")
    with pytest.raises(ValueError, match="needs vectors of 4 features"):
        layer(VECTORS[..., :3], reverse=True)
