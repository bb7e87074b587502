"""AlphaDropout, GaussianNoise, GaussianDropout, SpatialDropout1D/2D: Keras's formulas and statistics.

Random numbers cannot match Keras's, so the tests check the distributions
Keras documents, the masks' structure, Keras's own outputs recomputed from
the mask they reveal, and the identity at inference.
"""
import jax
import keras
import numpy as np
import pytest

import scanfit
from scanfit.layers.regularization import alpha_dropout

KEY = jax.random.PRNGKey(0)
ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946
ALPHA_A = ((1 - 0.2) * (1 + 0.2 * ALPHA_P ** 2)) ** -0.5  # AlphaDropout's scale at rate 0.2


def _train(layer, x, key=KEY):
    layer.build_for(x.shape)
    y, updates = layer.pure_call({}, x, training=True, rng=key)
    assert updates == {}
    return np.asarray(y)


@pytest.mark.parametrize("make", [
    lambda: scanfit.layers.AlphaDropout(0.3),
    lambda: scanfit.layers.GaussianNoise(0.5),
    lambda: scanfit.layers.GaussianDropout(0.4),
    lambda: scanfit.layers.SpatialDropout1D(0.5),
    lambda: scanfit.layers.SpatialDropout2D(0.5, data_format="channels_first"),
])
def test_identity_at_inference_and_without_a_key(make):
    layer = make()
    x = np.random.default_rng(0).normal(size=(4, 5, 6, 3) if "2D" in type(layer).__name__ else (4, 5, 3))
    x = x.astype("float32")
    layer.build_for(x.shape)
    np.testing.assert_array_equal(np.asarray(layer.pure_call({}, x, training=False, rng=KEY)[0]), x)
    np.testing.assert_array_equal(np.asarray(layer.pure_call({}, x, training=True, rng=None)[0]), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    assert layer.compute_output_shape(x.shape) == x.shape


def test_alpha_dropout_recomputes_keras_output_from_its_mask():
    """Keras's training output, with the mask it used read back from it, is `alpha_dropout` of that mask."""
    rate = 0.25
    x = np.random.default_rng(1).normal(size=(64, 32)).astype("float32")
    k_y = np.asarray(keras.layers.AlphaDropout(rate, seed=3)(x, training=True))
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * rate
    dropped = np.isclose(k_y, a * ALPHA_P + b, atol=1e-6)
    assert 0.15 < dropped.mean() < 0.35
    np.testing.assert_allclose(np.asarray(alpha_dropout(x, ~dropped, rate)), k_y, atol=1e-6)
    np.testing.assert_allclose(k_y[~dropped], a * x[~dropped] + b, atol=1e-6)  # the hand formula


def test_alpha_dropout_keeps_zero_mean_and_unit_variance():
    x = np.random.default_rng(2).normal(size=(400, 500)).astype("float32")
    y = _train(scanfit.layers.AlphaDropout(0.2), x)
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    a = ((1 - 0.2) * (1 + 0.2 * ALPHA_P ** 2)) ** -0.5
    dropped = np.isclose(y, a * ALPHA_P - a * ALPHA_P * 0.2, atol=1e-6)
    assert abs(dropped.mean() - 0.2) < 0.005


def test_alpha_dropout_noise_shape_shares_the_mask():
    x = np.random.default_rng(3).normal(size=(50, 8, 6)).astype("float32")
    y = _train(scanfit.layers.AlphaDropout(0.5, noise_shape=(None, 1, 6)), x)
    a = ((1 - 0.5) * (1 + 0.5 * ALPHA_P ** 2)) ** -0.5
    dropped = np.isclose(y, a * ALPHA_P - a * ALPHA_P * 0.5, atol=1e-6)
    assert (dropped == dropped[:, :1, :]).all() and 0.4 < dropped.mean() < 0.6


def test_gaussian_noise_adds_noise_of_the_given_stddev():
    x = np.full((300, 400), 2.0, "float32")
    noise = _train(scanfit.layers.GaussianNoise(0.3), x) - x
    assert abs(noise.mean()) < 0.005 and abs(noise.std() - 0.3) < 0.005


def test_gaussian_dropout_multiplies_by_mean_one_noise_of_variance_rate_over_one_minus_rate():
    x = np.full((300, 400), 3.0, "float32")
    factor = _train(scanfit.layers.GaussianDropout(0.2), x) / x
    assert abs(factor.mean() - 1) < 0.005 and abs(factor.var() - 0.2 / 0.8) < 0.005


@pytest.mark.parametrize("make,shape,channel_axis", [
    (lambda: scanfit.layers.SpatialDropout1D(0.3), (60, 7, 20), 2),
    (lambda: scanfit.layers.SpatialDropout2D(0.3), (60, 4, 5, 20), 3),
    (lambda: scanfit.layers.SpatialDropout2D(0.3, data_format="channels_first"), (60, 20, 4, 5), 1),
])
def test_spatial_dropout_drops_whole_channels(make, shape, channel_axis):
    x = np.random.default_rng(4).uniform(1, 2, size=shape).astype("float32")
    y = _train(make(), x)
    moved = np.moveaxis(y, channel_axis, 1).reshape(shape[0], shape[channel_axis], -1)
    source = np.moveaxis(x, channel_axis, 1).reshape(shape[0], shape[channel_axis], -1)
    dropped = (moved == 0).all(axis=-1)
    np.testing.assert_allclose(moved[~dropped], source[~dropped] / 0.7, rtol=1e-6)  # kept maps scaled
    assert ((moved == 0).any(axis=-1) == dropped).all()  # a map is dropped whole or not at all
    assert 0.25 < dropped.mean() < 0.35
    assert abs(y.mean() / x.mean() - 1) < 0.05  # the mean is kept


def test_spatial_dropout_masks_differ_per_sample_and_per_key():
    x = np.ones((30, 5, 10), "float32")
    layer = scanfit.layers.SpatialDropout1D(0.5)
    first, second = _train(layer, x), _train(layer, x, jax.random.PRNGKey(1))
    assert not np.array_equal(first, second)
    assert len({tuple(row) for row in (first[:, 0, :] == 0)}) > 1


@pytest.mark.parametrize("make,argument", [
    (lambda: scanfit.layers.AlphaDropout(1.0), "rate"),
    (lambda: scanfit.layers.AlphaDropout(-0.1), "rate"),
    (lambda: scanfit.layers.GaussianDropout(1.5), "rate"),
    (lambda: scanfit.layers.GaussianDropout("0.5"), "rate"),
    (lambda: scanfit.layers.SpatialDropout1D(1), "rate"),
    (lambda: scanfit.layers.SpatialDropout2D(0.5, data_format="nhwc"), "data_format"),
    (lambda: scanfit.layers.GaussianNoise(-1.0), "stddev"),
    (lambda: scanfit.layers.GaussianNoise(float("inf")), "stddev"),
])
def test_bad_arguments_raise_value_errors_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_alpha_dropout_checks_its_noise_shape():
    with pytest.raises(ValueError, match="noise_shape"):
        scanfit.layers.AlphaDropout(0.2, noise_shape=(None, 0))
    with pytest.raises(ValueError, match="noise_shape"):
        scanfit.layers.AlphaDropout(0.2, noise_shape=3)
    with pytest.raises(ValueError, match="one entry per input axis"):
        scanfit.layers.AlphaDropout(0.2, noise_shape=(None, 1)).build_for((None, 4, 3))


def test_spatial_dropout_checks_the_input_rank():
    with pytest.raises(ValueError, match="4 axes"):
        scanfit.layers.SpatialDropout2D(0.5).build_for((None, 5, 3))
    with pytest.raises(TypeError, match="data_format"):
        scanfit.layers.SpatialDropout1D(0.5, data_format="channels_first")


@pytest.mark.parametrize("make,expected", [
    (lambda: scanfit.layers.GaussianNoise(0.3), lambda x, y: np.ones_like(x)),
    (lambda: scanfit.layers.GaussianDropout(0.3), lambda x, y: y / x),
    (lambda: scanfit.layers.SpatialDropout1D(0.4), lambda x, y: (y != 0) / 0.6),
    (lambda: scanfit.layers.AlphaDropout(0.2), lambda x, y: np.where(
        np.isclose(y, ALPHA_A * ALPHA_P - ALPHA_A * ALPHA_P * 0.2, atol=1e-6), 0.0, ALPHA_A)),
])
def test_input_gradients_follow_the_noise(make, expected):
    """The gradient of sum(y) with respect to x, under the same key: 1, the noise factor, the scaled mask, a * mask."""
    x = np.random.default_rng(6).uniform(0.5, 1.5, size=(8, 5, 4)).astype("float32")
    layer = make()
    layer.build_for(x.shape)
    y = np.asarray(layer.pure_call({}, x, training=True, rng=KEY)[0])
    grad = jax.grad(lambda x: layer.pure_call({}, x, training=True, rng=KEY)[0].sum())(x)
    np.testing.assert_allclose(np.asarray(grad), expected(x, y), rtol=1e-5, atol=1e-6)
