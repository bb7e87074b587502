"""Global random state: one seed drives initializers, dropout and shuffling.

`set_seed(n)` (what `keras.utils.set_random_seed` calls) makes every later
draw repeatable; `next_key()` hands out fresh, never-repeated JAX keys.
"""
import os

import jax
import numpy as np

_seed = None
_counter = 0


def set_seed(seed):
    """Seed scanfit's key stream (and NumPy's and Python's global RNGs)."""
    global _seed, _counter
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    import random as _py_random

    _seed = int(seed) % (2**32)
    _counter = 0
    np.random.seed(_seed)
    _py_random.seed(_seed)


def next_key():
    """Return a new `jax.random` key, different from every earlier one."""
    global _seed, _counter
    if _seed is None:
        _seed = int.from_bytes(os.urandom(4), "little")
    _counter += 1
    return jax.random.fold_in(jax.random.PRNGKey(_seed), _counter)


def key_from_seed(seed):
    """A key for an explicit integer seed, or a fresh one when seed is None."""
    return next_key() if seed is None else jax.random.PRNGKey(int(seed))
