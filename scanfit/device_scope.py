"""`keras.device`: a context manager that places the arrays and computations made inside it on one device.

    with keras.device("cpu:0"):
        y = keras.ops.ones((2, 3))         # on the first CPU device

`device_name` is ``"<type>:<id>"`` or ``"<type>"`` (id 0), the type ``cpu``, ``gpu`` or ``tpu`` in any case, or a
`jax.Device`; it becomes JAX's default device (``jax.default_device``) inside the block, as in Keras's JAX backend.
A device this machine does not have is refused with a ValueError that lists the ones it has.
"""
import jax


def device(device_name):
    """A context manager making `device_name` (``"cpu:0"``, ``"gpu:1"``, a `jax.Device`) JAX's default device."""
    return jax.default_device(_device(device_name))


def _device(device_name):
    if isinstance(device_name, jax.Device):
        return device_name
    if not isinstance(device_name, str):
        raise ValueError(f"keras.device() takes a device name such as 'cpu:0' or 'gpu:1', or a jax.Device; got "
                         f"{device_name!r}.")
    device_type, _, device_id = device_name.lower().partition(":")
    if not device_id.isdigit() and device_id != "":
        raise ValueError(f"keras.device({device_name!r}): the part after ':' must be a device number, as in 'gpu:1'.")
    available = [f"{found.platform}:{found.id}" for found in jax.devices()]
    try:
        candidates = jax.devices(device_type)
    except RuntimeError:
        raise ValueError(f"keras.device({device_name!r}): this machine has no {device_type!r} devices; it has "
                         f"{available}.") from None
    for candidate in candidates:
        if candidate.id == int(device_id or 0):
            return candidate
    raise ValueError(f"keras.device({device_name!r}): no such device; the {device_type} devices are "
                     f"{[f'{found.platform}:{found.id}' for found in candidates]}.")
