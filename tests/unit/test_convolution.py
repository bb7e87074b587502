"""Conv1D and Conv2D against Keras 3 (outputs, gradients, shapes, configs) under both lowerings."""
import itertools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import LOWERINGS, compare_with_keras
from scanfit.layers import lowering


def _valid(strides, dilation):
    return max(np.atleast_1d(strides)) == 1 or max(np.atleast_1d(dilation)) == 1


CONV2D_CASES = [
    (kernel, strides, dilation, padding)
    for kernel, strides, dilation, padding in itertools.product(
        [1, 3, (2, 4)], [1, 2, (1, 3)], [1, 2, (1, 2)], ["valid", "same"])
    if _valid(strides, dilation)
]


@pytest.mark.parametrize("kernel,strides,dilation,padding", CONV2D_CASES)
def test_conv2d_matches_keras_forward_and_gradients(kernel, strides, dilation, padding, monkeypatch):
    """Every padding x stride x dilation combination, odd and even sizes (Keras's 'same' split)."""
    compare_with_keras(
        lambda L: L.Conv2D(5, kernel, strides=strides, padding=padding, dilation_rate=dilation),
        (2, 11, 10, 3), monkeypatch)


@pytest.mark.parametrize("options", [
    dict(activation="relu"),
    dict(use_bias=False, activation="tanh"),
    dict(groups=2, padding="same"),
    dict(groups=3, strides=2),
    dict(data_format="channels_first", padding="same", strides=2),
], ids=["relu", "no_bias", "groups2", "groups3_strided", "channels_first"])
def test_conv2d_options_match_keras(options, monkeypatch):
    compare_with_keras(lambda L: L.Conv2D(6, 3, **options), (2, 6, 9, 6), monkeypatch)


CONV1D_CASES = [
    (kernel, strides, dilation, padding)
    for kernel, strides, dilation, padding in itertools.product(
        [2, 3], [1, 2], [1, 3], ["valid", "same", "causal"])
    if _valid(strides, dilation)
]


@pytest.mark.parametrize("kernel,strides,dilation,padding", CONV1D_CASES)
def test_conv1d_matches_keras_forward_and_gradients(kernel, strides, dilation, padding, monkeypatch):
    compare_with_keras(
        lambda L: L.Conv1D(4, kernel, strides=strides, padding=padding, dilation_rate=dilation, activation="relu"),
        (3, 13, 5), monkeypatch)


@pytest.mark.parametrize("kernel,strides,dilation,padding", CONV2D_CASES[::3])
def test_both_lowerings_agree_on_values_and_gradients(kernel, strides, dilation, padding):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(3, 10, 9, 4)), jnp.float32)
    kernel_size = (kernel, kernel) if isinstance(kernel, int) else kernel
    w = jnp.asarray(rng.normal(size=kernel_size + (4, 6)), jnp.float32)
    strides = (strides, strides) if isinstance(strides, int) else strides
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    pads = lowering.padding_pairs(x.shape[1:-1], kernel_size, strides, dilation, padding)
    results = []
    for name in LOWERINGS:
        def objective(x, w):
            y = lowering.conv(x, w, strides, pads, dilation, lowering=name)
            return jnp.sum(jnp.sin(y)), y
        (_, y), grads = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(x, w)
        results.append((y, *grads))
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=5e-5, rtol=1e-5)


def test_same_padding_splits_like_keras():
    """The smaller half before, the larger after; nothing when the stride covers the input exactly."""
    assert lowering.padding_pairs((10,), (4,), (1,), (1,), "same") == ((1, 2),)
    assert lowering.padding_pairs((10,), (4,), (2,), (1,), "same") == ((1, 1),)
    assert lowering.padding_pairs((11,), (2,), (2,), (1,), "same") == ((0, 1),)
    assert lowering.padding_pairs((9,), (3,), (1,), (2,), "same") == ((2, 2),)
    assert lowering.padding_pairs((9,), (3,), (1,), (2,), "causal") == ((4, 0),)


def test_weights_have_keras_names_shapes_and_initialization():
    layer = scanfit.layers.Conv2D(16, 3, name="conv")
    layer.build_for((None, 28, 28, 3))
    assert [(v.path, v.shape) for v in layer.weights] == [("conv/kernel", (3, 3, 3, 16)), ("conv/bias", (16,))]
    limit = np.sqrt(6 / (9 * 3 + 9 * 16))  # glorot_uniform with the receptive field in both fans
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit
    assert layer.count_params() == 3 * 3 * 3 * 16 + 16


@pytest.mark.parametrize("kwargs,argument", [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=(3,)), "kernel_size"),
    (dict(kernel_size="3"), "kernel_size"),
    (dict(kernel_size=3.5), "kernel_size"),
    (dict(kernel_size=3, strides=0), "strides"),
    (dict(kernel_size=3, strides=(1, -1)), "strides"),
    (dict(kernel_size=3, dilation_rate=(1, 2, 3)), "dilation_rate"),
    (dict(kernel_size=3, padding="full"), "padding"),
    (dict(kernel_size=3, padding="causal"), "padding"),
    (dict(kernel_size=3, data_format="nhwc"), "data_format"),
    (dict(kernel_size=3, strides=2, dilation_rate=2), "strides > 1 with dilation_rate > 1"),
    (dict(kernel_size=3, groups=3), "divisible by groups"),
])
def test_bad_arguments_raise_value_errors_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        scanfit.layers.Conv2D(4, **kwargs)


def test_bad_filters_and_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="filters"):
        scanfit.layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="4 axes"):
        scanfit.layers.Conv2D(4, 3).build_for((None, 28, 28))
    with pytest.raises(ValueError, match="too small"):
        scanfit.layers.Conv2D(4, 5).build_for((None, 3, 3, 1))
    with pytest.raises(ValueError, match="divisible by groups"):
        scanfit.layers.Conv2D(4, 3, groups=2).build_for((None, 8, 8, 3))


def test_lowering_is_chosen_per_backend_and_overridable(monkeypatch):
    monkeypatch.delenv(lowering.ENV_VAR, raising=False)
    assert lowering.default_lowering() == ("patches" if jax.default_backend() == "cpu" else "xla")
    monkeypatch.setenv(lowering.ENV_VAR, "XLA")
    assert lowering.default_lowering() == "xla"
    monkeypatch.setenv(lowering.ENV_VAR, "im2col")
    with pytest.raises(ValueError, match=lowering.ENV_VAR):
        lowering.default_lowering()


def test_keras_aliases_are_the_same_classes():
    assert scanfit.layers.Convolution2D is scanfit.layers.Conv2D
    assert scanfit.layers.Convolution1D is scanfit.layers.Conv1D
    assert scanfit.layers.LAYER_CLASSES["Conv2D"] is scanfit.layers.Conv2D


def _small_cnn(k):
    return k.Sequential([
        k.Input(shape=(12, 12, 2)),
        k.layers.Conv2D(6, 3, padding="same", activation="relu"),
        k.layers.MaxPooling2D(2),
        k.layers.Conv2D(5, 2, strides=2, activation="relu"),
        k.layers.GlobalAveragePooling2D(),
        k.layers.Dense(3, activation="softmax"),
    ])


@pytest.mark.parametrize("lowering_name", LOWERINGS)
def test_cnn_trained_in_a_scanned_epoch_matches_keras(lowering_name, monkeypatch):
    """Same weights, same batches (no shuffle): the same losses and weights after training, in both lowerings."""
    monkeypatch.setenv(lowering.ENV_VAR, lowering_name)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(96, 12, 12, 2)).astype("float32")
    y = rng.integers(0, 3, size=96)
    k_model, s_model = _small_cnn(keras), _small_cnn(scanfit)
    s_model.set_weights(k_model.get_weights())
    for model in (k_model, s_model):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    k_history = k_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-4)
    for s_w, k_w in zip(s_model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(s_w, k_w, atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(s_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-5)
