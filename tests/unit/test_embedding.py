"""Embedding and Masking against Keras 3: lookups, gradients, masks, and the index checks."""
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit


def _twins(**kwargs):
    k_layer, s_layer = keras.layers.Embedding(12, 3, **kwargs), scanfit.layers.Embedding(12, 3, **kwargs)
    k_layer.build((None, 5))
    s_layer.build_for((None, 5))
    weights = np.random.default_rng(0).normal(size=(12, 3)).astype("float32")
    k_layer.set_weights([weights])
    s_layer.set_weights([weights])
    return k_layer, s_layer


def test_lookup_gradient_and_mask_match_keras():
    k_layer, s_layer = _twins(mask_zero=True)
    x = np.array([[0, 3, 11, 3, 0], [5, 5, 0, 1, 2]])
    cotangent = jnp.asarray(np.random.default_rng(1).normal(size=(2, 5, 3)), jnp.float32)

    def k_objective(table):
        y, _ = k_layer.stateless_call([table], [], jnp.asarray(x))
        return jnp.sum(y * cotangent), y

    def s_objective(table):
        y, _ = s_layer.pure_call({"embeddings": table}, jnp.asarray(x, jnp.float32))  # the engine feeds float32
        return jnp.sum(y * cotangent), y

    (_, k_y), k_grad = jax.value_and_grad(k_objective, has_aux=True)(k_layer.embeddings.value)
    (_, s_y), s_grad = jax.value_and_grad(s_objective, has_aux=True)(s_layer.weight_values()["embeddings"])
    np.testing.assert_allclose(s_y, k_y, rtol=1e-6)
    np.testing.assert_allclose(s_grad, k_grad, rtol=1e-6)
    np.testing.assert_array_equal(s_layer.compute_mask(jnp.asarray(x), None), k_layer.compute_mask(x))
    assert _twins()[1].compute_mask(jnp.asarray(x), None) is None
    assert s_layer.compute_output_shape((None, 5)) == tuple(k_layer.compute_output_shape((None, 5)))


def test_default_initializer_and_input_length():
    layer = scanfit.layers.Embedding(1000, 8, input_length=20)
    model = scanfit.Sequential([layer])
    assert model.input_shape == (None, 20) and model.output_shape == (None, 20, 8)
    values = layer.get_weights()[0]
    assert values.shape == (1000, 8) and np.abs(values).max() <= 0.05 and values.std() > 0.02


def test_check_indices_refuses_what_would_be_garbage():
    layer = scanfit.layers.Embedding(10, 2, name="words")
    layer.check_indices(np.array([[0, 9], [3, 4]]))
    layer.check_indices(np.array([[0.0, 9.0]], np.float32))
    with pytest.raises(ValueError, match=r"'words'.*index 10, outside \[0, 10\)"):
        layer.check_indices(np.array([[1, 10]]))
    with pytest.raises(ValueError, match=r"index -1, outside"):
        layer.check_indices(np.array([[-1, 2]]))
    with pytest.raises(ValueError, match="not an integer index"):
        layer.check_indices(np.array([[1.5, 2]]))
    with pytest.raises(TypeError, match="integer indices"):
        layer.check_indices(np.array([["a"]]))


def test_out_of_range_in_the_program_is_nan_not_a_clamped_row():
    layer = scanfit.layers.Embedding(4, 2)
    layer.build_for((None, 3))
    y = jax.jit(lambda w, x: layer.pure_call(w, x)[0])(layer.weight_values(), jnp.asarray([[0.0, 4.0, 3.0]]))
    assert np.isnan(y[0, 1]).all() and np.isfinite(y[0, [0, 2]]).all()


def test_masking_matches_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    x[0, 1] = 7.0
    x[2, 3] = 7.0
    x[1, 0, 0] = 7.0  # only one feature equal: not masked
    k_layer, s_layer = keras.layers.Masking(7.0), scanfit.layers.Masking(7.0)
    y, _ = s_layer.pure_call({}, jnp.asarray(x))
    np.testing.assert_allclose(y, k_layer(x))
    np.testing.assert_array_equal(s_layer.compute_mask(jnp.asarray(x), None), k_layer.compute_mask(x))
    with pytest.raises(TypeError, match="mask_value must be a number"):
        scanfit.layers.Masking("0")
