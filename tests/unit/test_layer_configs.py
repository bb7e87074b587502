"""Convolution, pooling, noise, normalization and reshaping layer configs: equal to Keras 3's, and a layer rebuilt from its config has the same one."""
import keras
import pytest

import scanfit


@pytest.mark.parametrize("make", [
    lambda L: L.Conv2D(32, 3, activation="relu", padding="same"),
    lambda L: L.Conv2D(8, (2, 3), strides=(2, 1), padding="valid", use_bias=False, kernel_initializer="he_normal",
                       kernel_regularizer="l2", bias_constraint="non_neg", name="c"),
    lambda L: L.Conv1D(4, 5, padding="causal", dilation_rate=2, groups=2, activity_regularizer="l1"),
    lambda L: L.Conv2D(4, 3, data_format="channels_first"),
    lambda L: L.MaxPooling2D(2),
    lambda L: L.MaxPooling2D((2, 3), strides=(1, 2), padding="same", name="p"),
    lambda L: L.AveragePooling2D(3, strides=1),
    lambda L: L.MaxPooling1D(),
    lambda L: L.AveragePooling1D(4, padding="same"),
    lambda L: L.GlobalAveragePooling2D(),
    lambda L: L.GlobalMaxPooling1D(keepdims=True),
    lambda L: L.MaxPooling2D(2, data_format="channels_first"),
    lambda L: L.AlphaDropout(0.2, noise_shape=(None, 1, 4), seed=3),
    lambda L: L.GaussianNoise(0.1),
    lambda L: L.GaussianDropout(0.3, seed=1),
    lambda L: L.SpatialDropout1D(0.2),
    lambda L: L.SpatialDropout2D(0.25, data_format="channels_first", seed=2),
    lambda L: L.LayerNormalization(),
    lambda L: L.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, gamma_regularizer="l2",
                                   beta_constraint="non_neg", gamma_initializer="zeros"),
    lambda L: L.Normalization(),
    lambda L: L.Normalization(axis=(1, 2), invert=True),
    lambda L: L.Normalization(axis=1, mean=[1.0, 2.0], variance=[3.0, 4.0]),
    lambda L: L.Normalization(axis=None, mean=1.5, variance=3.0),
    lambda L: L.ZeroPadding2D(((1, 2), (0, 3))),
    lambda L: L.ZeroPadding2D(2, data_format="channels_first"),
    lambda L: L.ZeroPadding1D(3),
    lambda L: L.Cropping2D((1, 2)),
    lambda L: L.Cropping1D((0, 2)),
    lambda L: L.UpSampling2D((2, 3), interpolation="bilinear"),
    lambda L: L.UpSampling1D(4),
    lambda L: L.Conv2DTranspose(8, 3, strides=2, padding="same", output_padding=1, activation="relu"),
    lambda L: L.Conv2DTranspose(4, (2, 3), dilation_rate=2, use_bias=False, kernel_regularizer="l1",
                                data_format="channels_first"),
    lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", depthwise_regularizer="l2",
                                depthwise_constraint="max_norm", activity_regularizer="l1"),
    lambda L: L.SeparableConv2D(16, 3, strides=2, depth_multiplier=2, pointwise_initializer="he_normal",
                                pointwise_regularizer="l2", pointwise_constraint="non_neg", bias_constraint="non_neg"),
    lambda L: L.Conv1DTranspose(4, 3, strides=2, output_padding=1),
    lambda L: L.DepthwiseConv1D(2, depth_multiplier=3, data_format="channels_first"),
    lambda L: L.SeparableConv1D(5, 3, padding="same", use_bias=False),
    lambda L: L.Identity(),
    lambda L: L.Rescaling(1.0 / 255),
    lambda L: L.Rescaling(2.0, offset=-1.0),
    lambda L: L.Rescaling([0.5, 2.0, 1.5]),
    lambda L: L.RepeatVector(3),
    lambda L: L.Permute((2, 1)),
    lambda L: L.ActivityRegularization(l1=0.01, l2=0.1),
    lambda L: L.UnitNormalization(axis=[1, 2]),
    lambda L: L.RandomFlip("horizontal", seed=4),
])
def test_config_equals_keras_and_round_trips(make):
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_config, s_config = k_layer.get_config(), s_layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config
    clone = type(s_layer).from_config(s_layer.get_config())
    assert clone.get_config() == s_layer.get_config()
