"""scanfit.threefry draws exactly what jax.random draws, and compiles without a loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scanfit import seeding, threefry

KEYS = [jax.random.PRNGKey(seed) for seed in (0, 1, 42, 2**31 + 5, 2**32 - 1)]
SHAPES = [(), (1,), (3,), (32, 100), (5, 7, 3)]


@pytest.mark.parametrize("key", KEYS)
def test_fold_in_equals_jax_for_python_ints_traced_ints_and_host_keys(key):
    for data in (0, 1, 7, 123_456, 2**31, 2**32 - 1):
        expected = np.asarray(jax.random.fold_in(key, data))
        np.testing.assert_array_equal(threefry.fold_in(key, data), expected)
        np.testing.assert_array_equal(seeding.fold_in(np.asarray(key), data), expected)
    traced = jax.jit(threefry.fold_in)(key, jnp.arange(5, dtype=jnp.int32)[3])
    np.testing.assert_array_equal(traced, jax.random.fold_in(key, 3))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("shape", SHAPES)
def test_bits_and_bernoulli_equal_jax(key, shape):
    np.testing.assert_array_equal(threefry.bits(key, shape), jax.random.bits(key, shape))
    for p in (0.0, 1e-8, 0.1, 0.5, 0.7, 1.0):
        np.testing.assert_array_equal(threefry.bernoulli(key, p, shape), jax.random.bernoulli(key, p, shape))


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("shape", SHAPES)
def test_uniform_and_normal_equal_jax_eagerly_and_compiled(key, shape):
    for low, high in ((0.0, 1.0), (-0.2, 0.3), (0.9, 1.1), (-3.5, 7.25)):
        expected = jax.random.uniform(key, shape, jnp.float32, low, high)
        np.testing.assert_array_equal(threefry.uniform(key, shape, low, high), expected)
        np.testing.assert_array_equal(jax.jit(lambda k: threefry.uniform(k, shape, low, high))(key), expected)
    np.testing.assert_array_equal(threefry.normal(key, shape), jax.random.normal(key, shape))
    np.testing.assert_array_equal(threefry.normal(key, shape, jnp.bfloat16), jax.random.normal(key, shape, jnp.bfloat16))


@pytest.mark.parametrize("key", KEYS)
def test_split_equals_jax(key):
    for num in (1, 2, 3, 5):
        np.testing.assert_array_equal(threefry.split(key, num), jax.random.split(key, num))
    np.testing.assert_array_equal(threefry.split(key), jax.random.split(key))


def test_draws_under_vmap_equal_each_keys_own():
    keys = jnp.stack(KEYS)
    masks = jax.vmap(lambda key: threefry.bernoulli(threefry.fold_in(key, 9), 0.7, (4, 6)))(keys)
    for key, mask in zip(KEYS, masks):
        np.testing.assert_array_equal(mask, jax.random.bernoulli(jax.random.fold_in(key, 9), 0.7, (4, 6)))


def test_dropout_and_noise_draws_compile_without_a_loop():
    def draw(key, first_sample):
        key = threefry.fold_in(threefry.fold_in(key, first_sample), 0)
        return threefry.bernoulli(key, 0.7, (32, 100)), threefry.normal(key, (32, 100)), threefry.split(key)

    compiled = jax.jit(draw).lower(KEYS[0], 32).compile().as_text()
    assert " while(" not in compiled
    looping = jax.jit(lambda n: jax.lax.fori_loop(0, n, lambda i, total: total + i, 0)).lower(5).compile()
    assert " while(" in looping.as_text()  # the check sees a loop where there is one


def test_too_many_draws_at_once_is_a_clear_error():
    with pytest.raises(ValueError, match="at most 2\\*\\*32 - 1"):
        jax.eval_shape(lambda key: threefry.bits(key, (2**16, 2**16)), KEYS[0])
