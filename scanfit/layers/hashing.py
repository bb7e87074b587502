"""`Hashing`: strings or integers into a fixed number of bins by a stable hash, as Keras 3 bins them.

Keras hashes with TensorFlow: FarmHash's Fingerprint64 of the value's text
(an integer's decimal digits, a float's after truncation to an integer), or
SipHash-2-4 keyed by `salt`, modulo the bins; `scanfit.fingerprints` computes
the same hashes, so a value lands in the bin Keras puts it in. Like scanfit's
other lookups it runs on the host, on NumPy data (Keras's needs TensorFlow and
cannot be part of a compiled model either): map the data before `fit`.
"""
import jax.numpy as jnp
import numpy as np

from scanfit import checks
from scanfit.fingerprints import hash_buckets, sip_key
from scanfit.layers.category_encoding import encode
from scanfit.layers.index_lookup import HostLayer, as_strings

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(HostLayer):
    """Hashes each value into ``[0, num_bins)``: Fingerprint64 (SipHash-2-4 keyed by `salt`, one int or two)
    modulo `num_bins`. With a `mask_value`, that value maps to 0 and the others to ``1 + hash % (num_bins - 1)``.
    `output_mode` 'int' gives the bins (int32, also for Keras's dtype='int64': JAX runs without 64-bit integers),
    'one_hot', 'multi_hot' and 'count' encode them as `CategoryEncoding` does (float32)."""

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, dtype=None, **kwargs):
        allowed = ("int32", "int64") if output_mode == "int" else ("float32",)
        if isinstance(dtype, dict):  # a dtype policy's config, as Keras 3 writes it
            dtype = dtype.get("config", {}).get("name")
        if dtype is not None and str(dtype) not in allowed:
            raise ValueError(f"Hashing with output_mode={output_mode!r} gives {allowed[0]} arrays; dtype={dtype!r} is "
                             f"not supported (leave it out, or pass one of {allowed}).")
        super().__init__(**kwargs)
        self.output_dtype_name = allowed[0] if dtype is None or str(dtype) == "int64" else str(dtype)
        self.num_bins = checks.int_at_least("Hashing num_bins", num_bins, 1, allow_none=False)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"Hashing output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}.")
        if sparse:
            raise ValueError("Hashing(sparse=True) is not supported by scanfit, which has no sparse tensors (nor "
                             "has Keras on JAX); leave sparse=False.")
        self.mask_value, self.salt, self.output_mode, self.sparse = mask_value, sip_key(salt), output_mode, False

    def host_call(self, inputs):
        values = _as_values(inputs)
        bins = self.num_bins
        masked = None
        if self.mask_value is not None and bins > 1:
            bins -= 1
            masked = values == self.mask_value
        if values.dtype.kind == "f":
            values = np.trunc(values).astype(np.int64)
        indices = hash_buckets(values, bins, self.salt)
        if masked is not None:
            indices = np.where(masked, 0, indices + 1)
        if self.output_mode == "int":
            return jnp.asarray(indices, dtype=jnp.int32)
        if self.output_mode != "one_hot" and indices.ndim > 2:
            raise ValueError(f"Hashing with output_mode={self.output_mode!r} takes at most 2 axes (a batch of "
                             f"samples), got shape {indices.shape}.")
        return encode(indices, self.num_bins, self.output_mode, jnp.float32)

    def get_config(self):
        config = {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                  "output_mode": self.output_mode, "sparse": False}
        config["dtype"] = self.output_dtype_name
        return config


def _as_values(inputs):
    """`inputs` as a NumPy array of str, or of integers or floats (bytes decoded as UTF-8)."""
    array = np.asarray(inputs) if not isinstance(inputs, (list, tuple)) else np.asarray(inputs, dtype=object)
    if array.dtype.kind in "iuf":
        return array
    if array.dtype == object:
        flat = array.ravel().tolist()
        if flat and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat):
            return np.asarray(flat, dtype=np.int64).reshape(array.shape)
        if flat and all(isinstance(v, (float, np.floating)) for v in flat):
            return np.asarray(flat, dtype=np.float64).reshape(array.shape)
    return as_strings(array, "utf-8")
