"""`keras.mixed_precision`: dtype policies (Keras 3's semantics) and the casts layers make under them.

A policy names a compute dtype and a variable dtype. ``'mixed_bfloat16'``
and ``'mixed_float16'`` keep variables in float32 and compute in bfloat16 or
float16; any dtype name (``'float32'``) uses that dtype for both. A layer takes
the global policy when it is created, unless its ``dtype=`` names another.
While a layer runs, its floating inputs and weights are cast to its compute
dtype, so its outputs come out in that dtype (see
`scanfit.layers.execution`); losses and metrics are computed in float32.
Under ``'mixed_float16'``, ``compile`` wraps the optimizer in a
`LossScaleOptimizer` (see `scanfit.optimizers`).
"""
import jax
import jax.numpy as jnp
import numpy as np

from scanfit.optimizers import LossScaleOptimizer

MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


class DTypePolicy:
    """A layer's dtype policy: ``DTypePolicy('mixed_bfloat16')``; ``name=None`` copies the global policy."""

    def __init__(self, name=None):
        if name is None:
            name = global_policy().name
        self._name = name
        self._compute_dtype, self._variable_dtype = _parse(name)

    @property
    def name(self):
        return self._name

    @property
    def compute_dtype(self):
        """The dtype the layer computes in (and its outputs have)."""
        return self._compute_dtype

    @property
    def variable_dtype(self):
        """The dtype of the layer's variables."""
        return self._variable_dtype

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


Policy = DTypePolicy


def _parse(name):
    """``(compute_dtype, variable_dtype)`` of a policy name."""
    if not isinstance(name, str):
        raise TypeError(
            f"A dtype policy name must be a string such as 'mixed_bfloat16', got {name!r} "
            f"(of type {type(name).__name__})."
        )
    if name in MIXED:
        return MIXED[name], "float32"
    try:
        dtype = jnp.dtype(name).name
    except TypeError:
        dtype = None
    if dtype != name:
        raise ValueError(
            f"Unknown dtype policy {name!r}. Valid policies are 'mixed_float16', 'mixed_bfloat16' and dtype "
            "names such as 'float32'."
        )
    return dtype, dtype


_global = None


def global_policy():
    """The policy that layers created from now on take (``DTypePolicy('float32')`` unless set)."""
    return _global if _global is not None else DTypePolicy("float32")


def set_global_policy(policy):
    """Set the global policy: a name (``'mixed_bfloat16'``, ``'mixed_float16'``, ``'float32'``) or a `DTypePolicy`.

    Raises:
        ValueError: an unknown name, or a policy whose compute dtype is not floating.
        TypeError: `policy` is neither a string nor a `DTypePolicy`.
    """
    global _global
    if not isinstance(policy, (str, DTypePolicy)):
        raise TypeError(
            f"set_global_policy(policy=...) expects a policy name such as 'mixed_bfloat16' or a DTypePolicy, "
            f"got {policy!r} (of type {type(policy).__name__})."
        )
    try:
        policy = policy if isinstance(policy, DTypePolicy) else DTypePolicy(policy)
    except ValueError as error:
        raise ValueError(f"set_global_policy(policy={policy!r}): {error}") from None
    if not jnp.issubdtype(policy.compute_dtype, jnp.floating):
        raise ValueError(
            f"set_global_policy(policy={policy.name!r}): the global policy must compute in a floating dtype; "
            "pass 'float32', 'mixed_bfloat16' or 'mixed_float16'."
        )
    _global = policy


set_dtype_policy = set_global_policy
dtype_policy = global_policy


def get(dtype, argument="dtype"):
    """The policy meant by a layer's `dtype` argument: None (the global policy), a name, a `DTypePolicy`,
    a numpy/JAX dtype, or the config dict Keras saves (``{'class_name': 'DTypePolicy', 'config': {...}}``)."""
    if dtype is None:
        return global_policy()
    if isinstance(dtype, DTypePolicy):
        return dtype
    if isinstance(dtype, dict):
        if dtype.get("class_name") not in ("DTypePolicy", "Policy", "FloatDTypePolicy") or "config" not in dtype:
            raise ValueError(f"{argument}={dtype!r} is not a DTypePolicy config; expected "
                             "{'class_name': 'DTypePolicy', 'config': {'name': ...}}.")
        return get(dtype["config"].get("name"), argument)
    if not isinstance(dtype, str):
        try:
            dtype = jnp.dtype(dtype).name
        except TypeError:
            raise TypeError(f"{argument}={dtype!r} is neither a dtype policy name nor a dtype.") from None
    if dtype == "int":
        dtype = "int32"  # Keras's name for the default integer (int32 on JAX), as `keras.Input(dtype="int")`
    try:
        return DTypePolicy(dtype)
    except ValueError as error:
        raise ValueError(f"{argument}={dtype!r}: {error}") from None


def cast_floating(tree, dtype):
    """`tree` with its floating arrays cast to `dtype` (other leaves unchanged)."""
    def cast(value):
        if hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jnp.floating) and value.dtype != dtype:
            return jnp.asarray(value).astype(dtype)
        return value

    return jax.tree.map(cast, tree)


def to_float32(tree):
    """`tree` with its floating arrays in float32: what losses and metrics compute on."""
    return cast_floating(tree, np.float32)


__all__ = [
    "DTypePolicy", "LossScaleOptimizer", "Policy", "dtype_policy", "global_policy", "set_dtype_policy",
    "set_global_policy",
]
