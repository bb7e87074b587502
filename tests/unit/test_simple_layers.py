"""Identity, Rescaling, RepeatVector, Permute, UnitNormalization and ActivityRegularization against Keras 3
(outputs, gradients, shapes and the added loss), and RandomFlip's flips."""
import keras
import numpy as np
import pytest

import scanfit
from tests.unit.layer_oracle import compare_with_keras

RNG = np.random.default_rng(21)


@pytest.mark.parametrize("make, shape", [
    (lambda L: L.Identity(), (4, 3, 2)),
    (lambda L: L.Rescaling(1.0 / 255), (4, 5, 5, 3)),
    (lambda L: L.Rescaling(2.0, offset=-1.0), (4, 6)),
    (lambda L: L.Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.0, -0.2]), (4, 5, 5, 3)),  # one per channel
    (lambda L: L.RepeatVector(3), (4, 5)),
    (lambda L: L.Permute((2, 1)), (4, 3, 5)),
    (lambda L: L.Permute((3, 1, 2)), (2, 3, 4, 5)),
    (lambda L: L.UnitNormalization(), (4, 6)),
    (lambda L: L.UnitNormalization(axis=[1, 2]), (4, 3, 5)),
])
def test_outputs_and_gradients_equal_keras(make, shape, monkeypatch):
    compare_with_keras(make, shape, monkeypatch)


def test_activity_regularization_adds_keras_loss():
    x = RNG.normal(size=(64, 4)).astype("float32")
    y = RNG.normal(size=(64, 1)).astype("float32")
    histories = []
    for K in (keras, scanfit):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(3), K.layers.ActivityRegularization(l1=0.01, l2=0.1),
                              K.layers.Dense(1)])
        model.set_weights([np.full(w.shape, 0.3, "float32") for w in model.get_weights()])
        model.compile(K.optimizers.SGD(0.05), "mse")
        histories.append(model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history)
        histories.append(model.evaluate(x, y, verbose=0))
    np.testing.assert_allclose(histories[2]["loss"], histories[0]["loss"], rtol=1e-5)
    np.testing.assert_allclose(histories[3], histories[1], rtol=1e-5)


def test_random_flip_flips_whole_images_while_training_only():
    images = RNG.normal(size=(400, 4, 5, 2)).astype("float32")
    layer = scanfit.layers.RandomFlip("horizontal")
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    flipped = np.asarray(layer(images, training=True))
    mirrored = [np.array_equal(out, img[:, ::-1]) for out, img in zip(flipped, images)]
    kept = [np.array_equal(out, img) for out, img in zip(flipped, images)]
    assert all(m or k for m, k in zip(mirrored, kept)) and 0.4 < np.mean(mirrored) < 0.6
    both = np.asarray(scanfit.layers.RandomFlip()(images, training=True))
    kinds = [next(i for i, f in enumerate((lambda a: a, lambda a: a[::-1], lambda a: a[:, ::-1],
                                            lambda a: a[::-1, ::-1])) if np.array_equal(out, f(img)))
             for out, img in zip(both, images)]
    assert set(kinds) == {0, 1, 2, 3} and all(60 < kinds.count(k) < 140 for k in range(4))
    with pytest.raises(ValueError, match="mode"):
        scanfit.layers.RandomFlip("diagonal")


def test_augmentation_model_trains_and_predicts_deterministically():
    model = scanfit.Sequential([scanfit.Input((4, 4, 1)), scanfit.layers.Rescaling(1.0 / 255),
                                scanfit.layers.RandomFlip("horizontal"), scanfit.layers.Flatten(),
                                scanfit.layers.Dense(2, activation="softmax")])
    x = RNG.integers(0, 256, size=(32, 4, 4, 1)).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, RNG.integers(0, 2, size=32), epochs=2, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
