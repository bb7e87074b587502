"""Seed 002's regularized network (L2 weight decay, L1 activity penalty, MaxNorm, Dropout), as written.

The seed's model is built with the same code in Keras 3 and scanfit: from the
same weights on the same batches (no shuffling, no dropout) both report the
same losses (penalties included) and end with the same weights. A run with
Dropout then checks that the seed's full model trains on synthetic binary data.
"""
import keras as keras3
import numpy as np
import pytest

import scanfit as keras

pytestmark = pytest.mark.seed


def seed_model(k, dropout=False):
    """The seed's network, written against either `keras` module (`k`)."""
    regularizers, Dense, Dropout = k.regularizers, k.layers.Dense, k.layers.Dropout
    MaxNorm = k.constraints.MaxNorm
    model = k.Sequential()
    model.add(Dense(30, input_dim=10, activation="relu",
                    kernel_regularizer=regularizers.l2(0.01), activity_regularizer=regularizers.l1(0.01),
                    kernel_constraint=MaxNorm(2.)))
    if dropout:
        model.add(Dropout(0.5))
    model.add(Dense(12, activation="relu",
                    kernel_regularizer=regularizers.l2(0.01), activity_regularizer=regularizers.l1(0.01),
                    kernel_constraint=MaxNorm(2.)))
    if dropout:
        model.add(Dropout(0.5))
    model.add(Dense(8, activation="relu",
                    kernel_regularizer=regularizers.l2(0.01), activity_regularizer=regularizers.l1(0.01),
                    kernel_constraint=MaxNorm(2.)))
    if dropout:
        model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def binary_data(n, seed):
    """10 features; the label depends on a few of them, with some label noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 10)).astype("float32")
    logits = 1.5 * x[:, 0] - 2.0 * x[:, 1] + x[:, 2] * x[:, 3]
    y = (logits + 0.3 * rng.normal(size=n) > 0).astype("float32")
    return x, y


def test_seed_002_penalties_and_constraint_match_keras():
    """Same weights and batches: per-epoch losses (with both penalties) and the MaxNorm-ed weights agree."""
    x, y = binary_data(700, seed=0)
    k_model = seed_model(keras3)
    s_model = seed_model(keras)
    weights = [w * 3.0 if w.ndim == 2 else w for w in k_model.get_weights()]  # start above the MaxNorm limit
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    k_history = k_model.fit(x, y, epochs=8, batch_size=100, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, epochs=8, batch_size=100, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=2e-4)
    np.testing.assert_allclose(s_history.history["accuracy"], k_history.history["accuracy"], atol=1e-6)
    for s_w, k_w in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(s_w, k_w, atol=2e-5, rtol=1e-4)
    for kernel in s_model.get_weights()[0:6:2]:  # the constrained kernels: column norms at most 2
        assert np.linalg.norm(kernel, axis=0).max() <= 2.0 + 1e-5
    k_eval = k_model.evaluate(x, y, verbose=0)
    s_eval = s_model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(s_eval, k_eval, rtol=1e-4)


def test_seed_002_dropout_model_trains_on_binary_data():
    """The seed's last model (Dropout 0.5 after every hidden layer), fit(x, y, epochs=100, batch_size=100)."""
    x, y = binary_data(2000, seed=1)
    x_test, y_test = binary_data(1000, seed=2)
    keras.utils.set_random_seed(0)
    model = seed_model(keras, dropout=True)
    history = model.fit(x, y, epochs=100, batch_size=100, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.8  # the majority class is about 0.5
    first, second = model.predict(x_test, verbose=0), model.predict(x_test, verbose=0)
    np.testing.assert_array_equal(first, second)  # no dropout at inference
