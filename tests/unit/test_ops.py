"""`scanfit.ops` against `keras.ops`: every operation on the same inputs gives Keras's values, shapes and dtypes,
on arrays and on a layer's variables inside a compiled forward pass."""
import inspect

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import scanfit
from scanfit import ops

RNG = np.random.default_rng(2)
A = RNG.normal(size=(3, 4)).astype("float32")
B = RNG.normal(size=(3, 4)).astype("float32")
P = RNG.uniform(0.05, 0.95, size=(3, 4)).astype("float32")
T = (RNG.uniform(size=(3, 4)) > 0.5).astype("float32")
M = RNG.normal(size=(4, 2)).astype("float32")
I = np.array([2, 0, 1])
SQUARE = RNG.normal(size=(4, 4)).astype("float32")
SPD = (SQUARE @ SQUARE.T + 4 * np.eye(4)).astype("float32")  # symmetric positive definite
NANS = np.where(A > 1.0, np.nan, A).astype("float32")
SPECIAL = np.array([1.5, np.inf, -np.inf, np.nan, -2.0], "float32")
INTS, INTS_2 = np.array([12, 7, 5, 9]), np.array([8, 21, 3, 6])
IMAGE = RNG.normal(size=(2, 6, 8, 4)).astype("float32")  # (batch, height, width, channels)
KERNEL = RNG.normal(size=(3, 3, 4, 3)).astype("float32")
POINTWISE = RNG.normal(size=(1, 1, 8, 2)).astype("float32")
SIGNAL = RNG.normal(size=(2, 40)).astype("float32")
CHANNELS_FIRST = RNG.normal(size=(2, 3, 7, 6)).astype("float32")  # (batch, channels, height, width)
LABELS, LOGITS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [4, 4, 4, 1]]), RNG.normal(size=(3, 7, 5)).astype("float32")

ELEMENTWISE = ["abs", "absolute", "ceil", "cos", "erf", "exp", "floor", "hard_sigmoid", "isfinite", "isinf", "isnan",
               "log_sigmoid", "logical_not", "negative", "reciprocal", "relu", "relu6", "selu", "sigmoid", "sign",
               "silu", "sin", "softplus", "softsign", "square", "swish", "tanh"]
POSITIVE = ["log", "log1p", "rsqrt", "sqrt"]
ELEMENTWISE_MORE = ["arcsinh", "arctan", "cosh", "sinh", "tan", "cbrt", "deg2rad", "rad2deg", "exp2", "expm1", "fabs",
                    "signbit", "trunc", "sinc", "conj", "real", "imag", "fliplr", "flipud", "ravel", "ndim", "size",
                    "copy", "celu", "glu", "hard_silu", "hard_swish", "hard_tanh", "sparse_plus", "sparse_sigmoid",
                    "squareplus", "tanh_shrink", "hard_shrink", "soft_shrink", "corrcoef", "amax", "amin", "ptp",
                    "median", "rot90", "unstack", "diff", "trapezoid"]
BELOW_ONE = ["arccos", "arcsin", "arctanh", "erfinv"]
NAN_REDUCTIONS = ["nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanstd", "nanvar"]
BINARY_MORE = ["arctan2", "hypot", "logaddexp", "logaddexp2", "fmod", "heaviside", "fmax", "fmin", "nextafter",
               "inner", "vdot", "isclose", "allclose"]
BINARY = ["add", "divide", "equal", "floor_divide", "greater", "greater_equal", "less", "less_equal", "logical_and",
          "logical_or", "maximum", "minimum", "mod", "multiply", "not_equal", "power", "subtract", "true_divide"]

CASES = (
    [(name, (A,), {}) for name in ELEMENTWISE]
    + [(name, (np.abs(A) + 0.1,), {}) for name in POSITIVE]
    + [(name, (np.abs(A) + 0.5, B), {}) for name in BINARY]
    + [(name, (A,), {}) for name in ELEMENTWISE_MORE]
    + [(name, (2 * P - 1,), {}) for name in BELOW_ONE]
    + [(name, (NANS,), kwargs) for name in NAN_REDUCTIONS for kwargs in ({}, {"axis": 1, "keepdims": True})]
    + [(name, (np.abs(A) + 0.5, B), {}) for name in BINARY_MORE]
    + [
        ("log10", (np.abs(A) + 0.1,), {}), ("log2", (np.abs(A) + 0.1,), {}), ("arccosh", (np.abs(A) + 1.1,), {}),
        ("isneginf", (SPECIAL,), {}), ("isposinf", (SPECIAL,), {}), ("nan_to_num", (SPECIAL,), {}),
        ("nan_to_num", (SPECIAL,), {"nan": 1.0, "posinf": 9.0, "neginf": -9.0}),
        ("celu", (A,), {"alpha": 0.5}), ("glu", (np.vstack([A, B]),), {"axis": 0}), ("squareplus", (A,), {"b": 1}),
        ("hard_shrink", (A,), {"threshold": 1.0}), ("soft_shrink", (A,), {"threshold": 0.2}),
        ("threshold", (A, 0.3, -1.0), {}),
        ("logical_xor", (A > 0, B > 0), {}), ("outer", (A[0], B[0]), {}), ("kron", (A[:2, :2], B[:2, :2]), {}),
        ("divide_no_nan", (A, np.where(B > 0, B, 0.0).astype("float32")), {}),
        ("cross", (A[:, :3], B[:, :3]), {}), ("isclose", (A, A + 1e-6), {"atol": 1e-7, "rtol": 0.0}),
        ("isin", (np.array([1, 2, 3, 4]), np.array([2, 4])), {"invert": True}),
        ("correlate", (A[0], B[0, :2]), {}), ("correlate", (A[0], B[0, :2]), {"mode": "full"}),
        ("amax", (A,), {"axis": 1}), ("amin", (A,), {"axis": 0, "keepdims": True}), ("ptp", (A,), {"axis": 1}),
        ("median", (A,), {"axis": 1, "keepdims": True}),
        ("quantile", (A, 0.3), {"axis": 1}), ("quantile", (A, 0.5), {"method": "nearest"}),
        ("percentile", (A, np.array([10.0, 90.0])), {"axis": 0}),
        ("count_nonzero", (np.array([[0, 1, 2], [3, 0, 0]]),), {}),
        ("count_nonzero", (np.array([[0, 1, 2], [3, 0, 0]]),), {"axis": 1}),
        ("trace", (SQUARE,), {}), ("trace", (SQUARE,), {"offset": 1}), ("diagonal", (SQUARE,), {"offset": -1}),
        ("diff", (A, 2, 0), {}), ("trapezoid", (A,), {"x": np.array([0.0, 1.0, 3.0, 6.0]), "axis": 1}),
        ("trapezoid", (A,), {"dx": 0.5, "axis": 0}),
        ("broadcast_to", (A[0], (2, 4)), {}), ("moveaxis", (A, 0, 1), {}), ("swapaxes", (A, 0, 1), {}),
        ("hstack", ([A, B],), {}), ("vstack", ([A, B],), {}), ("dstack", ([A, B],), {}),
        ("rot90", (A,), {"k": 3}), ("rot90", (A[None],), {"axes": (1, 2)}), ("unstack", (A,), {"axis": 1}),
        ("unstack", (A,), {"num": 3}),
        ("diagflat", (A[0],), {}), ("diagflat", (A[0],), {"k": 1}), ("vander", (A[0],), {}),
        ("vander", (A[0],), {"N": 3, "increasing": True}),
        ("tri", (3,), {}), ("tri", (3, 4, 1), {}), ("tri", (2,), {"dtype": "int32"}), ("identity", (3,), {}),
        ("array", ([1.0, 2.0],), {}), ("array", (A,), {"dtype": "float16"}),
        ("searchsorted", (np.sort(A[0]), B[0]), {}), ("searchsorted", (np.sort(A[0]), B[0]), {"side": "right"}),
        ("digitize", (A[0], np.array([-1.0, 0.0, 1.0], "float32")), {}),
        ("inv", (SPD,), {}), ("det", (SQUARE,), {}), ("cholesky", (SPD,), {}), ("cholesky", (SPD,), {"upper": True}),
    ]
    + [(name, (A,), {}) for name in ("isreal", "conjugate", "erfc")]
    + [(name, (7,), {}) for name in ("bartlett", "blackman", "hamming", "hanning")]
    + [(name, (INTS, INTS_2), {}) for name in ("bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm")]
    + [(name, (INTS, np.array([1, 2, 0, 3])), {}) for name in (
        "bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift")]
    + [(name, (NANS,), kwargs) for name in ("nanargmax", "nanargmin", "nanmedian")
       for kwargs in ({}, {"axis": 1, "keepdims": True})]
    + [
        ("kaiser", (6, 2.5), {}), ("bitwise_invert", (INTS,), {}), ("bitwise_not", (INTS,), {}),
        ("nancumsum", (NANS,), {"axis": 1}), ("nancumprod", (NANS,), {"axis": 0}),
        ("nanquantile", (NANS, 0.3), {"axis": 1}), ("nanpercentile", (NANS, 70.0), {"keepdims": True}),
        ("append", (A, B), {}), ("append", (A, B), {"axis": 0}), ("array_split", (A, 3), {"axis": 1}),
        ("hsplit", (A, 2), {}), ("vsplit", (A[:2], 2), {}), ("dsplit", (A[None], 2), {}),
        ("select", ([A > 0.5, A < -0.5], [A, -A]), {"default": 9.0}), ("unravel_index", (np.array([1, 5, 7]), (2, 4)), {}),
        ("slogdet", (SQUARE,), {}), ("logdet", (SPD,), {}), ("solve", (SPD, A.T), {}),
        ("solve_triangular", (np.tril(SPD), A.T), {"lower": True}), ("cholesky_inverse", (np.linalg.cholesky(SPD),), {}),
        ("cholesky_inverse", (np.linalg.cholesky(SPD).T,), {"upper": True}), ("eigh", (SPD,), {}),
        ("qr", (A,), {}), ("qr", (A,), {"mode": "complete"}), ("svd", (A,), {"full_matrices": False}),
        ("svd", (A,), {"compute_uv": False}), ("lstsq", (A, B[:, 0]), {}), ("pinv", (A,), {}),
        ("matrix_rank", (SQUARE,), {}), ("matrix_rank", (np.outer(A[0], B[0]),), {"tol": 1e-3}),
        ("segment_sum", (A, np.array([0, 0, 2])), {"num_segments": 3}),
        ("segment_max", (A, np.array([0, 1, 1])), {"num_segments": 2, "sorted": True}),
        ("segment_min", (A, np.array([1, 0, 1])), {"num_segments": 2}),
        ("segment_prod", (A, np.array([0, 0, 0])), {"num_segments": 1}),
        ("scatter", (np.array([[0, 1], [2, 3], [0, 1]]), np.array([1.0, 2.0, 3.0], "float32"), (3, 4)), {}),
        ("scatter_update", (A, np.array([[0, 1], [2, 3]]), np.array([5.0, 6.0], "float32")), {}),
        ("scatter_update", (A, np.array([[0, 1], [0, 1]]), np.array([5.0, 6.0], "float32")), {"reduction": "add"}),
        ("slice_update", (A, (1, 2), np.ones((2, 2), "float32")), {}),
        ("in_top_k", (np.array([1, 0, 3]), A, 2), {}),
        ("cond", (True, lambda: A, lambda: B), {}), ("cond", (False, lambda: A, lambda: B), {}),
        ("switch", (1, [lambda x: x, lambda x: -x], A), {}),
        ("while_loop", (lambda i, s: i < 3, lambda i, s: (i + 1, s * 2.0), (0, A)), {}),
        ("while_loop", (lambda s: s.sum() < 100.0, lambda s: s + 1.0, np.abs(A)), {"maximum_iterations": 4}),
        ("fori_loop", (0, 3, lambda i, v: v * 2.0 + i, A), {}),
        ("scan", (lambda c, x: (c + x, c * x), np.zeros(4, "float32"), A), {}),
        ("scan", (lambda c, x: (c + 1.0, c), 0.0), {"length": 3, "reverse": True}),
        ("map", (lambda x: x * 2.0, A), {}), ("associative_scan", (lambda a, b: a + b, A), {"axis": 1}),
        ("associative_scan", (lambda a, b: a * b, A), {"reverse": True}),
        ("vectorized_map", (lambda x: x.sum(), A), {}),
        ("fft", ((A, B),), {}), ("fft2", ((A, B),), {}), ("ifft2", ((A, B),), {}), ("rfft", (A,), {}),
        ("rfft", (A,), {"fft_length": 6}), ("irfft", ((A, B),), {}), ("irfft", ((A, B),), {"fft_length": 5}),
        ("empty", ((2, 3),), {}), ("empty_like", (A,), {"dtype": "int32"}),
        ("logspace", (0.0, 2.0, 5), {}), ("logspace", (0.0, 2.0, 4), {"base": 2.0, "endpoint": False}),
        ("geomspace", (1.0, 100.0, 3), {}), ("meshgrid", (A[0], B[0, :3]), {}),
        ("meshgrid", (A[0], B[0, :3]), {"indexing": "ij"}),
    ]
    + [(name, (IMAGE, pool), kwargs) for name in ("max_pool", "average_pool")
       for pool, kwargs in ((2, {"strides": 2}), ((3, 2), {"strides": 2, "padding": "same"}), (3, {"strides": (1, 2)}))]
    + [
        ("max_pool", (IMAGE[:, :, 0], 2), {"strides": 2, "padding": "same"}),
        ("average_pool", (IMAGE[:, :, 0], 3), {"strides": 1}),
        ("conv", (IMAGE, KERNEL), {}), ("conv", (IMAGE, KERNEL), {"strides": 2, "padding": "same"}),
        ("conv", (IMAGE, KERNEL), {"dilation_rate": 2}), ("conv", (IMAGE, KERNEL[:, :, :2, :2]), {}),  # grouped
        ("conv", (IMAGE[:, :, 0], KERNEL[0]), {"padding": "same"}),
        ("depthwise_conv", (IMAGE, KERNEL[:, :, :, :2]), {}),
        ("depthwise_conv", (IMAGE, KERNEL[:, :, :, :1]), {"strides": (2, 1), "padding": "same"}),
        ("separable_conv", (IMAGE, KERNEL[:, :, :, :2], POINTWISE), {}),
        ("conv_transpose", (IMAGE, KERNEL.swapaxes(2, 3)), {}),
        ("conv_transpose", (IMAGE, KERNEL.swapaxes(2, 3)), {"strides": 2, "padding": "same"}),
        ("conv_transpose", (IMAGE, KERNEL.swapaxes(2, 3)), {"strides": (2, 3), "output_padding": 1}),
        ("conv_transpose", (IMAGE[:, :, 0], KERNEL[0].swapaxes(1, 2)), {"dilation_rate": 2, "padding": "same"}),
        ("adaptive_average_pool", (IMAGE, (4, 3)), {}), ("adaptive_average_pool", (IMAGE[:, :, 0], 5), {}),
        ("adaptive_max_pool", (IMAGE, (4, 3)), {}), ("adaptive_max_pool", (IMAGE[:, :, 0], 5), {}),
        ("batch_normalization", (IMAGE, A[0], np.abs(B[0]) + 0.1, -1), {}),
        ("batch_normalization", (IMAGE, A[0, :2], np.abs(B[0, :2]) + 0.1, 0), {"offset": B[1, :2], "scale": A[1, :2],
                                                                               "epsilon": 0.01}),
        ("psnr", (P, np.clip(P + 0.05, 0.0, 1.0), 1.0), {}),
        ("depth_to_space", (IMAGE, 2), {}), ("space_to_depth", (IMAGE, 2), {}),
    ]
    + [
        ("dot", (A, M), {}), ("matmul", (A, M), {}), ("tensordot", (A, M), {"axes": 1}),
        ("einsum", ("ij,jk->ik", A, M), {}),
        ("sum", (A,), {"axis": 1}), ("sum", (A,), {"axis": 0, "keepdims": True}), ("mean", (A,), {}),
        ("mean", (A, 1, True), {}), ("max", (A,), {"axis": 1}), ("min", (A,), {"axis": 0, "keepdims": True}),
        ("prod", (A,), {"axis": 1}), ("std", (A,), {"axis": 1}), ("var", (A,), {"axis": 0}),
        ("all", (A > 0,), {"axis": 1}), ("any", (A > 0,), {}), ("argmax", (A,), {"axis": 1}),
        ("argmin", (A,), {"axis": 0, "keepdims": True}), ("average", (A,), {"axis": 1, "weights": np.arange(1.0, 5.0)}),
        ("cumsum", (A,), {"axis": 1}), ("cumprod", (A,), {"axis": 0}), ("logsumexp", (A,), {"axis": 1}),
        ("norm", (A,), {}), ("norm", (A,), {"axis": 1, "keepdims": True}), ("moments", (A,), {"axes": [0]}),
        ("reshape", (A, (4, 3)), {}), ("transpose", (A,), {}), ("expand_dims", (A, 1), {}),
        ("squeeze", (A[:, :1],), {"axis": 1}), ("concatenate", ([A, B],), {"axis": 1}), ("stack", ([A, B],), {}),
        ("split", (A, 2), {"axis": 1}), ("tile", (A, (2, 1)), {}), ("repeat", (A, 2), {"axis": 0}),
        ("flip", (A,), {"axis": 1}), ("roll", (A, 1), {"axis": 1}), ("sort", (A,), {}), ("argsort", (A,), {}),
        ("top_k", (A, 2), {}), ("take", (A, I), {"axis": 1}), ("get_item", (A, (slice(None), 1)), {}), ("take_along_axis", (A, I[:, None]), {"axis": 1}),
        ("where", (A > 0, A, B), {}), ("clip", (A, -0.5, 0.5), {}), ("round", (A * 10,), {}),
        ("pad", (A, ((1, 0), (0, 2))), {}), ("pad", (A, ((1, 1), (2, 2))), {"constant_values": 3.0}),
        ("slice", (A, (1, 1), (2, 2)), {}), ("tril", (SQUARE,), {}), ("triu", (SQUARE,), {"k": 1}),
        ("diag", (SQUARE,), {}),
        ("ones", ((2, 3),), {}), ("zeros", ((2,),), {"dtype": "int32"}), ("full", ((2, 2), 1.5), {}),
        ("eye", (3,), {}), ("arange", (5,), {}), ("arange", (1.0, 2.0, 0.25), {}), ("linspace", (0.0, 1.0, 5), {}),
        ("ones_like", (A,), {}), ("zeros_like", (A,), {"dtype": "int32"}), ("full_like", (A, 2.0), {}),
        ("cast", (A, "int32"), {}), ("convert_to_tensor", (A,), {}), ("convert_to_tensor", (2.5,), {}),
        ("convert_to_numpy", (A,), {}), ("shape", (A,), {}), ("stop_gradient", (A,), {}),
        ("softmax", (A,), {}), ("softmax", (A,), {"axis": 0}), ("log_softmax", (A,), {}), ("leaky_relu", (A,), {}),
        ("elu", (A,), {"alpha": 0.5}), ("gelu", (A,), {}), ("gelu", (A,), {"approximate": False}),
        ("one_hot", (I, 4), {}), ("normalize", (A,), {}), ("normalize", (A,), {"order": 1, "axis": 0}),
        ("binary_crossentropy", (T, P), {}), ("binary_crossentropy", (T, A), {"from_logits": True}),
        ("categorical_crossentropy", (T, P), {}), ("categorical_crossentropy", (T, A), {"from_logits": True}),
        ("sparse_categorical_crossentropy", (I, P[:, :3]), {}),
        ("sparse_categorical_crossentropy", (I, A), {"from_logits": True}),
    ]
    + [  # added 2026-12-07
        ("angle", (A,), {}), ("angle", (A + 1j * B,), {}), ("i0", (A,), {}), ("ldexp", (A, INTS[:4]), {}),
        ("polar", (np.abs(A), B), {}), ("argpartition", (A, 1), {}), ("argpartition", (A, 2), {"axis": 0}),
        ("histogram", (A.ravel(),), {}), ("histogram", (A.ravel(), 4), {"range": (-1.0, 1.0)}), ("cdist", (A, B), {}),
        ("cdist", (IMAGE[0], IMAGE[1]), {}), ("extract_sequences", (A, 2, 1), {}),
        ("extract_sequences", (IMAGE[0], 3, 2), {}),
        ("layer_normalization", (A,), {}), ("layer_normalization", (IMAGE, A[0], B[0]), {"epsilon": 0.01}),
        ("layer_normalization", (IMAGE, IMAGE[0, :, 0, :]), {"axis": (1, 3)}),
        ("layer_normalization", (IMAGE, A[0]), {"rms_scaling": True}),
        ("rms_normalization", (A,), {}), ("rms_normalization", (IMAGE, A[0]), {"axis": -1, "epsilon": 0.1}),
        ("multi_hot", (np.array([[0, 2], [1, 1], [3, 0]]), 4), {}), ("multi_hot", (I, 3), {"dtype": "int32"}),
        ("saturate_cast", (A * 300, "int8"), {}), ("saturate_cast", (A * 300, "uint8"), {}),
        ("saturate_cast", (INTS * 1000, "int8"), {}),
        ("bincount", (INTS[:3] % 5,), {}), ("bincount", (INTS % 4,), {"weights": A[0], "minlength": 6}),
        ("bincount", (np.array([[0, 1, 1], [2, 2, 0]]),), {"minlength": 4}),
        ("nonzero", (T,), {}), ("unique", (np.array([3, 1, 3, 2, 1]),), {}),
        ("unique", (np.array([3, 1, 3, 2, 1]),), {"return_counts": True, "return_inverse": True}),
        ("view_as_real", (A + 1j * B,), {}), ("view_as_complex", (np.stack([A, B], axis=-1),), {}),
        ("dot_product_attention", (IMAGE[:, :, :2], IMAGE[:, :, 2:4], IMAGE[:, :, 4:6]), {}),
        ("dot_product_attention", (IMAGE[:, :, :2], IMAGE[:, :, 2:4], IMAGE[:, :, 4:6]),
         {"is_causal": True, "scale": 0.3}),
        ("is_tensor", (A,), {}), ("is_tensor", (ops.convert_to_tensor(A),), {}), ("jvp", (jnp.sin, (A,), (B,)), {}),
    ]
    + [
        ("stft", (SIGNAL, 8, 4, 8), {}), ("stft", (SIGNAL, 6, 3, 10), {"window": "hamming", "center": False}),
        ("stft", (SIGNAL, 5, 2, 8), {"window": None}), ("stft", (SIGNAL, 5, 2, 8), {"window": np.arange(5.0)}),
        ("istft", (keras.ops.stft(SIGNAL, 8, 4, 8), 8, 4, 8), {}),
        ("istft", (keras.ops.stft(SIGNAL, 8, 4, 8), 8, 4, 8), {"length": 30}),
        ("istft", (keras.ops.stft(SIGNAL, 6, 3, 10, "hamming", False), 6, 3, 10), {"window": "hamming",
                                                                                 "center": False}),
        ("istft", (keras.ops.stft(SIGNAL, 5, 2, 8, np.arange(1.0, 6.0)), 5, 2, 8), {"window": np.arange(1.0, 6.0)}),
        ("unfold", (CHANNELS_FIRST, 3), {}),
        ("unfold", (CHANNELS_FIRST, (2, 3)), {"dilation": (2, 1), "padding": 1, "stride": 2}),
        ("fold", (keras.ops.unfold(CHANNELS_FIRST, 3), (7, 6), 3), {}),
        ("fold", (keras.ops.unfold(CHANNELS_FIRST, (2, 3), 2, 1, (1, 2)), (7, 6), (2, 3)),
         {"dilation": 2, "padding": 1, "stride": (1, 2)}),
        ("rearrange", (IMAGE, "b h w c -> b c h w"), {}), ("rearrange", (IMAGE, "b h w c -> (b h) w c"), {}),
        ("rearrange", (IMAGE, "b (h1 h) (w1 w) c -> (b h1 w1) h w c"), {"h1": 2, "w1": 4}),
        ("rearrange", (IMAGE, "b (h h1) (w w1) c -> b h w (c h1 w1)"), {"h1": 3, "w1": 2}),
        ("view", (A, "int32"), {}), ("view", (A, "int16"), {}), ("view", (A,), {}),
        ("view", (np.arange(8, dtype="int8").reshape(2, 4), "int32"), {}),
        ("eig", (SQUARE,), {}), ("lu_factor", (SQUARE,), {}), ("lu_factor", (np.stack([SQUARE, SPD]),), {}),
        ("ctc_loss", (LABELS, LOGITS, np.array([3, 2, 4]), np.array([7, 5, 6])), {}),
        ("ctc_loss", (LABELS, LOGITS, np.array([3, 2, 4]), np.array([7, 7, 6])), {"mask_index": 2}),
        ("ctc_decode", (LOGITS, np.array([7, 5, 6])), {}),
        ("ctc_decode", (LOGITS, np.array([7, 5, 1])), {"merge_repeated": False, "mask_index": None}),
        ("ctc_decode", (LOGITS, np.array([7, 5, 6])), {"strategy": "beam_search", "beam_width": 4, "top_paths": 2}),
        ("ctc_decode", (LOGITS, np.array([6, 7, 2])), {"strategy": "beam_search", "mask_index": 4}),
    ]
)


def _as_numpy(value):
    if isinstance(value, (tuple, list)):
        return [_as_numpy(item) for item in value]
    return np.asarray(value)


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_operation_equals_keras(name, args, kwargs):
    got, want = getattr(ops, name)(*args, **kwargs), getattr(keras.ops, name)(*args, **kwargs)
    got, want = _as_numpy(got), _as_numpy(want)
    if not isinstance(want, list):
        got, want = [got], [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"interpolation": "nearest"}, {"interpolation": "bicubic"},
                                    {"antialias": True}, {"crop_to_aspect_ratio": True},
                                    {"pad_to_aspect_ratio": True, "fill_value": 3.0}])
def test_image_resize_and_grayscale_equal_keras(kwargs):
    images = RNG.uniform(0, 255, (2, 9, 13, 3)).astype("float32")
    for x in (images, images[0]):  # a batch, one image
        got, want = np.asarray(ops.image.resize(x, (6, 5), **kwargs)), np.asarray(keras.ops.image.resize(x, (6, 5),
                                                                                                         **kwargs))
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)
    for x in (images, images[0], images.astype("uint8"), images[..., :1]):
        got, want = np.asarray(ops.image.rgb_to_grayscale(x)), np.asarray(keras.ops.image.rgb_to_grayscale(x))
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=1e-6)
    for name in ("resize", "rgb_to_grayscale"):
        assert list(inspect.signature(getattr(ops.image, name)).parameters) == list(
            inspect.signature(getattr(keras.ops.image, name)).parameters)


UNIT_IMAGES = RNG.uniform(0, 1, (2, 7, 9, 3)).astype("float32")
VOLUMES = RNG.normal(size=(2, 6, 5, 4, 2)).astype("float32")  # (batch, depth, height, width, channels)
CORNERS, MOVED = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], "float32"), np.array([[1, 1], [7, 0], [0, 5], [8, 6.5]],
                                                                                 "float32")
ROTATE = np.array([0.9, -0.3, 1.5, 0.3, 0.9, -0.5, 0.0, 0.0], "float32")
IMAGE_CASES = [
    ("rgb_to_hsv", (UNIT_IMAGES,), {}), ("rgb_to_hsv", (UNIT_IMAGES[0],), {}),
    ("hsv_to_rgb", (UNIT_IMAGES,), {}), ("hsv_to_rgb", (UNIT_IMAGES[1],), {}),
    ("pad_images", (UNIT_IMAGES, 1, 2, 3, 0), {}), ("pad_images", (UNIT_IMAGES[0],), {"top_padding": 2,
                                                                                       "target_height": 10,
                                                                                       "left_padding": 1,
                                                                                       "target_width": 12}),
    ("crop_images", (UNIT_IMAGES, 1, 2, 3, 0), {}), ("crop_images", (UNIT_IMAGES[0],), {"bottom_cropping": 2,
                                                                                         "target_height": 4,
                                                                                         "right_cropping": 1,
                                                                                         "target_width": 5}),
    ("affine_transform", (UNIT_IMAGES, np.stack([ROTATE, ROTATE])), {}),
    ("affine_transform", (UNIT_IMAGES, np.stack([ROTATE, ROTATE * 0.5])), {"interpolation": "nearest",
                                                                          "fill_mode": "reflect"}),
    ("affine_transform", (UNIT_IMAGES[0], ROTATE), {"fill_mode": "wrap", "fill_value": 0.5}),
    ("extract_patches", (UNIT_IMAGES, 3), {}), ("extract_patches", (UNIT_IMAGES, (2, 3)), {"strides": 2}),
    ("extract_patches", (UNIT_IMAGES[0], 3), {"strides": (1, 2), "padding": "same"}),
    ("extract_patches", (UNIT_IMAGES, 2), {"strides": 1, "dilation_rate": 2}),
    # (Keras 3.15's gaussian_blur on JAX reads the images as channels-first unless data_format is given)
    ("gaussian_blur", (UNIT_IMAGES,), {"data_format": "channels_last"}),
    ("gaussian_blur", (UNIT_IMAGES[0],), {"kernel_size": (5, 5), "sigma": (2.0, 2.0), "data_format": "channels_last"}),
    ("sobel_edges", (UNIT_IMAGES,), {}),
    ("map_coordinates", (UNIT_IMAGES[0, :, :, 0], np.stack(np.meshgrid(np.linspace(-1, 7, 5), np.linspace(0, 9, 4),
                                                                       indexing="ij")), 1), {}),
    ("map_coordinates", (UNIT_IMAGES[0, :, :, 0], [np.array([0.4, 3.6, 8.0]), np.array([1.2, -0.7, 2.5])], 0),
     {"fill_mode": "nearest"}),
    ("ssim", (UNIT_IMAGES, np.clip(UNIT_IMAGES[::-1] * 0.3 + UNIT_IMAGES * 0.7, 0, 1)), {"filter_size": 5}),
    ("ssim", (UNIT_IMAGES[0], UNIT_IMAGES[1]), {"max_val": 2.0, "filter_size": 3, "filter_sigma": 1.0, "k1": 0.02,
                                               "k2": 0.05}),
    ("scale_and_translate", (UNIT_IMAGES, (2, 4, 12, 3), np.array([0.5, 1.3]), np.array([0.5, -1.0]), (1, 2),
                             "bilinear"), {}),
    ("scale_and_translate", (UNIT_IMAGES[0], (9, 5, 3), np.array([1.2, 0.6]), np.array([0.0, 0.3]), (0, 1),
                             "lanczos3"), {"antialias": False}),
    ("extract_patches_3d", (VOLUMES, 2), {}), ("extract_patches_3d", (VOLUMES[0], (2, 3, 2)), {"strides": 1}),
    ("extract_patches_3d", (VOLUMES, 3), {"strides": (1, 2, 1), "padding": "same"}),
    ("extract_patches_3d", (VOLUMES, 2), {"strides": 1, "dilation_rate": 2}),
    ("perspective_transform", (UNIT_IMAGES, np.stack([CORNERS, MOVED]), np.stack([MOVED, CORNERS])), {}),
    ("perspective_transform", (UNIT_IMAGES[0], CORNERS, MOVED), {"interpolation": "nearest", "fill_value": 0.5}),
]


@pytest.mark.parametrize("name, args, kwargs", IMAGE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(IMAGE_CASES)])
def test_image_operation_equals_keras(name, args, kwargs):
    got, want = getattr(ops.image, name)(*args, **kwargs), getattr(keras.ops.image, name)(*args, **kwargs)
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert list(inspect.signature(getattr(ops.image, name)).parameters) == list(
        inspect.signature(getattr(keras.ops.image, name)).parameters)


def test_image_operations_take_one_image_as_a_batch_of_one():
    """(Keras 3.15's sobel_edges on JAX fails on one image; scanfit gives the batch's result for it.)"""
    np.testing.assert_allclose(ops.image.sobel_edges(UNIT_IMAGES[1]), ops.image.sobel_edges(UNIT_IMAGES)[1], rtol=1e-6)
    np.testing.assert_allclose(ops.image.gaussian_blur(UNIT_IMAGES[1]), ops.image.gaussian_blur(UNIT_IMAGES)[1],
                               rtol=1e-6)
    # kernel_size and sigma are (height, width), as Keras documents them; Keras 3.15 on JAX computes them as
    # (width, height)
    np.testing.assert_allclose(
        ops.image.gaussian_blur(UNIT_IMAGES, (5, 3), (2.0, 0.5)),
        keras.ops.image.gaussian_blur(UNIT_IMAGES, (3, 5), (0.5, 2.0), data_format="channels_last"), rtol=1e-5)
    with pytest.raises(ValueError, match="give two of the pad before, after and the target size"):
        ops.image.pad_images(UNIT_IMAGES, top_padding=1)
    with pytest.raises(ValueError, match="must be >= 0"):
        ops.image.crop_images(UNIT_IMAGES, top_cropping=5, target_height=4)


def test_pooling_windows_default_to_side_by_side():
    """Keras's documented default (strides = pool_size); Keras 3.15 on JAX itself fails on strides=None."""
    for name in ("max_pool", "average_pool"):
        np.testing.assert_array_equal(getattr(ops, name)(IMAGE, (2, 3)), getattr(ops, name)(IMAGE, (2, 3), (2, 3)))
    np.testing.assert_allclose(ops.max_pool(IMAGE, 2)[0, 0, 0], IMAGE[0, :2, :2].max(axis=(0, 1)))
    np.testing.assert_allclose(ops.average_pool(IMAGE, 2)[1, 2, 3], IMAGE[1, 4:6, 6:8].mean(axis=(0, 1)), rtol=1e-6)


def test_vectorize_and_custom_gradient_equal_keras():
    """The two operations that return functions: what those functions compute, and a custom gradient's."""
    import jax

    def log1pexp(library):
        @library.ops.custom_gradient
        def function(x):
            e = library.ops.exp(x)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return library.ops.multiply(upstream, 1.0 - 1.0 / library.ops.add(1, e))

            return library.ops.log(1 + e), grad

        return function

    for library in (keras, scanfit):
        np.testing.assert_allclose(jax.grad(lambda x: log1pexp(library)(x).sum())(A), 1 / (1 + np.exp(-A)), rtol=1e-6)
    got = ops.vectorize(lambda a, b: a @ b, signature="(n),(n,k)->(k)")(A, np.stack([M] * 3))
    want = keras.ops.vectorize(lambda a, b: a @ b, signature="(n),(n,k)->(k)")(A, np.stack([M] * 3))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_sparsemax_projects_onto_the_simplex():
    """Sparsemax (Martins and Astudillo, 2016): the closest point of the probability simplex, computed here by
    its definition. Keras 3.15 on JAX is not the oracle: its threshold sums the running sums instead of the
    kept values, so [1.0, 0.8, 0.1] gives it [0.1, 0, 0] (summing to 0.1) where the projection is [0.6, 0.4, 0]."""
    def reference(row):
        ranked = np.sort(row)[::-1]
        kept = max(k for k in range(1, len(row) + 1) if 1 + k * ranked[k - 1] > ranked[:k].sum())
        return np.maximum(row - (ranked[:kept].sum() - 1) / kept, 0)

    np.testing.assert_allclose(ops.sparsemax(np.array([1.0, 0.8, 0.1], "float32")), [0.6, 0.4, 0.0], rtol=1e-6)
    for x, axis in ((A, -1), (A * 3, -1), (A * 0.2, -1), (A * 3, 0)):
        got = np.asarray(ops.sparsemax(x, axis=axis))
        want = np.apply_along_axis(reference, axis, x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=1e-6)


def test_dtype_names_the_dtype_as_keras_does():
    for x in (A, INTS.astype("int32"), A > 0, ops.cast(A, "bfloat16")):
        assert ops.dtype(x) == keras.ops.dtype(x)


def test_every_operation_is_checked_and_has_keras_arguments():
    public = {name for name, value in vars(ops).items()
              if not name.startswith("_") and getattr(value, "__module__", None) == ops.__name__}
    assert public == {case[0] for case in CASES} | {"vectorize", "custom_gradient", "sparsemax", "dtype"}
    for name in public:
        assert list(inspect.signature(getattr(ops, name)).parameters) == list(
            inspect.signature(getattr(keras.ops, name)).parameters), name


def test_keras_3_layer_written_with_ops_trains_like_keras():
    """The Keras 3 guide's Linear layer, written once with `K.ops`, in both libraries."""

    def linear(K):
        class Linear(K.layers.Layer):
            def __init__(self, units=4, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
                self.b = self.add_weight(shape=(self.units,), initializer="zeros")

            def call(self, inputs):
                return K.ops.relu(K.ops.matmul(inputs, self.w) + self.b)

        return K.Sequential([K.Input((4,)), Linear(), K.layers.Dense(1)])

    k_model, s_model = linear(keras), linear(scanfit)
    weights = [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in k_model.get_weights()]
    x, y = RNG.normal(size=(64, 4)).astype("float32"), RNG.normal(size=(64, 1)).astype("float32")
    for model, K in ((k_model, keras), (s_model, scanfit)):
        model.set_weights(weights)
        model.compile(K.optimizers.SGD(0.05), "mse")
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    for k_w, s_w in zip(k_model.get_weights(), s_model.get_weights()):
        np.testing.assert_allclose(s_w, k_w, rtol=1e-4, atol=1e-6)


def test_unknown_operations_and_unsupported_arguments_are_refused():
    with pytest.raises(AttributeError):
        ops.not_an_operation  # noqa: B018 (not provided: no guess)
    with pytest.raises(ValueError, match="sparse"):
        ops.one_hot(I, 3, sparse=True)
    with pytest.raises(ValueError, match="constant_values"):
        ops.pad(A, 1, mode="reflect", constant_values=1.0)
    with pytest.raises(ValueError, match="x1 and x2"):
        ops.where(A > 0, A)
    with pytest.raises(ValueError, match="segment_sum needs num_segments"):
        ops.segment_sum(A, np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="reduction must be None, 'add'"):
        ops.scatter_update(A, np.array([[0, 1]]), np.array([1.0]), reduction="mean")
    with pytest.raises(ValueError, match="pair \\(real part, imaginary part\\)"):
        ops.fft(A)
    with pytest.raises(ValueError, match="mode must be 'reduced' or 'complete'"):
        ops.qr(A, mode="r")
    with pytest.raises(ValueError, match="'channels_last', got data_format='channels_first'"):
        ops.conv(IMAGE, KERNEL, data_format="channels_first")
    with pytest.raises(ValueError, match="padding must be 'same' or 'valid'"):
        ops.max_pool(IMAGE, 2, padding="full")
    with pytest.raises(AttributeError):
        ops.image.not_an_operation  # noqa: B018 (not provided: no guess)
    import jax

    with pytest.raises(ValueError, match="bincount inside compiled code needs minlength"):
        jax.jit(ops.bincount)(INTS % 3)
    np.testing.assert_array_equal(jax.jit(lambda x: ops.bincount(x, minlength=3))(INTS % 3), [2, 1, 1])  # 12, 7, 5, 9 % 3
    with pytest.raises(ValueError, match="histogram takes a 1-D array"):
        ops.histogram(A)
    with pytest.raises(ValueError, match="sparse=True"):
        ops.multi_hot(I, 3, sparse=True)
    with pytest.raises(ValueError, match="flash_attention"):
        ops.dot_product_attention(IMAGE, IMAGE, IMAGE, flash_attention=True)
    with pytest.raises(ValueError, match="ops.image.resize: takes crop_to_aspect_ratio or pad_to_aspect_ratio, not"):
        ops.image.resize(IMAGE, (2, 2), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="takes 3 \\(RGB\\) or 1 channels"):
        ops.image.rgb_to_grayscale(IMAGE)
    with pytest.raises(ValueError, match="not a multiple of the kernel's 3 input channels"):
        ops.conv(IMAGE, KERNEL[:, :, :3])
