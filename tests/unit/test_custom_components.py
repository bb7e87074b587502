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


def huber_metric_class(K):
    """Hands-on ML's streaming HuberMetric, in Keras 3's spelling."""
    ops = K.ops

    class HuberMetric(K.metrics.Metric):
        def __init__(self, threshold=1.0, **kwargs):
            super().__init__(**kwargs)
            self.threshold = threshold
            self.total = self.add_weight(name="total", initializer="zeros")
            self.count = self.add_weight(name="count", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            error = y_true - y_pred
            small = ops.abs(error) < self.threshold
            values = ops.where(small, ops.square(error) / 2, self.threshold * ops.abs(error) - self.threshold ** 2 / 2)
            if sample_weight is not None:
                values = values * ops.reshape(sample_weight, (-1, 1))
                self.count.assign_add(ops.sum(sample_weight))
            else:
                self.count.assign_add(ops.cast(ops.shape(y_true)[0], "float32"))
            self.total.assign_add(ops.sum(values))

        def result(self):
            return self.total / self.count

        def get_config(self):
            return {**super().get_config(), "threshold": self.threshold}

    return HuberMetric


def test_a_streaming_metric_subclass_logs_what_keras_logs():
    weights = RNG.uniform(0.5, 2.0, size=len(X)).astype("float32")
    histories, evaluations = [], []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((8,)), K.layers.Dense(4, activation="relu"), K.layers.Dense(1)])
        model.set_weights([np.full(w.shape, 0.1, "float32") + 0.01 * np.arange(w.size).reshape(w.shape) % 0.3
                           for w in model.get_weights()])
        model.compile(K.optimizers.SGD(0.01), "mse", metrics=[huber_metric_class(K)(2.0), "mae"],
                      weighted_metrics=[huber_metric_class(K)(1.0, name="weighted_huber")])
        histories.append(model.fit(X, Y, sample_weight=weights, epochs=2, batch_size=20, shuffle=False,
                                   validation_data=(X[:30], Y[:30]), verbose=0).history)
        evaluations.append(model.evaluate(X, Y, batch_size=32, return_dict=True, verbose=0))
    k_hist, s_hist = histories
    assert sorted(s_hist) == sorted(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, err_msg=key)
    for key in evaluations[0]:
        np.testing.assert_allclose(evaluations[1][key], evaluations[0][key], rtol=1e-5, err_msg=key)


def test_a_streaming_metric_works_eagerly_as_in_the_book():
    s_metric, k_metric = huber_metric_class(scanfit)(2.0), huber_metric_class(keras)(2.0)
    for y_true, y_pred in (([[2.0]], [[10.0]]), ([[0.0], [5.0]], [[1.0], [9.25]])):
        s_value = s_metric(np.asarray(y_true), np.asarray(y_pred))
        k_value = k_metric(np.asarray(y_true), np.asarray(y_pred))
        np.testing.assert_allclose(float(s_value), float(k_value), rtol=1e-6)
    np.testing.assert_allclose(float(s_metric.result()), (14.0 + 0.5 + 6.5) / 3, rtol=1e-6)
    assert [v.numpy().item() for v in s_metric.variables] == [21.0, 3.0]
    s_metric.reset_state()
    assert [v.numpy().item() for v in s_metric.variables] == [0.0, 0.0]


def test_a_streaming_metric_in_a_sweep_and_with_batch_hooks():
    class Recorder(scanfit.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.values = []

        def on_test_batch_end(self, batch, logs=None):
            self.values.append(logs["huber_metric"])

    def build(units):
        model = scanfit.Sequential([scanfit.Input((8,)), scanfit.layers.Dense(units), scanfit.layers.Dense(1)])
        model.compile("sgd", "mse", metrics=[huber_metric_class(scanfit)(2.0, name="huber_metric")])
        return model

    sweep = scanfit.Sweep(build, scanfit.Sweep.grid(units=[2, 3]))
    sweep.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    for run, logs in zip(sweep.models, sweep.evaluate(X, Y, batch_size=32)):
        recorder = Recorder()
        whole = run.evaluate(X, Y, batch_size=32, return_dict=True, verbose=0)
        run.evaluate(X, Y, batch_size=32, callbacks=[recorder], verbose=0)
        np.testing.assert_allclose(logs["huber_metric"], whole["huber_metric"], rtol=1e-5)
        np.testing.assert_allclose(recorder.values[-1], whole["huber_metric"], rtol=1e-5)
        assert len(recorder.values) == 3
