"""How convolution and pooling become XLA operations, chosen per backend.

Two lowerings compute the same functions (channels_last arrays):

- ``'patches'`` (the default on CPU): a convolution whose gradient is taken
  is one matmul of the kernel with the input windows (one strided slice per
  kernel offset, stacked channels-first), and the same window matrix times
  the output gradient is the kernel gradient; the input gradient is a
  stride-1 convolution with the flipped kernel (or, strided, the windows'
  matmul scattered back). Without a gradient (predict, evaluate) it is XLA's
  convolution. XLA:CPU runs the kernel gradient of
  `lax.conv_general_dilated` many times slower inside the `lax.scan` of a
  compiled epoch (see DESIGN.md). Pooling with ``strides == pool_size``
  pads (if 'same' asks for it), reshapes each window onto axes of its own
  and reduces them; other pooling (overlapping or gapped windows) reduces
  the same strided slices elementwise.
- ``'xla'`` (the default on GPU/TPU): `lax.conv_general_dilated` and
  `lax.reduce_window`, which cuDNN and the GPU compilers run well.

Depthwise convolutions are grouped convolutions (one group per channel); a
transposed convolution is a stride-1 convolution of its input with zeros
put between the values, which 'xla' gives XLA as an input dilation and
'patches' builds with `lax.pad` before the patch matmul.

``SCANFIT_CONV_LOWERING=patches|xla`` overrides the choice; it is read when
a model is traced, so set it before the first `fit`/`predict`.

Padding follows Keras on JAX (XLA's 'SAME'): the total padding of an axis is
``max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)`` with
``out = ceil(size / stride)``; the smaller half goes before, the larger after.
Max pooling pads with -inf; average pooling divides by the number of real
(unpadded) values in each window. Where several values of a max-pooling window
tie for the maximum, 'patches' splits the gradient between them while
'xla' gives it to one; both are valid subgradients.
"""
import os
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ENV_VAR = "SCANFIT_CONV_LOWERING"
LOWERINGS = ("patches", "xla")


def default_lowering():
    """'patches' on CPU, 'xla' elsewhere, unless SCANFIT_CONV_LOWERING says otherwise."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value:
        if value not in LOWERINGS:
            raise ValueError(f"{ENV_VAR} must be one of {LOWERINGS}, got {os.environ[ENV_VAR]!r}")
        return value
    return "patches" if jax.default_backend() == "cpu" else "xla"


def _resolve(lowering):
    if lowering is None:
        return default_lowering()
    if lowering not in LOWERINGS:
        raise ValueError(f"lowering must be one of {LOWERINGS}, got {lowering!r}")
    return lowering


# --- shapes and padding ------------------------------------------------------
def padding_pairs(spatial_shape, window, strides, dilation, padding):
    """Explicit ``(before, after)`` padding per spatial axis for 'valid', 'same' or 'causal'."""
    pairs = []
    for size, k, s, d in zip(spatial_shape, window, strides, dilation):
        span = (k - 1) * d + 1
        if padding == "valid":
            pairs.append((0, 0))
        elif padding == "causal":
            pairs.append((span - 1, 0))
        elif padding == "same":
            total = max((-(-size // s) - 1) * s + span - size, 0)
            pairs.append((total // 2, total - total // 2))
        else:
            raise ValueError(f"padding must be 'valid', 'same' or 'causal', got {padding!r}")
    return tuple(pairs)


def output_length(size, window, stride, dilation, padding):
    """Output length of one spatial axis (None stays None), as Keras computes it."""
    if size is None:
        return None
    span = (window - 1) * dilation + 1
    if padding == "same":
        return -(-size // stride)
    if padding == "causal":
        size = size + span - 1
    return (size - span) // stride + 1


# --- convolution ----------------------------------------------------------------
def conv(x, kernel, strides, pads, dilation, groups=1, lowering=None):
    """N-d convolution of channels_last `x` (N, *spatial, C) with `kernel` (*window, C // groups, F)."""
    args = (tuple(strides), tuple(tuple(p) for p in pads), tuple(dilation), int(groups))
    if _resolve(lowering) == "xla":
        return _xla_conv(x, kernel, *args)
    return _patches_conv(x, kernel, *args)


def _xla_conv(x, kernel, strides, pads, dilation, groups):
    spatial = "HWD"[: x.ndim - 2]
    lhs, rhs = "N" + spatial + "C", spatial + "IO"
    return lax.conv_general_dilated(
        x, kernel, strides, pads, rhs_dilation=dilation,
        dimension_numbers=(lhs, rhs, lhs), feature_group_count=groups,
    )


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _patches_conv(x, kernel, strides, pads, dilation, groups):
    """The 'patches' lowering: XLA's convolution when no gradient is taken; under differentiation a
    patch matrix and matmuls (see `_patches_conv_forward` and `_patches_conv_backward`)."""
    return _xla_conv(x, kernel, strides, pads, dilation, groups)


def _patches_conv_forward(x, kernel, strides, pads, dilation, groups):
    """The output as one matmul of the transposed patch matrix with the kernel; the patch matrix is
    kept for the kernel gradient. (Measured on the seed CNN: 6-11% less time per step than XLA's
    convolution followed by a patch matrix built again in the backward pass.) Grouped convolutions
    use XLA's convolution."""
    if groups != 1:
        return _xla_conv(x, kernel, strides, pads, dilation, groups), (x, kernel, None)
    filters = kernel.shape[-1]
    patches = _transposed_patch_matrix(x, kernel.shape[:-2], strides, pads, dilation)  # (K * C, M)
    y = lax.dot_general(patches, kernel.reshape(-1, filters), (((0,), (0,)), ((), ())))  # (M, F)
    out = _output_shape(x.shape[1:-1], kernel.shape[:-2], strides, pads, dilation)
    return y.reshape((x.shape[0], *out, filters)), (x, kernel, patches)


def _patches_conv_backward(strides, pads, dilation, groups, residuals, g):
    """Kernel gradient: the transposed patch matrix times `g`. Input gradient: a stride-1
    convolution of `g` with the flipped kernel, or (strided) ``g @ kernel^T`` scattered back
    through the patch gather."""
    x, kernel, patches = residuals
    window = kernel.shape[:-2]
    if patches is None:
        d_kernel = _grouped_kernel_gradient(x, g, kernel.shape, strides, pads, dilation, groups)
    else:
        d_kernel = jnp.matmul(patches, g.reshape(-1, kernel.shape[-1])).reshape(kernel.shape)
    if all(s == 1 for s in strides):
        spans = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
        back_pads = tuple((span - 1 - lo, span - 1 - hi) for span, (lo, hi) in zip(spans, pads))
        return _xla_conv(g, _transposed_kernel(kernel, groups), strides, back_pads, dilation, groups), d_kernel

    def patches_of(x):
        return _patch_matrix(x, window, strides, pads, dilation)

    patch_shape = jax.eval_shape(patches_of, x)
    (d_patches,) = jax.linear_transpose(lambda p: _patches_times_kernel(p, kernel, groups), patch_shape)(g)
    (d_x,) = jax.linear_transpose(patches_of, x)(d_patches)
    return d_x, d_kernel


_patches_conv.defvjp(_patches_conv_forward, _patches_conv_backward)


def _output_shape(spatial, window, strides, pads, dilation):
    """The output's spatial shape for explicit `pads`."""
    return tuple((size + lo + hi - ((k - 1) * d + 1)) // s + 1
                 for size, (lo, hi), k, s, d in zip(spatial, pads, window, strides, dilation))


def _transposed_slices(x, window, strides, pads, dilation):
    """`x` moved channels-first, one strided slice per window offset: (K, C, N, *out)."""
    out = _output_shape(x.shape[1:-1], window, strides, pads, dilation)
    x = jnp.moveaxis(x, -1, 0)  # (C, N, *spatial)
    if any(lo or hi for lo, hi in pads):
        x = jnp.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    rows = []
    for offset in np.ndindex(*window):
        start = (0, 0) + tuple(o * d for o, d in zip(offset, dilation))
        limit = x.shape[:2] + tuple(b + (n - 1) * s + 1 for b, n, s in zip(start[2:], out, strides))
        rows.append(lax.slice(x, start, limit, (1, 1) + tuple(strides)))
    return jnp.stack(rows)


def _transposed_patch_matrix(x, window, strides, pads, dilation):
    """Every input window as one column, (K * C, M): offsets major, channels minor, as the kernel's rows.

    Built channels-first, the kernel gradient ``patches @ g`` is a plain matmul (measured 30% faster
    on CPU than contracting an (M, K * C) patch matrix over its rows)."""
    slices = _transposed_slices(x, window, strides, pads, dilation)
    return slices.reshape(slices.shape[0] * slices.shape[1], -1)


def _grouped_kernel_gradient(x, g, kernel_shape, strides, pads, dilation, groups):
    """The kernel gradient of a grouped convolution: per group, the transposed patches times `g`."""
    *window, per_group, filters = kernel_shape
    slices = _transposed_slices(x, window, strides, pads, dilation)
    patches = slices.reshape(slices.shape[0], groups, per_group, -1)  # (K, G, Cg, M)
    d_kernel = jnp.einsum("kgcm,mgf->kcgf", patches, g.reshape(-1, groups, filters // groups))
    return d_kernel.reshape(kernel_shape)


def _transposed_kernel(kernel, groups):
    """The kernel of the input gradient: spatially flipped, input and output channels swapped per group."""
    *window, per_group, filters = kernel.shape
    k = kernel.reshape(tuple(window) + (per_group, groups, filters // groups))
    k = jnp.swapaxes(k, -3, -1).reshape(tuple(window) + (filters // groups, groups * per_group))
    return jnp.flip(k, axis=tuple(range(len(window))))


def _patch_matrix(x, window, strides, pads, dilation):
    """Every input window as one row: (N, *out, K * C), offsets major, channels minor."""
    windows = _windows(x, window, strides, pads, dilation, 0.0)
    return windows[0] if len(windows) == 1 else jnp.concatenate(windows, axis=-1)


def _patches_times_kernel(patches, kernel, groups):
    """The convolution as one matmul of the patch matrix with the reshaped kernel."""
    filters = kernel.shape[-1]
    if groups == 1:
        return jnp.matmul(patches, kernel.reshape(-1, filters))
    per_group = kernel.shape[-2]
    offsets = patches.shape[-1] // (groups * per_group)
    p = patches.reshape(patches.shape[:-1] + (offsets, groups, per_group))
    k = kernel.reshape(offsets, per_group, groups, filters // groups)
    y = jnp.einsum("...kgc,kcgf->...gf", p, k)
    return y.reshape(y.shape[:-2] + (filters,))


def _windows(x, window, strides, pads, dilation, pad_value):
    """One strided slice of padded `x` per window offset (row-major): each (N, *out, C)."""
    if any(lo or hi for lo, hi in pads):
        x = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=pad_value)
    spatial = x.shape[1:-1]
    out = [(size - ((k - 1) * d + 1)) // s + 1 for size, k, s, d in zip(spatial, window, strides, dilation)]
    slices = []
    for offset in np.ndindex(*window):
        start = (0,) + tuple(o * d for o, d in zip(offset, dilation)) + (0,)
        limit = (x.shape[0],) + tuple(b + (n - 1) * s + 1 for b, n, s in zip(start[1:-1], out, strides)) + (x.shape[-1],)
        slices.append(lax.slice(x, start, limit, (1,) + tuple(strides) + (1,)))
    return slices


def transpose_padding(size, window, stride, dilation, padding, output_padding):
    """``(before, after)`` padding of the stride-dilated input of a transposed convolution, as Keras on JAX.

    'valid' gives ``(size - 1) * stride + max(span, stride)`` outputs by default, 'same'
    ``size * stride``; an `output_padding` (None for the default) sets the extra length at the end.
    """
    span = (window - 1) * dilation + 1
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return span - 1, span - 1 + extra
    total = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    before = min(total - total // 2, span - 1)
    return before, total - before


def transpose_output_length(size, window, stride, dilation, padding, output_padding):
    """Output length of one spatial axis of a transposed convolution (None stays None)."""
    if size is None:
        return None
    before, after = transpose_padding(size, window, stride, dilation, padding, output_padding)
    return (size - 1) * stride + 1 + before + after - (window - 1) * dilation


def conv_transpose(x, kernel, strides, pads, dilation, lowering=None):
    """Transposed convolution of channels_last `x` (N, *spatial, C) with `kernel` (*window, F, C), Keras's layout.

    It is the stride-1 convolution of `x` with zeros put between its values
    (``stride - 1`` per gap), padded by `pads` (from `transpose_padding`),
    with the kernel flipped in space and its channel axes swapped. 'xla'
    gives that to `lax.conv_general_dilated` as an input dilation; 'patches'
    inserts the zeros with `lax.pad` and runs the patches convolution.
    """
    rank = x.ndim - 2
    flipped = jnp.flip(jnp.swapaxes(kernel, -1, -2), axis=tuple(range(rank)))
    strides, dilation = tuple(strides), tuple(dilation)
    if _resolve(lowering) == "xla":
        spatial = "HWD"[:rank]
        lhs, rhs = "N" + spatial + "C", spatial + "IO"
        return lax.conv_general_dilated(
            x, flipped, (1,) * rank, tuple(tuple(p) for p in pads), lhs_dilation=strides, rhs_dilation=dilation,
            dimension_numbers=(lhs, rhs, lhs),
        )
    config = ((0, 0, 0),) + tuple((lo, hi, s - 1) for (lo, hi), s in zip(pads, strides)) + ((0, 0, 0),)
    dilated = lax.pad(x, jnp.zeros((), x.dtype), config)
    return _patches_conv(dilated, flipped, (1,) * rank, ((0, 0),) * rank, dilation, 1)


# --- pooling ----------------------------------------------------------------------
def pool(x, mode, window, strides, pads, lowering=None):
    """'max' or 'average' pooling of channels_last `x` over its spatial axes with explicit pads."""
    if mode not in ("max", "average"):
        raise ValueError(f"pooling mode must be 'max' or 'average', got {mode!r}")
    window, strides, pads = tuple(window), tuple(strides), tuple(tuple(p) for p in pads)
    pad_value = -jnp.inf if mode == "max" else 0.0
    if _resolve(lowering) == "xla":
        dims, steps = (1,) + window + (1,), (1,) + strides + (1,)
        full_pads = ((0, 0),) + pads + ((0, 0),)
        reducer = lax.max if mode == "max" else lax.add
        pooled = lax.reduce_window(x, pad_value, reducer, dims, steps, full_pads)
    elif window == strides:
        blocks = _blocks(x, window, pads, pad_value)
        reduce = jnp.max if mode == "max" else jnp.sum
        pooled = reduce(blocks, axis=tuple(range(2, blocks.ndim - 1, 2)))
    else:
        combine = jnp.maximum if mode == "max" else jnp.add
        values = _windows(x, window, strides, pads, (1,) * len(window), pad_value)
        pooled = values[0]
        for value in values[1:]:
            pooled = combine(pooled, value)
    if mode == "max":
        return pooled
    counts = window_counts(x.shape[1:-1], window, strides, pads)
    return pooled / jnp.asarray(counts[..., None], x.dtype)


def _blocks(x, window, pads, pad_value):
    """Non-overlapping windows on axes of their own: (N, out_1, window_1, ..., out_r, window_r, C)."""
    if any(lo or hi for lo, hi in pads):
        x = jnp.pad(x, ((0, 0),) + pads + ((0, 0),), constant_values=pad_value)
    out = [size // k for size, k in zip(x.shape[1:-1], window)]
    x = x[(slice(None),) + tuple(slice(0, n * k) for n, k in zip(out, window))]
    return x.reshape((x.shape[0],) + tuple(d for n, k in zip(out, window) for d in (n, k)) + (x.shape[-1],))


def window_counts(spatial_shape, window, strides, pads):
    """How many real (unpadded) input values each pooling window covers: an array of the output's spatial shape."""
    per_axis = []
    for size, k, s, (lo, hi) in zip(spatial_shape, window, strides, pads):
        n = (size + lo + hi - k) // s + 1
        starts = np.arange(n) * s - lo
        per_axis.append(np.minimum(starts + k, size) - np.maximum(starts, 0))
    counts = per_axis[0].astype(np.float32)
    for axis_counts in per_axis[1:]:
        counts = np.multiply.outer(counts, axis_counts.astype(np.float32))
    return counts

