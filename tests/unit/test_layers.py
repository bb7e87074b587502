"""Every dense-network layer against Keras 3: same weights, same outputs."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(0)


def _pair(make):
    """The same layer built in Keras and in scanfit (via the same constructor call)."""
    return make(keras.layers), make(scanfit.layers)


def _compare(make, input_shape, training=False, atol=1e-5):
    k_layer, s_layer = _pair(make)
    x = RNG.normal(size=input_shape).astype("float32") * 2
    k_out = np.asarray(k_layer(x, training=training))
    s_layer.build_for(x.shape)
    s_layer.set_weights([RNG.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()] or [])
    k_layer.set_weights(s_layer.get_weights())
    k_out = np.asarray(k_layer(x, training=training))
    s_out = np.asarray(s_layer(x, training=training))
    np.testing.assert_allclose(s_out, k_out, atol=atol, rtol=1e-5)
    return k_layer, s_layer


ACTIVATIONS = ["relu", "sigmoid", "softmax", "tanh", "selu", "elu", "leaky_relu", "gelu", "silu", "swish",
               "softplus", "linear", None]


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_with_each_activation_matches_keras(activation):
    _compare(lambda L: L.Dense(7, activation=activation), (5, 4))


def test_dense_without_bias_and_on_3d_input_matches_keras():
    k, s = _compare(lambda L: L.Dense(3, use_bias=False), (2, 5, 4))
    assert [w.shape for w in s.get_weights()] == [(4, 3)]


@pytest.mark.parametrize("make", [
    lambda L: L.Flatten(),
    lambda L: L.Activation("tanh"),
    lambda L: L.ReLU(),
    lambda L: L.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.5),
    lambda L: L.LeakyReLU(),
    lambda L: L.LeakyReLU(negative_slope=0.1),
    lambda L: L.PReLU(),
    lambda L: L.ELU(alpha=0.5),
    lambda L: L.Softmax(),
    lambda L: L.Reshape((12,)),
], ids=["flatten", "activation", "relu", "relu_args", "leaky", "leaky_args", "prelu", "elu", "softmax", "reshape"])
def test_parameter_free_and_activation_layers_match_keras(make):
    _compare(make, (3, 4, 3))


@pytest.mark.parametrize("training", [False, True])
def test_batch_normalization_matches_keras_in_both_modes(training):
    k, s = _compare(lambda L: L.BatchNormalization(), (16, 6), training=training)
    assert [v.path for v in s.variables] == [f"{s.name}/gamma", f"{s.name}/beta",
                                              f"{s.name}/moving_mean", f"{s.name}/moving_variance"]
    assert [v.trainable for v in s.variables] == [True, True, False, False]


def test_batch_normalization_updates_moving_statistics_like_keras():
    k_layer, s_layer = _pair(lambda L: L.BatchNormalization(momentum=0.9))
    x = RNG.normal(loc=3.0, scale=2.0, size=(32, 5)).astype("float32")
    k_layer(x, training=True)
    s_layer.build_for(x.shape)
    weights = s_layer.weight_values()
    _, updates = s_layer.pure_call(weights, x, training=True)
    np.testing.assert_allclose(updates["moving_mean"], k_layer.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(updates["moving_variance"], k_layer.moving_variance.numpy(), rtol=1e-5)


def test_dropout_is_identity_at_inference_and_scales_kept_units_in_training():
    layer = scanfit.layers.Dropout(0.3)
    x = np.ones((200, 50), "float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    import jax

    y, _ = layer.pure_call({}, x, training=True, rng=jax.random.PRNGKey(0))
    y = np.asarray(y)
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02


def test_automatic_names_follow_keras_numbering():
    names = [scanfit.layers.Dense(2).name for _ in range(3)]
    numbers = [0 if name == "dense" else int(name.rsplit("_", 1)[1]) for name in names]
    assert all(name.startswith("dense") for name in names)
    assert numbers == [numbers[0], numbers[0] + 1, numbers[0] + 2]
    assert scanfit.layers.BatchNormalization().name.startswith("batch_normalization")


def test_unknown_constructor_keyword_is_a_clear_type_error():
    with pytest.raises(TypeError, match="unitz"):
        scanfit.layers.Dense(3, unitz=4)
    with pytest.raises(ValueError, match="Dropout rate"):
        scanfit.layers.Dropout(1.5)
    with pytest.raises(ValueError, match="Unknown activation"):
        scanfit.layers.Dense(3, activation="relux")


def test_set_weights_checks_count_and_shapes():
    layer = scanfit.layers.Dense(3)
    layer.build_for((None, 4))
    with pytest.raises(ValueError, match="expects 2 arrays"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"has shape \(4, 3\)"):
        layer.set_weights([np.zeros((3, 3)), np.zeros(3)])


@pytest.mark.parametrize("make, input_shape, names", [
    (lambda L: L.Dense(3), (2, 4), ["kernel", "bias"]),
    (lambda L: L.Conv2D(2, 3), (1, 5, 5, 1), ["kernel", "bias"]),
    (lambda L: L.BatchNormalization(), (2, 4), ["gamma", "beta", "moving_mean", "moving_variance"]),
    (lambda L: L.Embedding(7, 2), (2, 3), ["embeddings"]),
])
def test_a_layer_holds_its_weights_as_attributes_as_in_keras(make, input_shape, names):
    k_layer, s_layer = _pair(make)
    k_layer.build(input_shape)
    s_layer.build_for(input_shape)
    for name in names:
        ours, theirs = getattr(s_layer, name), getattr(k_layer, name)
        assert ours.name == theirs.name == name and tuple(ours.shape) == tuple(theirs.shape)
        assert any(ours is weight for weight in s_layer.weights)
    with pytest.raises(AttributeError, match="no attribute 'kernal'"):
        s_layer.kernal  # noqa: B018 - a misspelt weight is an AttributeError, as for any attribute
