"""`keras.backend` (tf.keras 2's `K`) and `keras.config`: session reset, settings, set_value/get_value, int_shape."""
import copy
import pickle

import keras
import numpy as np
import pytest

import scanfit
from scanfit import backend as K

X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
Y = X @ np.array([[1.0], [-2.0], [0.5]], "float32")


@pytest.fixture
def default_epsilon():
    yield
    keras.config.set_epsilon(1e-7)
    scanfit.config.set_epsilon(1e-7)


def small_model(optimizer="sgd"):
    model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_clear_session_restarts_automatic_names_as_keras():
    names = []
    for library in (keras, scanfit):
        library.backend.clear_session()
        before = [library.layers.Dense(2).name, library.layers.Dense(2).name, library.optimizers.Adam().name,
                  library.Sequential().name]
        library.backend.clear_session()
        after = [library.layers.Dense(2).name, library.optimizers.Adam().name, library.Sequential().name]
        names.append((before, after))
    assert names[1] == names[0] == (["dense", "dense_1", "adam", "sequential"], ["dense", "adam", "sequential"])
    assert scanfit.utils.clear_session is K.clear_session  # also keras.utils.clear_session, as in Keras 3


def test_clear_session_after_set_random_seed_stays_repeatable():
    """clear_session starts a new key stream from Python's seeded RNG, so seeded runs repeat and differ by seed."""
    runs = []
    for seed in (1, 1, 2):
        scanfit.utils.set_random_seed(seed)
        K.clear_session()
        model = small_model()
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0)
        runs.append((model.layers[0].name, model.get_weights()))
    assert runs[0][0] == runs[1][0] == "dense"
    for first, again in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(first, again)
    assert not np.array_equal(runs[0][1][0], runs[2][1][0])
    scanfit.utils.set_random_seed(1)
    without_clear = small_model().get_weights()
    scanfit.utils.set_random_seed(1)
    K.clear_session()
    with_clear = small_model().get_weights()
    assert not np.array_equal(without_clear[0], with_clear[0])  # a new stream, as Keras's new seed generator


def test_settings_are_keras_defaults_and_unsupported_values_are_refused():
    for name in ("floatx", "epsilon", "image_data_format"):
        assert getattr(K, name)() == getattr(keras.backend, name)() == getattr(scanfit.config, name)()
    K.set_floatx("float32")
    K.set_image_data_format("channels_last")
    with pytest.raises(ValueError, match=r"set_floatx\('float64'\) is not supported: scanfit .* float32 only"):
        K.set_floatx("float64")
    for library in (keras, scanfit):
        with pytest.raises(ValueError, match="Unknown `floatx` value: 'bogus'|Unknown `floatx` value: bogus"):
            library.backend.set_floatx("bogus")
        with pytest.raises(ValueError, match="must be one of"):
            library.backend.set_image_data_format("bogus")
    with pytest.raises(ValueError, match=r"channels_first.*not supported.*data_format='channels_first' to each"):
        K.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="positive"):
        K.set_epsilon(0.0)
    with pytest.raises(TypeError, match="epsilon"):
        K.set_epsilon("small")
    assert K.floatx() == "float32" and K.image_data_format() == "channels_last" and K.epsilon() == 1e-7


@pytest.mark.parametrize("loss", ["binary_crossentropy", "categorical_crossentropy", "kl_divergence",
                                  "mean_absolute_percentage_error", "poisson"])
def test_set_epsilon_changes_the_losses_as_in_keras(default_epsilon, loss):
    y_true = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], "float32")
    y_pred = np.array([[0.0, 1.0, 0.0], [0.2, 0.0, 0.8]], "float32")
    values = {}
    for epsilon in (1e-7, 1e-2):
        for library in (keras, scanfit):
            library.config.set_epsilon(epsilon)
            assert library.backend.epsilon() == epsilon
            values[library.__name__, epsilon] = np.asarray(library.losses.get(loss)(y_true, y_pred))
    for epsilon in (1e-7, 1e-2):
        np.testing.assert_allclose(values["scanfit", epsilon], values["keras", epsilon], rtol=1e-5, atol=1e-6)
    assert not np.allclose(values["scanfit", 1e-7], values["scanfit", 1e-2])


def test_set_epsilon_reaches_a_compiled_fit(default_epsilon):
    histories = []
    for epsilon in (1e-7, 0.1):
        K.set_epsilon(epsilon)
        scanfit.utils.set_random_seed(0)
        model = scanfit.Sequential([scanfit.Input((3,)), scanfit.layers.Dense(1, activation="sigmoid",
                                                                               kernel_initializer="ones")])
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        histories.append(model.fit(X * 100, (Y < 0).astype("float32"), epochs=1, verbose=0).history["loss"][0])
    assert histories[1] < histories[0] / 3  # saturated sigmoids: the clip at epsilon bounds each sample's loss


def test_set_value_on_the_learning_rate_is_tf_keras_2s_idiom_and_trains_at_that_rate():
    model = small_model(scanfit.optimizers.SGD(learning_rate=0.1))
    optimizer = model.optimizer
    assert optimizer.lr == optimizer.learning_rate == pytest.approx(0.1)
    assert K.get_value(optimizer.lr) == np.float32(0.1) and K.get_value(optimizer.lr).dtype == np.float32
    seen = []

    def freeze_second_epoch(epoch, logs):
        K.set_value(model.optimizer.lr, 0.0 if epoch == 1 else 0.05)
        seen.append(float(K.get_value(model.optimizer.learning_rate)))

    weights = []
    callbacks = [scanfit.callbacks.LambdaCallback(on_epoch_begin=freeze_second_epoch,
                                                  on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))]
    model.fit(X, Y, epochs=3, batch_size=8, verbose=0, callbacks=callbacks)
    assert seen == [pytest.approx(0.05), 0.0, pytest.approx(0.05)]
    for before, during in zip(weights[0], weights[1]):
        np.testing.assert_array_equal(before, during)  # learning rate 0: nothing moved
    assert not np.array_equal(weights[1][0], weights[2][0])


def test_learning_rate_reads_as_a_float_and_assigns_like_a_keras_variable():
    optimizer = scanfit.optimizers.Adam(learning_rate=0.01)
    rate = optimizer.learning_rate
    assert isinstance(rate, float) and rate * 2 == pytest.approx(0.02) and f"{rate:.3f}" == "0.010"
    rate.assign(0.5)  # Keras 3's optimizer.learning_rate.assign(...)
    assert optimizer.learning_rate == 0.5 and rate.numpy() == np.float32(0.5)
    optimizer.lr = 0.25  # tf.keras 2's alias, readable and assignable
    assert optimizer.learning_rate == 0.25 and K.get_value(optimizer.lr) == np.float32(0.25)
    assert type(copy.deepcopy(rate)) is float and type(pickle.loads(pickle.dumps(rate))) is float


def test_set_value_and_get_value_on_layer_weights_and_values():
    model = small_model()
    kernel = model.weights[0]
    K.set_value(kernel, np.full((3, 1), 2.0))
    np.testing.assert_array_equal(model.get_weights()[0], np.full((3, 1), 2.0, "float32"))
    np.testing.assert_array_equal(K.get_value(kernel), np.full((3, 1), 2.0, "float32"))
    assert K.get_value(3.5) == 3.5
    with pytest.raises(TypeError, match=r"set_value needs a variable .* got float"):
        K.set_value(0.1, 0.2)
    momentum = scanfit.optimizers.SGD(momentum=0.9)
    with pytest.raises(TypeError, match="create the optimizer with the new value"):
        K.set_value(momentum.momentum, 0.5)
    scheduled = scanfit.optimizers.SGD(learning_rate=scanfit.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5))
    with pytest.raises(TypeError, match="learning-rate schedule"):
        K.set_value(scheduled.lr, 0.5)


def test_int_shape():
    assert K.int_shape(np.zeros((2, 3))) == (2, 3)
    assert K.int_shape(scanfit.Input((28, 28))) == (None, 28, 28)
    assert K.int_shape(small_model().weights[0]) == (3, 1)
    assert K.int_shape(2.0) == ()
    with pytest.raises(TypeError, match="int_shape needs"):
        K.int_shape("abc")
