"""`keras.random`: random draws for custom layers, initializers and data (Keras 3's functions and arguments).

`seed` may be None, an int or a `SeedGenerator`:

- an int draws the same numbers every call (Keras's meaning of a fixed seed);
- None and a `SeedGenerator` draw new numbers every call. Inside a model's
  compiled forward pass they take the key of the running layer call, so a
  custom layer draws fresh noise at every step (and, at inference, at every
  `predict`), reproducibly after `keras.utils.set_random_seed`; in a custom
  ``train_step`` that `fit` runs, outside any forward pass, they take keys of
  the running step; elsewhere None takes the next key of scanfit's global
  stream and a generator the next key of its own (inside a function you
  compile yourself, that key is fixed when it is traced: pass the key in).

    class Sampling(keras.layers.Layer):               # a variational autoencoder's sampling layer
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def call(self, inputs):
            mean, log_var = inputs
            noise = keras.random.normal(ops.shape(mean), seed=self.seed_generator)
            return mean + ops.exp(0.5 * log_var) * noise
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit import backend, seeding, threefry
from scanfit.layers import execution


class SeedGenerator:
    """A stream of random keys of its own, started from `seed` (an int, or None for one from the global stream)."""

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"SeedGenerator got unexpected keyword argument(s) {sorted(kwargs)}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"SeedGenerator seed must be an int or None, got {seed!r}.")
        self.seed = seed
        self.name = name or "seed_generator"
        self._key = seeding.key_from_seed(int(seed)) if seed is not None else seeding.next_key()
        self._draws = 0

    def next(self):
        """The generator's next key (on the host)."""
        self._draws += 1
        return seeding.fold_in(self._key, self._draws)

    def get_config(self):
        return {"seed": self.seed}


def _key(seed, what):
    """The key a draw uses for `seed` (see the module's docstring)."""
    if seed is not None and not isinstance(seed, SeedGenerator):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"keras.random.{what}: seed must be None, an int or a SeedGenerator, got {seed!r}.")
        return seeding.key_from_seed(int(seed))
    running = execution.current()
    if running is not None:
        key = running.next_rng()
        if key is None:
            raise RuntimeError(
                f"keras.random.{what} was called inside a compiled forward pass that has no random key (a Lambda "
                "layer at inference, or a layer of scanfit's own): draw inside a custom layer's call(), or give "
                "an int seed for fixed numbers."
            )
        return key
    key = execution.next_step_key()  # a custom train_step's own draws (a GAN's latent vectors), run by fit
    if key is not None:
        return key
    return seed.next() if isinstance(seed, SeedGenerator) else seeding.next_key()


def _float(dtype):
    return jnp.dtype(backend.floatx() if dtype is None else dtype)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from a normal distribution of `mean` and `stddev`."""
    dtype = _float(dtype)
    return mean + stddev * jax.random.normal(_key(seed, "normal"), tuple(shape), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Draws from the uniform distribution on ``[minval, maxval)``."""
    dtype = _float(dtype)
    return jax.random.uniform(_key(seed, "uniform"), tuple(shape), dtype, minval, maxval)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Draws from a normal distribution of `mean` and `stddev`, redrawn beyond two standard deviations."""
    dtype = _float(dtype)
    return mean + stddev * jax.random.truncated_normal(_key(seed, "truncated_normal"), -2.0, 2.0, tuple(shape), dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers drawn uniformly from ``[minval, maxval)``."""
    return jax.random.randint(_key(seed, "randint"), tuple(shape), minval, maxval, jnp.dtype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """`inputs` with each value zeroed with probability `rate` and the others scaled by ``1 / (1 - rate)``."""
    inputs = jnp.asarray(inputs)
    shape = inputs.shape if noise_shape is None else tuple(inputs.shape[i] if d is None else d
                                                           for i, d in enumerate(noise_shape))
    keep = threefry.bernoulli(_key(seed, "dropout"), 1.0 - rate, shape)
    return jnp.where(keep, inputs / (1.0 - rate), jnp.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    """`x` with its entries along `axis` in a random order."""
    return jax.random.permutation(_key(seed, "shuffle"), jnp.asarray(x), axis=axis, independent=False)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """`num_samples` class indices per row of `logits` (unnormalized log-probabilities), shape (rows, num_samples)."""
    logits = jnp.asarray(logits)
    draws = jax.random.categorical(_key(seed, "categorical"), logits[:, None, :], axis=-1,
                                   shape=(logits.shape[0], num_samples))
    return draws.astype(jnp.dtype(dtype))


def _float_only(dtype, what):
    """`dtype` (None: floatx), which must be a float dtype."""
    dtype = _float(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"keras.random.{what} draws floats: dtype must be a float dtype, got {dtype}.")
    return dtype


def gamma(shape, alpha, dtype=None, seed=None):
    """Draws from the gamma distribution of shape `alpha` (scale 1)."""
    return jax.random.gamma(_key(seed, "gamma"), jnp.asarray(alpha), tuple(shape), _float_only(dtype, "gamma"))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Draws from the beta distribution of parameters `alpha` and `beta`."""
    return jax.random.beta(_key(seed, "beta"), jnp.asarray(alpha), jnp.asarray(beta), tuple(shape),
                           _float_only(dtype, "beta"))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """The numbers of successes in `counts` trials of success probability `probabilities`, as floats."""
    return jax.random.binomial(_key(seed, "binomial"), jnp.asarray(counts), jnp.asarray(probabilities), tuple(shape),
                               _float_only(dtype, "binomial"))
