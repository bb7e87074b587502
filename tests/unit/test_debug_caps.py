"""keras.config.set_max_epochs / set_max_steps_per_epoch (and KERAS_MAX_EPOCHS / KERAS_MAX_STEPS_PER_EPOCH):
every fit, validation, evaluate and predict capped as Keras 3 caps them."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("int32")


@pytest.fixture
def caps():
    for lib in (keras, scanfit):
        lib.config.set_max_epochs(2)
        lib.config.set_max_steps_per_epoch(3)
    yield
    for lib in (keras, scanfit):
        lib.config.set_max_epochs(None)
        lib.config.set_max_steps_per_epoch(None)


def run(lib):
    """The batches each hook saw, the history's length, evaluate's and predict's sizes under the caps."""
    seen = []

    class Count(lib.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("train", batch))

        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test", batch))

        def on_predict_batch_end(self, batch, logs=None):
            seen.append(("predict", batch))

    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    with pytest.warns(UserWarning, match="Limiting epochs to 2"):
        history = model.fit(X, Y, epochs=5, batch_size=10, verbose=0, validation_split=0.2, callbacks=[Count()])
    model.evaluate(X, Y, batch_size=10, verbose=0, callbacks=[Count()])
    predictions = model.predict(X, batch_size=10, verbose=0, callbacks=[Count()])
    return seen, len(history.history["loss"]), predictions.shape


def test_caps_as_keras(caps):
    assert run(scanfit) == run(keras)
    assert scanfit.config.max_epochs() == 2 and scanfit.config.max_steps_per_epoch() == 3
    with pytest.raises(ValueError, match="positive int"):
        scanfit.config.set_max_epochs(0)


def test_caps_come_from_keras_s_environment_variables():
    script = ("import numpy as np, scanfit as keras\n"
              "m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]); m.compile('sgd', 'mse')\n"
              "h = m.fit(np.ones((64, 2)), np.ones(64), epochs=9, batch_size=8, verbose=0)\n"
              "print(len(h.history['loss']), keras.config.max_steps_per_epoch())")
    env = {**os.environ, "KERAS_MAX_EPOCHS": "3", "KERAS_MAX_STEPS_PER_EPOCH": "2"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["3", "2"]
