"""fit/evaluate/predict/compile arguments honoured as Keras 3 does (checked against it), or refused clearly."""
import warnings

import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(100, 4)).astype("float32")
Y = RNG.integers(0, 3, size=(100,))
XV, YV = X[:45], Y[:45]


def twins(optimizer="sgd"):
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    s_model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(3, activation="softmax")])
    s_model.set_weights(k_model.get_weights())
    for model in (k_model, s_model):
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return k_model, s_model


def assert_same(k_model, s_model, k_hist, s_hist):
    assert set(s_hist) == set(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(s_hist[key], k_hist[key], rtol=1e-5, atol=1e-6, err_msg=key)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps_per_epoch", [2, 3, 7, 9])
def test_steps_per_epoch_validation_steps_and_freq_match_keras(steps_per_epoch):
    """7 batches a pass: 3 steps an epoch gives 3, 3, 1 (the pass ends), 3, ...; 9 stops at the pass's end."""
    k_model, s_model = twins()
    kwargs = dict(epochs=5, batch_size=16, steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0,
                  validation_data=(XV, YV), validation_steps=2, validation_freq=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k_hist = k_model.fit(X, Y, **kwargs).history
        s_hist = s_model.fit(X, Y, **kwargs).history
    assert len(s_hist["val_loss"]) == 2 and len(s_hist["loss"]) == 5
    assert_same(k_model, s_model, k_hist, s_hist)


def test_steps_per_epoch_counts_steps_for_callbacks():
    seen = []
    _, model = twins()
    model.fit(X, Y, epochs=2, batch_size=16, steps_per_epoch=2, verbose=0,
              callbacks=scanfit.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch)))
    assert seen == [0, 1, 0, 1]
    assert model.optimizer.iterations == 4


def test_validation_freq_as_a_list_of_epochs():
    k_model, s_model = twins()
    kwargs = dict(epochs=4, batch_size=16, shuffle=False, verbose=0, validation_data=(XV, YV), validation_freq=[1, 4])
    assert_same(k_model, s_model, k_model.fit(X, Y, **kwargs).history, s_model.fit(X, Y, **kwargs).history)


def test_evaluate_and_predict_with_steps_match_keras():
    k_model, s_model = twins()
    np.testing.assert_allclose(s_model.evaluate(X, Y, batch_size=16, steps=2, verbose=0),
                               k_model.evaluate(X, Y, batch_size=16, steps=2, verbose=0), rtol=1e-6)
    s_pred = s_model.predict(X, batch_size=16, steps=3, verbose=0)
    np.testing.assert_allclose(s_pred, k_model.predict(X, batch_size=16, steps=3, verbose=0), rtol=1e-5, atol=1e-6)
    assert s_pred.shape == (48, 3)


def test_a_learning_rate_set_in_a_batch_hook_takes_effect_at_the_next_step():
    """tf.keras 2's K.set_value(self.model.optimizer.lr, ...) and Keras 3's assignment, both per batch."""

    def schedule(library):
        class OneCycle(library.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                rate = [0.5, 0.0, 0.2, 0.0, 1.0, 0.05, 0.3][batch]
                if library is keras:
                    self.model.optimizer.learning_rate = rate
                else:
                    library.backend.set_value(self.model.optimizer.lr, rate)

        return OneCycle()

    k_model, s_model = twins()
    kwargs = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    k_hist = k_model.fit(X, Y, callbacks=[schedule(keras)], **kwargs).history
    s_hist = s_model.fit(X, Y, callbacks=[schedule(scanfit)], **kwargs).history
    assert_same(k_model, s_model, k_hist, s_hist)


def test_a_zero_learning_rate_from_the_first_batch_leaves_the_weights_alone():
    _, model = twins()
    before = model.get_weights()

    class Freeze(scanfit.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.model.optimizer.learning_rate = 0.0

    model.fit(X, Y, epochs=1, batch_size=16, verbose=0, callbacks=[Freeze()])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_are_clear_errors():
    _, model = twins()
    cases = [
        (dict(validation_data=(XV, YV), validation_freq=0), ValueError, "validation_freq"),
        (dict(validation_data=(XV, YV), validation_freq=[0, 2]), ValueError, "validation_freq"),
        (dict(steps_per_epoch=0), ValueError, "steps_per_epoch"),
        (dict(validation_data=(XV, YV), validation_steps=-1), ValueError, "validation_steps"),
        (dict(callbacks=[object()]), TypeError, "keras.callbacks.Callback"),
        (dict(callbacks="early"), TypeError, "callbacks"),
        (dict(shuffle="batch"), ValueError, "shuffle"),
        (dict(steps_per_epoch=2, callbacks=[scanfit.callbacks.BackupAndRestore("/tmp/unused-backup")]), ValueError,
         "BackupAndRestore"),
    ]
    for kwargs, error, word in cases:
        with pytest.raises(error, match=word):
            model.fit(X, Y, verbose=0, **kwargs)
    with pytest.raises(ValueError, match="steps"):
        model.evaluate(X, Y, steps=0, verbose=0)
    with pytest.raises(ValueError, match="steps"):
        model.predict(X, steps=1.5, verbose=0)
    for kwargs, word in ((dict(run_eagerly=True), "run_eagerly"), (dict(jit_compile=False), "jit_compile"),
                         (dict(steps_per_execution=0), "steps_per_execution")):
        with pytest.raises(ValueError, match=word):
            model.compile("sgd", "mse", **kwargs)
    model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=100, jit_compile=True)
    assert model.fit(X, Y, verbose=0, epochs=1).history["loss"]
