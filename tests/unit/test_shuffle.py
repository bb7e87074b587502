"""The epoch's shuffle (`Programs.permutation_of`): a permutation, new each epoch, uniform, the same under vmap."""
import collections

import jax
import jax.numpy as jnp
import numpy as np

import scanfit
from scanfit import seeding as scanfit_random


def _programs():
    model = scanfit.Sequential([scanfit.Input((2,)), scanfit.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((4, 2), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    return model.trainer.programs


def _epoch_keys(count):
    base = jnp.asarray(scanfit_random.key_from_seed(0))
    return jax.vmap(lambda epoch: jax.random.fold_in(base, epoch))(jnp.arange(count))


def test_each_epoch_gets_a_permutation_of_its_own():
    programs = _programs()
    keys = _epoch_keys(2)
    first, second = (np.asarray(programs.permutation_of(key, 48_000, True, None)) for key in keys)
    np.testing.assert_array_equal(np.sort(first), np.arange(48_000))
    assert not np.array_equal(first, second)
    assert abs(np.corrcoef(first, np.arange(48_000))[0, 1]) < 0.02
    np.testing.assert_array_equal(programs.permutation_of(keys[0], 10, False, None), np.arange(10))


def test_the_orders_of_four_samples_are_uniform_over_their_24_permutations():
    programs = _programs()
    orders = jax.vmap(lambda key: programs.permutation_of(key, 4, True, None))(_epoch_keys(24_000))
    counts = np.array(list(collections.Counter(map(tuple, np.asarray(orders).tolist())).values()))
    assert len(counts) == 24
    chi_square = float(((counts - 1000) ** 2 / 1000).sum())
    assert chi_square < 50  # 23 degrees of freedom: P(chi2 > 50) is about 0.001


def test_vmap_gives_each_key_the_order_it_gets_alone():
    """A Sweep draws every run's order under vmap; it must be the order Model.fit draws."""
    programs = _programs()
    keys = _epoch_keys(3)
    stacked = jax.vmap(lambda key: programs.permutation_of(key, 500, True, None))(keys)
    for key, order in zip(keys, stacked):
        np.testing.assert_array_equal(order, programs.permutation_of(key, 500, True, None))


def test_the_order_is_the_samples_sorted_by_their_keyed_hash():
    """The hashes are sorted alone and inverted back into indices: the same order as sorting the indices by
    their hashes, written out here with NumPy (MurmurHash3's finalizer, twice, keyed by the seed)."""
    def mix(h):
        h = (h ^ (h >> 16)) * np.uint32(0x85EBCA6B)
        h = (h ^ (h >> 13)) * np.uint32(0xC2B2AE35)
        return h ^ (h >> 16)

    programs = _programs()
    for seed in ([0, 0], [12345, 678], [2**32 - 1, 2**31]):
        for num_samples in (1, 7, 1000, 48_000):
            index = np.arange(num_samples, dtype=np.uint32)
            expected = np.argsort(mix(mix(index ^ np.uint32(seed[0])) + np.uint32(seed[1])))
            order = programs.permutation_of(jnp.asarray(seed, dtype=jnp.uint32), num_samples, True, None)
            np.testing.assert_array_equal(order, expected)
