"""Discretization against Keras 3 on JAX (which runs it without TensorFlow): outputs in every mode, adapted
boundaries from arrays and from batches, configs, a model on binned inputs and its files both ways."""
import itertools

import keras
import numpy as np
import pytest

import scanfit
from layer_oracle import train_both_alike

RNG = np.random.default_rng(21)
X = np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]], dtype="float32")


def keras_adapt(layer, batches):
    """What Keras's adapt does for arrays and batches (its adapt itself imports TensorFlow, absent here)."""
    layer.reset_state()
    for batch in batches:
        layer.update_state(batch)
    layer.finalize_state()


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("x", [X, X[:, :1], X[0]], ids=["rows", "column", "vector"])
def test_outputs_shapes_dtypes_and_configs_equal_keras(mode, x):
    expected = np.asarray(keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)(x))
    layer = scanfit.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode)
    got = np.asarray(layer(x))
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert layer.compute_output_shape(x.shape) == expected.shape
    keras_config = keras.layers.Discretization(bin_boundaries=[0.0, 1.0, 2.0], output_mode=mode).get_config()
    config = layer.get_config()
    assert {k: v for k, v in config.items() if k not in ("name", "dtype")} == {
        k: v for k, v in keras_config.items() if k not in ("name", "dtype")}


@pytest.mark.parametrize("num_bins, epsilon", [(4, 0.01), (3, 0.05), (10, 0.01), (500, 0.01)])
def test_adapted_boundaries_equal_keras(num_bins, epsilon):
    ages = (RNG.normal(size=(1000, 1)) * 10 + 40).astype("float32")
    batches = [ages[i:i + 100] for i in range(0, 1000, 100)]
    for data, keras_batches in ((ages, [ages]), (iter(batches), batches)):
        theirs = keras.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
        keras_adapt(theirs, keras_batches)
        mine = scanfit.layers.Discretization(num_bins=num_bins, epsilon=epsilon)
        mine.adapt(data)
        assert mine.bin_boundaries == theirs.bin_boundaries
        np.testing.assert_array_equal(mine(ages[:50]), theirs(ages[:50]))
        clone = scanfit.layers.Discretization.from_config(mine.get_config())
        assert clone.bin_boundaries == mine.bin_boundaries and clone.num_bins == num_bins


def test_adapt_reads_only_steps_batches_of_an_endless_stream():
    ages = (RNG.normal(size=(2, 100, 1)) * 10 + 40).astype("float32")
    theirs = keras.layers.Discretization(num_bins=4)
    keras_adapt(theirs, ages)
    mine = scanfit.layers.Discretization(num_bins=4)
    mine.adapt(itertools.cycle(ages), steps=2)
    assert mine.bin_boundaries == theirs.bin_boundaries


def test_a_model_on_binned_ages_trains_like_keras_and_files_load_both_ways(tmp_path):
    ages = RNG.uniform(0, 90, size=(48, 1)).astype("float32")
    y = ((ages[:, 0] > 30) & (ages[:, 0] < 60)).astype("float32")
    models = []
    for K in (keras, scanfit):
        inputs = K.Input((1,))
        binned = K.layers.Discretization(bin_boundaries=[18.0, 30.0, 60.0], output_mode="one_hot")(inputs)
        models.append(K.Model(inputs, K.layers.Dense(1, activation="sigmoid")(binned)))
    train_both_alike(models, ages, y, RNG)
    for writer, reader in ((models[1], keras), (models[0], scanfit)):
        writer.save(tmp_path / "m.keras")
        loaded = reader.models.load_model(tmp_path / "m.keras")
        np.testing.assert_allclose(loaded.predict(ages, verbose=0), writer.predict(ages, verbose=0), rtol=1e-6)


def test_int_bins_feed_an_embedding_in_a_functional_model():
    inputs = scanfit.Input((1,))
    bins = scanfit.layers.Discretization(bin_boundaries=[10.0, 20.0])(inputs)
    assert bins.dtype == "int32"
    model = scanfit.Model(inputs, scanfit.layers.Flatten()(scanfit.layers.Embedding(3, 2)(bins)))
    out = model.predict(np.array([[5.0], [15.0], [25.0]], dtype="float32"), verbose=0)
    np.testing.assert_array_equal(out, model.layers[2].get_weights()[0])


@pytest.mark.parametrize("make, words", [
    (lambda: scanfit.layers.Discretization(), "either bin_boundaries"),
    (lambda: scanfit.layers.Discretization(bin_boundaries=[1.0], num_bins=2), "not both"),
    (lambda: scanfit.layers.Discretization(bin_boundaries=[2.0, 1.0]), "must be sorted"),
    (lambda: scanfit.layers.Discretization(num_bins=2, output_mode="tf_idf"), "output_mode must be one of"),
    (lambda: scanfit.layers.Discretization(num_bins=2, sparse=True), "sparse=True"),
    (lambda: scanfit.layers.Discretization(bin_boundaries=[1.0]).adapt(X), "give num_bins instead"),
    (lambda: scanfit.layers.Discretization(num_bins=2)(X), "has no bins yet"),
])
def test_bad_arguments_fail_clearly(make, words):
    with pytest.raises(ValueError, match=words):
        make()
