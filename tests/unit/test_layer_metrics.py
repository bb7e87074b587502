"""Metrics held by layers and models and updated inside call() (keras.io's endpoint-layer pattern, Hands-On ML's
ReconstructingRegressor): tracked in ``layer.metrics`` and ``model.metrics``, reset each epoch, logged by fit and
evaluate, updated by eager calls. Keras 3 is the oracle, its models with `metric_oracle.LayerMetricsOnJax` mixed
in (Keras 3.15 on JAX cannot update a metric inside call() in fit; see that module).
"""
import keras
import numpy as np
import pytest

import scanfit
from metric_oracle import keras_model_class


def _endpoint_layer(lib):
    """keras.io's LogisticEndpoint (keras_recipes/endpoint_layer_pattern), with a sigmoid as its output."""

    class LogisticEndpoint(lib.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = lib.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = lib.metrics.BinaryAccuracy()

        def call(self, logits, targets=None, sample_weights=None):
            if targets is not None:
                self.add_loss(self.loss_fn(targets, logits, sample_weights))
                self.accuracy_fn.update_state(targets, logits, sample_weights)
            return lib.ops.sigmoid(logits)

    return LogisticEndpoint


def _endpoint_model(lib, weighted):
    model_class = keras_model_class(keras.Model) if lib is keras else scanfit.Model
    inputs, targets = lib.Input((3,), name="inputs"), lib.Input((4,), name="targets")
    logits = lib.layers.Dense(4)(inputs)
    if weighted:
        weights = lib.Input((1,), name="weights")
        outputs = _endpoint_layer(lib)(name="predictions")(logits, targets, weights)
        model = model_class(inputs=[inputs, targets, weights], outputs=outputs)
    else:
        outputs = _endpoint_layer(lib)(name="predictions")(logits, targets)
        model = model_class(inputs=[inputs, targets], outputs=outputs)
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def _endpoint_data(samples=24, seed=0, weighted=False):
    rng = np.random.default_rng(seed)
    data = {"inputs": rng.normal(size=(samples, 3)).astype("float32"),
            "targets": (rng.random((samples, 4)) > 0.5).astype("float32"),
            "weights": rng.random((samples, 1)).astype("float32")}
    if not weighted:
        data.pop("weights")
    return data


def _close(ours, theirs):
    if isinstance(theirs, list):  # evaluate's list: the same values in the same order
        assert isinstance(ours, list) and len(ours) == len(theirs)
    else:  # a dict of logs (History's lists of values, or evaluate's return_dict)
        assert sorted(ours) == sorted(theirs)
    for key in (range(len(theirs)) if isinstance(theirs, list) else theirs):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-6, err_msg=str(key))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weights"])
def test_the_endpoint_layer_logs_its_accuracy_as_keras(weighted):
    """keras.io's example as written: compiled with an optimizer alone (its add_loss term is the loss)."""
    data = _endpoint_data(weighted=weighted)
    results = {}
    for lib in (keras, scanfit):
        model = _endpoint_model(lib, weighted)
        model.compile(optimizer=lib.optimizers.Adam(0.05))
        endpoint = model.get_layer("predictions")
        history = model.fit(data, epochs=3, batch_size=8, shuffle=False, verbose=0).history
        results[lib] = dict(
            history=history, names=[m.name for m in model.metrics], layer=[m.name for m in endpoint.metrics],
            count=float(endpoint.accuracy_fn.variables[1].value),
            evaluated=model.evaluate(data, batch_size=8, verbose=0),
            as_dict=model.evaluate(data, batch_size=8, verbose=0, return_dict=True),
            result=float(endpoint.accuracy_fn.result()),
            on_batch=[model.test_on_batch(data), model.train_on_batch(data)])
    ours, theirs = results[scanfit], results[keras]
    assert theirs["names"] == ["loss", "binary_accuracy"] and ours["names"] == theirs["names"]
    assert ours["layer"] == theirs["layer"] == ["binary_accuracy"]
    _close(ours["history"], theirs["history"])
    assert len(set(np.round(theirs["history"]["binary_accuracy"], 6))) > 1  # it changes as the model learns
    assert ours["count"] == pytest.approx(theirs["count"])  # the last epoch's samples (or weights) alone
    assert weighted or theirs["count"] == 24
    _close(ours["evaluated"], theirs["evaluated"])  # [loss, binary_accuracy]
    _close(ours["as_dict"], theirs["as_dict"])
    assert ours["result"] == pytest.approx(theirs["result"], abs=1e-6)  # the metric holds evaluate's result
    for ours_batch, theirs_batch in zip(ours["on_batch"], theirs["on_batch"]):
        _close(ours_batch, theirs_batch)  # [loss, binary_accuracy] of one batch


def test_a_compiled_model_logs_a_layer_metric_after_its_compiled_metrics():
    """A compiled loss and metrics: the layer's metric comes last in model.metrics, in evaluate's list, and
    in the validation logs; each epoch and each evaluation starts it from zero."""
    data = _endpoint_data()
    y = np.zeros((24, 4), "float32")
    val = _endpoint_data(16, seed=1)
    results = {}
    for lib in (keras, scanfit):
        model = _endpoint_model(lib, weighted=False)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        names_before_fit = [m.name for m in model.metrics]
        history = model.fit(data, y, epochs=2, batch_size=8, shuffle=False, verbose=0,
                            validation_data=(val, y[:16])).history
        accuracy = model.get_layer("predictions").accuracy_fn
        count = float(accuracy.variables[1].value)
        results[lib] = (names_before_fit, history, count, model.evaluate(data, y, batch_size=8, verbose=0),
                        model.evaluate(val, y[:16], batch_size=8, verbose=0, return_dict=True))
    ours, theirs = results[scanfit], results[keras]
    assert theirs[0] == ["loss", "compile_metrics", "binary_accuracy"] and ours[0] == theirs[0]
    _close(ours[1], theirs[1])
    assert {"binary_accuracy", "val_binary_accuracy"} <= set(ours[1])
    assert ours[2] == theirs[2] == 16  # reset before the validation, which ran last
    assert len(theirs[3]) == 3  # [loss, mae, binary_accuracy]
    _close(ours[3], theirs[3])
    _close(ours[4], theirs[4])


def _reconstructing_regressor(lib):
    """Hands-On ML's ReconstructingRegressor, Keras 3 style: a Mean of the reconstruction error, updated in
    call() when training only."""
    ops = lib.ops

    class ReconstructingRegressor(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(5, activation="relu")
            self.out = lib.layers.Dense(1)
            self.reconstruct = lib.layers.Dense(3)
            self.reconstruction_mean = lib.metrics.Mean(name="reconstruction_error")

        def call(self, inputs, training=None):
            z = self.hidden(inputs)
            reconstruction_loss = ops.mean(ops.square(self.reconstruct(z) - inputs))
            self.add_loss(0.05 * reconstruction_loss)
            if training:
                self.reconstruction_mean.update_state(reconstruction_loss)
            return self.out(z)

    if lib is keras:
        return keras_model_class(ReconstructingRegressor)()
    return ReconstructingRegressor()


def test_a_subclassed_model_updates_a_mean_in_call_when_training_only():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")
    weights = rng.normal(size=(3 * 5 + 5 + 5 * 1 + 1 + 5 * 3 + 3)).astype("float32") * 0.5
    results = {}
    for lib in (keras, scanfit):
        model = _reconstructing_regressor(lib)
        model(x[:2])
        flat = iter(np.split(weights, np.cumsum([3 * 5, 5, 5, 1, 15])))
        for layer in (model.hidden, model.out, model.reconstruct):
            layer.set_weights([next(flat).reshape(w.shape) for w in layer.get_weights()])
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        history = model.fit(x, y, epochs=2, batch_size=5, shuffle=False, verbose=0).history
        trained = float(model.reconstruction_mean.result())
        results[lib] = (history, trained, [m.name for m in model.metrics],
                        model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True))
    ours, theirs = results[scanfit], results[keras]
    _close(ours[0], theirs[0])
    assert ours[1] == pytest.approx(theirs[1], rel=1e-5) and theirs[1] > 0
    assert ours[2] == theirs[2] == ["loss", "reconstruction_error"]
    assert theirs[3]["reconstruction_error"] == 0.0  # evaluate resets it and calls with training=False
    _close(ours[3], theirs[3])


def test_a_sweep_logs_each_runs_metric_as_its_run_alone():
    """Runs stacked in one program each carry their own state of the metric (the sweep's contract: each run
    equals the run trained alone, which the test above checks against Keras)."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.normal(size=(20, 1)).astype("float32")

    def build(learning_rate, seed):
        model = _reconstructing_regressor(scanfit)
        model(x[:2])
        model.compile(optimizer=scanfit.optimizers.SGD(learning_rate), loss="mse")
        return model

    swept = scanfit.Sweep(build, scanfit.Sweep.grid(learning_rate=[0.01, 0.1], seed=[0]))
    validation = (x[:7], y[:7])
    histories = [h.history for h in swept.fit(x, y, epochs=2, batch_size=5, verbose=0, validation_data=validation)]
    for history, learning_rate in zip(histories, [0.01, 0.1]):
        scanfit.utils.set_random_seed(0)
        alone = build(learning_rate, 0).fit(x, y, epochs=2, batch_size=5, verbose=0,
                                            validation_data=validation).history
        _close(history, alone)
    assert histories[0]["reconstruction_error"] != histories[1]["reconstruction_error"]


def test_an_eager_call_updates_the_layer_metric():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 4)).astype("float32")
    targets = (rng.random((6, 4)) > 0.5).astype("float32")
    weights = rng.random((6, 1)).astype("float32")
    results = {}
    for lib in (keras, scanfit):
        layer = _endpoint_layer(lib)()
        layer(logits, targets)
        once = float(layer.accuracy_fn.result())
        layer(logits[:3], targets[:3], weights[:3])
        results[lib] = (once, float(layer.accuracy_fn.result()), [m.name for m in layer.metrics])
    np.testing.assert_allclose(results[scanfit][:2], results[keras][:2], rtol=1e-6)
    assert results[keras][0] == pytest.approx(np.mean((logits > 0.5) == targets))  # by hand
    assert results[scanfit][2] == results[keras][2] == ["binary_accuracy"]


def test_metrics_in_lists_dicts_and_inner_layers_are_tracked_in_keras_order():
    names = {}
    for lib in (keras, scanfit):
        class Inner(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.pair = [lib.metrics.Mean(name="a"), lib.metrics.Mean(name="b")]
                self.by_name = {"c": lib.metrics.Mean(name="c")}
                self.single = lib.metrics.Sum(name="e")

            def call(self, inputs):
                return inputs

        class Outer(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.inner = Inner()
                self.own = lib.metrics.Mean(name="f")

            def call(self, inputs):
                return self.inner(inputs)

        inputs = lib.Input((2,))
        model = lib.Model(inputs, Outer()(lib.layers.Dense(2)(inputs)))
        model.compile(optimizer="sgd", loss="mse")
        names[lib] = ([m.name for m in Outer().metrics], [m.name for m in model.metrics])
    # Keras 3.15's model.metrics lists an inner layer's metrics twice (once for the layer holding it, whose
    # layer.metrics includes them, once for the inner layer itself): scanfit lists each metric once, in
    # Keras's order of first appearance.
    assert names[keras] == (["f", "a", "b", "c", "e"], ["loss", "f", "a", "b", "c", "e", "a", "b", "c", "e"])
    assert names[scanfit] == (names[keras][0], list(dict.fromkeys(names[keras][1])))


def test_a_sequential_layer_tracking_its_inputs_logs_and_predict_leaves_it():
    """A layer that updates a Mean of its inputs on every call: logged after compile()'s metrics (val_ too);
    Keras 3's predict on JAX runs it without changing the metric (on TensorFlow predict would update it)."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")
    results = {}
    for lib in (keras, scanfit):
        class ActivityMean(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.activity = lib.metrics.Mean(name="activity")

            def call(self, inputs):
                self.activity.update_state(lib.ops.abs(inputs))
                return inputs

        model_class = keras_model_class(keras.Sequential) if lib is keras else scanfit.Sequential
        model = model_class([lib.Input((3,)), lib.layers.Dense(2, kernel_initializer="ones"), ActivityMean()])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, validation_split=0.25, shuffle=False).history
        evaluated = model.evaluate(x, y, batch_size=4, verbose=0)
        activity = float(model.layers[-1].activity.result())
        predicted = model.predict(x[:5], verbose=0)
        results[lib] = (history, evaluated, activity, predicted, float(model.layers[-1].activity.result()))
    ours, theirs = results[scanfit], results[keras]
    _close(ours[0], theirs[0])
    assert {"activity", "val_activity"} <= set(theirs[0])
    _close(ours[1], theirs[1])  # [loss, mae, activity]
    assert ours[2] == pytest.approx(theirs[2], rel=1e-6)
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-6)
    assert theirs[4] == theirs[2] and ours[4] == ours[2]  # predict left the metric as evaluate left it


def test_a_train_step_of_ones_own_that_leaves_the_metric_out_is_a_clear_error():
    # Keras 3.15 on JAX fails here too ("'NoneType' object is not callable"): its stateless_call maps no metric.
    class OwnStep(scanfit.Model):
        def train_step(self, state, data):
            trainable, fixed, optimizer_variables, metrics_variables = state
            x, _, _ = scanfit.utils.unpack_x_y_sample_weight(data)
            _, fixed = self.stateless_call(trainable, fixed, x, training=True)
            return {}, (trainable, fixed, optimizer_variables, metrics_variables)

    inputs, targets = scanfit.Input((3,), name="inputs"), scanfit.Input((4,), name="targets")
    model = OwnStep([inputs, targets], _endpoint_layer(scanfit)()(scanfit.layers.Dense(4)(inputs), targets))
    model.compile(optimizer="sgd")
    with pytest.raises(RuntimeError, match="metric updated inside a layer's call.. run by a train_step of your own"):
        model.fit(_endpoint_data(8), epochs=1, batch_size=4, verbose=0)
