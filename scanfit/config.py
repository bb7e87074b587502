"""`keras.config`: the global settings floatx, epsilon, image_data_format and the dtype policy, and
scanfit's device_data_limit.

scanfit computes in float32 with channels-last images; `set_floatx` and
`set_image_data_format` accept those values and refuse the others with an
error that says what to do instead. `epsilon()` is the fuzz factor the
losses, regularizers and constraints read when they are traced, as Keras's
``backend.epsilon()``.
"""
import numbers
import os
import warnings

import jax

from scanfit import mixed_precision
from scanfit.interactive_logging import (  # noqa: F401 (keras.config's)
    disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled,
)
from scanfit.serialization import enable_unsafe_deserialization  # noqa: F401 (keras.config's)

_FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
_DATA_FORMATS = ("channels_first", "channels_last")
_epsilon = 1e-7
_flash_attention = None  # Keras's setting: None (use flash attention where the inputs allow) or False (never)
_device_data_limit = None
# Caps on every fit's epochs and every pass's steps, for quick debugging runs (Keras's environment variables).
_max_epochs = int(os.environ["KERAS_MAX_EPOCHS"]) if "KERAS_MAX_EPOCHS" in os.environ else None
_max_steps_per_epoch = (int(os.environ["KERAS_MAX_STEPS_PER_EPOCH"]) if "KERAS_MAX_STEPS_PER_EPOCH" in os.environ
                        else None)


def backend():
    """The backend's name: scanfit computes with JAX."""
    return "jax"


def floatx():
    """The default float type of weights and computations: always ``'float32'`` in scanfit."""
    return "float32"


def set_floatx(value):
    """Set the default float type; scanfit accepts only ``'float32'``.

    Raises:
        ValueError: for another of Keras's float types (scanfit computes in
            float32 only) or a name that is no float type.
    """
    if value not in _FLOAT_TYPES:
        raise ValueError(f"Unknown `floatx` value: {value!r}. Expected one of {list(_FLOAT_TYPES)}.")
    if value != "float32":
        raise ValueError(
            f"set_floatx({value!r}) is not supported: scanfit trains and stores weights in float32 only. "
            "Remove the call or pass 'float32'."
        )


def epsilon():
    """The fuzz factor of numeric expressions (``1e-7`` unless `set_epsilon` changed it)."""
    return _epsilon


def set_epsilon(value):
    """Set the fuzz factor that losses, regularizers and constraints compiled afterwards use.

    Raises:
        TypeError: `value` is not a real number.
        ValueError: `value` is not positive and finite.
    """
    global _epsilon
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`epsilon` must be a float, got {type(value).__name__} ({value!r}).")
    if not 0 < float(value) < float("inf"):
        raise ValueError(f"`epsilon` must be positive and finite, got {value!r}.")
    _epsilon = float(value)


def image_data_format():
    """The default image layout of the convolution and pooling layers: ``'channels_last'``."""
    return "channels_last"


def set_image_data_format(data_format):
    """Set the default image layout; scanfit's default is fixed at ``'channels_last'``.

    Raises:
        ValueError: for ``'channels_first'`` (pass ``data_format='channels_first'``
            to each layer instead, or transpose the data) or an unknown value.
    """
    if data_format not in _DATA_FORMATS:
        raise ValueError(
            f"The `data_format` argument must be one of {set(_DATA_FORMATS)}. Received: data_format={data_format!r}"
        )
    if data_format != "channels_last":
        raise ValueError(
            "set_image_data_format('channels_first') is not supported: scanfit's default image layout is "
            "channels_last (batch, height, width, channels). Transpose the images to that layout, or pass "
            "data_format='channels_first' to each convolution and pooling layer."
        )


def device_data_limit():
    """The most bytes of input data `fit`/`evaluate`/`predict` place on the device at once (None: no limit).

    Larger array data, and NumPy memmaps of any size, stay on the host and stream through the compiled
    programs in groups of batches (`scanfit.engine.batches`).
    """
    return _device_data_limit


def set_device_data_limit(limit):
    """Set `device_data_limit` (bytes, an int >= 1, or None for no limit).

    Raises:
        ValueError: `limit` is not None or a positive int.
    """
    global _device_data_limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1):
        raise ValueError(f"set_device_data_limit(limit=...) takes a positive number of bytes or None, got {limit!r}.")
    _device_data_limit = None if limit is None else int(limit)


def dtype_policy():
    """The global dtype policy (see `scanfit.mixed_precision`)."""
    return mixed_precision.global_policy()


def set_dtype_policy(policy):
    """Set the global dtype policy: ``'mixed_bfloat16'``, ``'mixed_float16'``, ``'float32'`` or a `DTypePolicy`."""
    mixed_precision.set_global_policy(policy)


def _cap(value, what):
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
        raise ValueError(f"{what} takes a positive int or None, got {value!r}.")
    return None if value is None else int(value)


def max_epochs():
    """The cap on every `fit`'s epochs (None: none), from `set_max_epochs` or ``KERAS_MAX_EPOCHS``."""
    return _max_epochs


def set_max_epochs(max_epochs):
    """Cap every `fit` at `max_epochs` epochs (None: no cap), to run a script quickly while debugging it."""
    global _max_epochs
    _max_epochs = _cap(max_epochs, "set_max_epochs")


def max_steps_per_epoch():
    """The cap on the steps of every fit epoch, evaluation and prediction (None: none), from
    `set_max_steps_per_epoch` or ``KERAS_MAX_STEPS_PER_EPOCH``."""
    return _max_steps_per_epoch


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap every fit epoch, validation, `evaluate` and `predict` at `max_steps_per_epoch` batches (None: no
    cap), to run a script quickly while debugging it."""
    global _max_steps_per_epoch
    _max_steps_per_epoch = _cap(max_steps_per_epoch, "set_max_steps_per_epoch")


def capped_epochs(epochs):
    """`epochs`, limited by `max_epochs()` with a warning, as Keras limits them."""
    if _max_epochs and _max_epochs < epochs:
        warnings.warn(f"Limiting epochs to {_max_epochs}", stacklevel=3)
        return _max_epochs
    return epochs


def capped_steps(steps):
    """`steps` (None: a whole pass), limited by `max_steps_per_epoch()` with a warning, as Keras limits them."""
    if _max_steps_per_epoch and (not steps or _max_steps_per_epoch < steps):
        warnings.warn(f"Limiting steps_per_epoch to {_max_steps_per_epoch}", stacklevel=3)
        return _max_steps_per_epoch
    return steps


def enable_traceback_filtering():
    """Hide JAX's internal frames in the tracebacks of errors raised while tracing and compiling (the default):
    JAX's ``jax_traceback_filtering`` option set back to ``'auto'``."""
    jax.config.update("jax_traceback_filtering", "auto")


def disable_traceback_filtering():
    """Show every frame in tracebacks, JAX's internal ones too (JAX's ``jax_traceback_filtering='off'``)."""
    jax.config.update("jax_traceback_filtering", "off")


def is_traceback_filtering_enabled():
    """Whether tracebacks leave out internal frames (JAX's ``jax_traceback_filtering`` is not ``'off'``)."""
    return jax.config.jax_traceback_filtering != "off"


def enable_flash_attention():
    """Let attention use a flash-attention kernel where the inputs allow one, Keras's default. scanfit's
    attention is XLA's on every platform, so this changes no result: `is_flash_attention_enabled()` is None again,
    as in Keras ("decide from the inputs"; on CPU Keras falls back to XLA's attention too)."""
    global _flash_attention
    _flash_attention = None


def disable_flash_attention():
    """Never use flash attention (`is_flash_attention_enabled()` is False); scanfit's attention is XLA's anyway."""
    global _flash_attention
    _flash_attention = False


def is_flash_attention_enabled():
    """Keras's setting: None (the default, and after `enable_flash_attention`) or False (after
    `disable_flash_attention`)."""
    return _flash_attention


def is_nnx_enabled():
    """False: scanfit's layers are its own, not Flax NNX modules."""
    return False
