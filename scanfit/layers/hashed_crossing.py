"""`HashedCrossing`: crosses of categorical features by the hashing trick, in the bins Keras 3 gives.

Keras crosses with TensorFlow's ``tf.sparse.cross_hashed``: starting from its
default key 0xDECAFCAFFE, each feature's hash (Fingerprint64 of a string, an
integer's own 64 bits) is chained in with FingerprintCat64, and the result
taken modulo the bins. Like `Hashing` it runs on the host, on NumPy data.
"""
import jax.numpy as jnp
import numpy as np

from scanfit import checks
from scanfit.fingerprints import fingerprint64, fingerprint_cat64
from scanfit.layers.category_encoding import encode
from scanfit.layers.index_lookup import HostLayer, as_strings

OUTPUT_MODES = ("int", "one_hot")
CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key
_MASK = (1 << 64) - 1


class HashedCrossing(HostLayer):
    """Crosses two or more features, each of shape (), (batch,) or (batch, 1) (strings or integers), into
    ``[0, num_bins)``. `output_mode` 'int' gives the bins (int32: JAX runs without 64-bit integers; the config
    keeps Keras's 'int64'), 'one_hot' one-hot rows of `num_bins` (float32 unless `dtype` says another float)."""

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"HashedCrossing output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}.")
        if isinstance(dtype, dict):  # a dtype policy's config
            dtype = dtype.get("config", {}).get("name")
        allowed = ("int64", "int32") if output_mode == "int" else ("float32", "float16", "bfloat16")
        if dtype is not None and str(dtype) not in allowed:
            raise ValueError(f"HashedCrossing with output_mode={output_mode!r} gives {allowed} arrays; "
                             f"dtype={dtype!r} is not supported (leave it out, or pass one of {allowed}).")
        if sparse:
            raise ValueError("HashedCrossing(sparse=True) is not supported by scanfit, which has no sparse tensors "
                             "(nor has Keras on JAX); leave sparse=False.")
        super().__init__(name=name, **kwargs)
        self.num_bins = checks.int_at_least("HashedCrossing num_bins", num_bins, 1, allow_none=False)
        self.output_mode, self.sparse = output_mode, False
        self.output_dtype_name = allowed[0] if dtype is None else str(dtype)

    def host_call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"HashedCrossing takes a list or tuple of at least two inputs, got {inputs!r:.200}.")
        features = [_as_feature(x) for x in inputs]
        shape = features[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(f"HashedCrossing inputs must have shape (), (batch,) or (batch, 1), got {shape}.")
        if any(f.shape != shape for f in features[1:]):
            raise ValueError(f"HashedCrossing inputs must all have the same shape, got "
                             f"{[f.shape for f in features]}.")
        bins = np.zeros(shape, np.int64)
        for index in np.ndindex(shape):
            crossed = CROSS_KEY
            for feature in features:
                crossed = fingerprint_cat64(crossed, _feature_hash(feature[index]))
            bins[index] = crossed % self.num_bins
        if self.output_mode == "int":
            return jnp.asarray(bins, jnp.int32)
        encoded = encode(bins, self.num_bins, "one_hot", jnp.dtype(self.output_dtype_name))
        return encoded.reshape(encoded.shape[-1:]) if not shape else encoded  # a scalar's: (num_bins,)

    def get_config(self):
        """Keras 3's config of this layer: its arguments, name and dtype (a plain string) only."""
        return {"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False, "name": self.name,
                "dtype": self.output_dtype_name}


def _as_feature(x):
    """One input as a NumPy array of integers or of str; floats are refused, as Keras refuses them."""
    array = np.asarray(x) if not isinstance(x, (list, tuple)) else np.asarray(x, dtype=object)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype == object and array.size and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in array.ravel().tolist()):
        return array.astype(np.int64)
    if array.dtype.kind in "fcb":
        raise ValueError(f"HashedCrossing inputs must hold integers or strings, got {array.dtype} values.")
    return as_strings(array, "utf-8")


def _feature_hash(value):
    """What TensorFlow chains for one value: Fingerprint64 of a string's UTF-8 bytes, an integer's own 64 bits."""
    if isinstance(value, str):
        return fingerprint64(value.encode("utf-8"))
    return int(value) & _MASK
