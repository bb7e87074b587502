"""CategoryEncoding against Keras 3 on JAX: every output mode on 1D and 2D index arrays, count weights, a model
that trains on encoded categories, configs and files; bad arguments fail clearly."""
import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import train_both_alike

RNG = np.random.default_rng(12)
INDICES = {"vector": RNG.integers(0, 5, size=6), "column": RNG.integers(0, 5, size=(6, 1)),
           "rows": RNG.integers(0, 5, size=(6, 3))}


@pytest.mark.parametrize("mode", ["multi_hot", "one_hot", "count", "binary"])
@pytest.mark.parametrize("shape", sorted(INDICES))
def test_outputs_equal_keras(mode, shape):
    x = INDICES[shape]
    expected = np.asarray(keras.layers.CategoryEncoding(5, output_mode=mode)(x))
    layer = scanfit.layers.CategoryEncoding(5, output_mode=mode)
    got = np.asarray(layer(x))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert layer.compute_output_shape(x.shape) == expected.shape
    k_config = keras.layers.CategoryEncoding(5, output_mode=mode).get_config()
    s_config = layer.get_config()
    k_config.pop("name"), s_config.pop("name")
    assert s_config == {**k_config, "output_mode": "multi_hot" if mode == "binary" else mode}


def test_count_weights_equal_keras():
    x = INDICES["rows"]
    weights = RNG.uniform(size=x.shape).astype("float32")
    expected = keras.layers.CategoryEncoding(5, output_mode="count")(x, count_weights=weights)
    got = scanfit.layers.CategoryEncoding(5, output_mode="count")(x, count_weights=weights)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)


def test_encoded_categories_train_like_keras(tmp_path):
    categories = RNG.integers(0, 4, size=(40, 2))
    y = (categories[:, :1] == 2).astype("float32")
    models = []
    for K in (keras, scanfit):
        inputs = K.Input((2,), dtype="int32")
        encoded = K.layers.CategoryEncoding(4, output_mode="multi_hot")(inputs)
        models.append(K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(encoded)))
    train_both_alike(models, categories, y, RNG)
    models[1].save(tmp_path / "m.keras")
    for loaded in (keras.models.load_model(tmp_path / "m.keras"), scanfit.models.load_model(tmp_path / "m.keras")):
        np.testing.assert_allclose(loaded.predict(categories, verbose=0), models[1].predict(categories, verbose=0),
                                   rtol=1e-6)


@pytest.mark.parametrize("make, words", [
    (lambda: scanfit.layers.CategoryEncoding(), "needs num_tokens"),
    (lambda: scanfit.layers.CategoryEncoding(3, output_mode="tf_idf"), "output_mode must be one of"),
    (lambda: scanfit.layers.CategoryEncoding(3, sparse=True), "sparse=True"),
    (lambda: scanfit.layers.CategoryEncoding(3)(INDICES["rows"], count_weights=np.ones((6, 3))),
     "count_weights needs output_mode='count'"),
])
def test_bad_arguments_fail_clearly(make, words):
    with pytest.raises(ValueError, match=words):
        make()
