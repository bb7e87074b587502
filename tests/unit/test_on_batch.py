"""`train_on_batch` and `test_on_batch` against Keras 3: one step on the arrays given as one batch."""
import keras
import numpy as np
import pytest

import scanfit


def _pair(metrics=("accuracy",)):
    """The same model, with the same weights, in Keras and in scanfit."""
    models = []
    for library in (keras, scanfit):
        model = library.Sequential([library.Input((4,)), library.layers.Dense(5, activation="relu"),
                                    library.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=library.optimizers.SGD(learning_rate=0.1), loss="sparse_categorical_crossentropy",
                      metrics=list(metrics))
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


def _batches(count, size=16):
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(size, 4)).astype("float32"), rng.integers(0, 3, size)) for _ in range(count)]


def test_train_on_batch_steps_and_reports_as_keras_does():
    theirs, ours = _pair()
    for x, y in _batches(3, size=16) + _batches(1, size=5):  # a batch of another size compiles its own step
        expected = theirs.train_on_batch(x, y)
        np.testing.assert_allclose(ours.train_on_batch(x, y), expected, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x, y = _batches(1)[0]
    weights = np.linspace(0.5, 2.0, len(y)).astype("float32")
    np.testing.assert_allclose(ours.test_on_batch(x, y, sample_weight=weights),
                               theirs.test_on_batch(x, y, sample_weight=weights), rtol=1e-5, atol=1e-6)
    assert ours.train_on_batch(x, y, return_dict=True).keys() == {"loss", "accuracy"}
    assert ours.test_on_batch(x, y, return_dict=True).keys() == {"loss", "accuracy"}


def test_without_metrics_the_loss_alone_is_returned_and_the_history_is_left_alone():
    theirs, ours = _pair(metrics=())
    history = ours.fit(*_batches(1)[0], epochs=2, verbose=0)
    theirs.fit(*_batches(1)[0], epochs=2, verbose=0, shuffle=False, batch_size=32)
    x, y = _batches(2)[1]
    loss = ours.train_on_batch(x, y)
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, theirs.train_on_batch(x, y), rtol=1e-5)
    assert ours.history is history and len(history.history["loss"]) == 2


def test_each_call_draws_new_dropout_masks():
    scanfit.utils.set_random_seed(0)
    model = scanfit.Sequential([scanfit.Input((4,)), scanfit.layers.Dense(16, activation="relu"),
                                scanfit.layers.Dropout(0.5), scanfit.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=scanfit.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    x, y = _batches(1)[0]
    assert len({model.train_on_batch(x, y) for _ in range(3)}) == 3  # the weights stay: only the masks change


def test_what_on_batch_cannot_take_is_a_clear_error():
    _, ours = _pair()
    x, y = _batches(1)[0]
    with pytest.raises(ValueError, match=r"reset_metrics=False\) is not supported"):
        ours.train_on_batch(x, y, reset_metrics=False)
    with pytest.raises(ValueError, match=r"test_on_batch\(reset_metrics=False\)"):
        ours.test_on_batch(x, y, reset_metrics=False)
    with pytest.raises(TypeError, match="takes one batch as arrays"):
        ours.train_on_batch(iter([(x, y)]))
