"""Seed 003's transfer-learning experiment on real Fashion-MNIST, as the seed writes it.

Task A: the 8 classes without sandal (5) and shirt (6); task B: sandal vs shirt
from only 200 training images. Model A is trained, saved to my_model_A.h5 and
loaded back; model_B_on_A reuses all its layers but the output layer, trains
4 epochs with them frozen, then 16 more with them unfrozen. The seed reports
0.9705 test accuracy for model B from scratch and 0.9930 for model_B_on_A
(measured here over five seeds: 0.973-0.981 and 0.9895-0.995).
"""
import keras as keras3
import numpy as np
import pytest

import scanfit as keras

pytestmark = pytest.mark.seed


def split_dataset(X, y):
    """The seed's split, verbatim."""
    y_5_or_6 = (y == 5) | (y == 6)  # sandals or shirts
    y_A = y[~y_5_or_6]
    y_A[y_A > 6] -= 2  # class indices 7, 8, 9 should be moved to 5, 6, 7
    y_B = (y[y_5_or_6] == 6).astype(np.float32)  # binary classification task: is it a shirt (class 6)?
    return ((X[~y_5_or_6], y_A),
            (X[y_5_or_6], y_B))


@pytest.fixture(scope="module")
def tasks():
    (X_train_full, y_train_full), (X_test, y_test) = keras.datasets.fashion_mnist.load_data()
    X_train_full = X_train_full / 255.0
    X_test = X_test / 255.0
    X_valid, X_train = X_train_full[:5000], X_train_full[5000:]
    y_valid, y_train = y_train_full[:5000], y_train_full[5000:]
    (X_train_A, y_train_A), (X_train_B, y_train_B) = split_dataset(X_train, y_train)
    (X_valid_A, y_valid_A), (X_valid_B, y_valid_B) = split_dataset(X_valid, y_valid)
    (X_test_A, y_test_A), (X_test_B, y_test_B) = split_dataset(X_test, y_test)
    X_train_B = X_train_B[:200]
    y_train_B = y_train_B[:200]
    return {
        "A": (X_train_A, y_train_A, X_valid_A, y_valid_A, X_test_A, y_test_A),
        "B": (X_train_B, y_train_B, X_valid_B, y_valid_B, X_test_B, y_test_B),
    }


def dense_stack(output_layer):
    model = keras.models.Sequential()
    model.add(keras.layers.Flatten(input_shape=[28, 28]))
    for n_hidden in (300, 100, 50, 50, 50):
        model.add(keras.layers.Dense(n_hidden, activation="selu"))
    model.add(output_layer)
    return model


def test_seed_003_split_matches_the_seed(tasks):
    X_train_A, y_train_A = tasks["A"][:2]
    X_train_B, y_train_B = tasks["B"][:2]
    assert X_train_A.shape == (43986, 28, 28)  # as the seed prints
    assert X_train_B.shape == (200, 28, 28)
    assert set(np.unique(y_train_A)) == set(range(8))
    assert y_train_B.dtype == np.float32 and set(np.unique(y_train_B)) == {0.0, 1.0}


def test_seed_003_model_B_on_A_beats_model_B_from_scratch(tasks, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X_train_A, y_train_A, X_valid_A, y_valid_A, _, _ = tasks["A"]
    X_train_B, y_train_B, X_valid_B, y_valid_B, X_test_B, y_test_B = tasks["B"]
    keras.utils.set_random_seed(42)

    model_A = dense_stack(keras.layers.Dense(8, activation="softmax"))
    model_A.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3),
                    metrics=["accuracy"])
    history = model_A.fit(X_train_A, y_train_A, epochs=20, validation_data=(X_valid_A, y_valid_A), verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.90  # the seed reports 0.9208
    model_A.save("my_model_A.h5")

    model_B = dense_stack(keras.layers.Dense(1, activation="sigmoid"))
    model_B.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    model_B.fit(X_train_B, y_train_B, epochs=20, validation_data=(X_valid_B, y_valid_B), verbose=0)

    model_A = keras.models.load_model("my_model_A.h5")
    model_B_on_A = keras.models.Sequential(model_A.layers[:-1])
    model_B_on_A.add(keras.layers.Dense(1, activation="sigmoid"))
    assert all(a is b for a, b in zip(model_A.layers[:-1], model_B_on_A.layers[:-1]))  # shared, as the seed says

    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = False
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3),
                         metrics=["accuracy"])
    frozen = [w.copy() for w in model_A.get_weights()[:-2]]
    output_before = [w.copy() for w in model_B_on_A.layers[-1].get_weights()]
    model_B_on_A.fit(X_train_B, y_train_B, epochs=4, validation_data=(X_valid_B, y_valid_B), verbose=0)
    for before, after in zip(frozen, model_B_on_A.get_weights()[:-2], strict=True):
        np.testing.assert_array_equal(after, before)  # bit-identical while frozen
    assert not np.array_equal(model_B_on_A.layers[-1].get_weights()[0], output_before[0])

    for layer in model_B_on_A.layers[:-1]:
        layer.trainable = True
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3),
                         metrics=["accuracy"])
    model_B_on_A.fit(X_train_B, y_train_B, epochs=16, validation_data=(X_valid_B, y_valid_B), verbose=0)
    assert not np.array_equal(model_B_on_A.layers[1].get_weights()[0], frozen[0])  # unfrozen layers moved ...
    np.testing.assert_array_equal(model_A.layers[1].get_weights()[0], model_B_on_A.layers[1].get_weights()[0])

    _, scratch = model_B.evaluate(X_test_B, y_test_B, verbose=0)
    _, transferred = model_B_on_A.evaluate(X_test_B, y_test_B, verbose=0)
    assert scratch >= 0.95  # the seed reports 0.9705
    assert transferred >= 0.98  # the seed reports 0.9930
    assert transferred > scratch


def test_clone_model_with_set_weights_shares_nothing():
    keras.utils.set_random_seed(0)
    model_A = dense_stack(keras.layers.Dense(8, activation="softmax"))
    model_A_clone = keras.models.clone_model(model_A)
    model_A_clone.set_weights(model_A.get_weights())
    assert all(a is not b for a, b in zip(model_A.layers, model_A_clone.layers))
    for a, b in zip(model_A.get_weights(), model_A_clone.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model_B_on_A = keras.models.Sequential(model_A_clone.layers[:-1])
    model_B_on_A.add(keras.layers.Dense(1, activation="sigmoid"))
    model_B_on_A.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=0.1))
    original = [w.copy() for w in model_A.get_weights()]
    x = np.random.default_rng(0).random((64, 28, 28)).astype("float32")
    model_B_on_A.fit(x, (x.mean(axis=(1, 2)) > 0.5).astype("float32"), epochs=2, verbose=0)
    assert not np.array_equal(model_A_clone.get_weights()[0], original[0])
    for before, after in zip(original, model_A.get_weights(), strict=True):
        np.testing.assert_array_equal(after, before)


def _bn_model(k):
    return k.Sequential([
        k.Input(shape=(6,)),
        k.layers.Dense(8, activation="relu"),
        k.layers.BatchNormalization(),
        k.layers.Dense(1, activation="sigmoid"),
    ])


def test_frozen_batch_normalization_runs_in_inference_mode_like_keras():
    """A frozen BN layer keeps its moving statistics and normalizes with them while the rest trains."""
    rng = np.random.default_rng(0)
    x = rng.normal(loc=2.0, size=(128, 6)).astype("float32")
    y = (x[:, 0] > 2.0).astype("float32")
    k_model, s_model = _bn_model(keras3), _bn_model(keras)
    weights = k_model.get_weights()
    weights[4] = rng.normal(size=8).astype("float32")  # moving_mean
    weights[5] = rng.uniform(0.5, 2.0, size=8).astype("float32")  # moving_variance
    k_model.set_weights(weights)
    s_model.set_weights(weights)
    for model in (k_model, s_model):
        model.layers[1].trainable = False
        model.compile(optimizer="adam", loss="binary_crossentropy")
    k_history = k_model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-4)
    bn_after = s_model.layers[1].get_weights()
    for before, after in zip(weights[2:6], bn_after, strict=True):
        np.testing.assert_array_equal(after, before)
    for s_w, k_w in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(s_w, k_w, atol=1e-5, rtol=1e-4)
