"""`keras.backend`: the session, settings and variable helpers of tf.keras 2 and Keras 3.

    from scanfit import backend as K
    K.clear_session()
    K.set_value(model.optimizer.lr, 0.01)     # tf.keras 2's idiom in learning-rate callbacks
    K.get_value(model.optimizer.learning_rate)

`floatx`, `epsilon` and `image_data_format` (and their setters) are those of
`scanfit.config`.
"""
import functools
import gc

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import optimizers, seeding
from scanfit.config import backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx, set_image_data_format
from scanfit import naming
from scanfit.layers.symbolic import is_keras_tensor

__all__ = [
    "backend", "clear_session", "epsilon", "floatx", "get_uid", "get_value", "image_data_format", "int_shape",
    "is_float_dtype", "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon", "set_floatx",
    "set_image_data_format", "set_value", "standardize_dtype",
]
_PYTHON_TYPES = {bool: "bool", int: "int32", float: "float32"}


def get_uid(prefix=""):
    """1, 2, ... for each call with `prefix`, counted with the automatic layer names (as in Keras)."""
    return naming.next_uid(prefix)


def standardize_dtype(dtype=None):
    """A dtype's Keras name: None is `floatx()`, Python's int and float are ``int32`` and ``float32``, NumPy and
    JAX dtypes their names (``"string"`` stays)."""
    if dtype is None:
        return floatx()
    if isinstance(dtype, type) and dtype in _PYTHON_TYPES:
        return _PYTHON_TYPES[dtype]
    if dtype == "int":
        return "int32"
    if dtype == "string":
        return dtype
    if dtype == "float":
        raise ValueError("Invalid dtype: 'float' (name the width: 'float32').")
    try:
        return jnp.dtype(dtype).name
    except TypeError:
        raise ValueError(f"Invalid dtype: {dtype!r}") from None


def is_float_dtype(dtype):
    return jnp.issubdtype(standardize_dtype(dtype), jnp.floating)


def is_int_dtype(dtype):
    return jnp.issubdtype(standardize_dtype(dtype), jnp.integer)


def result_type(*dtypes):
    """The dtype an operation on `dtypes` gives, by JAX's promotion rules as Keras applies them: Python's
    int and float are weak (they keep an array's dtype of their kind), 64-bit types become 32-bit ones as
    JAX computes them, no dtype is `floatx()`."""
    strong = [standardize_dtype(d) for d in dtypes if d is not int and d is not float]
    found = jax.dtypes.canonicalize_dtype(functools.reduce(jnp.promote_types, strong)).name if strong else None
    if float in dtypes and (found is None or not is_float_dtype(found)):
        found = floatx()
    if int in dtypes and (found is None or found == "bool"):
        found = "int32"
    return found or floatx()


def clear_session(free_memory=True):
    """Reset scanfit's global state, as Keras's `clear_session`.

    Automatic layer, model and optimizer names start again (the next
    ``Dense`` is ``dense``), and the random key stream restarts from a seed
    drawn from Python's RNG (so a run seeded with ``set_random_seed`` stays
    repeatable). Models made before keep working. With `free_memory`, runs
    the garbage collector. Settings (`epsilon`, ...) are kept, as in Keras.
    """
    naming.reset_names()
    optimizers.reset_names()
    seeding.restart_stream()
    if free_memory:
        gc.collect()


def set_value(x, value):
    """Set variable `x` to `value`: a layer weight, or an optimizer's ``learning_rate`` / ``lr``.

    ``set_value(model.optimizer.lr, 0.01)`` changes the learning rate as
    assigning ``model.optimizer.learning_rate = 0.01`` does.

    Raises:
        TypeError: `x` is a plain number or array, which has nowhere to write
            the value back (an optimizer's other hyperparameters, such as
            ``momentum``, are fixed when the model is compiled).
    """
    if not callable(getattr(x, "assign", None)):
        raise TypeError(
            f"set_value needs a variable (a layer weight, or optimizer.learning_rate / optimizer.lr), got "
            f"{type(x).__name__} ({x!r:.60}), which is a value, not a variable. To change another optimizer "
            "hyperparameter, create the optimizer with the new value and compile again."
        )
    x.assign(value)


def get_value(x):
    """The value of `x` (a variable, an optimizer's learning rate, an array or a number) as a NumPy value."""
    if callable(getattr(x, "numpy", None)):
        return x.numpy()
    return np.asarray(x)


def int_shape(x):
    """The shape of `x` (an array, variable or symbolic input) as a tuple of ints, ``None`` where unknown.

    Raises:
        TypeError: `x` has no shape.
    """
    shape = getattr(x, "shape", None)
    if shape is None:
        if isinstance(x, (int, float, complex, bool, np.generic)):
            return ()
        raise TypeError(f"int_shape needs an array, a variable or a keras.Input, got {type(x).__name__}.")
    return tuple(None if dim is None else int(dim) for dim in shape)
