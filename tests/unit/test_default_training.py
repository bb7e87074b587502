"""A call on arrays with no `training` runs each layer in its own default mode, as Keras 3 does: augmentation
layers augment (Chollet's `data_augmentation(images)` shown nine times), Dropout and BatchNormalization infer."""
import keras
import numpy as np
import pytest

import scanfit

X = np.arange(4 * 6 * 6 * 1, dtype="float32").reshape(4, 6, 6, 1) / 100.0


def changes(call, times=6):
    """How many of `times` calls changed X."""
    return sum(not np.allclose(np.asarray(call()), X) for _ in range(times))


def augmentation(lib):
    return lib.Sequential([lib.layers.RandomFlip("horizontal"), lib.layers.RandomRotation(0.2)])


@pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])
def test_augmentation_called_on_arrays_augments(lib):
    aug = augmentation(lib)
    assert changes(lambda: aug(X)) >= 5
    outputs = [np.asarray(aug(X)) for _ in range(3)]
    assert not np.allclose(outputs[0], outputs[1]) or not np.allclose(outputs[1], outputs[2])
    assert changes(lambda: aug(X, training=False)) == 0
    assert changes(lambda: aug.predict(X, verbose=0), times=2) == 0
    flip = lib.layers.RandomFlip("horizontal")
    assert changes(lambda: flip(X)) >= 3
    crop = lib.layers.RandomCrop(4, 4)
    crops = [np.asarray(crop(X)) for _ in range(6)]
    assert all(c.shape == (4, 4, 4, 1) for c in crops) and len({c.tobytes() for c in crops}) > 1


@pytest.mark.parametrize("lib", [keras, scanfit], ids=["keras", "scanfit"])
def test_dropout_and_batch_normalization_infer_by_default(lib):
    model = lib.Sequential([lib.Input((6, 6, 1)), lib.layers.RandomFlip("vertical"), lib.layers.Dropout(0.5),
                            lib.layers.BatchNormalization()])
    before = [np.asarray(w) for w in model.get_weights()]
    outputs = [np.asarray(model(X)) for _ in range(6)]
    expected = X / np.sqrt(1 + 1e-3)  # no dropout, BatchNormalization with its moving statistics
    assert all(np.allclose(o[i], expected[i], atol=1e-6) or np.allclose(o[i], expected[i, ::-1], atol=1e-6)
               for o in outputs for i in range(len(X)))  # each image flipped or not
    assert not all(np.allclose(o, outputs[0]) for o in outputs)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))  # moving statistics untouched


def test_a_layer_whose_call_defaults_to_training_trains_when_called():
    for lib in (keras, scanfit):
        class Noisy(lib.layers.Layer):
            def call(self, x, training=True):
                return x + 1.0 if training else x

        class Plain(lib.layers.Layer):
            def call(self, x, training=None):
                return x + 1.0 if training else x
        np.testing.assert_allclose(Noisy()(X), X + 1.0)
        np.testing.assert_allclose(Noisy()(X, training=False), X)
        np.testing.assert_allclose(Plain()(X), X)
        inputs = lib.Input((6, 6, 1))
        model = lib.Model(inputs, Noisy()(inputs))
        np.testing.assert_allclose(model(X), X + 1.0)
        np.testing.assert_allclose(model.predict(X, verbose=0), X)


def test_a_subclassed_model_called_without_training_gets_none():
    """Its call gets training=None; handed on explicitly (``self.flip(x, training=training)``) that None means
    inference, while a layer called without `training` keeps its own default, as in Keras."""
    for lib in (keras, scanfit):
        seen = []

        class Net(lib.Model):
            def __init__(self, hand_on):
                super().__init__()
                self.flip, self.hand_on = lib.layers.RandomFlip("horizontal"), hand_on

            def call(self, x, training=None):
                seen.append(training)
                return self.flip(x, training=training) if self.hand_on else self.flip(x)
        handing_on, leaving_out = Net(True), Net(False)
        assert changes(lambda: handing_on(X)) == 0
        assert changes(lambda: leaving_out(X)) >= 3
        assert changes(lambda: leaving_out(X, training=False)) == 0
        assert changes(lambda: handing_on(X, training=True)) >= 3
        assert None in seen and False in seen
