"""Lambda: a layer that runs a Python function of its input.

The function runs in the process that defined it. Saved, it is written as
Keras writes it: a named function by name (found again only in
``custom_objects``), a ``lambda`` as Python bytecode (Keras's ``__lambda__``
form). Loading a saved Lambda runs code from the file, so the loaders refuse
it unless called with ``safe_mode=False``; the global names a rebuilt lambda
uses (a module such as ``jnp``) are those the caller passes in ``custom_objects``.
"""
import base64
import binascii
import builtins
import dis
import inspect
import marshal
import types

import jax

from scanfit.layers.base import Layer
from scanfit.serialization import current_custom_objects, in_safe_mode, lookup


class Lambda(Layer):
    """``Lambda(function, output_shape=None, arguments=None)``: ``y = function(x, **arguments)``.

    `function` may also take a ``training`` argument. `output_shape` (one
    sample's shape, or a function of the batch-first input shape) is
    inferred by tracing `function` when omitted.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda function must be callable, got function={function!r:.200}")
        if mask is not None:
            raise ValueError("Lambda mask is not supported: scanfit has no masking. Leave mask=None.")
        if output_shape is not None and not callable(output_shape):
            if isinstance(output_shape, int) and not isinstance(output_shape, bool):
                output_shape = (output_shape,)
            if not isinstance(output_shape, (list, tuple)) or not all(
                    d is None or (hasattr(d, "__index__") and not isinstance(d, bool) and d >= 0)
                    for d in output_shape):
                raise TypeError(
                    f"Lambda output_shape must be a tuple of ints (one sample's shape) or a function, "
                    f"got output_shape={output_shape!r:.200}"
                )
            output_shape = tuple(None if d is None else int(d) for d in output_shape)
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"Lambda arguments must be a dict of keyword arguments, got arguments={arguments!r:.200}")
        self.function = function
        self.output_shape_arg = output_shape
        self.arguments = dict(arguments or {})
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):
            parameters = {}
        self._takes_training = "training" in parameters

    def compute_output_shape(self, input_shape):
        if callable(self.output_shape_arg):
            return tuple(self.output_shape_arg(tuple(input_shape)))
        if self.output_shape_arg is not None:
            return (input_shape[0],) + self.output_shape_arg
        if None in input_shape[1:]:
            raise ValueError(
                f"Lambda {self.name!r} cannot infer its output shape from input shape {tuple(input_shape)}: "
                "pass output_shape= (the shape of one output sample)."
            )
        sample = jax.ShapeDtypeStruct((input_shape[0] or 1,) + tuple(input_shape[1:]), self.dtype)
        out = jax.eval_shape(lambda x: self.pure_call({}, x)[0], sample).shape
        return (input_shape[0],) + tuple(out[1:])

    def pure_call(self, weights, x, *, training=False, rng=None):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = training
        return self.function(x, **kwargs), {}

    def get_config(self):
        config = {**super().get_config(), "function": serialize_function(self.function)}
        if self.output_shape_arg is not None:
            shape = self.output_shape_arg
            config["output_shape"] = serialize_function(shape) if callable(shape) else shape
        config["arguments"] = dict(self.arguments)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "function_type" in config:
            raise ValueError(
                "This Lambda layer was saved by tf.keras 2, whose stored functions are bytecode of an older "
                "Python that cannot be run here; rebuild the Lambda in Python and load the weights."
            )
        config["function"] = deserialize_function(config.get("function"))
        shape = config.get("output_shape")
        if isinstance(shape, dict):
            config["output_shape"] = deserialize_function(shape)
        return cls(**config)


def serialize_function(function):
    """Keras's config for a function: bytecode for a ``lambda``, the name for a named function."""
    if isinstance(function, types.LambdaType) and function.__name__ == "<lambda>":
        closure = None if function.__closure__ is None else tuple(c.cell_contents for c in function.__closure__)
        code = base64.encodebytes(marshal.dumps(function.__code__)).decode("ascii")
        return {"class_name": "__lambda__", "config": {"code": code, "defaults": function.__defaults__,
                                                        "closure": closure}}
    name = getattr(function, "__name__", None)
    if not isinstance(name, str):
        raise ValueError(f"Cannot save Lambda function {function!r:.200}: give a lambda or a named function.")
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def deserialize_function(config):
    """The function a Lambda config names: by name from ``custom_objects``; bytecode only outside safe mode."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"A Lambda function config must be a dict with a 'class_name', got {config!r:.200}")
    if config["class_name"] != "__lambda__":
        return lookup("Lambda function", {}, config.get("config"))
    if in_safe_mode():
        raise ValueError(
            "This Lambda layer's function is Python bytecode stored in the file, and running it could do "
            "anything. Loading it is refused in safe mode; pass safe_mode=False to load_model only for a "
            "file you trust."
        )
    inner = config.get("config")
    if not isinstance(inner, dict) or not isinstance(inner.get("code"), str):
        raise ValueError("A __lambda__ function config must hold its bytecode as a string under 'code'.")
    try:
        code = marshal.loads(base64.b64decode(inner["code"].encode("ascii")))
    except (ValueError, EOFError, TypeError, UnicodeEncodeError, binascii.Error) as error:
        raise ValueError(
            f"Cannot read the Lambda function's bytecode ({error}); it may come from another Python version."
        ) from None
    if not isinstance(code, types.CodeType):
        raise ValueError("The Lambda function's bytecode does not hold a function's code.")
    defaults = inner.get("defaults")
    closure = inner.get("closure")
    cells = None if closure is None else tuple(types.CellType(value) for value in closure)
    if len(cells or ()) != len(code.co_freevars):
        raise ValueError(
            f"The Lambda function needs {len(code.co_freevars)} closure values, the config holds {len(cells or ())}."
        )
    names = {"__builtins__": builtins, **current_custom_objects()}  # its globals: what the caller supplied
    missing = sorted(name for name in _global_names(code) if name not in names and not hasattr(builtins, name))
    if missing:
        raise ValueError(
            f"The Lambda function uses the global names {missing}, which the file cannot supply: pass them "
            f"in custom_objects, e.g. custom_objects={{{missing[0]!r}: ...}}."
        )
    return types.FunctionType(code, names, code.co_name, None if defaults is None else tuple(defaults), cells)


def _global_names(code):
    """The global names that `code` (and the functions defined inside it) reads."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
