"""RandomElasticTransform against Keras 3: for the noise Keras draws, scanfit's functions give Keras's images; with
nothing to draw the layer equals Keras's; while training it moves rows and columns by smooth independent fields
and applies per image; at inference it is the identity; its config equals Keras's (its files interchange in
test_saving_keras_interchange's every_layer_model)."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras.src.random.seed_generator import draw_seed

import scanfit
from layer_oracle import assert_config_equals_keras
from scanfit.layers import elastic_augmentation as ea

RNG = np.random.default_rng(5)
IMAGES = RNG.uniform(0, 255, size=(3, 9, 8, 2)).astype("float32")


def close(got, expected, atol=1e-3):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=atol)


@pytest.mark.parametrize("interpolation, fill_mode, scale", [("bilinear", "reflect", 1.0), ("nearest", "constant", 0.7),
                                                             ("bilinear", "wrap", 0.33), ("bilinear", "mirror", 0.9),
                                                             ("bilinear", "nearest", 0.5)])
def test_functions_equal_keras_for_its_noise(interpolation, fill_mode, scale):
    layer = keras.layers.RandomElasticTransform(scale=(scale, scale), interpolation=interpolation,
                                                fill_mode=fill_mode, fill_value=3.0)
    applied = np.asarray([True, False, True])
    drawn = {"apply_transform": applied, "distortion_factor": np.float32(scale), "seed": 123}
    expected = layer.transform_images(IMAGES, drawn)
    # Keras draws one noise field from the seed and uses it for both axes
    noise = jax.random.normal(draw_seed(123), IMAGES.shape[:3], dtype="float32")
    alpha, sigma = ea.elastic_strength(9, 8, jnp.float32(scale))
    fields = ea.displacement_fields(jnp.stack([noise, noise], axis=-1), alpha, sigma, 11)  # (window 11: wider)
    distorted = ea.displace(IMAGES, fields[..., 0], fields[..., 1], interpolation, fill_mode, 3.0)
    close(np.clip(np.where(applied[:, None, None, None], distorted, IMAGES), 0, 255), expected)


@pytest.mark.parametrize("make", [
    lambda L: L.RandomElasticTransform(factor=0.0),
    lambda L: L.RandomElasticTransform(scale=0.0, value_range=(0, 100)),
])
def test_layers_with_nothing_to_draw_equal_keras(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    close(s_layer(IMAGES, training=True), k_layer(IMAGES, training=True))
    close(s_layer(IMAGES), k_layer(IMAGES))


def test_rows_and_columns_move_by_independent_smooth_fields_per_image():
    scanfit.utils.set_random_seed(2)
    rows, columns = np.meshgrid(np.arange(16.0), np.arange(16.0), indexing="ij")
    ramps = np.repeat(np.stack([rows, columns], axis=-1)[None], 40, axis=0).astype("float32")  # each pixel's place
    layer = scanfit.layers.RandomElasticTransform((0.5, 0.5), scale=(1.0, 1.0), fill_mode="nearest",
                                                  value_range=(-100, 100))
    out = np.asarray(layer(ramps, training=True))
    row_shifts, column_shifts = (out - ramps)[:, 2:-2, 2:-2, 0], (out - ramps)[:, 2:-2, 2:-2, 1]  # (inside)
    moved = np.abs(out - ramps).max(axis=(1, 2, 3)) > 0
    assert 10 < moved.sum() < 30  # per image, with probability 1/2
    assert np.abs(row_shifts[moved]).max() > 0.1 and np.abs(column_shifts[moved]).max() > 0.1
    # independent fields (Keras 3.15 moves both alike: correlation 1)
    assert abs(np.corrcoef(row_shifts[moved].ravel(), column_shifts[moved].ravel())[0, 1]) < 0.3
    # alpha = 1.6, sigma = 0.8: shifts of about alpha * sigma / (2 sqrt(pi) sigma) ~ 0.45 pixel, smooth
    assert 0.15 < row_shifts[moved].std() < 1.0 and 0.15 < column_shifts[moved].std() < 1.0
    assert np.abs(np.diff(row_shifts[moved], axis=1)).mean() < np.abs(row_shifts[moved]).mean()


def test_inference_identity_range_seed_and_one_image():
    layer = scanfit.layers.RandomElasticTransform(scale=0.6, fill_value=500.0, fill_mode="constant")
    np.testing.assert_array_equal(np.asarray(layer(IMAGES, training=False)), IMAGES)
    outputs = []
    for seed in (4, 4, 5):
        scanfit.utils.set_random_seed(seed)
        outputs.append(np.asarray(layer(IMAGES, training=True)))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert not np.allclose(outputs[0], outputs[2])
    assert outputs[0].min() >= 0 and outputs[0].max() <= 255 and outputs[0].dtype == np.float32
    assert layer(IMAGES[0], training=True).shape == IMAGES[0].shape
    first = scanfit.layers.RandomElasticTransform(data_format="channels_first")(IMAGES.transpose(0, 3, 1, 2),
                                                                              training=True)
    assert first.shape == (3, 2, 9, 8)


@pytest.mark.parametrize("make", [
    lambda L: L.RandomElasticTransform(),
    lambda L: L.RandomElasticTransform(factor=(0.2, 0.7), scale=0.4, interpolation="nearest", fill_mode="constant",
                                       fill_value=2.0, value_range=(0, 1), seed=3, data_format="channels_first"),
])
def test_configs_equal_keras(make):
    assert_config_equals_keras(make)


def test_bad_arguments_are_refused():
    L = scanfit.layers
    with pytest.raises(ValueError, match=r"factor must lie in \[0, 1\]"):
        L.RandomElasticTransform(factor=1.5)
    with pytest.raises(ValueError, match=r"scale must lie in \[0, 1\]"):
        L.RandomElasticTransform(scale=(-0.2, 0.5))
    with pytest.raises(ValueError, match="fill_mode must be one of"):
        L.RandomElasticTransform(fill_mode="edge")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        L.RandomElasticTransform(interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_value must be a number"):
        L.RandomElasticTransform(fill_value="zero")
