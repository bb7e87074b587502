"""Weight constraints with Keras 3's names, defaults, formulas and configs.

A constraint maps a weight array to its projected value, ``w' = constraint(w)``;
it is applied after each optimizer step.
"""
import jax.numpy as jnp

from scanfit import config
from scanfit.serialization import resolve, serialize_object

_MODULE = "keras.constraints"


def _norms(w, axis):
    """L2 norms of `w` along `axis` (an int or a list/tuple of ints), kept for broadcasting."""
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: ``constraint(w)`` returns the constrained weight (here, `w` itself)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class MaxNorm(Constraint):
    """Rescales each slice along `axis` whose L2 norm exceeds `max_value` down to it."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, self.axis)
        desired = jnp.clip(norms, 0, self.max_value)
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        return jnp.maximum(jnp.asarray(w), 0)


class UnitNorm(Constraint):
    """Rescales each slice along `axis` to unit L2 norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        return w / (config.epsilon() + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Moves each slice's L2 norm into ``[min_value, max_value]``.

    The new norm is ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm``,
    so ``rate=1`` enforces the bounds at once and smaller rates move toward them.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, self.axis)
        desired = self.rate * jnp.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (config.epsilon() + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# Lower-case names, as `keras.constraints` also exports them.
max_norm = MaxNorm
non_neg = NonNeg
unit_norm = UnitNorm
min_max_norm = MinMaxNorm

_REGISTRY = {
    "MaxNorm": MaxNorm, "max_norm": MaxNorm,
    "NonNeg": NonNeg, "non_neg": NonNeg,
    "UnitNorm": UnitNorm, "unit_norm": UnitNorm,
    "MinMaxNorm": MinMaxNorm, "min_max_norm": MinMaxNorm,
}


def serialize(constraint):
    """Keras 3's config dict for `constraint` (None stays None; a named function is saved by its name)."""
    return serialize_object("constraint", constraint, Constraint, _MODULE, _REGISTRY)


def deserialize(config, custom_objects=None):
    """The constraint described by a name or a Keras config dict."""
    if not isinstance(config, (str, dict)):
        raise TypeError(f"deserialize expects a constraint name or config dict, got {config!r}")
    return resolve("constraint", _REGISTRY, config, custom_objects)


def get(identifier):
    """Turn a name, config dict, class, callable or None into a constraint."""
    if isinstance(identifier, type) and issubclass(identifier, Constraint):
        return identifier()
    return resolve("constraint", _REGISTRY, identifier)
