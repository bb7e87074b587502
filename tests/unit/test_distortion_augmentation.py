"""RandomErasing, RandomGaussianBlur, RandomShear and RandomPerspective against Keras 3: for the parameters Keras
draws, scanfit's functions give Keras's images; with one possible draw the layers give Keras's images; while
training they draw per image, at inference they are the identity; configs and files interchange (RandomShear's
here, the others' in test_saving_keras_interchange's every_layer_model)."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import assert_config_equals_keras
from scanfit.layers import augmentation
from scanfit.layers import distortion_augmentation as da

RNG = np.random.default_rng(47)
IMAGES = RNG.uniform(0, 255, size=(4, 6, 7, 3)).astype("float32")


def close(got, expected, atol=1e-3):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=atol)


def test_functions_equal_keras_for_its_parameters():
    blur_layer = keras.layers.RandomGaussianBlur(kernel_size=(3, 5), sigma=(0.2, 1.0))
    drawn = blur_layer.get_random_transformation(IMAGES)
    drawn["should_apply_blur"] = np.asarray([True, True, False, True])
    sigmas = np.tile(np.asarray(drawn["blur_factor"]), (4, 1))  # (Keras draws one pair per batch)
    got = np.where(drawn["should_apply_blur"][:, None, None, None], da.blur(IMAGES, sigmas, (3, 5)), IMAGES)
    close(np.clip(got, 0, 255), blur_layer.transform_images(IMAGES, drawn))

    erasing = keras.layers.RandomErasing(fill_value=7.0)
    boxes = np.asarray([[0.5, 3.2, 1.0, 4.0], [2, 7, 0, 5], [0, 0, 0, 0], [1.5, 2.5, 1.5, 2.5]], "float32")
    flags = np.asarray([True, True, True, False])
    drawn = {"batch_masks": erasing._generate_batch_mask(IMAGES.shape, tuple(boxes.T)), "apply_erasing": flags,
             "fill_value": np.full(IMAGES.shape, 7.0, "float32")}
    close(da.erase(IMAGES, boxes, flags, np.float32(7.0)), erasing.transform_images(IMAGES, drawn))

    for fill_mode, interpolation in [("reflect", "bilinear"), ("constant", "nearest"), ("wrap", "bilinear")]:
        shear = keras.layers.RandomShear(0.3, (0.1, 0.4), fill_mode=fill_mode, interpolation=interpolation,
                                         fill_value=3.0)
        drawn = shear.get_random_transformation(IMAGES)
        got = augmentation.affine_transform(IMAGES, da.shear_transforms(np.asarray(drawn["shear_factor"])),
                                            interpolation, fill_mode, 3.0)
        close(got, shear.transform_images(IMAGES, drawn))

    for interpolation in ("bilinear", "nearest"):
        perspective = keras.layers.RandomPerspective((1, 1), scale=0.8, interpolation=interpolation, fill_value=5.0)
        drawn = perspective.get_random_transformation(IMAGES)
        got = da.perspective_transform(IMAGES, np.asarray(drawn["start_points"]), np.asarray(drawn["end_points"]),
                                       interpolation, 5.0)
        close(got, perspective.transform_images(IMAGES, drawn))


@pytest.mark.parametrize("make", [
    lambda L: L.RandomGaussianBlur((1, 1), kernel_size=5, sigma=(0.7, 0.7)),
    lambda L: L.RandomGaussianBlur((1, 1), kernel_size=(3, 5), sigma=(0.4, 0.4), value_range=(0, 200),
                                   data_format="channels_first"),
    lambda L: L.RandomErasing((1, 1), scale=(1, 1), fill_value=3.0),
    lambda L: L.RandomErasing(0.0),
    lambda L: L.RandomPerspective(scale=0.0, fill_value=9.0),
    lambda L: L.RandomShear((0.0, 0.0), (0.0, 0.0), fill_mode="constant"),
])
def test_layers_with_one_possible_draw_equal_keras(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    images = IMAGES.transpose(0, 3, 1, 2) if s_layer.data_format == "channels_first" else IMAGES
    close(s_layer(images, training=True), k_layer(images, training=True))
    close(s_layer(images[0], training=True), k_layer(images[0], training=True))
    close(s_layer(images), k_layer(images))  # called with no mode, as Keras: it augments
    np.testing.assert_array_equal(np.asarray(s_layer(images, training=False)), images)  # the identity at inference


def distinct(images):
    return len(np.unique(np.asarray(images).reshape(len(images), -1), axis=0))


def test_layers_draw_per_image_while_training():
    scanfit.utils.set_random_seed(1)
    images = np.repeat(IMAGES[:1], 200, axis=0)
    erased = np.asarray(scanfit.layers.RandomErasing((0.4, 0.4), scale=(0.1, 0.5), fill_value=-1.0,
                                                     value_range=(-1, 255))(images, training=True))
    boxes = erased[..., 0] == -1
    assert 0.3 < boxes.any(axis=(1, 2)).mean() < 0.5
    np.testing.assert_array_equal(erased[~boxes.any(axis=(1, 2))], images[~boxes.any(axis=(1, 2))])
    for box in boxes[boxes.any(axis=(1, 2))]:
        rows, columns = np.nonzero(box)
        assert box[rows.min():rows.max() + 1, columns.min():columns.max() + 1].all()  # a box
        # width and height each sqrt(0.1) to sqrt(0.5) of the image's, give or take a pixel
        assert 6 * 0.31 - 1 <= np.ptp(rows) + 1 <= 6 * 0.71 + 1 and 7 * 0.31 - 1 <= np.ptp(columns) + 1 <= 7 * 0.71 + 1
    # (Keras 3.15 fails on a list fill_value: its full_like gets a TrackedList; here the documented result)
    channels = scanfit.layers.RandomErasing((1, 1), scale=(1, 1), fill_value=[300, 2, -1])(images, training=True)
    np.testing.assert_array_equal(np.asarray(channels), np.broadcast_to([255.0, 2.0, 0.0], images.shape))
    noisy = np.asarray(scanfit.layers.RandomErasing((1, 1), value_range=(0, 1))(images / 255, training=True))
    assert noisy.min() == 0 and noisy.max() == 1 and 0 < (noisy == 0).mean() < 0.5  # clipped Gaussian noise

    blurred = np.asarray(scanfit.layers.RandomGaussianBlur((0.6, 0.6), sigma=(0.3, 1.0))(images, training=True))
    changed = ~np.all(blurred == images, axis=(1, 2, 3))
    assert 0.5 < changed.mean() < 0.7
    assert distinct(blurred[changed]) == changed.sum()  # sigmas per image

    for layer in (scanfit.layers.RandomShear(0.3, 0.3), scanfit.layers.RandomPerspective((1, 1), scale=0.6)):
        out = np.asarray(layer(images, training=True))
        close(out[:, 0, 0], images[:, 0, 0])  # both keep the top-left corner where it is
        assert distinct(out) == len(out)


def test_shear_moves_each_row_by_its_height():
    images = np.zeros((100, 5, 9, 1), "float32")
    images[:, :, 4, 0] = 1.0  # a vertical line
    out = np.asarray(scanfit.layers.RandomShear((1.0, 1.0), interpolation="nearest", fill_mode="constant")(
        images, training=True))
    lines = np.argmax(out[:, :, :, 0], axis=2)  # the line's column in each row
    # the output at (x, y) takes the input at (x + s y, y), s = 1 or -1 per image
    rows = np.arange(5)
    assert all(np.array_equal(line, 4 - rows) or np.array_equal(line, 4 + rows) for line in lines)
    assert 20 < sum(np.array_equal(line, 4 - rows) for line in lines) < 80


@pytest.mark.parametrize("make", [
    lambda L: L.RandomErasing(),
    lambda L: L.RandomErasing(0.5, scale=(0.1, 0.2), fill_value=[1, 2, 3], value_range=[0, 1], seed=3,
                              data_format="channels_first"),
    lambda L: L.RandomGaussianBlur(),
    lambda L: L.RandomGaussianBlur((0.2, 0.6), kernel_size=(3, 7), sigma=0.5, value_range=(0, 1), seed=1),
    lambda L: L.RandomShear(0.2),
    lambda L: L.RandomShear((0.1, 0.3), 0.5, interpolation="nearest", fill_mode="constant", fill_value=2.0, seed=4),
    lambda L: L.RandomPerspective(),
    lambda L: L.RandomPerspective(0.7, scale=0.4, interpolation="nearest", fill_value=1.0, seed=5),
])
def test_configs_equal_keras(make):
    assert_config_equals_keras(make)


def test_shear_files_interchange(tmp_path):
    """Keras 3.15 writes RandomShear(0.2)'s factor as (-0.2, 0.2) and then cannot load its own file; scanfit
    loads it. Pairs in [0, 1] go both ways."""
    def build(K, factor):
        return K.Sequential([K.Input((6, 7, 3)), K.layers.RandomShear(factor, (0.1, 0.3)), K.layers.Flatten(),
                             K.layers.Dense(2)])

    for factor in (0.2, (0.1, 0.4)):
        theirs = build(keras, factor)
        theirs.save(tmp_path / "k.keras")
        loaded = scanfit.models.load_model(tmp_path / "k.keras")
        assert list(loaded.layers[0].x_factor) == list(theirs.layers[0].x_factor)
        close(loaded.predict(IMAGES, verbose=0), theirs.predict(IMAGES, verbose=0), 1e-4)
    ours = build(scanfit, (0.1, 0.4))
    ours.save(tmp_path / "s.keras")
    loaded = keras.models.load_model(tmp_path / "s.keras")
    assert tuple(loaded.layers[0].x_factor) == (0.1, 0.4)
    close(loaded.predict(IMAGES, verbose=0), ours.predict(IMAGES, verbose=0), 1e-4)


def test_bad_arguments_are_refused():
    L = scanfit.layers
    with pytest.raises(ValueError, match="fill_value must be None, a number or 3 numbers"):
        L.RandomErasing(fill_value=[1, 2])
    with pytest.raises(ValueError, match="3 channels"):
        L.RandomErasing(fill_value=[1, 2, 3])(IMAGES[..., :2], training=True)
    with pytest.raises(ValueError, match=r"scale must lie in \[0, 1\]"):
        L.RandomErasing(scale=(0.5, 2))
    with pytest.raises(ValueError, match="odd positive int"):
        L.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match=r"sigma must lie in \[0, 1\]"):
        L.RandomGaussianBlur(sigma=2.0)
    with pytest.raises(ValueError, match="fill_mode"):
        L.RandomShear(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation"):
        L.RandomPerspective(interpolation="bicubic")
    with pytest.raises(ValueError, match="scale must be a number in"):
        L.RandomPerspective(scale=1.5)


def test_outputs_are_floats_of_the_compute_dtype():
    images = IMAGES.astype("uint8")
    for layer in [scanfit.layers.RandomErasing(dtype="mixed_bfloat16"), scanfit.layers.RandomGaussianBlur(),
                  scanfit.layers.RandomShear(0.2, dtype="mixed_bfloat16"), scanfit.layers.RandomPerspective()]:
        for training in (False, True):
            out = layer(images, training=training)
            assert out.dtype == layer.compute_dtype and out.shape == images.shape
