"""SpectralNormalization against Keras 3: weights (names, shapes, order), outputs and gradients in training and
inference, the state a training call stores, a short fit, configs, .keras and .weights.h5 files both ways."""
import json

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(41)


def _twins(make, input_shape, power_iterations=1):
    """The same wrapped layer in both libraries, built, with Keras's random weights copied to scanfit."""
    k_layer = keras.layers.SpectralNormalization(make(keras.layers), power_iterations=power_iterations, name="sn")
    s_layer = scanfit.layers.SpectralNormalization(make(scanfit.layers), power_iterations=power_iterations, name="sn")
    k_layer.build(input_shape)
    s_layer.build_for(input_shape)
    assert [(v.short_name, v.shape, v.trainable) for v in s_layer.weights] == [
        (w.name, tuple(w.shape), w.trainable) for w in k_layer.weights]
    weights = [RNG.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    return k_layer, s_layer


LAYERS = [
    (lambda L: L.Dense(3, name="d"), (2, 4), "float32"),
    (lambda L: L.Conv2D(3, 2, name="c"), (2, 5, 5, 2), "float32"),
    (lambda L: L.Embedding(6, 3, name="e"), (2, 4), "int32"),
]


@pytest.mark.parametrize("make, input_shape, dtype", LAYERS)
@pytest.mark.parametrize("power_iterations", [1, 3])
def test_outputs_gradients_and_updates_equal_keras(make, input_shape, dtype, power_iterations):
    k_layer, s_layer = _twins(make, input_shape, power_iterations)
    x = (RNG.integers(0, 6, size=input_shape) if dtype == "int32" else RNG.normal(size=input_shape)).astype(dtype)
    names = [v.short_name for v in s_layer.weights]
    trainable = [v.short_name for v in s_layer.trainable_weights]
    fixed = [v.value for v in k_layer.non_trainable_variables]
    shape = tuple(k_layer.compute_output_shape(input_shape))
    assert s_layer.compute_output_shape(input_shape) == shape
    cotangent = jnp.asarray(RNG.normal(size=shape), jnp.float32)
    for training in (False, True):
        def k_objective(weights):
            y, new_fixed = k_layer.stateless_call(weights, fixed, x, training=training)
            # (For Embedding, Keras's output is cast to int32, see _assert_same_output: no gradients to compare.)
            return jnp.sum(y.astype(jnp.float32) * cotangent), new_fixed

        def s_objective(weights):
            y, updates = s_layer.pure_call(weights, x, training=training)
            return jnp.sum(y * cotangent), (y, updates)

        (_, new_fixed), k_grads = jax.value_and_grad(k_objective, has_aux=True)(
            [v.value for v in k_layer.trainable_variables])
        (_, (s_y, updates)), s_grads = jax.value_and_grad(s_objective, has_aux=True)(s_layer.weight_values())
        k_y, _ = k_layer.stateless_call([v.value for v in k_layer.trainable_variables], fixed, x, training=training)
        _assert_same_output(s_y, k_y)
        if dtype != "int32":
            for name, k_grad in zip(trainable, k_grads, strict=True):
                np.testing.assert_allclose(s_grads[name], k_grad, rtol=1e-4, atol=1e-5)
        if training:
            np.testing.assert_allclose(updates["vector_u"], new_fixed[0], rtol=1e-5, atol=1e-6)
        else:
            assert updates == {}
    # An eager training call stores the new vector_u and the divided kernel, as Keras's call assigns them.
    k_layer(x, training=True)
    s_layer(x, training=True)
    assert names == [w.name for w in k_layer.weights]
    for mine, theirs in zip(s_layer.get_weights(), k_layer.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    _assert_same_output(s_layer(x), k_layer(x))


def _assert_same_output(s_y, k_y):
    """Equal outputs; Keras casts its output to the input's dtype, which for Embedding's integer indices
    truncates the vectors (a Keras 3.15 bug): then scanfit's vectors (not cast) must truncate to Keras's."""
    if np.asarray(k_y).dtype == np.int32:
        np.testing.assert_array_equal(np.asarray(k_y), np.trunc(np.asarray(s_y)).astype("int32"))
    else:
        np.testing.assert_allclose(s_y, k_y, rtol=1e-5, atol=1e-5)


def test_an_all_zero_kernel_is_left_as_it_is():
    k_layer, s_layer = _twins(LAYERS[0][0], (2, 4))
    for layer in (k_layer, s_layer):
        layer.layer.kernel.assign(np.zeros((4, 3), "float32"))
    x = RNG.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(s_layer(x, training=True), k_layer(x, training=True), atol=1e-6)
    for mine, theirs in zip(s_layer.get_weights(), k_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def _model(K):
    return K.Sequential([K.Input((4,)), K.layers.SpectralNormalization(K.layers.Dense(5, activation="tanh")),
                         K.layers.SpectralNormalization(K.layers.Dense(2), power_iterations=2)])


def test_fit_equals_keras():
    """Inside fit Keras on JAX keeps the new vector_u but not the divided kernel; so does scanfit."""
    x = RNG.normal(size=(16, 4)).astype("float32")
    y = RNG.normal(size=(16, 2)).astype("float32")
    k_model, s_model = _model(keras), _model(scanfit)
    assert [tuple(w.shape) for w in s_model.weights] == [tuple(w.shape) for w in k_model.weights]
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model in (k_model, s_model):
        model.set_weights(weights)
        model.compile(optimizer=model_library(model).optimizers.SGD(0.1), loss="mse")
    k_history = k_model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    s_history = s_model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(s_history, k_history, rtol=1e-5)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def model_library(model):
    return keras if isinstance(model, keras.Model) else scanfit


def test_configs_equal_keras():
    k_layer, s_layer = _twins(LAYERS[1][0], (2, 5, 5, 2), power_iterations=2)
    assert json.loads(json.dumps(s_layer.get_config())) == json.loads(json.dumps(k_layer.get_config()))
    again = scanfit.layers.SpectralNormalization.from_config(s_layer.get_config())
    assert again.power_iterations == 2 and again.layer.get_config() == s_layer.layer.get_config()
    assert isinstance(s_layer, scanfit.layers.Wrapper)


def test_files_move_between_the_libraries(tmp_path):
    x = RNG.normal(size=(3, 4)).astype("float32")
    k_model, s_model = _model(keras), _model(scanfit)
    k_model.set_weights([RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()])
    expected = k_model.predict(x, verbose=0)
    k_model.save(tmp_path / "k.keras")
    k_model.save_weights(tmp_path / "k.weights.h5")
    loaded = scanfit.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    s_model.load_weights(tmp_path / "k.weights.h5")
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    s_model.save(tmp_path / "s.keras")
    s_model.save_weights(tmp_path / "s.weights.h5")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.keras").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    k_model.save(tmp_path / "k.h5")  # the legacy format too (weights trainable first, as Keras lists them)
    np.testing.assert_allclose(scanfit.models.load_model(tmp_path / "k.h5").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    s_model.save(tmp_path / "s.h5")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "s.h5").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    fresh = _model(keras)
    fresh.load_weights(tmp_path / "s.weights.h5")
    for mine, theirs in zip(fresh.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("make, message", [
    (lambda: scanfit.layers.SpectralNormalization(scanfit.layers.Dense(2), power_iterations=0), "positive integer"),
    (lambda: scanfit.layers.SpectralNormalization(scanfit.layers.Dense(2), power_iterations=1.5), "positive integer"),
    (lambda: scanfit.layers.SpectralNormalization("dense"), "layer to wrap"),
])
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_unbuilt_wrapper_has_no_weights_yet():
    assert scanfit.layers.SpectralNormalization(scanfit.layers.Dense(2)).weights == []
    assert keras.layers.SpectralNormalization(keras.layers.Dense(2)).weights == []


def test_a_layer_without_a_kernel_is_refused():
    layer = scanfit.layers.SpectralNormalization(scanfit.layers.LayerNormalization())
    with pytest.raises(ValueError, match="'kernel' or 'embeddings'"):
        layer.build_for((None, 3))
