"""Shared oracle for layer tests: a scanfit layer against the same Keras 3 layer, outputs and gradients."""
import jax
import jax.numpy as jnp
import keras
import numpy as np

import scanfit
from scanfit.layers import lowering

LOWERINGS = lowering.LOWERINGS


def oracle(k_layer, x, cotangent):
    """Keras's output and the gradients of sum(output * cotangent) for (trainable weights..., x)."""
    trainable = [v.value for v in k_layer.trainable_variables]
    fixed = [v.value for v in k_layer.non_trainable_variables]

    def objective(trainable, x):
        y, _ = k_layer.stateless_call(trainable, fixed, x)
        return jnp.sum(y * cotangent), y

    (_, y), (d_weights, d_x) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(trainable, x)
    return np.asarray(y), [np.asarray(g) for g in d_weights] + [np.asarray(d_x)]


def ours(s_layer, x, cotangent, training=False):
    """scanfit's output and gradients in the same order as `oracle` (weights in Keras's order, then x)."""
    names = [v.short_name for v in s_layer.weights]

    def objective(weights, x):
        y, _ = s_layer.pure_call(weights, x, training=training)
        return jnp.sum(y * cotangent), y

    (_, y), (d_weights, d_x) = jax.jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))(
        s_layer.weight_values(), x)
    return np.asarray(y), [np.asarray(d_weights[n]) for n in names] + [np.asarray(d_x)]


def compare_with_keras(make, input_shape, monkeypatch, seed=0, atol=2e-5):
    """Build `make(keras.layers)` and `make(scanfit.layers)` with the same weights; compare shapes,
    outputs and gradients under each lowering."""
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=input_shape), jnp.float32)
    k_layer, s_layer = make(keras.layers), make(scanfit.layers)
    k_layer.build(input_shape)
    s_layer.build_for(input_shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()]
    k_layer.set_weights(weights)
    s_layer.set_weights(weights)
    expected_shape = tuple(k_layer.compute_output_shape(input_shape))
    assert s_layer.compute_output_shape(input_shape) == expected_shape
    cotangent = jnp.asarray(rng.normal(size=expected_shape), jnp.float32)
    k_y, k_grads = oracle(k_layer, x, cotangent)
    assert k_y.shape == expected_shape
    for name in LOWERINGS:
        monkeypatch.setenv(lowering.ENV_VAR, name)
        s_y, s_grads = ours(s_layer, x, cotangent)
        assert s_y.shape == expected_shape, name
        np.testing.assert_allclose(s_y, k_y, atol=atol * max(1.0, float(np.abs(k_y).max())), rtol=1e-5, err_msg=name)
        for s_g, k_g in zip(s_grads, k_grads, strict=True):
            assert s_g.shape == k_g.shape, name
            np.testing.assert_allclose(s_g, k_g, atol=atol * max(1.0, float(np.abs(k_g).max())), rtol=1e-4,
                                       err_msg=name)
    return k_layer, s_layer


def train_both_alike(models, x, y, rng):
    """Give the (Keras, scanfit) `models` the same start drawn from `rng`, train each two epochs of SGD on binary
    cross-entropy, and check that their losses agree."""
    weights = [rng.normal(size=w.shape).astype("float32") for w in models[0].get_weights()]
    for model in models:
        model.set_weights(weights)
        model.compile(optimizer="sgd", loss="binary_crossentropy")
    histories = [model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0).history["loss"] for model in models]
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)


def tuples_as_lists(value):
    """A config with its tuples as lists (as a .keras file's JSON holds them)."""
    if isinstance(value, dict):
        return {key: tuples_as_lists(item) for key, item in value.items()}
    return [tuples_as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value


def assert_config_equals_keras(make):
    """The layer that `make(layers_module)` builds has Keras's config (names aside), and scanfit rebuilds
    Keras's config into a layer of that same config. Returns both configs (names removed)."""
    k_config, s_config = make(keras.layers).get_config(), make(scanfit.layers).get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == k_config
    rebuilt = type(make(scanfit.layers)).from_config(k_config).get_config()
    rebuilt.pop("name")
    assert rebuilt == s_config
    return k_config, s_config
