"""Global random state: one seed drives initializers, dropout and shuffling.

`set_seed(n)` (what `keras.utils.set_random_seed` calls) makes every later
draw repeatable; `next_key()` hands out fresh, never-repeated JAX keys;
`restart_stream()` is `keras.backend.clear_session`'s part.

Keys are raw threefry keys, NumPy ``uint32`` arrays of shape ``(2,)``,
made on the host: creating one runs no XLA program (``jax.random.PRNGKey``
and ``jax.random.fold_in`` each compile one on first use, which made
building a model slow). Every ``jax.random`` function and every compiled
program accepts them as keys.
"""
import os

import numpy as np

from scanfit import threefry

_seed = None
_counter = 0

# First word of the entropy behind the keys of the global stream, so that
# they come from a hash input no other use of SeedSequence here shares.
_STREAM_TAG = 0x5CA4F17


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


def restart_stream():
    """Start a new key stream from a seed drawn from Python's global RNG (what `clear_session` does, as Keras).

    After ``set_seed(n)`` the new stream is as repeatable as the old one.
    """
    global _seed, _counter
    import random as _py_random

    _seed = _py_random.randint(1, 10**9)
    _counter = 0


def next_key():
    """Return a new key (raw ``uint32[2]``), different from every earlier one.

    The n-th key after ``set_seed(s)`` is a hash of ``(s, n)``, so it is the
    same in every process; without `set_seed` the stream starts from a seed
    taken from the operating system.
    """
    global _seed, _counter
    if _seed is None:
        _seed = int.from_bytes(os.urandom(4), "little")
    _counter += 1
    # The counter starts at 1: SeedSequence reads trailing zero words as absent.
    return np.random.SeedSequence([_STREAM_TAG, _seed, _counter]).generate_state(2, np.uint32)


def key_from_seed(seed):
    """A key for an explicit integer seed, or a fresh one when seed is None.

    For an integer seed ``0 <= seed < 2**32`` it is the raw key
    ``jax.random.PRNGKey(seed)`` gives, built without running JAX; other
    seeds are taken modulo 2**64 and split into two 32-bit words, as
    ``PRNGKey`` does with 64-bit integers enabled.
    """
    if seed is None:
        return next_key()
    value = int(seed) % (2**64)
    return np.array([value >> 32, value & 0xFFFFFFFF], dtype=np.uint32)


def fold_in(key, data):
    """``jax.random.fold_in(key, data)`` for a raw threefry key, computed on the host (no XLA program), so the
    training engine derives each epoch's key here and the same key inside compiled programs."""
    counter = np.array([int(data) % 2**32], dtype=np.uint32)
    x0, x1 = threefry.hash_pairs(np.asarray(key, dtype=np.uint32), np.zeros(1, np.uint32), counter)
    return np.concatenate([x0, x1])
