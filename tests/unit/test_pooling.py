"""Pooling layers against Keras 3 (outputs, gradients, shapes, configs) under both lowerings."""
import itertools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit
from scanfit.layers import lowering


def oracle(k_layer, x, cotangent):
    """Keras's output and d sum(output * cotangent) / dx."""
    def objective(x):
        y, _ = k_layer.stateless_call([], [], x)
        return jnp.sum(y * cotangent), y

    (_, y), d_x = jax.jit(jax.value_and_grad(objective, has_aux=True))(x)
    return np.asarray(y), np.asarray(d_x)


def ours(s_layer, x, cotangent):
    def objective(x):
        y, _ = s_layer.pure_call({}, x)
        return jnp.sum(y * cotangent), y

    (_, y), d_x = jax.jit(jax.value_and_grad(objective, has_aux=True))(x)
    return np.asarray(y), np.asarray(d_x)


def compare_with_keras(make, input_shape, monkeypatch, seed=0):
    """Same layer in Keras and scanfit: output shape, values and input gradient under each lowering."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=input_shape), jnp.float32)  # no ties: max has one gradient
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    expected_shape = tuple(k_layer.compute_output_shape(input_shape))
    s_layer.build_for(input_shape)
    assert s_layer.compute_output_shape(input_shape) == expected_shape
    cotangent = jnp.asarray(rng.normal(size=expected_shape), jnp.float32)
    k_y, k_dx = oracle(k_layer, x, cotangent)
    for name in lowering.LOWERINGS:
        monkeypatch.setenv(lowering.ENV_VAR, name)
        s_y, s_dx = ours(s_layer, x, cotangent)
        assert s_y.shape == expected_shape, name
        np.testing.assert_allclose(s_y, k_y, atol=1e-6, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(s_dx, k_dx, atol=1e-6, rtol=1e-5, err_msg=name)


POOL2D_CASES = list(itertools.product([2, 3, (2, 3)], [None, 1, 2, (3, 1)], ["valid", "same"]))


@pytest.mark.parametrize("mode", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize("pool_size,strides,padding", POOL2D_CASES)
def test_pooling2d_matches_keras_forward_and_gradients(mode, pool_size, strides, padding, monkeypatch):
    """Every pool size x stride x padding, on odd and even sizes (reshape and strided-slice paths)."""
    compare_with_keras(lambda L: getattr(L, mode)(pool_size, strides=strides, padding=padding),
                       (2, 9, 8, 3), monkeypatch)


@pytest.mark.parametrize("mode", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("pool_size,strides,padding",
                         list(itertools.product([2, 3], [None, 1, 2], ["valid", "same"])))
def test_pooling1d_matches_keras_forward_and_gradients(mode, pool_size, strides, padding, monkeypatch):
    compare_with_keras(lambda L: getattr(L, mode)(pool_size, strides=strides, padding=padding),
                       (3, 11, 4), monkeypatch)


@pytest.mark.parametrize("mode", ["MaxPooling2D", "AveragePooling2D"])
def test_channels_first_pooling_matches_keras(mode, monkeypatch):
    compare_with_keras(lambda L: getattr(L, mode)(2, padding="same", data_format="channels_first"),
                       (2, 3, 7, 6), monkeypatch)


@pytest.mark.parametrize("make,input_shape", [
    (lambda L: L.GlobalAveragePooling2D(), (2, 5, 6, 3)),
    (lambda L: L.GlobalMaxPooling2D(), (2, 5, 6, 3)),
    (lambda L: L.GlobalAveragePooling2D(keepdims=True), (2, 5, 6, 3)),
    (lambda L: L.GlobalMaxPooling2D(data_format="channels_first", keepdims=True), (2, 3, 5, 6)),
    (lambda L: L.GlobalAveragePooling1D(), (2, 7, 3)),
    (lambda L: L.GlobalMaxPooling1D(keepdims=True), (2, 7, 3)),
], ids=["gap2d", "gmp2d", "gap2d_keepdims", "gmp2d_channels_first", "gap1d", "gmp1d_keepdims"])
def test_global_pooling_matches_keras(make, input_shape, monkeypatch):
    compare_with_keras(make, input_shape, monkeypatch)


@pytest.mark.parametrize("pool_size,strides,padding", POOL2D_CASES[::2])
def test_max_pooling_with_ties_gives_each_window_its_whole_gradient(pool_size, strides, padding):
    """Tied maxima: 'xla' routes a window's gradient to its first maximum, 'patches' splits it
    between them; either way each window passes on exactly its own gradient."""
    window = (pool_size,) * 2 if isinstance(pool_size, int) else pool_size
    steps = window if strides is None else ((strides,) * 2 if isinstance(strides, int) else strides)
    x = jnp.asarray(np.random.default_rng(2).integers(0, 3, size=(2, 7, 8, 3)), jnp.float32)
    pads = lowering.padding_pairs(x.shape[1:-1], window, steps, (1, 1), padding)
    outputs = []
    for name in lowering.LOWERINGS:
        def total(x):
            return jnp.sum(lowering.pool(x, "max", window, steps, pads, lowering=name))

        y = lowering.pool(x, "max", window, steps, pads, lowering=name)
        grad = np.asarray(jax.grad(total)(x))
        outputs.append(np.asarray(y))
        assert grad.sum() == pytest.approx(y.size)
        assert grad.min() >= 0
        if name == "xla" and steps == window:
            assert set(np.unique(grad)) <= {0.0, 1.0}
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_average_pooling_same_divides_by_the_real_values_in_each_window():
    x = np.ones((1, 5, 5, 1), "float32")
    y = np.asarray(scanfit.layers.AveragePooling2D(2, padding="same")(x))
    np.testing.assert_array_equal(y, np.ones((1, 3, 3, 1)))
    counts = lowering.window_counts((5, 5), (2, 2), (2, 2), ((0, 1), (0, 1)))
    np.testing.assert_array_equal(counts, [[4, 4, 2], [4, 4, 2], [2, 2, 1]])


def test_defaults_follow_keras_and_tf_keras():
    layer = scanfit.layers.MaxPooling2D(3)
    assert layer.strides == (3, 3) and layer.padding == "valid"
    assert scanfit.layers.AveragePooling2D().pool_size == (2, 2)  # tf.keras 2 default (Keras 3 requires it)
    assert scanfit.layers.MaxPooling2D(padding="SAME").padding == "same"
    assert scanfit.layers.MaxPool2D is scanfit.layers.MaxPooling2D
    assert scanfit.layers.AvgPool1D is scanfit.layers.AveragePooling1D
    assert scanfit.layers.GlobalAvgPool2D is scanfit.layers.GlobalAveragePooling2D
    for name in ("MaxPooling2D", "AveragePooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D"):
        assert scanfit.layers.LAYER_CLASSES[name].__name__ == name


@pytest.mark.parametrize("kwargs,argument", [
    (dict(pool_size=0), "pool_size"),
    (dict(pool_size=(2, 2, 2)), "pool_size"),
    (dict(pool_size="2"), "pool_size"),
    (dict(strides=0), "strides"),
    (dict(strides=(2,)), "strides"),
    (dict(padding="causal"), "padding"),
    (dict(padding=1), "padding"),
    (dict(data_format="NHWC"), "data_format"),
])
def test_bad_arguments_raise_value_errors_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        scanfit.layers.MaxPooling2D(**kwargs)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="4 axes"):
        scanfit.layers.MaxPooling2D(2).build_for((None, 28, 28))
    with pytest.raises(ValueError, match="too small"):
        scanfit.layers.MaxPooling2D(3).build_for((None, 2, 2, 1))
    with pytest.raises(ValueError, match="3 axes"):
        scanfit.layers.GlobalAveragePooling1D().build_for((None, 4, 4, 2))
    with pytest.raises(ValueError, match="'max' or 'average'"):
        lowering.pool(jnp.zeros((1, 4, 4, 1)), "min", (2, 2), (2, 2), ((0, 0), (0, 0)))
