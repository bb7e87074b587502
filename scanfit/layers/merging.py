"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot, and their functions."""
import functools

import jax
import jax.numpy as jnp

from scanfit.layers.base import Layer


class _Merge(Layer):
    """A layer of a list of at least two inputs whose shapes broadcast together (batch axis first)."""

    min_inputs = 2

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) < self.min_inputs:
            raise ValueError(
                f"{type(self).__name__} layer {self.name!r} must be called on a list of at least "
                f"{self.min_inputs} tensors, got {input_shape!r}."
            )

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        result = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            result = _broadcast(result, tuple(shape[1:]), self.name, input_shape)
        return (_batch_size(input_shape),) + result

    def compute_mask(self, x, mask=None):
        """Keras 3's: a step is kept where any input that has a mask keeps it."""
        if mask is None or all(m is None for m in mask):
            return None
        return jnp.any(jnp.stack([m for m in mask if m is not None]), axis=0)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return functools.reduce(self._combine, x), {}


def _broadcast(first, second, name, shapes):
    if len(first) < len(second):
        first, second = second, first
    out = list(first[:len(first) - len(second)])
    for a, b in zip(first[len(first) - len(second):], second):
        if a is None or b is None:
            out.append(None)
        elif a == 1 or b == 1 or a == b:
            out.append(max(a, b))
        else:
            raise ValueError(f"Layer {name!r} cannot merge tensors of incompatible shapes {shapes}.")
    return tuple(out)


def _batch_size(shapes):
    sizes = {shape[0] for shape in shapes} - {None}
    return sizes.pop() if len(sizes) == 1 else None


class Add(_Merge):
    """Element-wise sum of its inputs."""

    _combine = staticmethod(jnp.add)


class Multiply(_Merge):
    """Element-wise product of its inputs."""

    _combine = staticmethod(jnp.multiply)


class Maximum(_Merge):
    """Element-wise maximum of its inputs."""

    _combine = staticmethod(jnp.maximum)


class Minimum(_Merge):
    """Element-wise minimum of its inputs."""

    _combine = staticmethod(jnp.minimum)


class Average(_Merge):
    """Element-wise mean of its inputs."""

    def pure_call(self, weights, x, *, training=False, rng=None):
        return functools.reduce(jnp.add, x) / len(x), {}


class Subtract(_Merge):
    """The first input minus the second (exactly two inputs)."""

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"Subtract layer {self.name!r} must be called on a list of exactly 2 tensors, "
                             f"got {input_shape!r}.")

    def pure_call(self, weights, x, *, training=False, rng=None):
        return x[0] - x[1], {}


class Concatenate(_Merge):
    """Joins its inputs along `axis`; every other axis must match."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate axis must be an int, got {axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        rank = len(input_shape[0])
        if any(len(shape) != rank for shape in input_shape):
            raise ValueError(f"Concatenate layer {self.name!r} needs inputs of one rank, got shapes {input_shape}.")
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"Concatenate layer {self.name!r} cannot join along the batch axis (axis={self.axis}).")
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            for i, (a, b) in enumerate(zip(out, shape)):
                if i == axis:
                    out[i] = None if a is None or b is None else a + b
                elif i > 0 and a is not None and b is not None and a != b:
                    raise ValueError(
                        f"Concatenate layer {self.name!r} (axis={self.axis}) needs inputs whose shapes match "
                        f"except along the concatenation axis, got {input_shape}."
                    )
                elif a is None:
                    out[i] = b
        out[0] = _batch_size(input_shape)
        return tuple(out)

    def pure_call(self, weights, x, *, training=False, rng=None):
        return jnp.concatenate(x, axis=self.axis), {}

    def compute_mask(self, x, mask=None):
        """Keras 3's: each input's mask (all steps when it has none) over its values, joined along `axis`;
        a step is kept where any of its joined values is."""
        if mask is None or all(m is None for m in mask):
            return None
        full = [jnp.ones(a.shape, bool) if m is None else
                (jnp.broadcast_to(m[..., None], a.shape) if m.ndim < a.ndim else m) for a, m in zip(x, mask)]
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot products of two inputs along `axes` (one axis per input, or the same for both), sample by sample."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int) and not isinstance(axes, bool):
            pass
        elif isinstance(axes, (list, tuple)) and len(axes) == 2 and all(isinstance(a, int) for a in axes):
            axes = tuple(axes)
        else:
            raise ValueError(f"Dot axes must be an int or a pair of ints, got {axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _check_shapes(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) != 2:
            raise ValueError(f"Dot layer {self.name!r} must be called on a list of exactly 2 tensors, got {input_shape!r}.")

    def _axes(self, input_shape):
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        axes = tuple(a % len(shape) for a, shape in zip(axes, input_shape))
        if 0 in axes:
            raise ValueError(f"Dot layer {self.name!r} cannot take the dot product along the batch axis.")
        return axes

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        (a0, a1), (s0, s1) = self._axes(input_shape), input_shape
        if s0[a0] is not None and s1[a1] is not None and s0[a0] != s1[a1]:
            raise ValueError(f"Dot layer {self.name!r}: axis {a0} of {tuple(s0)} and axis {a1} of {tuple(s1)} differ "
                             f"({s0[a0]} != {s1[a1]}).")
        shape = [d for i, d in enumerate(s0) if i != a0] + [d for i, d in enumerate(s1) if i not in (0, a1)]
        return tuple(shape) if len(shape) > 1 else (shape[0], 1)

    def compute_mask(self, x, mask=None):
        return None  # as Keras 3: the dot products have no steps left to mask

    def pure_call(self, weights, x, *, training=False, rng=None):
        first, second = x
        a0, a1 = self._axes([first.shape, second.shape])
        if self.normalize:
            first, second = _l2_normalize(first, a0), _l2_normalize(second, a1)
        y = jax.lax.dot_general(first, second, (((a0,), (a1,)), ((0,), (0,))))
        return (y if y.ndim > 1 else y[:, None]), {}

    def get_config(self):
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


def _l2_normalize(x, axis):
    return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), 1e-12))


def _merge_function(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``: the functional form of the {cls.__name__} layer."
    return merge


add, subtract, multiply, average, maximum, minimum = (
    _merge_function(cls) for cls in (Add, Subtract, Multiply, Average, Maximum, Minimum))


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes=axes, normalize=normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
