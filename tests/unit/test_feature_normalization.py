"""keras.layers.Normalization against Keras 3: statistics from adapt, outputs, gradients, training, errors."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(3)
# features on very different scales, as in Hands-on ML's California housing example
X = (RNG.normal(size=(300, 4, 3)) * [1.0, 5.0, 20.0] + [0.0, 3.0, -7.0]).astype("float32")


@pytest.mark.parametrize("options", [
    {}, {"axis": None}, {"axis": (1, 2)}, {"axis": 1}, {"axis": -2}, {"invert": True}, {"axis": (1,), "invert": True},
])
def test_adapted_statistics_and_outputs_equal_keras(options):
    k_layer, s_layer = keras.layers.Normalization(**options), scanfit.layers.Normalization(**options)
    k_layer.adapt(X)
    s_layer.adapt(X)
    assert [(w.path.rsplit("/", 1)[-1], w.shape, str(w.dtype)) for w in s_layer.weights] == \
        [(w.path.rsplit("/", 1)[-1], tuple(w.shape), str(w.dtype)) for w in k_layer.weights]
    for ours, theirs in zip(s_layer.get_weights(), k_layer.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert s_layer.count_params() == k_layer.count_params()
    np.testing.assert_allclose(np.asarray(s_layer(X[:7])), np.asarray(k_layer(X[:7])), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mean,variance", [(2.0, 4.0), ([1.0, -2.0, 3.0], [1.0, 4.0, 0.0]), (np.ones((4, 3)), np.full((4, 3), 9.0))])
def test_given_statistics_broadcast_as_in_keras(mean, variance):
    axis = (1, 2) if np.ndim(mean) == 2 else -1
    k_layer = keras.layers.Normalization(axis=axis, mean=mean, variance=variance)
    s_layer = scanfit.layers.Normalization(axis=axis, mean=mean, variance=variance)
    # a zero variance divides by epsilon() instead, as Keras does
    np.testing.assert_allclose(np.asarray(s_layer(X[:5])), np.asarray(k_layer(X[:5])), rtol=1e-6)
    assert s_layer.weights == [] and s_layer.count_params() == 0
    assert s_layer.get_config()["mean"] == np.asarray(mean, "float32").tolist()


def test_gradient_with_respect_to_inputs_equals_keras():
    k_layer, s_layer = keras.layers.Normalization(axis=(1, 2)), scanfit.layers.Normalization(axis=(1, 2))
    k_layer.adapt(X)
    s_layer.adapt(X)
    cotangent = RNG.normal(size=(5, 4, 3)).astype("float32")
    k_grad = jax.grad(lambda x: jnp.sum(k_layer(x) * cotangent))(jnp.asarray(X[:5]))
    s_grad = jax.grad(lambda x: jnp.sum(s_layer.pure_call(s_layer.weight_values(), x)[0] * cotangent))(jnp.asarray(X[:5]))
    np.testing.assert_allclose(s_grad, k_grad, rtol=1e-6)


class Batches(scanfit.utils.PyDataset):
    def __len__(self):
        return 3

    def __getitem__(self, index):
        return X[100 * index:100 * (index + 1)], np.zeros(100)


@pytest.mark.parametrize("data", [
    lambda: [X[:100], X[100:250], X[250:]],
    lambda: (part for part in np.array_split(X, 7)),
    lambda: [(X[:150], None), (X[150:], None)],
    Batches,
], ids=["list", "generator", "x_y_tuples", "py_dataset"])
def test_adapt_on_batches_gives_the_statistics_of_all_the_data(data):
    layer = scanfit.layers.Normalization()
    layer.adapt(data())
    flat = X.reshape(-1, 3).astype("float64")
    np.testing.assert_allclose(layer.get_weights()[0], flat.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.get_weights()[1], flat.var(axis=0), rtol=1e-5)


def test_hands_on_ml_regression_trains_step_for_step_like_keras():
    """Normalization(input_shape=...) first in a Sequential, adapted after compile, as Hands-on ML does it."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(256, 8)) * [1, 10, 100, 1, 1, 1, 5, 3] + 50).astype("float32")
    y = (x[:, :1] * 0.1 + x[:, 1:2] * 0.01 + rng.normal(size=(256, 1)) * 0.1).astype("float32")
    models = []
    for lib in (keras, scanfit):
        norm = lib.layers.Normalization(input_shape=x.shape[1:]) if lib is scanfit else lib.layers.Normalization()
        layers = [norm, lib.layers.Dense(16, activation="relu"), lib.layers.Dense(1)]
        model = lib.Sequential(layers if lib is scanfit else [lib.Input((8,))] + layers)
        model.compile(loss="mse", optimizer=lib.optimizers.SGD(learning_rate=0.01), metrics=["RootMeanSquaredError"])
        norm.adapt(x)
        models.append(model)
    k_model, s_model = models
    s_model.set_weights(k_model.get_weights())
    histories = [m.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0).history for m in models]
    for ours, theirs in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-4)
    assert histories[1]["loss"][-1] < 0.5 * histories[1]["loss"][0]
    # the statistics are weights: not trained, and a second adapt changes what the next fit sees
    np.testing.assert_allclose(s_model.layers[0].get_weights()[0], x.mean(axis=0), rtol=1e-6)
    before = s_model.predict(x, verbose=0)
    s_model.layers[0].adapt(x * 2)  # statistics of doubled data: doubled inputs normalize as the old ones did
    np.testing.assert_allclose(s_model.predict(x * 2, verbose=0), before, rtol=1e-4, atol=1e-5)
    assert not np.allclose(s_model.predict(x, verbose=0), before, rtol=1e-2)


def test_mixed_precision_computes_in_the_policy_dtype_like_keras():
    k_layer = keras.layers.Normalization(dtype="mixed_bfloat16")
    s_layer = scanfit.layers.Normalization(dtype="mixed_bfloat16")
    k_layer.adapt(X)
    s_layer.adapt(X)
    assert str(s_layer.adapt_mean.dtype) == "float32"
    k_y, s_y = np.asarray(k_layer(X[:4])), np.asarray(s_layer(X[:4]))
    assert s_y.dtype == k_y.dtype == jnp.bfloat16
    np.testing.assert_allclose(s_y.astype("float32"), k_y.astype("float32"), rtol=1e-2, atol=1e-2)


def test_masks_pass_through():
    layer = scanfit.layers.Normalization()
    mask = np.array([[True, False, True, True]])
    assert layer.compute_mask(X[:1], mask) is mask


@pytest.mark.parametrize("make,error,match", [
    (lambda: scanfit.layers.Normalization(mean=1.0), ValueError, "both mean= and variance="),
    (lambda: scanfit.layers.Normalization(mean=[1.0, 2.0], variance=[1.0]), ValueError, "same shape"),
    (lambda: scanfit.layers.Normalization(axis=-1, mean=np.ones((2, 2)), variance=np.ones((2, 2))), ValueError, "rank"),
    (lambda: scanfit.layers.Normalization(axis="last"), TypeError, "axis"),
    (lambda: scanfit.layers.Normalization(mean=0.0, variance=1.0).adapt(X), ValueError, "adapt"),
    (lambda: scanfit.layers.Normalization(axis=3).adapt(X), ValueError, "out of range"),
    (lambda: scanfit.layers.Normalization().adapt([]), ValueError, "no batches"),
    (lambda: scanfit.layers.Normalization().adapt(3.0), TypeError, "adapt takes"),
    (lambda: scanfit.layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 1.0]).build_for((None, 3)), ValueError,
     "broadcast"),
])
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_adapt_refuses_data_of_another_feature_count():
    layer = scanfit.layers.Normalization()
    layer.adapt(X)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 4, 3\)"):
        layer.adapt(X[..., :2])
    for kept, now in zip(before, layer.get_weights()):
        np.testing.assert_array_equal(kept, now)
