"""keras.utils.load_img, img_to_array, array_to_img and save_img against Keras 3 on made image files."""
import io

import keras
import numpy as np
import pytest
from PIL import Image

import scanfit

RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(RNG.integers(0, 256, size=(20, 31, 3), dtype=np.uint8)).save(folder / "rgb.png")
    Image.fromarray(RNG.integers(0, 256, size=(17, 12), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(RNG.integers(0, 256, size=(9, 14, 4), dtype=np.uint8)).save(folder / "rgba.png")
    return folder


@pytest.mark.parametrize("name", ["rgb.png", "gray.png", "rgba.png"])
@pytest.mark.parametrize("options", [
    {}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
    {"target_size": (8, 10)}, {"target_size": (25, 40), "interpolation": "bicubic"},
    {"target_size": (10, 10), "interpolation": "bilinear", "keep_aspect_ratio": True},
    {"target_size": (6, 20), "interpolation": "lanczos", "keep_aspect_ratio": True},
    {"target_size": (7, 7), "interpolation": "box"}, {"target_size": (7, 7), "interpolation": "hamming"},
])
def test_load_img_and_img_to_array_equal_keras(images, name, options):
    for data_format in ("channels_last", "channels_first"):
        expected = keras.utils.img_to_array(keras.utils.load_img(images / name, **options), data_format=data_format)
        got = scanfit.utils.img_to_array(scanfit.utils.load_img(images / name, **options), data_format=data_format)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("shape, scale", [((5, 6, 3), True), ((5, 6, 4), True), ((5, 6, 1), True),
                                          ((5, 6, 1), False), ((5, 6, 3), False)])
def test_array_to_img_and_save_img_equal_keras(tmp_path, shape, scale):
    x = RNG.uniform(-2, 300, size=shape).astype("float32")
    if not scale and shape[-1] == 3:
        x = np.clip(x, 0, 255)
    expected, got = keras.utils.array_to_img(x, scale=scale), scanfit.utils.array_to_img(x, scale=scale)
    assert got.mode == expected.mode and got.size == expected.size
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    scanfit.utils.save_img(tmp_path / "s.tiff", x, scale=scale)  # TIFF also holds 32-bit grayscale
    keras.utils.save_img(tmp_path / "k.tiff", x, scale=scale)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "s.tiff")), np.asarray(Image.open(tmp_path / "k.tiff")))


def test_file_objects_jpeg_and_bad_arguments(images, tmp_path):
    with open(images / "rgb.png", "rb") as handle:
        from_file = scanfit.utils.load_img(io.BytesIO(handle.read()))
    np.testing.assert_array_equal(np.asarray(from_file), np.asarray(scanfit.utils.load_img(images / "rgb.png")))
    scanfit.utils.save_img(tmp_path / "a.jpg", RNG.uniform(size=(4, 4, 4)))  # RGBA: saved without alpha
    assert Image.open(tmp_path / "a.jpg").mode == "RGB"
    assert scanfit.preprocessing.image.load_img is scanfit.utils.load_img
    with pytest.raises(ValueError, match="color_mode must be"):
        scanfit.utils.load_img(images / "rgb.png", color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        scanfit.utils.load_img(images / "rgb.png", target_size=(3, 3), interpolation="area")
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        scanfit.utils.array_to_img(np.zeros((3, 3, 2)))
