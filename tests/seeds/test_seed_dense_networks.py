"""The seeds' dense-network experiments on real Fashion-MNIST, with `import scanfit as keras`.

Each test runs the seed's code as written (only the import changed; sklearn's
train_test_split replaced by scanfit's) and checks that the result lands in
the range the seed document reports.
"""
import numpy as np
import pytest

import scanfit as keras

pytestmark = pytest.mark.seed


@pytest.fixture(scope="module")
def fashion():
    (train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
    return train_input, train_target, test_input, test_target


@pytest.fixture(scope="module")
def seed000_data(fashion):
    train_input, train_target, _, _ = fashion
    train_scaled = train_input / 255.0
    return keras.utils.train_test_split(train_scaled, train_target, test_size=0.2, seed=42)


def model_fn(a_layer=None):
    model = keras.Sequential()
    model.add(keras.layers.Flatten(input_shape=(28, 28)))
    model.add(keras.layers.Dense(100, activation="relu"))
    if a_layer:
        model.add(a_layer)
    model.add(keras.layers.Dense(10, activation="softmax"))
    return model


def test_seed_000_rmsprop_mlp_learning_curve(seed000_data):
    """Seed 000: model_fn(), RMSprop defaults, 10 epochs: val_accuracy ~0.87-0.88 (reported 0.8708-0.8838)."""
    train_scaled, val_scaled, train_target, val_target = seed000_data
    keras.utils.set_random_seed(42)
    model = model_fn()
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=10, verbose=0, validation_data=(val_scaled, val_target))
    assert list(history.history.keys()) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert 0.85 <= history.history["val_accuracy"][-1] <= 0.90
    assert 0.86 <= max(history.history["val_accuracy"]) <= 0.90
    assert 0.25 <= history.history["loss"][-1] <= 0.31  # reported 0.2745
    assert history.history["loss"][0] > history.history["loss"][-1]


def test_seed_000_adam_dropout_reaches_the_reported_accuracy(seed000_data):
    """Seed 000: Adam + Dropout(0.3), 20 epochs: val_accuracy at least 0.87 (reported 0.8881)."""
    train_scaled, val_scaled, train_target, val_target = seed000_data
    keras.utils.set_random_seed(0)
    model = model_fn(keras.layers.Dropout(0.3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=20, verbose=0, validation_data=(val_scaled, val_target))
    assert history.history["val_accuracy"][-1] >= 0.87
    assert min(history.history["val_loss"]) <= 0.34  # reported minimum 0.3184
    val_labels = np.argmax(model.predict(val_scaled, verbose=0), axis=-1)
    assert np.mean(val_labels == val_target) == pytest.approx(history.history["val_accuracy"][-1], abs=1e-4)


def test_seed_001_single_dense_layer(fashion):
    """Seed 001: keras.Sequential(dense) with one Dense(10, softmax), 5 epochs: val accuracy ~0.847."""
    train_input, train_target, _, _ = fashion
    train_scaled = (train_input / 255.0).reshape(-1, 28 * 28)
    train_scaled, val_scaled, train_target, val_target = keras.utils.train_test_split(
        train_scaled, train_target, test_size=0.2, seed=42)
    keras.utils.set_random_seed(1)
    dense = keras.layers.Dense(10, activation="softmax", input_shape=(784,))
    model = keras.Sequential(dense)
    model.compile(loss="sparse_categorical_crossentropy", metrics="accuracy")
    history = model.fit(train_scaled, train_target, epochs=5, verbose=0)
    assert 0.84 <= history.history["accuracy"][-1] <= 0.87  # reported 0.8549
    loss, accuracy = model.evaluate(val_scaled, val_target, verbose=0)
    assert 0.83 <= accuracy <= 0.87  # reported 0.8469


@pytest.fixture(scope="module")
def seed003_data(fashion):
    X_train_full, y_train_full, X_test, y_test = fashion
    X_train_full = X_train_full / 255.0
    X_test = X_test / 255.0
    return X_train_full[5000:], y_train_full[5000:], X_train_full[:5000], y_train_full[:5000], X_test, y_test


def test_seed_003_leaky_relu_he_normal_sgd(seed003_data):
    """Seed 003: LeakyReLU + he_normal, SGD(lr=1e-3), 10 epochs: val 0.8394, test 0.8241 reported."""
    X_train, y_train, X_valid, y_valid, X_test, y_test = seed003_data
    keras.utils.set_random_seed(42)
    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.Dense(300, kernel_initializer="he_normal"),
        keras.layers.LeakyReLU(),
        keras.layers.Dense(100, kernel_initializer="he_normal"),
        keras.layers.LeakyReLU(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=10, validation_data=(X_valid, y_valid), verbose=0)
    assert 0.81 <= history.history["val_accuracy"][-1] <= 0.86
    assert 0.45 <= history.history["val_loss"][-1] <= 0.52  # reported 0.4816
    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    assert 0.80 <= accuracy <= 0.85


def test_seed_003_batch_normalization_model(seed003_data):
    """Seed 003: BatchNormalization after activations, SGD(lr=1e-3), 10 epochs: val 0.8664 reported."""
    X_train, y_train, X_valid, y_valid, X_test, y_test = seed003_data
    keras.utils.set_random_seed(42)
    model = keras.models.Sequential([
        keras.layers.Flatten(input_shape=[28, 28]),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(300, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[-4:-1] == ["Total params: 271,346", "Trainable params: 268,978", "Non-trainable params: 2,368"]
    bn1 = model.layers[1]
    # The seed (tf.keras 2) printed 'batch_normalization/gamma:0'; Keras 3's name is 'gamma' and its path the
    # rest, under the Sequential's name ('sequential/batch_normalization/gamma').
    assert [(var.name, var.trainable) for var in bn1.variables] == [
        ("gamma", True), ("beta", True), ("moving_mean", False), ("moving_variance", False)]
    assert [var.path for var in bn1.variables] == [f"{model.name}/{bn1.name}/{name}" for name in
                                                   ("gamma", "beta", "moving_mean", "moving_variance")]
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.SGD(lr=1e-3), metrics=["accuracy"])
    history = model.fit(X_train, y_train, epochs=10, validation_data=(X_valid, y_valid), verbose=0)
    assert 0.85 <= history.history["val_accuracy"][-1] <= 0.89
    loss, accuracy = model.evaluate(X_test, y_test, verbose=0)
    assert 0.84 <= accuracy <= 0.88  # reported 0.8568
