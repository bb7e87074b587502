"""After fit, evaluate, train_on_batch and test_on_batch, `model.metrics` hold that run's state as Keras 3's do
(`get_metrics_result`, the loss tracker's and the metrics' variables), against Keras on the same weights."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype("float32")
W = [RNG.normal(size=(4, 1)).astype("float32"), np.array([0.1], "float32")]


def model(lib, several=False):
    inputs = lib.Input((4,))
    out = lib.layers.Dense(1, activation="sigmoid", name="a")(inputs)
    outputs = [out, lib.layers.Dense(1, activation="sigmoid", name="b")(inputs)] if several else out
    m = lib.Model(inputs, outputs)
    for layer in m.layers[1:]:
        layer.set_weights(W)
    metrics = ["accuracy", lib.metrics.AUC(name="auc")]
    m.compile(lib.optimizers.SGD(0.1), "binary_crossentropy", metrics=[metrics, ["mse"]] if several else metrics)
    return m


def state(m):
    return [[np.asarray(v) for v in metric.variables] for metric in m.metrics]


def assert_same(ours, theirs):
    results, expected = ours.get_metrics_result(), theirs.get_metrics_result()
    assert list(results) == list(expected)
    for name in expected:
        np.testing.assert_allclose(results[name], np.asarray(expected[name]), rtol=2e-5, atol=1e-6, err_msg=name)
    for mine, other in zip(state(ours), state(theirs), strict=True):
        for a, b in zip(mine, other, strict=True):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("run", ["fit", "fit_with_validation", "evaluate", "train_on_batch", "test_on_batch"])
def test_the_metrics_hold_the_last_run_as_in_keras(run):
    ours, theirs = model(scanfit), model(keras)
    for m in (ours, theirs):
        if run == "fit":
            m.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        elif run == "fit_with_validation":  # the validation's state, as Keras's evaluate leaves it
            m.fit(X, Y, epochs=2, batch_size=16, shuffle=False, verbose=0, validation_split=0.25)
        elif run == "evaluate":
            m.evaluate(X[:40], Y[:40], batch_size=16, verbose=0)
        elif run == "train_on_batch":
            m.train_on_batch(X[:8], Y[:8])
        else:
            m.test_on_batch(X[:8], Y[:8])
    assert ours.get_metrics_result()["loss"] > 0
    assert_same(ours, theirs)


def test_reset_and_several_outputs():
    ours, theirs = model(scanfit, several=True), model(keras, several=True)
    for m in (ours, theirs):
        m.fit(X, [Y, Y], epochs=1, batch_size=16, shuffle=False, verbose=0)
    results = ours.get_metrics_result()
    assert set(results) == {"loss", "a_accuracy", "a_auc", "b_mse"}
    expected = theirs.get_metrics_result()
    for name in results:
        np.testing.assert_allclose(results[name], np.asarray(expected[name]), rtol=2e-5, err_msg=name)
    ours.reset_metrics()
    assert set(ours.get_metrics_result().values()) == {0.0}
