"""Hands-on ML chapter 12's custom components, written once with `K.ops` for both libraries: an activation,
initializer, regularizer and constraint as plain functions, a loss function and a `Loss` subclass, trained
step for step against Keras 3 and saved in files that both libraries load with `custom_objects`."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(12)
X = RNG.normal(size=(96, 8)).astype("float32")
Y = (X[:, :1] * 2.0 + 0.3 * RNG.normal(size=(96, 1))).astype("float32")


def components(K):
    ops = K.ops

    def my_softplus(z):
        return ops.log(ops.exp(z) + 1.0)

    def my_glorot_like(shape, dtype=None):
        return ops.ones(shape, dtype=dtype) * (2.0 / (shape[0] + shape[1])) ** 0.5

    def my_l1_regularizer(weights):
        return ops.sum(ops.abs(0.01 * weights))

    def my_positive_weights(weights):
        weights = ops.convert_to_tensor(weights)  # Keras hands a constraint its variable
        return ops.where(weights < 0.0, ops.zeros_like(weights), weights)

    def huber_fn(y_true, y_pred):
        error = y_true - y_pred
        return ops.where(ops.abs(error) < 1, ops.square(error) / 2, ops.abs(error) - 0.5)

    class HuberLoss(K.losses.Loss):
        def __init__(self, threshold=1.0, **kwargs):
            self.threshold = threshold
            super().__init__(**kwargs)

        def call(self, y_true, y_pred):
            error = y_true - y_pred
            small = ops.abs(error) < self.threshold
            return ops.where(small, ops.square(error) / 2, self.threshold * ops.abs(error) - self.threshold ** 2 / 2)

        def get_config(self):
            return {**super().get_config(), "threshold": self.threshold}

    return {f.__name__: f for f in (my_softplus, my_glorot_like, my_l1_regularizer, my_positive_weights, huber_fn,
                                    HuberLoss)}


def model_of(K, parts):
    return K.Sequential([
        K.Input((8,)),
        K.layers.Dense(16, activation=parts["my_softplus"], kernel_initializer=parts["my_glorot_like"],
                       kernel_regularizer=parts["my_l1_regularizer"], kernel_constraint=parts["my_positive_weights"]),
        K.layers.Dense(1),
    ])


@pytest.mark.parametrize("loss", ["huber_fn", "HuberLoss"])
def test_custom_functions_and_loss_train_like_keras(loss):
    models = []
    for K in (keras, scanfit):
        parts = components(K)
        model = model_of(K, parts)
        model.compile(K.optimizers.SGD(0.02), loss=parts[loss]() if loss == "HuberLoss" else parts[loss],
                      metrics=[parts["huber_fn"]])
        models.append(model)
    k_model, s_model = models
    weights = [np.abs(RNG.normal(scale=0.3, size=w.shape)).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    k_hist = k_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    s_hist = s_model.fit(X, Y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-4, err_msg=key)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-6)
    assert s_model.get_weights()[0].min() >= 0.0  # the constraint held


def test_files_with_custom_functions_load_in_both_libraries(tmp_path):
    s_parts, k_parts = components(scanfit), components(keras)
    s_model = model_of(scanfit, s_parts)
    s_model.compile("adam", loss=s_parts["HuberLoss"](2.0), metrics=[s_parts["huber_fn"]])
    s_model.fit(X, Y, epochs=1, verbose=0)
    s_model.save(tmp_path / "s.keras")
    expected = s_model.predict(X, verbose=0)
    k_loaded = keras.models.load_model(tmp_path / "s.keras", custom_objects=k_parts)
    np.testing.assert_allclose(np.asarray(k_loaded.predict(X, verbose=0)), expected, rtol=1e-5, atol=1e-6)
    assert k_loaded.loss.threshold == 2.0
    k_loaded.save(tmp_path / "k.keras")
    s_loaded = scanfit.models.load_model(tmp_path / "k.keras", custom_objects=s_parts)
    np.testing.assert_allclose(s_loaded.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    layer = s_loaded.layers[0]
    assert layer.activation is s_parts["my_softplus"] and layer.kernel_regularizer is s_parts["my_l1_regularizer"]
    with pytest.raises(ValueError, match="my_softplus|my_glorot_like|my_l1_regularizer|my_positive_weights"):
        scanfit.models.load_model(tmp_path / "s.keras")  # no custom_objects: a clear error naming the part


def test_lambdas_cannot_be_saved_and_say_why():
    layer = scanfit.layers.Dense(2, kernel_regularizer=lambda w: 0.01 * scanfit.ops.sum(w))
    with pytest.raises(TypeError, match="named .*function"):
        layer.get_config()
