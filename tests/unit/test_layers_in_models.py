"""The noise, normalization, reshaping and convolution layers inside Sequential models: fit, Keras, files."""
import keras
import numpy as np
import pytest

import scanfit
from scanfit.layers import lowering

RNG = np.random.default_rng(5)
IMAGES = RNG.normal(size=(64, 6, 6, 2)).astype("float32")
SEQUENCES = RNG.normal(size=(64, 8, 3)).astype("float32")
LABELS = (IMAGES.mean(axis=(1, 2, 3)) > 0).astype("int32") + (IMAGES[:, 0, 0, 0] > 0)


def image_model(k):
    L = k.layers
    return k.Sequential([
        k.Input((6, 6, 2)),
        L.ZeroPadding2D(1),
        L.Conv2D(4, 3, activation="relu"),
        L.GaussianNoise(0.05),
        L.SpatialDropout2D(0.1),
        L.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
        L.SeparableConv2D(6, 3, padding="same", activation="relu"),
        L.LayerNormalization(),
        L.Cropping2D(1),
        L.UpSampling2D(interpolation="bilinear"),
        L.Conv2DTranspose(3, 3, strides=2, padding="same"),
        L.AlphaDropout(0.05),
        L.GaussianDropout(0.05),
        L.GlobalAveragePooling2D(),
        L.Dense(3, activation="softmax"),
    ])


def sequence_model(k):
    L = k.layers
    return k.Sequential([
        k.Input((8, 3)),
        L.ZeroPadding1D((1, 2)),
        L.SpatialDropout1D(0.1),
        L.UpSampling1D(2),
        L.Cropping1D((2, 1)),
        L.Lambda(lambda x: x * 0.5),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])


@pytest.mark.parametrize("make,x,lowering_name", [
    (image_model, IMAGES, "patches"), (image_model, IMAGES, "xla"), (sequence_model, SEQUENCES, "patches"),
], ids=["images_patches", "images_xla", "sequences"])
def test_fit_lowers_the_loss_and_inference_matches_keras(make, x, lowering_name, monkeypatch):
    monkeypatch.setenv(lowering.ENV_VAR, lowering_name)
    keras.utils.set_random_seed(0)  # both seeded: unseeded, about 1 run in 12 fell by less than 20%
    scanfit.utils.set_random_seed(0)
    s_model, k_model = make(scanfit), make(keras)
    s_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
    s_model.compile(optimizer=scanfit.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = s_model.fit(x, LABELS, batch_size=16, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]


def test_model_files_round_trip_here_and_with_keras(tmp_path):
    model = image_model(scanfit)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.set_weights([RNG.normal(size=w.shape).astype("float32") * 0.3 for w in model.get_weights()])
    expected = model.predict(IMAGES, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = scanfit.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert [layer.get_config() for layer in loaded.layers] == [layer.get_config() for layer in model.layers]
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), expected, atol=1e-6)
    in_keras = keras.models.load_model(path)
    np.testing.assert_allclose(in_keras.predict(IMAGES, verbose=0), expected, atol=1e-5)
    keras_path = str(tmp_path / "k.keras")
    in_keras.save(keras_path)
    np.testing.assert_allclose(scanfit.models.load_model(keras_path).predict(IMAGES, verbose=0), expected, atol=1e-5)
    h5_path = str(tmp_path / "m.h5")
    model.save(h5_path)
    np.testing.assert_allclose(scanfit.models.load_model(h5_path).predict(IMAGES, verbose=0), expected, atol=1e-6)
