"""Weight penalties with Keras 3's names, defaults, formulas and configs.

A regularizer is called on a weight array and returns a scalar penalty that is
added to the loss.
"""
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import config
from scanfit.serialization import resolve, serialize_object

_MODULE = "keras.regularizers"


def _penalty_factor(value, name):
    """`value` as a float, or a ValueError if it is not a finite non-negative number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite non-negative number, got {name}={value!r}")
    return float(value)


def _as_float32(value):
    """`value` rounded to float32, as Keras keeps some factors as float32 tensors."""
    return float(np.float32(value))


class Regularizer:
    """Base class: ``regularizer(x)`` returns a scalar penalty for weight `x`."""

    def __call__(self, x):
        return 0.0

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; None counts as 0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty_factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty_factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = jnp.asarray(x)
        penalty = jnp.zeros((), x.dtype)
        if self.l1 != 0.0:
            penalty += jnp.asarray(self.l1, x.dtype) * jnp.sum(jnp.abs(x))
        if self.l2 != 0.0:
            penalty += jnp.asarray(self.l2, x.dtype) * jnp.sum(jnp.square(x))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 * sum(|x|)``; None means the default 0.01.

    Keras stores `l1` as a float32 tensor, so its config (and this one) holds
    the float32-rounded value, e.g. 0.009999999776482582 for 0.01.
    """

    def __init__(self, l1=0.01):
        self.l1 = _as_float32(_penalty_factor(0.01 if l1 is None else l1, "l1"))

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.asarray(self.l1, x.dtype) * jnp.sum(jnp.abs(x))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x**2)``; None means the default 0.01."""

    def __init__(self, l2=0.01):
        self.l2 = _penalty_factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.asarray(self.l2, x.dtype) * jnp.sum(jnp.square(x))

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalises non-orthogonal rows (or columns) of a 2-D weight.

    The penalty is ``factor * 0.5 * mean |cos|`` over all distinct pairs of
    L2-normalised rows (``mode="rows"``) or columns (``mode="columns"``).
    Like L1, `factor` is kept float32-rounded, as Keras does.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _as_float32(_penalty_factor(factor, "factor"))
        if mode not in ("rows", "columns"):
            raise ValueError(f"mode must be 'rows' or 'columns', got mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer needs a 2-D weight, got shape {x.shape}")
        vectors = x if self.mode == "rows" else x.T
        squared_norms = jnp.sum(jnp.square(vectors), axis=1, keepdims=True)
        unit = vectors * jnp.minimum(jax.lax.rsqrt(squared_norms), 1.0 / config.epsilon())
        size = unit.shape[0]
        cosines = (unit @ unit.T) * (1.0 - jnp.eye(size, dtype=x.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * jnp.sum(jnp.abs(cosines)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Lower-case names, as `keras.regularizers` also exports them. In Keras 3,
# `l1_l2` is the L1L2 class itself, so its defaults are l1=0.0, l2=0.0.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_REGISTRY = {
    "L1": L1, "l1": L1,
    "L2": L2, "l2": L2,
    "L1L2": L1L2, "l1l2": L1L2, "l1_l2": L1L2,
    "OrthogonalRegularizer": OrthogonalRegularizer, "orthogonal_regularizer": OrthogonalRegularizer,
}


def serialize(regularizer):
    """Keras 3's config dict for `regularizer` (None stays None; a named function is saved by its name)."""
    return serialize_object("regularizer", regularizer, Regularizer, _MODULE, _REGISTRY)


def deserialize(config, custom_objects=None):
    """The regularizer described by a name or a Keras config dict."""
    if not isinstance(config, (str, dict)):
        raise TypeError(f"deserialize expects a regularizer name or config dict, got {config!r}")
    return resolve("regularizer", _REGISTRY, config, custom_objects)


def get(identifier):
    """Turn a name, config dict, class, callable or None into a regularizer."""
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    return resolve("regularizer", _REGISTRY, identifier)
