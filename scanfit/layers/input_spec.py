"""`keras.layers.InputSpec`: what a layer accepts (rank, sizes of some axes, dtype), checked on every call."""
import jax.numpy as jnp


class InputSpec:
    """The inputs a layer accepts; a layer's ``input_spec`` (one spec, or one per input) is checked each time
    the layer is called or built, so a wrong input fails with a message naming the layer and the rule.

    `ndim` / `min_ndim` / `max_ndim`: the rank (batch axis included). `axes`: ``{axis: size}`` for some axes.
    `shape`: the whole shape (None for any size). `dtype`: the input's dtype. `allow_last_axis_squeeze`: a
    last axis of size 1 may be missing (or extra). `name`: the key of this input when inputs come as a dict.
    `optional`: the input may be None."""

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None, axes=None,
                 allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = None if dtype is None else jnp.dtype(dtype).name
        self.shape = None if shape is None else tuple(shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.axes = {int(axis): value for axis, value in (axes or {}).items()}
        if self.axes and self.ndim is not None and max(self.axes) >= self.ndim:
            raise ValueError(f"InputSpec axes {sorted(self.axes)} do not fit ndim={self.ndim}: an axis must be "
                             "below the rank.")
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        self.name = name
        self.optional = optional

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        fields = {key: value for key, value in self.get_config().items() if value}
        return f"InputSpec({', '.join(f'{key}={value!r}' for key, value in fields.items())})"


def check_inputs(spec, inputs, layer_name):
    """Raise a ValueError naming `layer_name` unless `inputs` (tensors or arrays, or their shapes as tuples;
    one, a list, or a dict keyed by the specs' names) fit `spec` (an InputSpec or a list of them)."""
    if not spec:
        return
    specs = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    if isinstance(inputs, dict):
        names = [s.name for s in specs if s is not None]
        if len(names) != len(specs) or not all(names):
            raise ValueError(f"Layer {layer_name!r} got its inputs as a dict, but its input_spec does not name "
                             "them: give each InputSpec a name, or pass a list.")
        missing = [name for name in names if name not in inputs]
        if missing:
            raise ValueError(f"Layer {layer_name!r} expects inputs named {names}; {missing} missing from the "
                             f"dict of {sorted(inputs)}.")
        inputs = [inputs[name] for name in names]
    inputs = list(inputs) if _is_several(inputs) else [inputs]
    if len(inputs) != len(specs):
        raise ValueError(f"Layer {layer_name!r} expects {len(specs)} input(s), but it received {len(inputs)}.")
    for index, (x, one) in enumerate(zip(inputs, specs)):
        if one is not None and not (x is None and one.optional):
            _check_one(one, x, f"Input {index} of layer {layer_name!r} is incompatible with the layer")


def _is_several(inputs):
    return isinstance(inputs, list) or isinstance(inputs, tuple) and (not inputs or not isinstance(inputs[0], int)
                                                                       and inputs[0] is not None)


def _check_one(spec, x, where):
    shape = tuple(x) if isinstance(x, tuple) else tuple(x.shape)
    ndim = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}. Full shape received: "
                         f"{shape}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. Full shape received: "
                         f"{shape}")
    if spec.dtype is not None and hasattr(x, "dtype") and jnp.dtype(x.dtype).name != spec.dtype:
        raise ValueError(f"{where}: expected dtype={spec.dtype}, found dtype={jnp.dtype(x.dtype).name}")
    for axis, size in spec.axes.items():
        if size is not None and -ndim <= axis < ndim and shape[axis] not in (size, None):
            raise ValueError(f"{where}: expected axis {axis} of input shape to have value {size}, but received "
                             f"input with shape {shape}")
    if spec.shape is not None:
        expected, found = spec.shape, shape
        if spec.allow_last_axis_squeeze:
            expected = expected[:-1] if expected and expected[-1] == 1 else expected
            found = found[:-1] if found and found[-1] == 1 else found
        if len(expected) != len(found) or any(e is not None and f is not None and e != f
                                               for e, f in zip(expected, found)):
            raise ValueError(f"{where}: expected shape={spec.shape}, found shape={shape}")
