"""Colour augmentation layers against Keras 3: for the parameters Keras draws, scanfit's functions give Keras's
images; with their ranges collapsed to one value (and for AutoContrast, Equalization and Solarization's
defaults) the layers give Keras's images; they draw per image within their ranges while training, are the
identity at inference (AutoContrast and Equalization apply always), and their configs and .keras files
interchange with Keras's."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import tuples_as_lists
from scanfit.layers import color_augmentation as ca

RNG = np.random.default_rng(41)
IMAGES = RNG.uniform(0, 255, size=(5, 6, 7, 3)).astype("float32")
UNIT = IMAGES / 255.0


def keras_images(layer, images, transformation=None):
    """Keras's images for its own draw (or for `transformation`), and the transformation."""
    if transformation is None:
        transformation = layer.get_random_transformation(images, training=True)
    return np.asarray(layer.transform_images(images, transformation, training=True)), transformation


def close(got, expected, atol=1e-3):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("images, value_range", [(IMAGES, (0, 255)), (UNIT, (0, 1))])
def test_functions_equal_keras_for_its_parameters(images, value_range):
    scale = value_range[1] / 255.0
    L = keras.layers
    additions = np.asarray([0, 20, 50, 0, 90.0], "float32")  # (on the 0-255 scale, as Keras draws them)
    thresholds = np.asarray([0, 100, 128, 200, 255.0], "float32")
    drawn = {"additions": additions.reshape(-1, 1, 1, 1), "thresholds": thresholds.reshape(-1, 1, 1, 1)}
    expected, _ = keras_images(L.Solarization(value_range=value_range), images, drawn)
    close(ca.solarize(images, additions, thresholds, value_range), expected, 1e-3 * scale)

    expected, t = keras_images(L.RandomPosterization((2, 6), value_range=value_range), images)
    close(ca.posterize(images, 8 - np.asarray(t["shift_factor"]).astype("int32"), value_range), expected, 1e-3 * scale)

    expected, t = keras_images(L.RandomColorDegeneration((-0.5, 1.0), value_range=value_range), images)
    close(ca.degenerate(images, np.asarray(t["factor"]).reshape(-1), value_range), expected, 1e-3 * scale)

    # (factors up to 1 keep the saturation within [0, 1], where Keras's clip to value_range and scanfit's agree)
    expected, t = keras_images(L.RandomSaturation((0.0, 0.5), value_range=value_range), images)
    close(ca.adjust_saturation(images, np.asarray(t["factor"]), value_range), expected, 2e-4 * value_range[1])

    expected, t = keras_images(L.RandomHue((0.1, 1.0), value_range=value_range), images)
    close(ca.adjust_hue(images, np.asarray(t["factor"]), value_range), expected, 2e-4 * value_range[1])

    expected, t = keras_images(L.RandomSharpness((0.0, 1.0), value_range=value_range), images)
    close(ca.sharpen(images, np.asarray(t["factor"]), value_range), expected, 1e-3 * scale)

    expected, t = keras_images(L.RandomInvert(value_range=value_range), images)
    close(ca.invert(images, np.asarray(t["apply_inversion"]), value_range), expected, 1e-3 * scale)

    grey = L.RandomGrayscale(0.5)
    flags = grey.get_random_transformation(images)
    close(ca.grayscale(images, np.asarray(flags).reshape(-1)), grey.transform_images(images, flags), 1e-3 * scale)


@pytest.mark.parametrize("value_range", [(0, 255), (0, 1), (-1, 1)])
def test_auto_contrast_equals_keras_at_inference_and_while_training(value_range):
    images = (RNG.uniform(0.2, 0.7, size=(4, 5, 6, 3)) * (value_range[1] - value_range[0]) + value_range[0])
    images[1, :, :, 2] = value_range[0] + 0.3  # a constant channel is kept
    images = images.astype("float32")
    expected = np.asarray(keras.layers.AutoContrast(value_range=value_range)(images))
    layer = scanfit.layers.AutoContrast(value_range=value_range)
    close(layer(images), expected, 1e-5 * 255)
    close(layer(images, training=True), expected, 1e-5 * 255)
    close(layer(images[2]), expected[2], 1e-5 * 255)
    first = scanfit.layers.AutoContrast(value_range=value_range, data_format="channels_first")
    # (Keras 3.15 takes each image's min and max over axes 1 and 2 whatever the data format; scanfit over height
    # and width, so the channels-first result is Keras's channels-last one transposed)
    close(first(images.transpose(0, 3, 1, 2)), expected.transpose(0, 3, 1, 2), 1e-5 * 255)


@pytest.mark.parametrize("value_range, bins", [((0, 255), 256), ((0, 1), 16), ((-1, 1), 64)])
def test_equalization_equals_keras_image_by_image(value_range, bins):
    """Keras 3.15 counts one histogram per channel over the whole batch; on one image at a time its result is
    the documented per-image equalization that scanfit computes for every image of a batch. Keras applies it
    only while training (its documentation: at inference too, as scanfit does)."""
    low, high = value_range
    images = np.round(RNG.uniform(0.1, 0.6, size=(2, 5, 4, 2)) * 40) / 40 * (high - low) + low
    images[1, :, :, 1] = low + 0.5 * (high - low)  # one value: kept as it is
    images = images.astype("float32")
    keras_layer = keras.layers.Equalization(value_range=value_range, bins=bins)
    expected = np.stack([np.asarray(keras_layer(image[None], training=True))[0] for image in images])
    assert not np.allclose(expected[0], images[0])
    layer = scanfit.layers.Equalization(value_range=value_range, bins=bins)
    close(layer(images), expected, 1e-5 * (high - low))
    close(layer(images[1]), expected[1], 1e-5 * (high - low))
    first = scanfit.layers.Equalization(value_range=value_range, bins=bins, data_format="channels_first")
    close(first(images.transpose(0, 3, 1, 2), training=True), expected.transpose(0, 3, 1, 2), 1e-5 * (high - low))


@pytest.mark.parametrize("make", [
    lambda L: L.Solarization(),
    lambda L: L.Solarization(value_range=(0, 1)),
    lambda L: L.RandomPosterization((3, 3)),
    lambda L: L.RandomPosterization((5, 5), value_range=(0, 1)),
    lambda L: L.RandomColorDegeneration((0.4, 0.4)),
    lambda L: L.RandomColorDegeneration((0.7, 0.7), value_range=(0, 1), data_format="channels_first"),
    lambda L: L.RandomSaturation((0.3, 0.3)),
    lambda L: L.RandomSaturation((0.8, 0.8), value_range=(0, 1)),
    lambda L: L.RandomSharpness((0.9, 0.9)),
    lambda L: L.RandomSharpness((0.2, 0.2), value_range=(0, 1), data_format="channels_first"),
    lambda L: L.RandomInvert((1.0, 1.0)),
    lambda L: L.RandomInvert((1.0, 1.0), value_range=(0, 1)),
    lambda L: L.RandomGrayscale(1.0),
    lambda L: L.RandomGrayscale(0.0),
    lambda L: L.RandomColorJitter(brightness_factor=(0.1, 0.1), contrast_factor=0.0, saturation_factor=(0.45, 0.45)),
    lambda L: L.RandomColorJitter(value_range=(0, 1), brightness_factor=(-0.2, -0.2), hue_factor=0.0),
])
def test_layers_with_one_possible_draw_equal_keras(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    images = IMAGES if k_layer.get_config().get("value_range", (0, 255))[1] == 255 else UNIT
    if s_layer.data_format == "channels_first":
        images = images.transpose(0, 3, 1, 2)
    expected = np.asarray(k_layer(images, training=True))
    close(s_layer(images, training=True), expected, 2e-4 * images.max())
    close(s_layer(images), expected, 2e-4 * images.max())  # called with no mode, as Keras: it augments
    np.testing.assert_array_equal(np.asarray(s_layer(images, training=False)), images)  # the identity at inference


def test_random_hue_turns_each_image_one_way_or_the_other():
    scanfit.utils.set_random_seed(3)
    images = np.repeat(IMAGES[:1], 40, axis=0)
    layer = scanfit.layers.RandomHue((0.4, 0.4))
    out = np.asarray(layer(images, training=True))
    keras_layer = keras.layers.RandomHue((0.4, 0.4))
    turned = {sign: keras_images(keras_layer, images[:1], {"factor": np.asarray([sign * 0.2], "float32")})[0][0]
              for sign in (1, -1)}
    signs = [next(s for s, t in turned.items() if np.allclose(image, t, atol=0.05)) for image in out]
    assert 8 < signs.count(1) < 32


def test_layers_draw_per_image_within_their_ranges_while_training():
    scanfit.utils.set_random_seed(2)
    images = np.repeat(IMAGES[:1, :4, :4], 300, axis=0)

    def spread(out):
        return np.ptp(out.reshape(len(out), -1), axis=0).max()

    grey = np.asarray(scanfit.layers.RandomGrayscale(0.3)(images, training=True))
    turned = np.all(grey[..., :1] == grey, axis=(1, 2, 3))
    assert 0.22 < turned.mean() < 0.38
    close(grey[turned], np.repeat(ca.grayscale(images[:1], np.ones(1, bool)), turned.sum(), axis=0))
    np.testing.assert_array_equal(grey[~turned], images[~turned])

    inverted = np.asarray(scanfit.layers.RandomInvert((0.2, 0.6))(images, training=True))
    flipped = np.all(np.isclose(inverted, 255 - images), axis=(1, 2, 3))
    assert 0.3 < flipped.mean() < 0.5  # probability drawn from [0.2, 0.6]: 0.4 on average
    np.testing.assert_array_equal(inverted[~flipped], images[~flipped])

    posterized = np.asarray(scanfit.layers.RandomPosterization((2, 4))(images, training=True))
    bits = [next(b for b in (2, 3, 4) if np.array_equal(p, ca.posterize(images[:1], np.asarray([b]), (0, 255))[0]))
            for p in posterized]
    assert set(bits) == {2, 3, 4}  # the upper end included

    for layer in [scanfit.layers.Solarization((0.0, 0.2), (0.3, 0.8)), scanfit.layers.RandomColorDegeneration(0.8),
                  scanfit.layers.RandomColorJitter(brightness_factor=0.2, contrast_factor=0.5, saturation_factor=0.5,
                                                   hue_factor=0.5)]:
        out = np.asarray(layer(images, training=True))
        assert out.min() >= 0 and out.max() <= 255 and spread(out) > 20, type(layer).__name__

    sharpened = np.asarray(scanfit.layers.RandomSharpness((0.0, 0.5))(images, training=True))  # blur to unchanged
    blurred = np.asarray(ca.sharpen(images[:1], np.zeros(1), (0, 255)))
    between = (sharpened - images) / np.where(blurred == images, 1, blurred - images)
    assert between.min() > -1e-3 and between.max() < 1 + 1e-3


def test_the_same_seed_gives_the_same_draws():
    layer = scanfit.layers.RandomColorJitter(brightness_factor=0.3, saturation_factor=0.5, hue_factor=0.5)
    outputs = []
    for seed in (5, 5, 6):
        scanfit.utils.set_random_seed(seed)
        outputs.append(np.asarray(layer(IMAGES, training=True)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])


def test_outputs_are_floats_of_the_compute_dtype():
    images = IMAGES.astype("uint8")
    for layer in [scanfit.layers.RandomHue(0.2), scanfit.layers.AutoContrast(),
                  scanfit.layers.RandomPosterization(3, dtype="mixed_bfloat16")]:
        for training in (False, True):
            out = layer(images, training=training)
            assert out.dtype == layer.compute_dtype and out.shape == images.shape
            assert layer(images[0], training=training).shape == images[0].shape  # one image
    np.testing.assert_array_equal(np.asarray(scanfit.layers.RandomHue(0.2)(images, training=False)),
                                  images.astype("float32"))


@pytest.mark.parametrize("make", [
    lambda L: L.Solarization(),
    lambda L: L.Solarization(addition_factor=0.2, threshold_factor=(0.3, 0.6), value_range=(1, 0), seed=3),
    lambda L: L.AutoContrast(),
    lambda L: L.AutoContrast(value_range=[0, 1], data_format="channels_first"),
    lambda L: L.Equalization(),
    lambda L: L.Equalization(value_range=(0, 1), bins=32),
    lambda L: L.RandomInvert(),
    lambda L: L.RandomInvert(0.4, value_range=[0, 1], seed=2, data_format="channels_first"),
    lambda L: L.RandomGrayscale(),
    lambda L: L.RandomGrayscale(0.2, seed=9),
    lambda L: L.RandomPosterization(4),
    lambda L: L.RandomPosterization((2, 7), value_range=(0, 1), seed=1),
    lambda L: L.RandomColorDegeneration(0.5),
    lambda L: L.RandomColorDegeneration((0.1, 0.7), value_range=(0, 1)),
    lambda L: L.RandomSaturation(0.5),
    lambda L: L.RandomSaturation((0.2, 0.8), seed=4),
    lambda L: L.RandomHue(0.5),
    lambda L: L.RandomHue((0.2, 0.4), value_range=(0, 1), seed=4),
    lambda L: L.RandomSharpness(0.5),
    lambda L: L.RandomSharpness((0.1, 0.9), value_range=(0, 1)),
    lambda L: L.RandomColorJitter(),
    lambda L: L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2, contrast_factor=(0.1, 0.3),
                                  saturation_factor=0.5, hue_factor=(0.1, 0.2), seed=7),
])
def test_configs_equal_keras(make):
    k_config, s_config = make(keras.layers).get_config(), make(scanfit.layers).get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config
    layer = make(scanfit.layers)
    rebuilt = type(layer).from_config(k_config).get_config()
    rebuilt.pop("name")
    assert rebuilt == s_config
    in_keras = type(make(keras.layers)).from_config(s_config).get_config()
    in_keras.pop("name")
    assert in_keras == k_config


def test_bad_arguments_and_inputs_are_refused():
    L = scanfit.layers
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\]"):
        L.RandomHue(1.5)
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\]"):
        L.Solarization(threshold_factor=(-0.1, 0.5))
    with pytest.raises(ValueError, match="whole numbers of bits"):
        L.RandomPosterization(9)
    with pytest.raises(ValueError, match="value_range must be a pair"):
        L.RandomSaturation(0.2, value_range=255)
    with pytest.raises(ValueError, match="pair of different numbers"):
        L.Solarization(value_range=(1, 1))
    with pytest.raises(ValueError, match="factor must be a number in"):
        L.RandomGrayscale(2)
    with pytest.raises(ValueError, match="bins"):
        L.Equalization(bins=1)
    with pytest.raises(NotImplementedError, match="bounding boxes"):
        L.RandomInvert(bounding_box_format="xyxy")
    with pytest.raises(ValueError, match="3 channels"):
        scanfit.Sequential([scanfit.Input((8, 8, 1)), L.RandomHue(0.2)])
    with pytest.raises(ValueError, match="3 channels"):
        L.RandomGrayscale(data_format="channels_first")(IMAGES, training=True)
    with pytest.raises(ValueError, match="dict inputs"):
        L.RandomInvert()({"images": IMAGES, "labels": np.zeros(5)}, training=True)


THREE_CHANNEL_LAYERS = [
    lambda L: L.Solarization(addition_factor=0.1, threshold_factor=0.5),
    lambda L: L.RandomPosterization((3, 5)),
    lambda L: L.RandomGrayscale(0.4),
    lambda L: L.RandomColorDegeneration(0.5),
    lambda L: L.RandomSaturation((0.2, 0.8)),
    lambda L: L.RandomHue(0.3),
    lambda L: L.RandomSharpness(0.6),
    lambda L: L.RandomColorJitter(brightness_factor=0.1, saturation_factor=0.4, hue_factor=0.2),
]


@pytest.mark.parametrize("make", THREE_CHANNEL_LAYERS)
def test_keras_files_interchange(tmp_path, make):
    """The layers every_layer_model (test_saving_keras_interchange) cannot hold, as it takes 2 channels and
    writes legacy .h5 files, which Keras 3.15 cannot write for most of them: .keras files both ways, with the
    same configs and predictions (the layers are the identity at inference)."""
    def build(K):
        return K.Sequential([K.Input((6, 7, 3)), make(K.layers), K.layers.Flatten(), K.layers.Dense(2)])

    theirs, ours = build(keras), build(scanfit)
    ours.set_weights(theirs.get_weights())
    theirs.save(tmp_path / "k.keras")
    ours.save(tmp_path / "s.keras")
    expected = theirs.predict(IMAGES, verbose=0)
    for path in (tmp_path / "k.keras", tmp_path / "s.keras"):
        for loaded in (keras.models.load_model(path), scanfit.models.load_model(path)):
            config = loaded.layers[0].get_config()
            reference = theirs.layers[0].get_config()
            config.pop("name"), reference.pop("name")
            assert tuples_as_lists(config) == tuples_as_lists(reference)
            close(loaded.predict(IMAGES, verbose=0), expected, 1e-4)


def test_a_model_with_colour_augmentation_and_mix_up_trains_and_predicts_deterministically():
    model = scanfit.Sequential([
        scanfit.Input((6, 6, 3)),
        scanfit.layers.RandomColorJitter(brightness_factor=0.2, saturation_factor=0.3, hue_factor=0.1),
        scanfit.layers.RandomGrayscale(0.2),
        scanfit.layers.AutoContrast(),
        scanfit.layers.MixUp(),
        scanfit.layers.Rescaling(1.0 / 255),
        scanfit.layers.Flatten(),
        scanfit.layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    images = RNG.uniform(0, 255, size=(16, 6, 6, 3)).astype("float32")
    history = model.fit(images, RNG.integers(0, 2, size=16), epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.predict(images, verbose=0))
