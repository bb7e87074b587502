"""Shared test set-up: Keras (the oracle) runs on its JAX backend, on the CPU; every compiled program goes to
JAX's persistent cache, and the slowest test files start first."""
import gc
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402

import scanfit  # noqa: E402, F401 - points JAX's persistent cache at scanfit's folder

# Many tests compile the same small programs (one model fitted by scanfit and by Keras in several tests, a
# layer in several models). scanfit caches only programs that took 0.3 s or more to compile; the tests cache
# all of them, so that a program compiled once in a run loads from the cache after (a cold run of five unit
# files: 90.6 s against 96.1 s).
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

# Python's garbage collector walks every object a worker holds, and a worker holds more with each file (traced
# programs, models, Keras's modules): mid-run, one full collection took 0.8-1.8 s. The modules imported here are
# never garbage, so they are left out of collections, and collections run less often than Python's default
# (700, 10, 10). Four unit files on one worker: 10.3 s of collecting in 117 s, against 3.5 s in 103 s. (For the
# same reason the tests reset automatic names with `clear_session(free_memory=False)`.)
import keras  # noqa: E402, F401
gc.freeze()
gc.set_threshold(20000, 20, 20)

# The files that take longest, measured on two workers with an empty cache. pytest-xdist (`--dist loadfile`)
# hands out files in collection order (the Makefile turns off its reordering by test count, which started the
# many-test files first and left the long seed reproductions for last, one worker idle meanwhile).
SLOWEST_FILES = ("test_seed_dense_networks.py", "test_examples.py", "test_seed_cnn.py", "test_native_recurrent.py",
                 "test_recurrent.py", "test_sweep.py", "test_distribution.py", "test_seed_transfer.py")


def pytest_collection_modifyitems(items):
    """The slowest files first (in `SLOWEST_FILES` order), the rest as collected."""
    def rank(item):
        name = item.path.name
        return SLOWEST_FILES.index(name) if name in SLOWEST_FILES else len(SLOWEST_FILES)

    items.sort(key=rank)
