"""keras.ops and Python's operators on symbolic tensors, against Keras 3: they add operations to a functional
graph whose outputs, shapes and dtypes equal Keras's, which train like Keras, and whose files (Keras's
operation classes, such as Add and NotEqual) move between the two libraries both ways."""
import keras
import numpy as np
import pytest

import scanfit

RNG = np.random.default_rng(83)
A = RNG.normal(size=(2, 4, 3)).astype("float32")
B = RNG.normal(size=(2, 4, 3)).astype("float32")


def _operations_model(K):
    ops = K.ops
    a, b = K.Input((4, 3)), K.Input((4, 3))
    outputs = [
        a + b, a * 2.0, 2.0 * a, 1.0 - a, a / (b + 3.0), -a, abs(a) ** 2, a // 1.0, a % 1.0,
        a[:, 0], a[:, 1:3, ...], a[..., ::2],
        ops.mean(a, axis=1), ops.sum(a, axis=[1, 2], keepdims=True), ops.max(a, axis=-1),
        ops.concatenate([a, b], axis=-1), ops.stack([a, b], axis=1), ops.reshape(a, (-1, 12)),
        ops.transpose(a, (0, 2, 1)), ops.expand_dims(a, 1), ops.squeeze(ops.expand_dims(a, 1), 1),
        ops.cast(a > 0, "float32"), ops.not_equal(a, 0), ops.logical_and(a > 0, b < 0), ~(a > 0),
        ops.where(a > 0, a, b), ops.clip(a, 0, 1), ops.softmax(a), ops.relu(a), ops.sigmoid(a), ops.exp(a),
        ops.matmul(a, ops.transpose(b, (0, 2, 1))), a @ ops.transpose(b, (0, 2, 1)),
        ops.one_hot(ops.argmax(a, axis=-1), 3), ops.logsumexp(a, axis=-1),
        ops.arctan(a), ops.celu(a, 0.5), ops.hard_shrink(a, 0.3), ops.erfinv(ops.tanh(a) * 0.5),
        ops.moveaxis(a, 1, 2), ops.swapaxes(a, 1, 2), ops.diff(a, axis=1), ops.amax(a, axis=1),
        ops.divide_no_nan(a, ops.relu(b)), ops.cross(a, b), ops.hstack([a, b]), ops.nan_to_num(a / 0.0),
    ]
    return K.Model([a, b], outputs)


@pytest.fixture(scope="module")
def models():
    k_model, s_model = _operations_model(keras), _operations_model(scanfit)
    return k_model, s_model, k_model.predict([A, B], verbose=0)


def test_operations_equal_keras(models):
    k_model, s_model, expected = models
    got = s_model.predict([A, B], verbose=0)
    assert len(got) == len(expected)
    for mine, theirs, k_tensor, s_tensor in zip(got, expected, k_model.outputs, s_model.outputs):
        assert tuple(s_tensor.shape) == tuple(k_tensor.shape)
        assert s_tensor.dtype == k_tensor.dtype
        np.testing.assert_allclose(np.asarray(mine, float), np.asarray(theirs, float), rtol=1e-6, atol=1e-6)
    assert len(s_model.layers) == len(k_model.layers) == 2  # the inputs: operations are not listed, as in Keras


@pytest.mark.parametrize("direction", ["scanfit to keras", "keras to scanfit", "scanfit to scanfit"])
def test_files_with_operations_move_both_ways(models, tmp_path, direction):
    k_model, s_model, expected = models
    writer, reader = {"scanfit to keras": (s_model, keras), "keras to scanfit": (k_model, scanfit),
                      "scanfit to scanfit": (s_model, scanfit)}[direction]
    writer.save(tmp_path / "m.keras")
    loaded = reader.models.load_model(tmp_path / "m.keras")
    for got, theirs in zip(loaded.predict([A, B], verbose=0), expected):
        np.testing.assert_allclose(np.asarray(got, float), np.asarray(theirs, float), rtol=1e-6, atol=1e-6)


def test_a_model_with_operations_trains_like_keras():
    """A residual sum, a mean over the steps and a scale: Keras 3 code writes them as operators and ops."""
    x = RNG.normal(size=(32, 5, 4)).astype("float32")
    y = RNG.normal(size=(32, 1)).astype("float32")

    def build(K):
        inputs = K.Input((5, 4))
        hidden = K.layers.Dense(4, activation="tanh")(inputs)
        pooled = K.ops.mean(hidden + inputs, axis=1) * 0.5
        return K.Model(inputs, K.layers.Dense(1)(pooled))

    k_model, s_model = build(keras), build(scanfit)
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    for model in (k_model, s_model):
        model.set_weights(weights)
        model.compile(optimizer="adam", loss="mse")
    k_history = k_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    s_history = s_model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_allclose(s_history.history["loss"], k_history.history["loss"], rtol=1e-5)
    for mine, theirs in zip(s_model.get_weights(), k_model.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_symbolic_shape_and_refusals():
    tokens = scanfit.Input((None,), dtype="int32")
    assert scanfit.ops.shape(tokens) == (None, None)
    assert scanfit.ops.not_equal(tokens, 0).dtype == "bool"
    with pytest.raises(TypeError, match="ops.einsum cannot be applied to symbolic tensors"):
        scanfit.ops.einsum("bi,bi->b", tokens, tokens)
    with pytest.raises(TypeError, match="holds no values"):
        np.asarray(tokens + 1)
