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


_WORD = 0xFFFFFFFF
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))  # threefry's rotations, alternating per group of 4 rounds


def fold_in(key, data):
    """``jax.random.fold_in(key, data)`` for a raw threefry key, computed on the host (no XLA program).

    Threefry-2x32 (20 rounds) of the counter ``(0, data)`` under `key`, as
    JAX computes it, so the training engine derives each epoch's key here
    and the same key inside compiled programs.
    """
    k0, k1 = (int(word) for word in np.asarray(key, dtype=np.uint32))
    schedule = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)
    x0, x1 = k0, (int(data) + k1) & _WORD
    for group in range(5):
        for rotation in _ROTATIONS[group % 2]:
            x0 = (x0 + x1) & _WORD
            x1 = ((x1 << rotation) | (x1 >> (32 - rotation))) & _WORD
            x1 ^= x0
        x0 = (x0 + schedule[(group + 1) % 3]) & _WORD
        x1 = (x1 + schedule[(group + 2) % 3] + group + 1) & _WORD
    return np.array([x0, x1], dtype=np.uint32)

