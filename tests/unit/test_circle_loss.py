"""keras.losses.Circle and keras.losses.circle against Keras 3 (JAX backend): values, reductions (Keras leaves the
embeddings with no positive out of the mean), gradients, configs and look-up."""
import jax
import keras
import numpy as np
import pytest

import scanfit
from scanfit import losses


def embeddings(seed, count=8, dim=5):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=(count, dim)).astype("float32")
    return e / np.linalg.norm(e, axis=1, keepdims=True)


LABELS = np.asarray([0, 0, 1, 1, 1, 2, 3, 0])  # labels 2 and 3 have no positive


def close(got, expected):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"gamma": 8, "margin": 0.25}, {"remove_diagonal": False},
                                    {"gamma": 30.0, "margin": 0.1, "remove_diagonal": False}])
def test_function_equals_keras(kwargs):
    for seed in range(3):
        close(losses.circle(LABELS, embeddings(seed), **kwargs), keras.losses.circle(LABELS, embeddings(seed),
                                                                                     **kwargs))
    # separate references, labelled as a column
    ref_labels, references = np.asarray([[1], [0], [4]]), embeddings(9, count=3)
    close(losses.circle(LABELS[:, None], embeddings(1), ref_labels, references, **kwargs),
          keras.losses.circle(LABELS[:, None], embeddings(1), ref_labels, references, **kwargs))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None])
def test_class_equals_keras_for_each_reduction(reduction):
    weights = np.linspace(0.5, 2.0, len(LABELS)).astype("float32")
    for kwargs in ({}, {"gamma": 10.0, "margin": 0.3}, {"remove_diagonal": False}):
        ours, theirs = losses.Circle(reduction=reduction, **kwargs), keras.losses.Circle(reduction=reduction, **kwargs)
        close(ours(LABELS, embeddings(4)), theirs(LABELS, embeddings(4)))
        close(ours(LABELS, embeddings(4), sample_weight=weights), theirs(LABELS, embeddings(4), sample_weight=weights))


def test_mean_leaves_out_embeddings_without_positives():
    e = embeddings(5)
    per_sample = np.asarray(losses.circle(LABELS, e))
    assert (per_sample[[5, 6]] == 0).all() and (per_sample[[0, 1, 2, 3, 4, 7]] > 0).all()
    close(losses.Circle()(LABELS, e), per_sample.sum() / 6)


def test_gradients_equal_keras():
    e = embeddings(6)
    for kwargs in ({}, {"gamma": 16.0, "margin": 0.2, "remove_diagonal": False}):
        ours = jax.grad(lambda x: losses.Circle(**kwargs)(LABELS, x))(e)
        theirs = jax.grad(lambda x: keras.losses.Circle(**kwargs)(LABELS, x))(e)
        assert np.isfinite(ours).all() and np.abs(ours).max() > 0
        close(ours, theirs)
        ours = jax.grad(lambda x: losses.circle(LABELS, x, **kwargs).sum())(e)
        theirs = jax.grad(lambda x: keras.losses.circle(LABELS, x, **kwargs).sum())(e)
        close(ours, theirs)


def test_config_serialization_and_look_up_like_keras():
    ours, theirs = losses.Circle(gamma=20.0, margin=0.3, remove_diagonal=False, name="c"), keras.losses.Circle(
        gamma=20.0, margin=0.3, remove_diagonal=False, name="c")
    assert ours.get_config() == theirs.get_config()
    assert losses.Circle().get_config() == keras.losses.Circle().get_config()
    rebuilt = keras.losses.deserialize(losses.serialize(ours))
    close(rebuilt(LABELS, embeddings(7)), ours(LABELS, embeddings(7)))
    rebuilt = losses.deserialize(keras.losses.serialize(theirs))
    assert type(rebuilt) is losses.Circle and rebuilt.get_config() == ours.get_config()
    assert losses.get("circle") is losses.circle and isinstance(losses.get("Circle"), losses.Circle)
    assert losses.serialize(losses.circle) == keras.losses.serialize(keras.losses.circle)


@pytest.mark.parametrize("y", [[0, 0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 2, 2, 3, 4], [0, 1, 1, 2, 0, 0, 3, 4]],
                         ids=["all-paired", "unpaired-last", "unpaired-both-batches"])
def test_a_model_trains_like_keras(y):
    """In fit and evaluate too, an embedding with no positive in its batch is left out of the batch's mean."""
    x = np.random.default_rng(8).normal(size=(8, 4)).astype("float32")
    y = np.asarray(y)

    def build(K, loss):
        model = K.Sequential([K.Input((4,)), K.layers.Dense(3), K.layers.UnitNormalization()])
        model.compile(K.optimizers.SGD(0.05), loss)
        return model

    theirs = build(keras, keras.losses.Circle(gamma=16.0))
    ours = build(scanfit, scanfit.losses.Circle(gamma=16.0))
    ours.set_weights(theirs.get_weights())
    expected = theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"]
    close(ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"], expected)
    for mine, reference in zip(ours.get_weights(), theirs.get_weights()):
        close(mine, reference)
    close(ours.evaluate(x, y, batch_size=8, verbose=0), theirs.evaluate(x, y, batch_size=8, verbose=0))
