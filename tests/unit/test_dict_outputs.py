"""A functional model whose outputs are a dict (Keras's functional-API guide: "priority" and "department",
not in sorted order) is addressed by its keys, in compile, fit, evaluate and predict, as in Keras 3."""
import keras
import numpy as np

import scanfit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 5)).astype("float32")
Y = {"priority": RNG.normal(size=(32, 2)).astype("float32"),
     "department": RNG.normal(size=(32, 2)).astype("float32")}  # the same shape: a mix-up would be silent


def model(lib, weights=None):
    inputs = lib.Input((5,))
    hidden = lib.layers.Dense(4, activation="relu", name="hidden")(inputs)
    m = lib.Model(inputs, {"priority": lib.layers.Dense(2, name="p")(hidden),
                           "department": lib.layers.Dense(2, activation="tanh", name="d")(hidden)})
    m.set_weights(weights or [RNG.normal(size=np.shape(w)).astype("float32") for w in m.get_weights()])
    m.compile(lib.optimizers.SGD(0.05), loss={"priority": "mse", "department": "mae"},
              loss_weights={"priority": 1.0, "department": 0.3}, metrics={"department": ["mse"]})
    return m


def test_dict_outputs_are_addressed_by_their_keys_as_in_keras():
    theirs = model(keras)
    ours = model(scanfit, theirs.get_weights())
    predictions, expected = ours.predict(X, verbose=0), theirs.predict(X, verbose=0)
    assert sorted(predictions) == sorted(expected) == ["department", "priority"]
    for key in expected:
        np.testing.assert_allclose(predictions[key], expected[key], rtol=1e-5, atol=1e-6)
    history = ours.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    expected_history = theirs.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    assert set(history) == set(expected_history) == {"loss", "priority_loss", "department_loss", "department_mse"}
    for key in expected_history:
        np.testing.assert_allclose(history[key], expected_history[key], rtol=1e-5, err_msg=key)
    results = ours.evaluate(X, Y, verbose=0, return_dict=True)
    for key, value in theirs.evaluate(X, Y, verbose=0, return_dict=True).items():
        np.testing.assert_allclose(results[key], value, rtol=1e-5, err_msg=key)
    called = ours(X)
    assert list(called) == ["priority", "department"] and called["priority"].shape == (32, 2)
