"""Conv1D/2DTranspose, DepthwiseConv1D/2D and SeparableConv1D/2D against Keras 3 under both lowerings."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scanfit
from layer_oracle import LOWERINGS, compare_with_keras
from scanfit.layers import lowering


@pytest.mark.parametrize("kernel,strides,padding,output_padding,dilation", [
    (3, 1, "valid", None, 1),
    (3, 2, "same", None, 1),
    ((2, 3), (2, 1), "valid", None, 1),
    (1, 3, "valid", None, 1),  # stride > kernel: Keras's default output padding fills the gap
    (3, 2, "same", 1, 1),
    (4, (3, 2), "valid", (2, 1), 1),
    (3, 1, "same", None, 2),
    (2, 1, "valid", None, (2, 1)),
])
def test_conv2d_transpose_matches_keras(kernel, strides, padding, output_padding, dilation, monkeypatch):
    compare_with_keras(
        lambda L: L.Conv2DTranspose(4, kernel, strides=strides, padding=padding, output_padding=output_padding,
                                    dilation_rate=dilation),
        (2, 5, 6, 3), monkeypatch)


def test_conv2d_transpose_options_match_keras(monkeypatch):
    compare_with_keras(lambda L: L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu",
                                                   data_format="channels_first"), (2, 4, 5, 6), monkeypatch)
    compare_with_keras(lambda L: L.Conv2DTranspose(3, 2, strides=2, use_bias=False), (1, 4, 4, 2), monkeypatch)


@pytest.mark.parametrize("options", [
    dict(kernel_size=3),
    dict(kernel_size=3, depth_multiplier=2, padding="same", activation="relu"),
    dict(kernel_size=(2, 3), strides=2, depth_multiplier=3),
    dict(kernel_size=3, dilation_rate=2, padding="same", use_bias=False),
    dict(kernel_size=3, strides=2, dilation_rate=2, padding="same"),  # Keras allows both for depthwise
    dict(kernel_size=3, strides=(1, 2), data_format="channels_first", depth_multiplier=2),
], ids=["plain", "multiplier_same", "strided", "dilated", "strided_dilated", "channels_first"])
def test_depthwise_conv2d_matches_keras(options, monkeypatch):
    compare_with_keras(lambda L: L.DepthwiseConv2D(**options), (2, 9, 8, 3), monkeypatch)


@pytest.mark.parametrize("options", [
    dict(),
    dict(depth_multiplier=2, padding="same", activation="tanh"),
    dict(strides=2, use_bias=False),
    dict(dilation_rate=(2, 1), depth_multiplier=3),
    dict(padding="same", data_format="channels_first"),
], ids=["plain", "multiplier_same", "strided_no_bias", "dilated", "channels_first"])
def test_separable_conv2d_matches_keras(options, monkeypatch):
    compare_with_keras(lambda L: L.SeparableConv2D(5, 3, **options), (2, 8, 9, 3), monkeypatch)


@pytest.mark.parametrize("make", [
    lambda L: L.Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1),
    lambda L: L.Conv1DTranspose(2, 2, dilation_rate=2, data_format="channels_first"),
    lambda L: L.DepthwiseConv1D(3, depth_multiplier=2, strides=2, padding="same"),
    lambda L: L.SeparableConv1D(4, 2, dilation_rate=2, activation="relu"),
], ids=["transpose", "transpose_cf", "depthwise", "separable"])
def test_1d_forms_match_keras(make, monkeypatch):
    compare_with_keras(make, (2, 7, 3), monkeypatch)


def test_weights_have_keras_names_and_shapes():
    def names(layer, shape):
        layer.build_for(shape)
        return [(v.path, v.shape) for v in layer.weights]

    assert names(scanfit.layers.Conv2DTranspose(4, 3, name="t"), (None, 5, 5, 2)) == [
        ("t/kernel", (3, 3, 4, 2)), ("t/bias", (4,))]
    assert names(scanfit.layers.DepthwiseConv2D(3, depth_multiplier=2, name="d"), (None, 5, 5, 3)) == [
        ("d/kernel", (3, 3, 3, 2)), ("d/bias", (6,))]
    assert names(scanfit.layers.SeparableConv2D(7, 3, depth_multiplier=2, name="s"), (None, 5, 5, 3)) == [
        ("s/depthwise_kernel", (3, 3, 3, 2)), ("s/pointwise_kernel", (1, 1, 6, 7)), ("s/bias", (7,))]


def test_transposed_convolution_lowerings_agree():
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.normal(size=(2, 6, 5, 3)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(3, 2, 4, 3)), jnp.float32)
    pads = ((2, 3), (1, 1))
    results = []
    for name in LOWERINGS:
        def objective(x, kernel):
            y = lowering.conv_transpose(x, kernel, (2, 3), pads, (1, 1), lowering=name)
            return jnp.sum(jnp.sin(y)), y
        (_, y), grads = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(x, kernel)
        results.append((y, *grads))
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=5e-5, rtol=1e-5)


@pytest.mark.parametrize("make,argument", [
    (lambda: scanfit.layers.Conv2DTranspose(4, 3, strides=2, output_padding=2), "output_padding"),
    (lambda: scanfit.layers.Conv2DTranspose(4, 3, output_padding=-1), "output_padding"),
    (lambda: scanfit.layers.Conv2DTranspose(0, 3), "filters"),
    (lambda: scanfit.layers.Conv2DTranspose(4, 3, padding="causal"), "padding"),
    (lambda: scanfit.layers.Conv2DTranspose(4, 3, strides=2, dilation_rate=2), "dilation_rate"),
    (lambda: scanfit.layers.DepthwiseConv2D(3, depth_multiplier=0), "depth_multiplier"),
    (lambda: scanfit.layers.DepthwiseConv2D((3, 3, 3)), "kernel_size"),
    (lambda: scanfit.layers.DepthwiseConv2D(3, strides=0), "strides"),
    (lambda: scanfit.layers.SeparableConv2D(0, 3), "filters"),
    (lambda: scanfit.layers.SeparableConv2D(4, 3, padding="full"), "padding"),
    (lambda: scanfit.layers.SeparableConv2D(4, 3, data_format="NHWC"), "data_format"),
])
def test_bad_arguments_raise_value_errors_naming_the_argument(make, argument):
    with pytest.raises(ValueError, match=argument):
        make()


def test_aliases():
    assert scanfit.layers.Convolution2DTranspose is scanfit.layers.Conv2DTranspose
    assert scanfit.layers.SeparableConvolution2D is scanfit.layers.SeparableConv2D
    assert scanfit.layers.Convolution1DTranspose is scanfit.layers.Conv1DTranspose
    assert scanfit.layers.SeparableConvolution1D is scanfit.layers.SeparableConv1D
