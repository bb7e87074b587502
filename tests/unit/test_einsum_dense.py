"""EinsumDense against Keras 3: kernel and bias shapes, outputs, configs, training and files."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(0)
CASES = [  # (equation, output_shape, bias_axes, input shape)
    ("ab,bc->ac", 4, "c", (None, 5)),  # Dense
    ("...b,bc->...c", 4, None, (None, 3, 5)),  # Dense on the last axis, whatever comes before it
    ("abc,cde->abde", (None, 2, 3), "de", (None, 4, 5)),  # into heads
    ("abc,cd->abd", (4, 3), "bd", (None, 4, 5)),  # a bias per step and unit
    ("ab...,bc->ac...", 3, "c", (None, 4, 5, 6)),  # the '...' axes on the right
    ("abcd,cde->abe", (3, 7), "e", (None, 3, 4, 5)),  # a product over two axes
]


@pytest.mark.parametrize("equation, output_shape, bias_axes, input_shape", CASES)
def test_einsum_dense_equals_keras(equation, output_shape, bias_axes, input_shape):
    layers = [library.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes, activation="relu")
              for library in (keras, scanfit)]
    for layer in layers:
        layer.build(input_shape)
    assert [v.shape for v in layers[1].weights] == [tuple(v.shape) for v in layers[0].weights]
    weights = [RNG.normal(size=v.shape).astype("float32") for v in layers[1].weights]
    for layer in layers:
        layer.set_weights(weights)
    x = RNG.normal(size=(2,) + input_shape[1:]).astype("float32")
    np.testing.assert_allclose(layers[1](x), layers[0](x), rtol=1e-5, atol=1e-6)
    expected = tuple(layers[0].compute_output_shape(input_shape))
    got = layers[1].compute_output_shape(input_shape)
    # Keras leaves an output size that output_shape gives as None unknown even where the input fixes it
    assert all(e is None or e == g for e, g in zip(expected, got)) and len(got) == len(expected)
    configs = [layer.get_config() for layer in layers]
    for config in configs:
        config.pop("name")
    assert configs[1] == configs[0]


def test_the_kernel_initializer_counts_the_kernel_axes_as_keras_3_does():
    """glorot_uniform on a (5, 2, 3) kernel: fan in 5 (the input axis), fan out 6 (the output axes), so its
    limit is sqrt(6 / 11), not the (2 x 5, 3 x 5) of a convolution kernel's shape."""
    layer = scanfit.layers.EinsumDense("abc,cde->abde", output_shape=(None, 200, 30), kernel_initializer="glorot_uniform")
    layer.build((None, 4, 50))
    kernel = layer.get_weights()[0]
    limit = np.sqrt(6 / (50 + 200 * 30))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit


def test_a_model_with_einsum_dense_trains_like_keras_and_files_interchange(tmp_path):
    x = RNG.normal(size=(64, 4, 6)).astype("float32")
    y = RNG.normal(size=(64, 1)).astype("float32")
    models = []
    for library in (keras, scanfit):
        model = library.Sequential([
            library.Input((4, 6)),
            library.layers.EinsumDense("abc,cde->abde", output_shape=(4, 2, 3), bias_axes="de", activation="relu"),
            library.layers.Flatten(), library.layers.Dense(1)])
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for expected, got in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    path = tmp_path / "einsum.keras"
    models[0].save(path)
    loaded = scanfit.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), models[0].predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_bad_equations_and_shapes_are_refused():
    with pytest.raises(ValueError, match="is not of the form"):
        scanfit.layers.EinsumDense("ab,bc", output_shape=4)
    with pytest.raises(ValueError, match="bias_axes 'x' name"):
        scanfit.layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="x").build((None, 3))
    with pytest.raises(ValueError, match="names 2 input axes, but the input has shape"):
        scanfit.layers.EinsumDense("ab,bc->ac", output_shape=4).build((None, 3, 5))
    with pytest.raises(ValueError, match="kernel axis 'z'"):
        scanfit.layers.EinsumDense("ab,bcz->ac", output_shape=4).build((None, 3))
    with pytest.raises(NotImplementedError, match="LoRA"):
        scanfit.layers.EinsumDense("ab,bc->ac", output_shape=4, lora_rank=2)
