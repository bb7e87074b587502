"""`keras.ops`: the tensor operations that Keras 3 code uses inside custom layers, losses and metrics.

Each function has Keras 3's name, arguments and defaults and computes with
`jax.numpy`, `jax.nn` or `jax.lax`, so it works on arrays, on the traced
arrays of a compiled forward pass and on a layer's `Variable`s (read as the
running pass's values):

    from scanfit import ops

    def call(self, inputs):
        return ops.relu(ops.matmul(inputs, self.w) + self.b)

Only the operations listed here exist; any other name is an AttributeError
(use `jax.numpy` for it), never a guess.

On `keras.Input` tensors an operation is recorded in the functional graph
(see `scanfit.layers.operation`), as Keras 3 does, and so are Python's
operators on them (``x + residual``, ``x[:, 0]``).
"""
import builtins
import contextlib
import functools
import inspect
import math
import re
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np

from scanfit import backend, ctc
from scanfit import image_ops as image  # noqa: F401 - keras.ops.image
from scanfit.layers import lowering, symbolic
from scanfit.layers.adaptive_pooling import adaptive_pool as _adaptive_pool
from scanfit.layers.operation import Operation, class_name
from scanfit.losses import divide_no_nan as _divide_no_nan
from scanfit.serialization import register_built_in
from scanfit.variables import Variable

# The parameters that Keras's operations take when called (tensors, or constants in their places); their
# other parameters (axis, keepdims, ...) are the operation's config.
_CALL_PARAMETERS = ("x", "x1", "x2", "xs", "condition", "inputs", "indices", "weights", "variable", "key", "a", "y",
                    "array", "sorted_sequence", "values", "bins", "abs_", "angle", "query", "value", "bias", "mask",
                    "gamma", "beta", "scale", "target", "output", "target_length", "output_length", "sequence_lengths")
# Keras's modules of the operations that are not in keras.src.ops.numpy.
_MODULES = {
    "nn": ("relu", "relu6", "sigmoid", "softplus", "softsign", "silu", "swish", "log_sigmoid", "leaky_relu",
           "hard_sigmoid", "elu", "selu", "gelu", "softmax", "log_softmax", "one_hot", "normalize",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "moments",
           "celu", "glu", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink",
           "squareplus", "sparse_plus", "sparse_sigmoid", "threshold", "max_pool", "average_pool", "conv",
           "depthwise_conv", "separable_conv", "batch_normalization", "psnr", "depth_to_space", "space_to_depth",
           "polar", "multi_hot", "layer_normalization", "rms_normalization", "sparsemax", "dot_product_attention",
           "fold", "unfold", "ctc_loss", "ctc_decode", "conv_transpose", "adaptive_average_pool",
           "adaptive_max_pool"),
    "core": ("cast", "convert_to_tensor", "stop_gradient", "slice", "unstack", "saturate_cast"),
    "math": ("logsumexp", "top_k", "erf", "rsqrt", "erfinv", "segment_sum", "segment_max", "segment_min",
             "segment_prod", "in_top_k", "logdet", "fft", "fft2", "ifft2", "rfft", "irfft", "cdist",
             "extract_sequences", "view_as_real", "view_as_complex", "stft", "istft", "erfc"),
    "linalg": ("inv", "det", "cholesky", "cholesky_inverse", "solve", "solve_triangular", "eigh", "qr", "svd",
               "lstsq", "eig", "lu_factor"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}


def _on_arrays(function):
    """`function` with every `Variable` among its arguments (also in lists) replaced by its current value;
    on symbolic tensors, the call is recorded in the graph instead. On host values only (Python numbers, lists,
    NumPy arrays) it computes at once, also while a layer is traced: shape arithmetic on ``ops.shape``'s ints
    stays concrete, as in Keras's eager calls (Hands-On ML's ``DepthPool`` reshapes by a concatenated shape)."""

    def as_array(value):
        return value.current_value() if isinstance(value, Variable) else value

    def is_variable(value):
        return isinstance(value, Variable)

    signature = inspect.signature(function)
    tensors = [p for p in signature.parameters if p in _CALL_PARAMETERS and p != "key"]  # (get_item's key: an index)

    @functools.wraps(function)
    def operation(*args, **kwargs):
        if symbolic.is_symbolic([list(args), kwargs]):
            return _record(operation, args, kwargs)
        args, kwargs = jax.tree.map(as_array, (args, kwargs), is_leaf=is_variable)
        on_host = not builtins.any(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves((args, kwargs)))
        with jax.ensure_compile_time_eval() if on_host else contextlib.nullcontext():
            if tensors and builtins.any(isinstance(value, (list, tuple)) for value in (*args, *kwargs.values())):
                args, kwargs = _numbers_as_arrays(signature, tensors, args, kwargs)
            return function(*args, **kwargs)

    _RECORDABLE[function.__name__] = operation
    return operation


def _numbers_as_arrays(signature, tensors, args, kwargs):
    """The arguments with each Python list (or tuple) of numbers given for a tensor parameter made an array, as
    Keras converts them (``ops.greater_equal([0.3, 0.5], 0.5)``); in ``xs`` (concatenate, stack), each entry."""
    bound = signature.bind(*args, **kwargs)
    for name in tensors:
        value = bound.arguments.get(name)
        if name == "xs" and isinstance(value, (list, tuple)):
            bound.arguments[name] = type(value)(jnp.asarray(item) if _is_numbers(item) else item for item in value)
        elif _is_numbers(value):
            bound.arguments[name] = jnp.asarray(value)
    return bound.args, bound.kwargs


def _is_numbers(value):
    """Whether `value` is a (nested) list or tuple of Python or NumPy numbers."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    return builtins.all(_is_numbers(item) if isinstance(item, (list, tuple)) else
               isinstance(item, (bool, int, float, complex, np.number, np.bool_)) for item in value)


_RECORDABLE = {}  # name -> operation: those a graph can record (and a file can name)


def _record(function, args, kwargs):
    """`function` called on symbolic tensors: a new `Operation` node of the graph, and its output tensor."""
    name = function.__name__
    signature = inspect.signature(function)
    if [p for p in signature.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]:  # (any: an op)
        raise TypeError(f"ops.{name} cannot be applied to symbolic tensors in scanfit; call it inside a layer's "
                        "call() (or a Lambda layer) instead.")
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    values = bound.arguments
    calls = [p for p in values if p in _CALL_PARAMETERS]
    static = {p: v for p, v in values.items() if p not in calls}
    return _operation_node(function, name, calls, static)(**{p: values[p] for p in calls})


def _operation_node(function, name, calls, static, layer_name=None):
    return Operation(function, name, calls, static, module=_MODULE_OF.get(name, "numpy"), name=layer_name)


_REQUIRED = inspect.Parameter.empty


def _operation(name, jax_function, *parameters):
    """Keras's ``ops.<name>`` computed by `jax_function`: `parameters` are Keras's arguments, each a name
    (required, passed by position) or a ``(name, default)`` pair (passed by that keyword)."""
    pairs = [(p, _REQUIRED) if isinstance(p, str) else p for p in parameters]
    signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d)
                                   for n, d in pairs])

    def operation(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = bound.arguments
        positional = [values[n] for n, d in pairs if d is _REQUIRED]
        return jax_function(*positional, **{n: values[n] for n, d in pairs if d is not _REQUIRED})

    operation.__name__ = operation.__qualname__ = name
    operation.__signature__ = signature
    operation.__doc__ = f"Keras's ``ops.{name}{signature}``."
    return _on_arrays(operation)


def _reshape(x, newshape):
    """``jnp.reshape``, also to a shape computed as a concrete array (``ops.concatenate`` of ``ops.shape``'s ints)."""
    if isinstance(newshape, (jax.Array, np.ndarray)) and not isinstance(newshape, jax.core.Tracer):
        newshape = tuple(int(d) for d in np.asarray(newshape).reshape(-1))
    return jnp.reshape(x, newshape)


def _histogram(x, bins, value_range):
    """``(counts, bin edges)`` of a 1-D `x`, as Keras's ``ops.histogram``."""
    if jnp.ndim(x) != 1:
        raise ValueError(f"ops.histogram takes a 1-D array, got shape {jnp.shape(x)}.")
    return jnp.histogram(x, bins=bins, range=value_range)


def _segments(reduce, name, data, segment_ids, num_segments=None, sorted=False):
    """`data`'s rows reduced by `reduce` (a ``jax.ops.segment_*``) per segment id."""
    if num_segments is None:
        raise ValueError(f"ops.{name} needs num_segments (the number of segments): compiled programs need every "
                         "array's size before they run.")
    return reduce(data, segment_ids, num_segments, indices_are_sorted=sorted)


def _int8_product(*operands):
    """int32 where every operand is int8 (Keras's matmul and einsum accumulate int8 products in int32), else None."""
    return jnp.int32 if builtins.all(jnp.asarray(x).dtype == jnp.int8 for x in operands) else None


_X = ("x",)
_BINARY = ("x1", "x2")
_REDUCTION = ("x", ("axis", None), ("keepdims", False))
_OPERATIONS = {
    # elementwise
    "abs": (jnp.abs, _X), "absolute": (jnp.abs, _X), "ceil": (jnp.ceil, _X), "cos": (jnp.cos, _X),
    "erf": (jax.lax.erf, _X), "exp": (jnp.exp, _X), "floor": (jnp.floor, _X),
    "hard_sigmoid": (jax.nn.hard_sigmoid, _X), "isfinite": (jnp.isfinite, _X), "isinf": (jnp.isinf, _X),
    "isnan": (jnp.isnan, _X), "log": (jnp.log, _X), "log1p": (jnp.log1p, _X), "log_sigmoid": (jax.nn.log_sigmoid, _X),
    "logical_not": (jnp.logical_not, _X), "negative": (jnp.negative, _X), "reciprocal": (jnp.reciprocal, _X),
    "relu": (jax.nn.relu, _X), "relu6": (jax.nn.relu6, _X), "rsqrt": (jax.lax.rsqrt, _X), "selu": (jax.nn.selu, _X),
    "sigmoid": (jax.nn.sigmoid, _X), "sign": (jnp.sign, _X), "silu": (jax.nn.silu, _X), "sin": (jnp.sin, _X),
    "softplus": (jax.nn.softplus, _X), "softsign": (lambda x: x / (1 + jnp.abs(x)), _X), "sqrt": (jnp.sqrt, _X),
    "square": (jnp.square, _X), "swish": (jax.nn.silu, _X), "tanh": (jnp.tanh, _X),
    "stop_gradient": (jax.lax.stop_gradient, ("variable",)),
    "elu": (jax.nn.elu, ("x", ("alpha", 1.0))), "gelu": (jax.nn.gelu, ("x", ("approximate", True))),
    "leaky_relu": (jax.nn.leaky_relu, ("x", ("negative_slope", 0.2))),
    "softmax": (jax.nn.softmax, ("x", ("axis", -1))), "log_softmax": (jax.nn.log_softmax, ("x", ("axis", -1))),
    "round": (jnp.round, ("x", ("decimals", 0))), "clip": (jnp.clip, ("x", "x_min", "x_max")),
    # two arrays
    "add": (jnp.add, _BINARY), "divide": (jnp.divide, _BINARY), "dot": (jnp.dot, _BINARY),
    "equal": (jnp.equal, _BINARY), "floor_divide": (jnp.floor_divide, _BINARY), "greater": (jnp.greater, _BINARY),
    "greater_equal": (jnp.greater_equal, _BINARY), "less": (jnp.less, _BINARY), "less_equal": (jnp.less_equal, _BINARY),
    "logical_and": (jnp.logical_and, _BINARY), "logical_or": (jnp.logical_or, _BINARY),
    "matmul": (lambda x1, x2: jnp.matmul(x1, x2, preferred_element_type=_int8_product(x1, x2)), _BINARY),
    "maximum": (jnp.maximum, _BINARY), "minimum": (jnp.minimum, _BINARY),
    "mod": (jnp.mod, _BINARY), "multiply": (jnp.multiply, _BINARY), "not_equal": (jnp.not_equal, _BINARY),
    "power": (jnp.power, _BINARY), "subtract": (jnp.subtract, _BINARY), "true_divide": (jnp.true_divide, _BINARY),
    "tensordot": (jnp.tensordot, ("x1", "x2", ("axes", 2))),
    # reductions
    "sum": (jnp.sum, _REDUCTION), "mean": (jnp.mean, _REDUCTION), "std": (jnp.std, _REDUCTION),
    "var": (jnp.var, _REDUCTION), "all": (jnp.all, _REDUCTION), "any": (jnp.any, _REDUCTION),
    "argmax": (jnp.argmax, _REDUCTION), "argmin": (jnp.argmin, _REDUCTION), "logsumexp": (jax.nn.logsumexp, _REDUCTION),
    "max": (jnp.max, _REDUCTION + (("initial", None),)), "min": (jnp.min, _REDUCTION + (("initial", None),)),
    "prod": (jnp.prod, _REDUCTION + (("dtype", None),)),
    "cumsum": (jnp.cumsum, ("x", ("axis", None), ("dtype", None))),
    "cumprod": (jnp.cumprod, ("x", ("axis", None), ("dtype", None))),
    "average": (jnp.average, ("x", ("axis", None), ("weights", None))),
    "norm": (jnp.linalg.norm, ("x", ("ord", None), ("axis", None), ("keepdims", False))),
    # shapes and arrangement
    "reshape": (_reshape, ("x", "newshape")), "transpose": (jnp.transpose, ("x", ("axes", None))),
    "expand_dims": (jnp.expand_dims, ("x", "axis")), "squeeze": (jnp.squeeze, ("x", ("axis", None))),
    "concatenate": (jnp.concatenate, ("xs", ("axis", 0))), "stack": (jnp.stack, ("x", ("axis", 0))),
    "split": (jnp.split, ("x", "indices_or_sections", ("axis", 0))), "tile": (jnp.tile, ("x", "repeats")),
    "repeat": (jnp.repeat, ("x", "repeats", ("axis", None))), "flip": (jnp.flip, ("x", ("axis", None))),
    "roll": (jnp.roll, ("x", "shift", ("axis", None))), "sort": (jnp.sort, ("x", ("axis", -1))),
    "argsort": (jnp.argsort, ("x", ("axis", -1))), "tril": (jnp.tril, ("x", ("k", 0))),
    "triu": (jnp.triu, ("x", ("k", 0))), "diag": (jnp.diag, ("x", ("k", 0))),
    "ones_like": (jnp.ones_like, ("x", ("dtype", None))), "zeros_like": (jnp.zeros_like, ("x", ("dtype", None))),
    "full_like": (jnp.full_like, ("x", "fill_value", ("dtype", None))),
}
_OPERATIONS.update({
    # elementwise: trigonometry, logarithms, rounding, tests
    **{name: (getattr(jnp, name), _X) for name in (
        "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctanh", "cosh", "sinh", "tan", "cbrt", "deg2rad",
        "rad2deg", "exp2", "expm1", "log10", "log2", "fabs", "signbit", "trunc", "sinc", "isneginf", "isposinf",
        "conj", "real", "imag", "fliplr", "flipud", "ravel", "ndim", "size")},
    "erfinv": (jax.scipy.special.erfinv, _X), "copy": (lambda x: jnp.array(x, copy=True), _X),
    "nan_to_num": (jnp.nan_to_num, ("x", ("nan", 0.0), ("posinf", None), ("neginf", None))),
    # activations
    "celu": (jax.nn.celu, ("x", ("alpha", 1.0))), "glu": (jax.nn.glu, ("x", ("axis", -1))),
    "hard_silu": (jax.nn.hard_silu, _X), "hard_swish": (jax.nn.hard_swish, _X), "hard_tanh": (jax.nn.hard_tanh, _X),
    "sparse_plus": (jax.nn.sparse_plus, _X), "sparse_sigmoid": (jax.nn.sparse_sigmoid, _X),
    "squareplus": (jax.nn.squareplus, ("x", ("b", 4))), "tanh_shrink": (lambda x: x - jnp.tanh(x), _X),
    "hard_shrink": (lambda x, threshold: jnp.where(jnp.abs(x) > threshold, x, 0.0), ("x", ("threshold", 0.5))),
    "soft_shrink": (lambda x, threshold: jnp.where(x > threshold, x - threshold,
                                                   jnp.where(x < -threshold, x + threshold, 0.0)),
                    ("x", ("threshold", 0.5))),
    "threshold": (lambda x, threshold, default_value: jnp.where(x > threshold, x, default_value),
                  ("x", "threshold", "default_value")),
    # two arrays
    **{name: (getattr(jnp, name), _BINARY) for name in (
        "arctan2", "hypot", "logaddexp", "logaddexp2", "fmod", "heaviside", "logical_xor", "outer", "inner", "kron",
        "vdot", "nextafter", "fmax", "fmin")},
    "divide_no_nan": (_divide_no_nan, _BINARY),
    "cross": (jnp.cross, _BINARY + (("axisa", -1), ("axisb", -1), ("axisc", -1), ("axis", None))),
    "isclose": (jnp.isclose, _BINARY + (("rtol", 1e-5), ("atol", 1e-8), ("equal_nan", False))),
    "allclose": (jnp.allclose, _BINARY + (("rtol", 1e-5), ("atol", 1e-8), ("equal_nan", False))),
    "isin": (jnp.isin, _BINARY + (("assume_unique", False), ("invert", False))),
    "correlate": (jnp.correlate, _BINARY + (("mode", "valid"),)),
    # reductions and statistics
    **{name: (getattr(jnp, name), _REDUCTION) for name in (
        "amax", "amin", "ptp", "median", "nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanstd", "nanvar")},
    "quantile": (jnp.quantile, ("x", "q", ("axis", None), ("method", "linear"), ("keepdims", False))),
    "percentile": (jnp.percentile, ("x", "q", ("axis", None), ("method", "linear"), ("keepdims", False))),
    "count_nonzero": (jnp.count_nonzero, ("x", ("axis", None))),
    "trace": (jnp.trace, ("x", ("offset", 0), ("axis1", 0), ("axis2", 1))),
    "diagonal": (jnp.diagonal, ("x", ("offset", 0), ("axis1", 0), ("axis2", 1))),
    "diff": (jnp.diff, ("a", ("n", 1), ("axis", -1))), "corrcoef": (jnp.corrcoef, _X),
    "trapezoid": (jnp.trapezoid, ("y", ("x", None), ("dx", 1.0), ("axis", -1))),
    # shapes and arrangement
    "broadcast_to": (jnp.broadcast_to, ("x", "shape")),
    "moveaxis": (jnp.moveaxis, ("x", "source", "destination")),
    "swapaxes": (jnp.swapaxes, ("x", "axis1", "axis2")),
    "hstack": (jnp.hstack, ("xs",)), "vstack": (jnp.vstack, ("xs",)), "dstack": (jnp.dstack, ("xs",)),
    "rot90": (jnp.rot90, ("array", ("k", 1), ("axes", (0, 1)))),
    "diagflat": (jnp.diagflat, ("x", ("k", 0))), "vander": (jnp.vander, ("x", ("N", None), ("increasing", False))),
    # searching and linear algebra
    "searchsorted": (jnp.searchsorted, ("sorted_sequence", "values", ("side", "left"))),
    "digitize": (jnp.digitize, ("x", "bins")),
    "inv": (jnp.linalg.inv, _X), "det": (jnp.linalg.det, _X),
    "cholesky": (lambda x, upper: jnp.swapaxes(jnp.linalg.cholesky(x), -1, -2) if upper else jnp.linalg.cholesky(x),
                 ("x", ("upper", False))),
})
_OPERATIONS.update({
    # elementwise, windows
    **{name: (getattr(jnp, name), _X) for name in ("isreal", "conjugate")},
    **{name: (lambda x, _window=getattr(jnp, name): _window(x).astype(backend.floatx()), _X)
       for name in ("bartlett", "blackman", "hamming", "hanning")},
    "kaiser": (lambda x, beta: jnp.kaiser(x, beta).astype(backend.floatx()), ("x", "beta")),
    "erfc": (jax.scipy.special.erfc, _X),
    "bitwise_invert": (jnp.invert, _X), "bitwise_not": (jnp.invert, _X),
    **{name: (function, ("x", "y")) for name, function in (
        ("bitwise_and", jnp.bitwise_and), ("bitwise_or", jnp.bitwise_or), ("bitwise_xor", jnp.bitwise_xor),
        ("bitwise_left_shift", jnp.left_shift), ("bitwise_right_shift", jnp.right_shift),
        ("left_shift", jnp.left_shift), ("right_shift", jnp.right_shift))},
    "gcd": (jnp.gcd, _BINARY), "lcm": (jnp.lcm, _BINARY),
    # reductions that skip NaNs
    **{name: (getattr(jnp, name), _REDUCTION) for name in ("nanargmax", "nanargmin", "nanmedian")},
    "nancumsum": (jnp.nancumsum, ("x", ("axis", None), ("dtype", None))),
    "nancumprod": (jnp.nancumprod, ("x", ("axis", None), ("dtype", None))),
    "nanquantile": (jnp.nanquantile, ("x", "q", ("axis", None), ("method", "linear"), ("keepdims", False))),
    "nanpercentile": (jnp.nanpercentile, ("x", "q", ("axis", None), ("method", "linear"), ("keepdims", False))),
    # shapes and arrangement
    "append": (jnp.append, ("x1", "x2", ("axis", None))),
    "array_split": (jnp.array_split, ("x", "indices_or_sections", ("axis", 0))),
    **{name: (getattr(jnp, name), ("x", "indices_or_sections")) for name in ("hsplit", "vsplit", "dsplit")},
    "select": (jnp.select, ("condlist", "choicelist", ("default", 0))),
    "unravel_index": (lambda indices, shape: tuple(jnp.unravel_index(indices, shape)), ("indices", "shape")),
    # linear algebra
    "slogdet": (lambda x: tuple(jnp.linalg.slogdet(x)), _X), "logdet": (lambda x: jnp.linalg.slogdet(x)[1], _X),
    "solve": (jnp.linalg.solve, ("a", "b")),
    "solve_triangular": (jax.scipy.linalg.solve_triangular, ("a", "b", ("lower", False))),
    "eigh": (lambda x: tuple(jnp.linalg.eigh(x)), _X),
    "svd": (lambda x, full_matrices, compute_uv: _tuple_of(jnp.linalg.svd(x, full_matrices, compute_uv)),
            ("x", ("full_matrices", True), ("compute_uv", True))),
    "lstsq": (lambda a, b, rcond: jnp.linalg.lstsq(a, b, rcond=rcond)[0], ("a", "b", ("rcond", None))),
    # segments
    **{f"segment_{kind}": (functools.partial(_segments, getattr(jax.ops, f"segment_{kind}"), f"segment_{kind}"),
                           ("data", "segment_ids", ("num_segments", None), ("sorted", False)))
       for kind in ("sum", "max", "min", "prod")},
})
_OPERATIONS.update({
    "angle": (jnp.angle, _X), "i0": (jnp.i0, _X), "ldexp": (jnp.ldexp, _BINARY),
    "polar": (lambda abs_, angle: abs_ * jnp.exp(1j * angle), ("abs_", "angle")),
    "argpartition": (jnp.argpartition, ("x", "kth", ("axis", -1))),
    "histogram": (lambda x, bins, range: _histogram(x, bins, range),  # noqa: A006 - Keras's name
                  ("x", ("bins", 10), ("range", None))),
})
for _name, (_function, _parameters) in _OPERATIONS.items():
    globals()[_name] = _operation(_name, _function, *_parameters)


@_on_arrays
def moments(x, axes, keepdims=False, synchronized=False):
    """The mean and variance of `x` over `axes`."""
    if synchronized:
        raise ValueError("ops.moments(synchronized=True) is not supported by scanfit: its replicas see one "
                         "global batch, so leave synchronized=False.")
    return jnp.mean(x, axis=axes, keepdims=keepdims), jnp.var(x, axis=axes, keepdims=keepdims)


# --- shapes and arrangement ---------------------------------------------------------


@_on_arrays
def top_k(x, k, sorted=True):
    """The `k` largest values along the last axis and their indices (always sorted, which Keras allows)."""
    return jax.lax.top_k(x, k)


@_on_arrays
def take(x, indices, axis=None):
    return jnp.take(x, jnp.asarray(indices, jnp.int32), axis=axis)


@_on_arrays
def take_along_axis(x, indices, axis=None):
    return jnp.take_along_axis(x, jnp.asarray(indices, jnp.int32), axis=axis)


@_on_arrays
def where(condition, x1=None, x2=None):
    if (x1 is None) != (x2 is None):
        raise ValueError("ops.where takes both x1 and x2, or neither (then it gives the indices of the true values).")
    return jnp.where(condition) if x1 is None else jnp.where(condition, x1, x2)


@_on_arrays
def pad(x, pad_width, mode="constant", constant_values=None):
    if constant_values is not None:
        if mode != "constant":
            raise ValueError(f"ops.pad: constant_values is only for mode='constant', got mode={mode!r}.")
        return jnp.pad(x, pad_width, mode=mode, constant_values=constant_values)
    return jnp.pad(x, pad_width, mode=mode)


@_on_arrays
def slice(inputs, start_indices, shape):
    """The block of `inputs` of size `shape` starting at `start_indices`."""
    return jax.lax.dynamic_slice(inputs, start_indices, shape)


@_on_arrays
def einsum(subscripts, *operands, **kwargs):
    return jnp.einsum(subscripts, *operands, preferred_element_type=_int8_product(*operands), **kwargs)


@_on_arrays
def get_item(x, key):
    """``x[key]``, as Keras's ``ops.get_item`` (a key read from a file comes as a list: it is a tuple)."""
    return x[tuple(key) if isinstance(key, list) else key]


def _tuple_of(result):
    """A result of several arrays (a NamedTuple of jax.numpy's) as the plain tuple Keras returns; one array as is."""
    return tuple(result) if isinstance(result, tuple) else result


@_on_arrays
def qr(x, mode="reduced"):
    if mode not in ("reduced", "complete"):
        raise ValueError(f"ops.qr: mode must be 'reduced' or 'complete', got {mode!r}.")
    return tuple(jnp.linalg.qr(x, mode=mode))


@_on_arrays
def cholesky_inverse(x, upper=False):
    """The inverse of the matrix whose Cholesky factor is `x` (lower triangular, or upper with `upper`)."""
    inverse_factor = jax.scipy.linalg.solve_triangular(x, jnp.eye(x.shape[-1], dtype=x.dtype), lower=not upper)
    if upper:
        return inverse_factor @ jnp.swapaxes(inverse_factor, -1, -2)
    return jnp.swapaxes(inverse_factor, -1, -2) @ inverse_factor


@_on_arrays
def pinv(x, rcond=None):
    if x.ndim < 2:
        raise ValueError(f"ops.pinv takes a matrix (or a batch of them), got shape {x.shape}.")
    return jnp.linalg.pinv(x, rcond=rcond)


@_on_arrays
def matrix_rank(x, tol=None):
    if x.ndim < 2:
        raise ValueError(f"ops.matrix_rank takes a matrix (or a batch of them), got shape {x.shape}.")
    return jnp.linalg.matrix_rank(x, tol=tol).astype(jnp.int32)


# --- scatter, top k ------------------------------------------------------------


@_on_arrays
def scatter(indices, values, shape):
    """Zeros of `shape` with `values` added at `indices` (one index per row of `indices`' last axis)."""
    return jnp.zeros(shape, values.dtype).at[tuple(jnp.moveaxis(jnp.asarray(indices), -1, 0))].add(values)


@_on_arrays
def scatter_update(inputs, indices, updates, reduction=None):
    """`inputs` with `updates` written at `indices` (or combined there by `reduction`: 'add', 'max', 'min', 'mul')."""
    at = jnp.asarray(inputs).at[tuple(jnp.transpose(jnp.asarray(indices)))]
    combine = {None: at.set, "add": at.add, "max": at.max, "min": at.min, "mul": at.multiply}.get(reduction)
    if combine is None:
        raise ValueError(f"ops.scatter_update: reduction must be None, 'add', 'max', 'min' or 'mul', got {reduction!r}.")
    return combine(updates)


@_on_arrays
def slice_update(inputs, start_indices, updates):
    """`inputs` with the block `updates` written from `start_indices`."""
    return jax.lax.dynamic_update_slice(inputs, updates, start_indices)


@_on_arrays
def in_top_k(targets, predictions, k):
    """Whether each target class is among the `k` largest predictions of its row (a NaN prediction never is)."""
    at_target = jnp.take_along_axis(predictions, jnp.expand_dims(targets, -1), axis=-1)
    at_target = jnp.where(jnp.isnan(at_target), -jnp.inf, at_target)
    return 1 + jnp.sum(predictions > at_target, axis=-1) <= k


# --- control flow -------------------------------------------------------------------------


@_on_arrays
def cond(pred, true_fn, false_fn):
    return jax.lax.cond(pred, true_fn, false_fn)


@_on_arrays
def switch(index, branches, *operands):
    return jax.lax.switch(index, branches, *operands)


@_on_arrays
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Keras's ``ops.while_loop``: `cond` and `body` take the loop variables unpacked (a tuple or list of them, or
    one); at most `maximum_iterations` passes."""
    several = isinstance(loop_vars, (tuple, list))
    state = (tuple(loop_vars) if several else (loop_vars,)) + (0,)

    def keep_going(state):
        going = cond(*state[:-1])
        return going if maximum_iterations is None else going & (state[-1] < maximum_iterations)

    def step(state):
        out = body(*state[:-1])
        return (tuple(out) if several else (out,)) + (state[-1] + 1,)

    out = jax.lax.while_loop(keep_going, step, state)[:-1]
    return out if several else out[0]


@_on_arrays
def fori_loop(lower, upper, body_fun, init_val):
    return jax.lax.fori_loop(lower, upper, body_fun, init_val)


@_on_arrays
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    return jax.lax.scan(f, init, xs=xs, length=length, reverse=reverse, unroll=unroll)


@_on_arrays
def map(f, xs):  # noqa: A001 - Keras's name
    return jax.lax.map(f, xs)


@_on_arrays
def associative_scan(f, elems, reverse=False, axis=0):
    return jax.lax.associative_scan(f, elems, reverse=reverse, axis=axis)


@_on_arrays
def vectorized_map(function, elements):
    return jax.vmap(function)(elements)


# --- Fourier transforms: complex arrays as (real, imaginary) pairs, as Keras gives them -------


def _complex(x):
    """The complex array of Keras's (real, imaginary) pair `x` of float arrays of one shape."""
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError("A Fourier transform takes a complex tensor as a pair (real part, imaginary part); "
                         f"got {type(x).__name__}.")
    real, imaginary = (jnp.asarray(part) for part in x)
    if real.shape != imaginary.shape or not (jnp.issubdtype(real.dtype, jnp.floating)
                                             and jnp.issubdtype(imaginary.dtype, jnp.floating)):
        raise ValueError(f"A Fourier transform's (real, imaginary) pair needs two float arrays of one shape; got "
                         f"{real.shape} {real.dtype} and {imaginary.shape} {imaginary.dtype}.")
    return jax.lax.complex(real, imaginary)


def _pair(z):
    return jnp.real(z), jnp.imag(z)


@_on_arrays
def fft(x):
    return _pair(jnp.fft.fft(_complex(x)))


@_on_arrays
def fft2(x):
    return _pair(jnp.fft.fft2(_complex(x)))


@_on_arrays
def ifft2(x):
    return _pair(jnp.fft.ifft2(_complex(x)))


@_on_arrays
def rfft(x, fft_length=None):
    return _pair(jnp.fft.rfft(x, n=fft_length, axis=-1))


@_on_arrays
def irfft(x, fft_length=None):
    return jnp.fft.irfft(_complex(x), n=fft_length, axis=-1)


# --- creation and conversion -----------------------------------------------------------
def _dtype(dtype, default=None):
    return jnp.dtype(default or backend.floatx()) if dtype is None else jnp.dtype(dtype)


def ones(shape, dtype=None):
    return jnp.ones(shape, _dtype(dtype))


def zeros(shape, dtype=None):
    return jnp.zeros(shape, _dtype(dtype))


def full(shape, fill_value, dtype=None):
    return jnp.full(shape, fill_value, dtype)


def eye(N, M=None, k=0, dtype=None):
    return jnp.eye(N, M, k, dtype=_dtype(dtype))


def arange(start, stop=None, step=None, dtype=None):
    return jnp.arange(start, stop, step, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    return jnp.tri(N, M, k, dtype=_dtype(dtype))


def identity(n, dtype=None):
    return jnp.identity(n, dtype=_dtype(dtype))


@_on_arrays
def array(x, dtype=None):
    return jnp.array(x, dtype=dtype)


@_on_arrays
def unstack(x, num=None, axis=0):
    """The slices of `x` along `axis`, as a list (`num`, when given, must be their number)."""
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"ops.unstack: num={num}, but axis {axis} of x has {x.shape[axis]} entries.")
    return list(jnp.moveaxis(x, axis, 0))


def empty(shape, dtype=None):
    return jnp.zeros(shape, _dtype(dtype))  # (zeros: XLA has no uninitialized arrays)


@_on_arrays
def empty_like(x, dtype=None):
    return jnp.zeros_like(x, dtype=dtype)


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    return jnp.logspace(start, stop, num=num, endpoint=endpoint, base=base, dtype=dtype, axis=axis)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    return jnp.geomspace(start, stop, num=num, endpoint=endpoint, dtype=dtype, axis=axis)


def meshgrid(*x, indexing="xy"):
    return jnp.meshgrid(*x, indexing=indexing)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    return jnp.linspace(start, stop, num, endpoint=endpoint, retstep=retstep, dtype=dtype, axis=axis)


@_on_arrays
def cast(x, dtype):
    return jnp.asarray(x).astype(dtype)


@_on_arrays
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    if sparse or ragged:
        raise ValueError("ops.convert_to_tensor: scanfit has no sparse or ragged tensors.")
    if dtype is None and isinstance(x, float):
        dtype = backend.floatx()
    return jnp.asarray(x, dtype=dtype)


@_on_arrays
def convert_to_numpy(x):
    return np.asarray(x)


def shape(x):
    """The shape of `x` (of a symbolic tensor: its static shape, None where unknown, as Keras gives it)."""
    if isinstance(x, symbolic.KerasTensor):
        return x.shape
    return tuple(jnp.shape(x.current_value() if isinstance(x, Variable) else x))


# --- neural-network functions -------------------------------------------------------


@_on_arrays
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    if sparse:
        raise ValueError("ops.one_hot: scanfit has no sparse tensors; leave sparse=False.")
    return jax.nn.one_hot(x, num_classes, dtype=_dtype(dtype), axis=axis)


@_on_arrays
def normalize(x, axis=-1, order=2, epsilon=None):
    """`x` divided by its `order`-norm along `axis` (at least `epsilon`, by default `backend.epsilon()`)."""
    epsilon = backend.epsilon() if epsilon is None else epsilon
    if order == 2:  # the norm, not its square, is held at epsilon or more, as in Keras
        return x * jnp.minimum(jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True)), 1.0 / epsilon)
    return x / jnp.maximum(jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True), epsilon)


def _channels_last(data_format, name):
    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.{name}: scanfit's images are 'channels_last', got data_format={data_format!r}.")


def _padding(padding, name):
    if padding not in ("same", "valid"):
        raise ValueError(f"ops.{name}: padding must be 'same' or 'valid', got {padding!r}.")
    return padding.upper()


def _per_axis(value, count):
    """An int or a sequence as one value per spatial axis."""
    return (value,) * count if isinstance(value, int) else tuple(value)


def _pooled(inputs, start, reduce, pool_size, strides, padding, name):
    """`reduce` over windows of `pool_size` (`strides` apart, default: the windows side by side) of each spatial
    axis of channels-last `inputs`."""
    count = inputs.ndim - 2
    window = (1,) + _per_axis(pool_size, count) + (1,)
    step = window if strides is None else (1,) + _per_axis(strides, count) + (1,)
    return jax.lax.reduce_window(inputs, start, reduce, window, step, _padding(padding, name)), window, step


@_on_arrays
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    _channels_last(data_format, "max_pool")
    return _pooled(inputs, -jnp.inf, jax.lax.max, pool_size, strides, padding, "max_pool")[0]


@_on_arrays
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Window means; with 'same' padding a window at the border averages its real entries only, as in Keras."""
    _channels_last(data_format, "average_pool")
    total, window, step = _pooled(inputs, 0.0, jax.lax.add, pool_size, strides, padding, "average_pool")
    if padding == "valid":
        return total / np.prod(window)
    ones = jnp.ones([size if side != 1 else 1 for size, side in zip(inputs.shape, window)], inputs.dtype)
    return total / jax.lax.reduce_window(ones, 0.0, jax.lax.add, window, step, "SAME")


def _convolved(inputs, kernel, strides, padding, dilation_rate, groups, name):
    """`inputs` (channels last) convolved with `kernel` (spatial axes, input channels, output channels)."""
    count = inputs.ndim - 2
    inputs_spec = (0, count + 1) + tuple(range(1, count + 1))
    numbers = jax.lax.ConvDimensionNumbers(lhs_spec=inputs_spec, rhs_spec=(count + 1, count) + tuple(range(count)),
                                           out_spec=inputs_spec)
    return jax.lax.conv_general_dilated(jnp.asarray(inputs, kernel.dtype), kernel, _per_axis(strides, count),
                                        _padding(padding, name), rhs_dilation=_per_axis(dilation_rate, count),
                                        dimension_numbers=numbers, feature_group_count=groups)


@_on_arrays
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """A convolution (grouped when the inputs have a multiple of the kernel's input channels)."""
    _channels_last(data_format, "conv")
    kernel = jnp.asarray(kernel)
    if inputs.shape[-1] % kernel.shape[-2]:
        raise ValueError(f"ops.conv: the inputs' {inputs.shape[-1]} channels are not a multiple of the kernel's "
                         f"{kernel.shape[-2]} input channels.")
    return _convolved(inputs, kernel, strides, padding, dilation_rate, inputs.shape[-1] // kernel.shape[-2], "conv")


@_on_arrays
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Each input channel convolved with its own filters (`kernel`: spatial axes, channels, multiplier)."""
    _channels_last(data_format, "depthwise_conv")
    kernel = jnp.asarray(kernel)
    channels = inputs.shape[-1]
    kernel = jnp.reshape(kernel, kernel.shape[:-2] + (1, channels * kernel.shape[-1]))
    return _convolved(inputs, kernel, strides, padding, dilation_rate, channels, "depthwise_conv")


@_on_arrays
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """`depthwise_conv`, then a 1 x 1 `conv` with `pointwise_kernel`."""
    _channels_last(data_format, "separable_conv")
    depthwise = depthwise_conv(inputs, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return conv(depthwise, pointwise_kernel, 1, "valid", data_format, dilation_rate)


@_on_arrays
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """The transposed convolution of the `Conv*DTranspose` layers (`kernel`: spatial axes, output channels, input
    channels); `output_padding` (None: inferred) sets the output length as there."""
    _channels_last(data_format, "conv_transpose")
    inputs, kernel = jnp.asarray(inputs), jnp.asarray(kernel)
    count = inputs.ndim - 2
    strides, dilation = _per_axis(strides, count), _per_axis(dilation_rate, count)
    extra = (None,) * count if output_padding is None else _per_axis(output_padding, count)
    padding = _padding(padding, "conv_transpose").lower()
    pads = [lowering.transpose_padding(size, k, s, d, padding, p)
            for size, k, s, d, p in zip(inputs.shape[1:-1], kernel.shape[:count], strides, dilation, extra)]
    return lowering.conv_transpose(jnp.asarray(inputs, kernel.dtype), kernel, strides, pads, dilation, "xla")


@_on_arrays
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Means over the windows that pool each spatial axis to `output_size` (an int: every axis), Keras's windows."""
    _channels_last(data_format, "adaptive_average_pool")
    inputs = jnp.asarray(inputs)
    return _adaptive_pool(inputs, "average", _per_axis(output_size, inputs.ndim - 2))


@_on_arrays
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Maxima over the windows that pool each spatial axis to `output_size` (an int: every axis), Keras's windows."""
    _channels_last(data_format, "adaptive_max_pool")
    inputs = jnp.asarray(inputs)
    return _adaptive_pool(inputs, "max", _per_axis(output_size, inputs.ndim - 2))


@_on_arrays
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=0.001):
    """`x` normalized with the given statistics along `axis`, then scaled and offset (Keras's arithmetic)."""
    shape = [1] * x.ndim
    shape[axis] = mean.shape[0]
    inverse = jax.lax.rsqrt(jnp.reshape(variance, shape) + epsilon)
    if scale is not None:
        inverse = inverse * jnp.reshape(scale, shape)
    shift = -jnp.reshape(mean, shape) * inverse
    if offset is not None:
        shift = shift + jnp.reshape(offset, shape)
    return x * inverse + shift


@_on_arrays
def psnr(x1, x2, max_val):
    """The peak signal-to-noise ratio of `x2` against `x1`, in decibels, for values up to `max_val`."""
    if x1.shape != x2.shape:
        raise ValueError(f"ops.psnr: the shapes {x1.shape} and {x2.shape} differ.")
    return 20 * jnp.log10(jnp.asarray(max_val, x2.dtype)) - 10 * jnp.log10(jnp.mean(jnp.square(x1 - x2)))


@_on_arrays
def depth_to_space(x, block_size, data_format="channels_last"):
    """Channels moved into `block_size` x `block_size` blocks of pixels (a pixel shuffle)."""
    _channels_last(data_format, "depth_to_space")
    n, h, w, c = x.shape
    x = jnp.reshape(x, (n, h, w, block_size, block_size, c // block_size**2))
    return jnp.reshape(jnp.transpose(x, (0, 1, 3, 2, 4, 5)), (n, h * block_size, w * block_size, c // block_size**2))


@_on_arrays
def space_to_depth(x, block_size, data_format="channels_last"):
    """Blocks of `block_size` x `block_size` pixels moved into the channels (`depth_to_space` undone)."""
    _channels_last(data_format, "space_to_depth")
    n, h, w, c = x.shape
    x = jnp.reshape(x, (n, h // block_size, block_size, w // block_size, block_size, c))
    return jnp.reshape(jnp.transpose(x, (0, 1, 3, 2, 4, 5)), (n, h // block_size, w // block_size, c * block_size**2))


def _probabilities(output, from_logits, axis):
    """Clipped probabilities from `output` (normalized to sum to 1 along `axis` unless logits)."""
    if from_logits:
        return jax.nn.softmax(output, axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    return jnp.clip(output, backend.epsilon(), 1.0 - backend.epsilon())


@_on_arrays
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy (probabilities clipped to ``[epsilon, 1 - epsilon]``)."""
    if from_logits:
        return jnp.maximum(output, 0) - output * target + jnp.log1p(jnp.exp(-jnp.abs(output)))
    output = jnp.clip(output, backend.epsilon(), 1.0 - backend.epsilon())
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


@_on_arrays
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy along `axis` between one-hot (or soft) `target` and `output`."""
    if from_logits:
        return -jnp.sum(target * jax.nn.log_softmax(output, axis=axis), axis=axis)
    return -jnp.sum(target * jnp.log(_probabilities(output, False, axis)), axis=axis)


@_on_arrays
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Cross-entropy along `axis` between integer class `target` and `output`."""
    target = jax.nn.one_hot(jnp.asarray(target, jnp.int32), output.shape[axis], axis=axis, dtype=output.dtype)
    return categorical_crossentropy(target, output, from_logits=from_logits, axis=axis)


@_on_arrays
def cdist(x, y):
    """The Euclidean distance between every row vector of `x` and of `y`: shape ``(..., n, m)`` for ``(..., n,
    d)`` and ``(..., m, d)``."""
    if jnp.ndim(x) < 2 or jnp.ndim(y) < 2 or jnp.shape(x)[-1] != jnp.shape(y)[-1]:
        raise ValueError(f"ops.cdist takes two arrays of vectors, (..., n, d) and (..., m, d), got shapes "
                         f"{jnp.shape(x)} and {jnp.shape(y)}.")
    difference = x[..., :, None, :] - y[..., None, :, :]
    return jnp.sqrt(jnp.sum(jnp.square(difference), axis=-1))


@_on_arrays
def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of `sequence_length` samples every `sequence_stride` along the last axis: ``(..., frames,
    sequence_length)``."""
    length = jnp.shape(x)[-1]
    starts = jnp.arange(0, length - sequence_length + 1, sequence_stride)
    return jnp.take(x, starts[:, None] + jnp.arange(sequence_length)[None, :], axis=-1)


@_on_arrays
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """`x` normalized to mean 0 and variance 1 over `axis`, then scaled by `gamma` and shifted by `beta`
    (``rms_scaling=True``: divided by the root of the variance only, and scaled); in float32 at least."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"ops.layer_normalization got unexpected argument(s) {sorted(kwargs)}.")
    epsilon = backend.epsilon() if epsilon is None else epsilon
    dtype = x.dtype
    x = jnp.asarray(x, jnp.result_type(x.dtype, jnp.float32))
    axes = tuple(sorted([axis] if isinstance(axis, int) else axis))
    shape = [x.shape[d] if d in axes or d - x.ndim in axes else 1 for d in range(x.ndim)]
    along = lambda v: v if v is None or axes == (x.ndim - 1,) or axes == (-1,) else jnp.reshape(v, shape)
    variance = jnp.var(x, axis=axes, keepdims=True)
    if rms_scaling:
        out = x * jax.lax.rsqrt(variance + epsilon)
        out = out if gamma is None else out * along(jnp.asarray(gamma, x.dtype))
    else:
        out = (x - jnp.mean(x, axis=axes, keepdims=True)) * jax.lax.rsqrt(variance + epsilon)
        out = out if gamma is None else out * along(jnp.asarray(gamma, x.dtype))
        out = out if beta is None else out + along(jnp.asarray(beta, x.dtype))
    return out.astype(dtype)


@_on_arrays
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """`x` divided by its root mean square over `axis` (plus `epsilon`), times `scale`; in float32 at least."""
    epsilon = backend.epsilon() if epsilon is None else epsilon
    dtype = x.dtype
    x = jnp.asarray(x, jnp.result_type(x.dtype, jnp.float32))
    axes = tuple(sorted(axis)) if isinstance(axis, (tuple, list)) else axis
    out = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axes, keepdims=True) + epsilon)
    return (out if scale is None else out * jnp.asarray(scale, x.dtype)).astype(dtype)


@_on_arrays
def sparsemax(x, axis=-1):
    """Sparsemax along `axis`: the Euclidean projection of `x` onto the probability simplex (many exact zeros)."""
    ranked = -jnp.sort(-x, axis=axis)
    sizes = jnp.arange(1, x.shape[axis] + 1, dtype=x.dtype)
    sizes = jnp.reshape(sizes, [-1 if d == axis % x.ndim else 1 for d in range(x.ndim)])
    totals = jnp.cumsum(ranked, axis=axis)
    in_support = 1 + sizes * ranked > totals
    count = jnp.sum(in_support, axis=axis, keepdims=True)
    threshold = (jnp.sum(jnp.where(in_support, ranked, 0), axis=axis, keepdims=True) - 1) / count
    return jnp.maximum(x - threshold, 0)


@_on_arrays
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """One row of `num_classes` per sample, 1 at each class index the sample lists (its last axis);
    tf.keras 2's ``num_tokens=`` names `num_classes`."""
    num_classes = kwargs.pop("num_tokens", num_classes)
    if kwargs:
        raise TypeError(f"ops.multi_hot got unexpected argument(s) {sorted(kwargs)}.")
    if sparse:
        raise ValueError("ops.multi_hot(sparse=True) is not supported: scanfit computes with dense arrays.")
    if num_classes is None:
        raise ValueError("ops.multi_hot needs num_classes.")
    inputs = jnp.asarray(inputs)
    hot = jax.nn.one_hot(inputs, num_classes, axis=axis, dtype=_dtype(dtype, backend.floatx()))
    return jnp.max(hot, axis=1 if inputs.ndim > 1 else 0)


def _dtype_limits(dtype):
    """The least and the greatest value of `dtype`, as floats."""
    if dtype == jnp.bool_:
        return 0.0, 1.0
    info = jnp.iinfo(dtype) if jnp.issubdtype(dtype, jnp.integer) else jnp.finfo(dtype)
    return float(info.min), float(info.max)


@_on_arrays
def saturate_cast(x, dtype):
    """`x` cast to `dtype`, values beyond its range clipped to its limits first (no wrap-around). A limit that
    `x`'s own dtype cannot hold exactly is moved toward zero to the next value it holds, as Keras does."""
    x, target = jnp.asarray(x), jnp.dtype(_dtype(dtype))
    (in_low, in_high), (out_low, out_high) = _dtype_limits(x.dtype), _dtype_limits(target)
    low, high = (np.asarray(value).astype(x.dtype)
                 for value in (builtins.max(in_low, out_low), builtins.min(in_high, out_high)))
    if float(low) < out_low:
        low = jnp.nextafter(low, jnp.zeros((), x.dtype))
    if float(high) > out_high:
        high = jnp.nextafter(high, jnp.zeros((), x.dtype))
    return jnp.clip(x, low, high).astype(target)


@_on_arrays
def bincount(x, weights=None, minlength=0, sparse=False):
    """How often each value 0, 1, ... occurs in `x` (summing `weights` instead, when given); a row of counts
    per row for a 2-D `x`. The length is the largest value + 1 (at least `minlength`), known only from
    concrete values: inside compiled code give `minlength` and values below it."""
    if sparse:
        raise ValueError("ops.bincount(sparse=True) is not supported: scanfit computes with dense arrays.")
    x = jnp.asarray(x)
    try:
        length = builtins.max(int(minlength), int(jnp.max(x)) + 1 if x.size else 0)
    except jax.errors.ConcretizationTypeError:
        if not minlength:
            raise ValueError("ops.bincount inside compiled code needs minlength (the number of bins): its size "
                             "must be known before the program runs.") from None
        length = int(minlength)
    count = lambda row, w: jnp.bincount(row, weights=w, minlength=length, length=length)
    if x.ndim == 2:
        return jax.vmap(count)(x, weights) if weights is not None else jax.vmap(lambda row: count(row, None))(x)
    return count(x, weights)


@_on_arrays
def nonzero(x):
    """The indices of `x`'s nonzero entries, one array per axis (concrete arrays only: the count sets sizes)."""
    return jnp.nonzero(x)


@_on_arrays
def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False, axis=None, size=None,
           fill_value=None):
    """The distinct values of `x`, sorted (with numpy's optional outputs); inside compiled code give `size`."""
    if not sorted:
        raise ValueError("ops.unique(sorted=False) is not supported: the values come back sorted.")
    return jnp.unique(x, return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                      axis=axis, size=size, fill_value=fill_value)


@_on_arrays
def view_as_real(x):
    """A complex array as real numbers: a last axis of 2 (real, imaginary)."""
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


@_on_arrays
def view_as_complex(x):
    """The inverse of `view_as_real`: a last axis of 2 as complex numbers."""
    if jnp.shape(x)[-1] != 2:
        raise ValueError(f"ops.view_as_complex takes a last axis of 2 (real, imaginary), got shape {jnp.shape(x)}.")
    return jax.lax.complex(x[..., 0], x[..., 1])


@_on_arrays
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False,
                          flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention on ``(batch, steps, heads, head_dim)`` arrays (JAX's XLA form)."""
    if flash_attention:
        raise ValueError("ops.dot_product_attention(flash_attention=True) is not supported; leave it None.")
    if attn_logits_soft_cap is not None:
        raise ValueError("ops.dot_product_attention(attn_logits_soft_cap=...) is not supported; leave it None.")
    return jax.nn.dot_product_attention(query, key, value, bias=bias, mask=mask, scale=scale, is_causal=is_causal)


# --- spectrograms, sliding blocks, einops patterns, bit views, factorizations, CTC --------------------------


def _stft_window(window, sequence_length, fft_length, dtype):
    """The analysis window of `sequence_length` samples centred in `fft_length` zeros ("hann" and "hamming": the
    periodic ones, as SciPy's `get_window` gives them); None: ones over the whole `fft_length`, as in Keras."""
    if window is None:
        return jnp.ones(fft_length, dtype)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"A window named by a string must be 'hann' or 'hamming', got {window!r}; pass any "
                             "other window as an array of sequence_length values.")
        even = 0.5 if window == "hann" else 0.54
        values = even - (1 - even) * np.cos(2 * np.pi * np.arange(sequence_length) / sequence_length)
    else:
        values = window
    values = jnp.asarray(values, dtype)
    if values.shape != (sequence_length,):
        raise ValueError(f"The window must have shape (sequence_length,) = ({sequence_length},), got "
                         f"{values.shape}.")
    before = (fft_length - sequence_length) // 2
    return jnp.pad(values, (before, fft_length - sequence_length - before))


@_on_arrays
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """The short-time Fourier transform along the last axis of real `x`: (real, imaginary) parts of shape (...,
    frames, fft_length // 2 + 1), a frame every `sequence_stride` samples, windowed by `window`; with `center`
    the signal is first padded by fft_length // 2 on each side with its reflection."""
    x = jnp.asarray(x)
    if x.dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"ops.stft takes float32 or float64 signals, got {x.dtype}.")
    if fft_length < sequence_length:
        raise ValueError(f"ops.stft: fft_length ({fft_length}) must be at least sequence_length "
                         f"({sequence_length}).")
    window = _stft_window(window, sequence_length, fft_length, x.dtype)
    if center:
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(fft_length // 2, fft_length // 2)], mode="reflect")
    starts = jnp.arange(0, x.shape[-1] - fft_length + 1, sequence_stride)
    frames = jnp.take(x, starts[:, None] + jnp.arange(fft_length)[None, :], axis=-1)
    return _pair(jnp.fft.rfft(frames * window, n=fft_length))


@_on_arrays
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """The inverse of `stft`: the signal whose short-time Fourier transform is the (real, imaginary) pair `x`,
    frames overlapped and added, divided by the overlapping windows' squares; `length` samples (after the
    `center` padding) when given."""
    spectrum = _complex(x)
    if spectrum.ndim < 2:
        raise ValueError(f"ops.istft takes (..., frames, bins) spectra, got shape {spectrum.shape}.")
    window_values = _stft_window(window, sequence_length, fft_length, jnp.real(spectrum).dtype)
    frames = jnp.fft.irfft(spectrum, n=fft_length, axis=-1) * window_values
    starts = jnp.arange(frames.shape[-2]) * sequence_stride
    positions = starts[:, None] + jnp.arange(fft_length)[None, :]
    total = fft_length + sequence_stride * (frames.shape[-2] - 1)
    signal = jnp.zeros(frames.shape[:-2] + (total,), frames.dtype).at[..., positions].add(frames)
    overlap = jnp.zeros(total, frames.dtype).at[positions].add(jnp.broadcast_to(window_values**2, positions.shape))
    signal = signal / jnp.where(overlap > 1e-10, overlap, 1.0)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else total - start
    return signal[..., start:end]


def _two(value):
    """An int or a pair as a (height, width) pair."""
    return (value, value) if isinstance(value, int) else tuple(value)


@_on_arrays
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """The sliding `kernel_size` blocks of channels-first images `x` (batch, channels, height, width), zero-padded
    by `padding` on each side first: (batch, channels * kernel height * kernel width, blocks), each block's values
    channel by channel, the blocks row by row (PyTorch's ``unfold``, as Keras gives it)."""
    x = jnp.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"ops.unfold takes (batch, channels, height, width) images, got shape {x.shape}.")
    pad_height, pad_width = _two(padding)
    x = jnp.pad(x, ((0, 0), (0, 0), (pad_height, pad_height), (pad_width, pad_width)))
    blocks = jax.lax.conv_general_dilated_patches(x, _two(kernel_size), _two(stride), "VALID",
                                                  rhs_dilation=_two(dilation),
                                                  dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                                  precision=jax.lax.Precision.HIGHEST)
    return jnp.reshape(blocks, blocks.shape[:2] + (-1,))


@_on_arrays
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """`unfold`'s blocks (batch, channels * kernel height * kernel width, blocks) put back into (batch, channels,
    *output_size) images, the values where blocks overlap summed: the transpose of `unfold`."""
    x = jnp.asarray(x)
    kernel_height, kernel_width = _two(kernel_size)
    if x.ndim != 3 or x.shape[1] % (kernel_height * kernel_width):
        raise ValueError(f"ops.fold takes (batch, channels * {kernel_height} * {kernel_width}, blocks) blocks, got "
                         f"shape {x.shape}.")
    images = jax.ShapeDtypeStruct((x.shape[0], x.shape[1] // (kernel_height * kernel_width)) + _two(output_size),
                                  x.dtype)
    blocks_of = functools.partial(unfold, kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    expected = jax.eval_shape(blocks_of, images).shape
    if expected != x.shape:
        raise ValueError(f"ops.fold: images of size {_two(output_size)} have {expected[-1]} blocks of this "
                         f"kernel_size, dilation, padding and stride, but x has {x.shape[-1]}.")
    return jax.linear_transpose(blocks_of, images)(x)[0]


def _axis_groups(side, pattern):
    """The axes of one side of an einops pattern: a list of groups, each a list of axis names."""
    groups = []
    for match in re.finditer(r"\(([^()]*)\)|([^\s()]+)", side):
        names = match.group(1).split() if match.group(1) is not None else [match.group(2)]
        if not names or not builtins.all(name.isidentifier() for name in names):
            raise ValueError(f"ops.rearrange supports named axes and parenthesized groups of them (as Keras "
                             f"does), not {match.group(0)!r} in {pattern!r}.")
        groups.append(names)
    if re.sub(r"\(([^()]*)\)|([^\s()]+)", "", side).strip():
        raise ValueError(f"ops.rearrange: unbalanced parentheses in {pattern!r}.")
    return groups


@_on_arrays
def rearrange(tensor, pattern, **axes_lengths):
    """`tensor`'s axes rearranged by an einops pattern such as ``"b (h h1) w c -> b h (w h1) c"``: each input axis
    named (a group in parentheses splits one, with `axes_lengths` giving all its sizes but one), the output
    the same names transposed and grouped (a group merges axes)."""
    tensor = jnp.asarray(tensor)
    if pattern.count("->") != 1:
        raise ValueError(f"ops.rearrange's pattern must be 'input axes -> output axes', got {pattern!r}.")
    left, right = pattern.split("->")
    inputs, outputs = _axis_groups(left, pattern), _axis_groups(right, pattern)
    names = [name for group in inputs for name in group]
    order = [name for group in outputs for name in group]
    if len(set(names)) != len(names) or sorted(names) != sorted(order):
        raise ValueError(f"ops.rearrange: each axis must appear once on each side of {pattern!r}.")
    if len(inputs) != tensor.ndim:
        raise ValueError(f"ops.rearrange: {pattern!r} names {len(inputs)} axes, the tensor has shape {tensor.shape}.")
    unknown = set(axes_lengths) - set(names)
    if unknown:
        raise ValueError(f"ops.rearrange: {sorted(unknown)} are not axes of {pattern!r}.")
    sizes = dict(axes_lengths)
    for group, size in zip(inputs, tensor.shape):
        missing = [name for name in group if name not in sizes]
        if len(missing) > 1:
            raise ValueError(f"ops.rearrange: give the lengths of all axes but one of ({' '.join(group)}) in "
                             f"{pattern!r}, as keyword arguments.")
        known = math.prod(sizes[name] for name in group if name not in missing)
        if missing and size % known == 0:
            sizes[missing[0]] = size // known
        elif missing or known != size:
            raise ValueError(f"ops.rearrange: an axis of size {size} cannot be ({' '.join(group)}) with lengths "
                             f"{ {name: sizes[name] for name in group if name in sizes} }.")
    tensor = jnp.transpose(jnp.reshape(tensor, [sizes[name] for name in names]), [names.index(n) for n in order])
    return jnp.reshape(tensor, [math.prod(sizes[name] for name in group) for group in outputs])


@_on_arrays
def view(x, dtype=None):
    """`x`'s bits read as `dtype` (a wider dtype takes several entries of the last axis, a narrower one splits
    each); None: `x` as it is."""
    x = jnp.asarray(x)
    return x if dtype is None else x.view(jnp.dtype(dtype))


@_on_arrays
def eig(x):
    """The eigenvalues and right eigenvectors (columns) of a general square matrix, complex."""
    return tuple(jnp.linalg.eig(x))


@_on_arrays
def lu_factor(x):
    """The LU factorization of a square matrix (or a batch of them) with partial pivoting, as SciPy's
    ``lu_factor`` gives it: (L and U in one matrix, the row swapped with each row in turn)."""
    if jnp.ndim(x) < 2:
        raise ValueError(f"ops.lu_factor takes a matrix (or a batch of them), got shape {jnp.shape(x)}.")
    return tuple(jax.lax.linalg.lu(x)[:2])


@_on_arrays
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """The CTC loss of each row of labels `target` (batch, labels) under the logits `output` (batch, steps,
    classes), using each row's first `target_length` labels and `output_length` steps; `mask_index`: the blank."""
    return ctc.ctc_loss(target, output, target_length, output_length, mask_index)


@_on_arrays
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """The label sequences of (batch, steps, classes) scores: ``(labels, scores)``, labels (top_paths, batch,
    steps) padded with -1. "greedy": each step's best class (scores: minus the sum of the chosen inputs);
    "beam_search": a prefix beam search over the log-softmax (scores: the paths' log-probabilities; concrete
    arrays only). `mask_index` (None: the last class) is the blank."""
    inputs = jnp.asarray(inputs)
    inputs = inputs.astype(jnp.result_type(inputs.dtype, jnp.float32))
    mask_index = inputs.shape[-1] - 1 if mask_index is None else mask_index
    if strategy == "greedy":
        if top_paths != 1 or beam_width != 100:
            raise ValueError("ops.ctc_decode(strategy='greedy') finds one path: top_paths and beam_width are for "
                             "strategy='beam_search'.")
        return ctc.greedy_decode(inputs, sequence_lengths, merge_repeated, mask_index)
    if strategy == "beam_search":
        if not merge_repeated:
            raise ValueError("ops.ctc_decode(strategy='beam_search') always merges repeated labels (CTC's rule); "
                             "merge_repeated=False is for strategy='greedy'.")
        return ctc.beam_search_decode(inputs, sequence_lengths, beam_width, top_paths, mask_index)
    raise ValueError(f"ops.ctc_decode: strategy must be 'greedy' or 'beam_search', got {strategy!r}.")


def is_tensor(x):
    """Whether `x` is an array of the backend (a JAX array)."""
    return isinstance(x, jax.Array)


def dtype(x):
    """The dtype of `x` as Keras names it (``'float32'``, ``'int32'``, ...)."""
    return jnp.dtype(jnp.asarray(x).dtype).name


def jvp(fun, primals, tangents, has_aux=False):
    """``(fun(*primals), the Jacobian of fun times tangents)`` (and `fun`'s aux output with `has_aux`)."""
    return jax.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)


def vectorize(pyfunc, *, excluded=None, signature=None):
    """`pyfunc` mapped over its arguments' leading axes, numpy.vectorize's way (under `jax.vmap`)."""
    return jnp.vectorize(pyfunc, excluded=excluded or frozenset(), signature=signature)


def custom_gradient(f):
    """A function with a gradient of its own: `f` returns ``(y, grad)``, where ``grad(upstream)`` (also called
    as ``grad(upstream=...)``) gives the gradient for each of `f`'s inputs."""
    def forward(*args):
        y, grad = f(*args)

        def backward(upstream):
            grads = grad(upstream)
            return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)

        return y, backward

    return jax.custom_gradient(forward)


def _operation_from_config(name, config):
    """An `Operation` node of `name` rebuilt from its saved config (Keras 3's: its name and static arguments)."""
    config = dict(config)
    layer_name = config.pop("name", None)
    function = globals()[name]
    calls = [p for p in inspect.signature(function).parameters if p in _CALL_PARAMETERS]
    return _operation_node(function, name, calls, config, layer_name)


register_built_in("operation", {class_name(name): functools.partial(_operation_from_config, name)
                                for name in _RECORDABLE})
symbolic.use_operations(_RECORDABLE)


def _namespace(name, names):
    """The module ``scanfit.ops.<name>`` holding the operations `names`, as Keras's ``keras.ops.<name>``."""
    module = types.ModuleType(f"{__name__}.{name}", f"`keras.ops.{name}`: these operations of `scanfit.ops`.")
    module.__dict__.update({n: globals()[n] for n in names})
    sys.modules[module.__name__] = module
    return module


# Keras's operations outside keras.ops.numpy that _MODULES leaves there: its core ones, rearrange, and the ones
# keras.ops.linalg holds although their operations are numpy's or core's (matrix_rank, norm, pinv, jvp)
_NOT_NUMPY = {"associative_scan", "cond", "convert_to_numpy", "custom_gradient", "dtype", "fori_loop", "is_tensor",
              "map", "scan", "scatter", "scatter_update", "shape", "slice_update", "switch", "vectorized_map",
              "while_loop", "rearrange", "matrix_rank", "norm", "pinv", "jvp"}
nn = _namespace("nn", _MODULES["nn"])
linalg = _namespace("linalg", _MODULES["linalg"] + ("matrix_rank", "norm", "pinv", "jvp"))
numpy = _namespace("numpy", [n for n, value in list(globals().items())
                             if not n.startswith("_") and getattr(value, "__module__", None) == __name__
                             and n not in _MODULE_OF and n not in _NOT_NUMPY])
