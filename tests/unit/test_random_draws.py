"""`keras.random`: Keras 3's draws with a fixed seed, the global stream or a `SeedGenerator`, eagerly and inside
a custom layer's call (Hands-on ML's and the Keras guide's variational autoencoder sampling layer)."""
import inspect

import numpy as np
import pytest

import scanfit
from scanfit import ops

RNG = np.random.default_rng(4)


def test_distributions_have_the_asked_moments_and_ranges():
    scanfit.utils.set_random_seed(0)
    normal = np.asarray(scanfit.random.normal((20000,), mean=2.0, stddev=3.0))
    assert normal.dtype == np.float32 and abs(normal.mean() - 2.0) < 0.1 and abs(normal.std() - 3.0) < 0.1
    uniform = np.asarray(scanfit.random.uniform((20000,), minval=-1.0, maxval=3.0))
    assert uniform.min() >= -1.0 and uniform.max() < 3.0 and abs(uniform.mean() - 1.0) < 0.05
    truncated = np.asarray(scanfit.random.truncated_normal((20000,), mean=1.0, stddev=0.5))
    assert truncated.min() >= 0.0 and truncated.max() <= 2.0 and abs(truncated.mean() - 1.0) < 0.02
    ints = np.asarray(scanfit.random.randint((20000,), 3, 7))
    assert ints.dtype == np.int32 and set(np.unique(ints)) == {3, 4, 5, 6}
    kept = np.asarray(scanfit.random.dropout(np.ones((100, 100), "float32"), 0.25))
    assert set(np.unique(kept)) == {0.0, np.float32(1 / 0.75)} and abs(np.mean(kept == 0) - 0.25) < 0.02
    rows = np.asarray(scanfit.random.dropout(np.ones((50, 8), "float32"), 0.5, noise_shape=(50, 1)))
    assert all(len(set(row)) == 1 for row in rows)  # one draw per row, broadcast along it
    shuffled = np.asarray(scanfit.random.shuffle(np.arange(10)))
    assert sorted(shuffled) == list(range(10)) and list(shuffled) != list(range(10))
    logits = np.log(np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]], "float32") + 1e-9)
    draws = np.asarray(scanfit.random.categorical(logits, 5000))
    assert draws.shape == (2, 5000) and abs(np.mean(draws[0] == 0) - 0.7) < 0.03 and set(draws[1]) == {2}


def test_seeds_decide_repetition():
    assert np.array_equal(scanfit.random.normal((5,), seed=3), scanfit.random.normal((5,), seed=3))
    assert not np.array_equal(scanfit.random.normal((5,)), scanfit.random.normal((5,)))
    generator = scanfit.random.SeedGenerator(7)
    first, second = scanfit.random.normal((5,), seed=generator), scanfit.random.normal((5,), seed=generator)
    assert not np.array_equal(first, second)
    again = scanfit.random.SeedGenerator(7)
    assert np.array_equal(scanfit.random.normal((5,), seed=again), first)
    scanfit.utils.set_random_seed(11)
    a = scanfit.random.uniform((4,))
    scanfit.utils.set_random_seed(11)
    assert np.array_equal(scanfit.random.uniform((4,)), a)
    with pytest.raises(TypeError, match="seed must be None, an int or a SeedGenerator"):
        scanfit.random.normal((2,), seed="one")


class Sampling(scanfit.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = scanfit.random.SeedGenerator(1337)

    def call(self, inputs):
        mean, log_var = inputs
        return mean + ops.exp(0.5 * log_var) * scanfit.random.normal(ops.shape(mean), seed=self.seed_generator)


def test_a_sampling_layer_draws_fresh_noise_in_every_step_and_prediction():
    inputs = scanfit.Input((2,))
    mean, log_var = scanfit.layers.Dense(2)(inputs), scanfit.layers.Dense(2, kernel_initializer="zeros")(inputs)
    model = scanfit.Model(inputs, Sampling()([mean, log_var]))
    x = np.zeros((3000, 2), "float32")
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.array_equal(first, second)
    assert abs(first.std() - 1.0) < 0.05 and abs(first.mean()) < 0.05  # exp(0) * N(0, 1)
    assert not np.array_equal(first[:1500], first[1500:])  # batches draw keys of their own
    model.compile("sgd", "mse")
    history = model.fit(x[:64], np.zeros((64, 2)), epochs=3, batch_size=16, verbose=0).history
    assert len(set(history["loss"])) == 3
    scanfit.utils.set_random_seed(5)
    a = model.predict(x[:10], verbose=0)
    scanfit.utils.set_random_seed(5)
    assert np.array_equal(model.predict(x[:10], verbose=0), a)


def test_draws_without_a_key_inside_a_pass_are_refused():
    model = scanfit.Sequential([scanfit.Input((2,)),
                                scanfit.layers.Lambda(lambda x: x + scanfit.random.normal(ops.shape(x)))])
    with pytest.raises(RuntimeError, match="no random key"):
        model.predict(np.zeros((4, 2), "float32"), verbose=0)


def test_gamma_beta_and_binomial_have_the_distributions_moments():
    """(Keras 3's draws for an int seed use another key than scanfit's, as for normal and uniform: moments, not
    values, are compared.)"""
    scanfit.utils.set_random_seed(1)
    alpha = np.array([0.5, 2.5, 7.0], "float32")
    gamma = np.asarray(scanfit.random.gamma((20000, 3), alpha))
    assert gamma.shape == (20000, 3) and gamma.dtype == np.float32 and gamma.min() > 0
    np.testing.assert_allclose(gamma.mean(axis=0), alpha, rtol=0.03)  # shape alpha, scale 1: mean = var = alpha
    np.testing.assert_allclose(gamma.var(axis=0), alpha, rtol=0.06)
    beta = np.asarray(scanfit.random.beta((20000,), 2.0, 5.0, dtype="float16"))
    assert beta.dtype == np.float16 and beta.min() >= 0 and beta.max() <= 1
    assert abs(beta.astype("float32").mean() - 2 / 7) < 0.005 and abs(beta.astype("float32").var() - 10 / 392) < 0.002
    counts, p = np.array([5.0, 10.0, 40.0]), np.array([0.5, 0.1, 0.9])
    binomial = np.asarray(scanfit.random.binomial((20000, 3), counts, p))
    assert binomial.dtype == np.float32 and np.array_equal(binomial, np.round(binomial))
    assert (binomial >= 0).all() and (binomial <= counts).all()
    np.testing.assert_allclose(binomial.mean(axis=0), counts * p, rtol=0.02)
    np.testing.assert_allclose(binomial.var(axis=0), counts * p * (1 - p), rtol=0.06)
    with pytest.raises(ValueError, match="binomial draws floats: dtype must be a float dtype, got int32"):
        scanfit.random.binomial((4,), 3, 0.5, dtype="int32")  # (as Keras 3.15 documents; on JAX it fails too)


def test_gamma_beta_and_binomial_repeat_for_a_seed():
    for draw in (lambda seed: scanfit.random.gamma((6,), 1.5, seed=seed),
                 lambda seed: scanfit.random.beta((6,), 1.5, 0.5, seed=seed),
                 lambda seed: scanfit.random.binomial((6,), 20, 0.4, seed=seed)):
        assert np.array_equal(draw(3), draw(3)) and not np.array_equal(draw(3), draw(4))
        generator = scanfit.random.SeedGenerator(9)
        assert not np.array_equal(draw(generator), draw(generator))
    import keras

    for name in ("gamma", "beta", "binomial"):
        assert list(inspect.signature(getattr(scanfit.random, name)).parameters) == list(
            inspect.signature(getattr(keras.random, name)).parameters)
