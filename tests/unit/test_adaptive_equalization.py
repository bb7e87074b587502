"""ContrastLimitedAdaptiveHistogramEqualization against Keras 3: the same images (it draws nothing) for each clip
limit, grid, value range and data format, while training and at inference; a hand-computed case; configs (its
files interchange in test_saving_keras_interchange's every_layer_model)."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import assert_config_equals_keras
from scanfit.layers.adaptive_equalization import clahe

RNG = np.random.default_rng(21)
IMAGES = RNG.uniform(0, 255, size=(2, 10, 9, 3)).astype("float32")
IMAGES[1, :5] = IMAGES[1, :5] * 0.2 + 40  # a low-contrast half


@pytest.mark.parametrize("kwargs", [{}, {"tile_grid_size": (3, 2)}, {"clip_limit": 0, "tile_grid_size": (2, 4)},
                                    {"clip_limit": 1.5, "tile_grid_size": (4, 3), "value_range": (0, 1)},
                                    {"tile_grid_size": (5, 5), "data_format": "channels_first"},
                                    {"clip_limit": 40.0, "tile_grid_size": (1, 1), "value_range": [-1, 1]}])
def test_images_equal_keras(kwargs):
    low, high = kwargs.get("value_range", (0, 255))
    images = IMAGES / 255 * (high - low) + low
    if kwargs.get("data_format") == "channels_first":
        images = images.transpose(0, 3, 1, 2)
    ours = scanfit.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    theirs = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    expected = np.asarray(theirs(images))
    assert np.abs(expected - images).max() > 1e-3 * (high - low)  # (it changes them)
    for training in (True, False):  # at inference too
        np.testing.assert_allclose(np.asarray(ours(images, training=training)), expected, rtol=1e-5,
                                   atol=1e-5 * (high - low))
    np.testing.assert_allclose(np.asarray(ours(images[0])), expected[0], rtol=1e-5, atol=1e-5 * (high - low))


def test_one_tile_without_clipping_is_histogram_equalization():
    # One tile: every pixel takes its level's normalized cumulative count, (cdf - cdf_min) * 255 / (n - cdf_min).
    image = np.asarray([[10, 10, 20], [20, 20, 30]], "float32")[None, :, :, None]
    cumulative = {10: 2, 20: 5, 30: 6}  # (and cdf_min, the count of level 0, is 0)
    expected = np.vectorize(lambda v: cumulative[v] * 255 / 6)(image)
    np.testing.assert_allclose(np.asarray(clahe(image, clip_limit=0, grid=(1, 1))), expected, rtol=1e-6)


def test_config_equals_keras_and_bad_arguments_are_refused():
    make = [lambda L: L.ContrastLimitedAdaptiveHistogramEqualization(),
            lambda L: L.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 1), clip_limit=2.0,
                                                                     tile_grid_size=(4, 2),
                                                                     data_format="channels_first")]
    for build in make:
        assert_config_equals_keras(build)
    L = scanfit.layers
    with pytest.raises(ValueError, match="tile_grid_size must be two positive ints"):
        L.ContrastLimitedAdaptiveHistogramEqualization(tile_grid_size=8)
    with pytest.raises(ValueError, match="clip_limit must be a number"):
        L.ContrastLimitedAdaptiveHistogramEqualization(clip_limit="4")
    with pytest.raises(ValueError, match="value_range must be a pair"):
        L.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0,))
