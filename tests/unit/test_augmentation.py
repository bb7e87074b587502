"""Image augmentation layers against Keras 3: for the random parameters Keras draws (angle, zooms, shifts,
contrast factors), scanfit's transform gives Keras's images, under every fill mode and interpolation; the
layers draw within their ranges while training and are the identity at inference."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import assert_config_equals_keras
from scanfit.layers import augmentation

RNG = np.random.default_rng(30)
IMAGES = RNG.uniform(0, 255, size=(6, 9, 7, 2)).astype("float32")


def keras_images(layer, images):
    transformation = layer.get_random_transformation(images, training=True)
    return np.asarray(layer.transform_images(images, transformation, training=True)), transformation


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation_zoom_and_translation_move_pixels_as_keras(fill_mode, interpolation):
    options = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 7.0}
    height, width = IMAGES.shape[1:3]

    expected, t = keras_images(keras.layers.RandomRotation(0.2, **options), IMAGES)
    got = augmentation.affine_transform(IMAGES, augmentation.rotation_transforms(np.asarray(t["angle"]), height,
                                                                                 width), interpolation, fill_mode, 7.0)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-3)

    expected, t = keras_images(keras.layers.RandomZoom((-0.4, 0.3), width_factor=0.5, **options), IMAGES)
    transforms = augmentation.zoom_transforms(np.asarray(t["width_zoom"])[:, 0], np.asarray(t["height_zoom"])[:, 0],
                                              height, width)
    got = augmentation.affine_transform(IMAGES, transforms, interpolation, fill_mode, 7.0)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-3)

    expected, t = keras_images(keras.layers.RandomTranslation(0.3, (-0.2, 0.4), **options), IMAGES)
    shifts = np.asarray(t["translations"])
    got = augmentation.affine_transform(IMAGES, augmentation.translation_transforms(shifts[:, 0], shifts[:, 1]),
                                        interpolation, fill_mode, 7.0)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-3)


def test_contrast_equals_keras_for_its_factors():
    expected, t = keras_images(keras.layers.RandomContrast((0.3, 0.6), value_range=(0, 200)), IMAGES)
    got = augmentation.adjust_contrast(IMAGES, np.asarray(t["contrast_factor"]).reshape(-1), (0, 200))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("factor, value_range", [(0.3, (0, 255)), ((-0.5, 0.2), (0, 200)), (0.9, (255, 0))])
def test_brightness_equals_keras_for_its_deltas(factor, value_range):
    layer = keras.layers.RandomBrightness(factor, value_range=value_range)
    expected, t = keras_images(layer, IMAGES)
    got = augmentation.adjust_brightness(IMAGES, np.asarray(t["rgb_delta"]).reshape(-1), sorted(value_range))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6, atol=1e-4)
    ours = scanfit.layers.RandomBrightness(factor, value_range=value_range)
    np.testing.assert_array_equal(np.asarray(ours(IMAGES, training=False)), IMAGES)  # the identity at inference
    shifted = np.asarray(ours(IMAGES, training=True)) - IMAGES
    width = abs(value_range[1] - value_range[0])
    unclipped = (np.asarray(ours(IMAGES, training=True)) > min(value_range)) & (IMAGES > min(value_range))
    assert np.all(shifted[unclipped] >= ours.factor[0] * width - 1e-3)


@pytest.mark.parametrize("make", [
    lambda L: L.RandomBrightness(0.2),
    lambda L: L.RandomBrightness((-0.1, 0.3), value_range=(0, 1), seed=4),
    lambda L: L.RandomRotation(0.1),
    lambda L: L.RandomRotation((-0.2, 0.3), fill_mode="constant", fill_value=1.0, interpolation="nearest", seed=3),
    lambda L: L.RandomZoom(0.2),
    lambda L: L.RandomZoom((-0.3, 0.1), width_factor=0.2, fill_mode="wrap"),
    lambda L: L.RandomTranslation(0.1, 0.2, data_format="channels_first"),
    lambda L: L.RandomContrast(0.5),
    lambda L: L.RandomContrast((0.1, 0.4), value_range=(0, 1), seed=2),
    lambda L: L.RandomFlip("vertical"),
    lambda L: L.RandomCrop(4, 5, seed=3),
    lambda L: L.RandomCrop(6, 6, seed=1, data_format="channels_first"),  # (seed=None: Keras writes a drawn one)
])
def test_configs_equal_keras(make):
    assert_config_equals_keras(make)


def test_layers_draw_within_their_ranges_while_training_only():
    images = np.zeros((200, 5, 5, 1), "float32")
    images[:, 2, 3, 0] = 1.0  # one bright pixel right of the centre
    rotate = scanfit.layers.RandomRotation((0.25, 0.25), interpolation="nearest", fill_mode="constant")
    np.testing.assert_array_equal(np.asarray(rotate(images, training=False)), images)
    turned = np.asarray(rotate(images, training=True))
    assert np.all(turned[:, 1, 2, 0] == 1.0)  # a quarter turn counterclockwise on screen moves it up
    shift = scanfit.layers.RandomTranslation((0.2, 0.2), (-0.2, -0.2), interpolation="nearest",
                                             fill_mode="constant")
    assert np.all(np.asarray(shift(images, training=True))[:, 3, 2, 0] == 1.0)  # one row down, one column left
    contrast = scanfit.layers.RandomContrast(0.5)
    x = RNG.uniform(50, 150, size=(300, 4, 4, 1)).astype("float32")
    out = np.asarray(contrast(x, training=True))
    spread = out.std(axis=(1, 2, 3)) / x.std(axis=(1, 2, 3))
    assert spread.min() >= 1.0 - 1e-4 and spread.max() <= 1.5 + 1e-4 and spread.std() > 0.1
    zoom = scanfit.layers.RandomZoom(0.5, data_format="channels_first")
    first = np.asarray(zoom(x.transpose(0, 3, 1, 2), training=True))
    assert first.shape == (300, 1, 4, 4) and not np.allclose(first, x.transpose(0, 3, 1, 2))


def test_an_augmented_cnn_trains_and_predicts_deterministically():
    data_augmentation = scanfit.Sequential([scanfit.layers.RandomFlip("horizontal"),
                                            scanfit.layers.RandomRotation(0.1), scanfit.layers.RandomZoom(0.2),
                                            scanfit.layers.RandomTranslation(0.1, 0.1),
                                            scanfit.layers.RandomContrast(0.2)])
    inputs = scanfit.Input((8, 8, 1))
    x = scanfit.layers.Rescaling(1.0 / 255)(data_augmentation(inputs))
    x = scanfit.layers.Conv2D(4, 3, activation="relu")(x)
    outputs = scanfit.layers.Dense(2, activation="softmax")(scanfit.layers.GlobalAveragePooling2D()(x))
    model = scanfit.Model(inputs, outputs)
    images = RNG.uniform(0, 255, size=(48, 8, 8, 1)).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images, RNG.integers(0, 2, size=48), epochs=2, batch_size=16, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="fill_mode"):
        scanfit.layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation"):
        scanfit.layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"factor must lie in \[-1, 1\]"):
        scanfit.layers.RandomRotation(1.5)
    with pytest.raises(ValueError, match="number or a pair"):
        scanfit.layers.RandomTranslation("a lot", 0.1)


@pytest.mark.parametrize("make", [
    lambda L: L.Resizing(5, 4),
    lambda L: L.Resizing(12, 10, interpolation="nearest"),
    lambda L: L.Resizing(4, 8, crop_to_aspect_ratio=True),
    lambda L: L.Resizing(8, 4, pad_to_aspect_ratio=True, fill_value=3.0, interpolation="bicubic"),
    lambda L: L.Resizing(6, 6, antialias=True, data_format="channels_first"),
    lambda L: L.CenterCrop(5, 3),
    lambda L: L.CenterCrop(12, 4),
    lambda L: L.CenterCrop(4, 5, data_format="channels_first"),
])
@pytest.mark.parametrize("batched", [True, False])
def test_resizing_and_center_crop_equal_keras(make, batched):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    images = IMAGES if batched else IMAGES[0]
    expected = np.asarray(k_layer(images))
    got = np.asarray(s_layer(images))
    assert got.shape == expected.shape
    assert s_layer.compute_output_shape((None,) + IMAGES.shape[1:] if batched else images.shape) == tuple(
        k_layer.compute_output_shape((None,) + IMAGES.shape[1:] if batched else images.shape))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config


def test_brightness_files_load_in_both_libraries(tmp_path):
    """.keras files both ways (Keras 3.15 cannot write RandomBrightness to a legacy .h5 file: it fails to
    pickle its backend module)."""
    def build(K):
        return K.Sequential([K.Input((9, 7, 2)), K.layers.RandomBrightness((-0.2, 0.4), value_range=(0, 255)),
                             K.layers.Flatten(), K.layers.Dense(2)])

    model = build(scanfit)
    model.save(tmp_path / "s.keras")
    theirs = build(keras)
    theirs.set_weights(model.get_weights())
    theirs.save(tmp_path / "k.keras")
    for path in (tmp_path / "s.keras", tmp_path / "k.keras"):
        for loaded in (keras.models.load_model(path), scanfit.models.load_model(path)):
            assert tuple(loaded.layers[0].get_config()["factor"]) == (-0.2, 0.4)
            np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0),
                                       rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_random_crop_crops_one_random_block_per_batch_while_training(data_format):
    """Training: a height x width block of the input at one place for the whole batch (Keras 3 draws one per
    batch), the places spread over the calls. Inference, and training on images not larger than the target:
    the documented result, Resizing(crop_to_aspect_ratio=True), checked against Keras's Resizing (Keras 3.15's
    own RandomCrop returns the input unchanged at inference)."""
    images = RNG.uniform(0, 255, size=(3, 9, 11, 2)).astype("float32")
    first = data_format == "channels_first"
    given = images.transpose(0, 3, 1, 2) if first else images
    crop = scanfit.layers.RandomCrop(5, 4, data_format=data_format)
    places = set()
    for _ in range(40):
        out = np.asarray(crop(given, training=True))
        out = out.transpose(0, 2, 3, 1) if first else out
        assert out.shape == (3, 5, 4, 2)
        found = [(top, left) for top in range(5) for left in range(8)
                 if np.array_equal(out, images[:, top:top + 5, left:left + 4])]
        assert len(found) == 1
        places.add(found[0])
    assert len(places) > 15
    expected = np.asarray(keras.layers.Resizing(5, 4, crop_to_aspect_ratio=True, data_format=data_format)(given))
    np.testing.assert_allclose(crop(given, training=False), expected, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(crop(given[0], training=False), expected[0], rtol=1e-5, atol=1e-3)
    small = scanfit.layers.RandomCrop(12, 10, data_format=data_format)
    expected = np.asarray(keras.layers.Resizing(12, 10, crop_to_aspect_ratio=True, data_format=data_format)(given))
    np.testing.assert_allclose(small(given, training=True), expected, rtol=1e-5, atol=1e-3)
    assert crop.compute_output_shape((None,) + given.shape[1:]) == ((None, 2, 5, 4) if first else (None, 5, 4, 2))


def test_a_model_with_random_crop_trains_on_crops_and_predicts_on_the_centre():
    model = scanfit.Sequential([scanfit.Input((10, 10, 1)), scanfit.layers.RandomCrop(8, 8),
                                scanfit.layers.Flatten(), scanfit.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    images = RNG.uniform(0, 1, size=(32, 10, 10, 1)).astype("float32")
    history = model.fit(images, RNG.integers(0, 2, size=32), epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["loss"])) and model.output_shape == (None, 2)
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))
