"""Staging reuse: a `fit`, `evaluate` or `predict` call given the same data as the model's previous call,
of the same kind, uses the arrays already checked, converted and placed on the device.

"The same data" means arrays at the same memory address, of the same shape and dtype, whose bytes
have the same CRC-32 (about 0.15 s per GB on one core), with the same options that change what is
staged. An array changed in place since the last call therefore is staged again; data that is not
a NumPy array in memory (lists, DataFrames, memmaps) is staged on every call. The staged copy lives until
the model's next call with other data (or of another kind) replaces it, or the model goes away.
"""
import mmap
import zlib

import jax
import numpy as np


def fingerprint(data, options):
    """A hashable summary of `data` (a pytree of NumPy arrays) and `options` (hashable values), or None
    when `data` holds something else than contiguous NumPy arrays of numbers (it is then staged anew)."""
    leaves, structure = jax.tree.flatten(data)
    parts = []
    for leaf in leaves:
        if not isinstance(leaf, np.ndarray) or not leaf.flags.c_contiguous or leaf.dtype.kind not in "biuf" \
                or is_file_backed(leaf):  # a memmap would be read whole from its file for the checksum
            return None
        checksum = zlib.crc32(memoryview(leaf.reshape(-1)).cast("B"))
        parts.append((leaf.shape, leaf.dtype.str, leaf.__array_interface__["data"][0], checksum))
    try:
        hash(options)
    except TypeError:
        return None
    return structure, tuple(parts), options


def is_file_backed(array):
    """Whether `array` (or the array it is a view of) is a NumPy memmap, read from its file when touched."""
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    return isinstance(array, mmap.mmap)


class StagingCache:
    """The data staged by one model's last `fit`, `evaluate` or `predict` call.

    One data set at a time: a call with other data (or of another kind) frees the staged copy before it
    stages its own, so a model never holds more device memory for data than its current call needs.
    `stagings` counts the calls that staged their data (the others reused it).
    """

    def __init__(self):
        self._slot = None  # (kind, key, staged)
        self.stagings = 0

    def get(self, kind, key, stage):
        """The data staged for `key` by the last call if it was a `kind` call, or ``stage()`` (kept)."""
        if key is not None and self._slot is not None and self._slot[:2] == (kind, key):
            return self._slot[2]
        self._slot = None  # free the old copy before staging the new one
        staged = stage()
        self.stagings += 1
        if key is not None:
            self._slot = (kind, key, staged)
        return staged

    def staged(self, kind):
        """What the last call staged, if it was a `kind` call that kept its data; else None."""
        return self._slot[2] if self._slot is not None and self._slot[0] == kind else None
