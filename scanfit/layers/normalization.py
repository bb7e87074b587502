"""BatchNormalization, LayerNormalization, and Normalization (feature-wise, with statistics from `adapt`)."""
import itertools

import jax.numpy as jnp
import numpy as np
from jax import lax

from scanfit import config, constraints, initializers, regularizers
from scanfit.layers.base import Layer
from scanfit.checks import in_range
from scanfit.utils.py_dataset import PyDataset, batches_of



def _set_scale_and_shift(layer, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint):
    """Store a normalization layer's `center` and `scale` switches and the options of its beta and gamma."""
    layer.center, layer.scale = bool(center), bool(scale)
    layer.beta_initializer = initializers.get(beta_initializer)
    layer.gamma_initializer = initializers.get(gamma_initializer)
    layer.beta_regularizer = regularizers.get(beta_regularizer)
    layer.gamma_regularizer = regularizers.get(gamma_regularizer)
    layer.beta_constraint = constraints.get(beta_constraint)
    layer.gamma_constraint = constraints.get(gamma_constraint)


def _add_scale_and_shift(layer, shape, autocast=True):
    """The layer's ``gamma`` (with `scale`) and ``beta`` (with `center`) weights of `shape`."""
    if layer.scale:
        layer.add_weight(name="gamma", shape=shape, initializer=layer.gamma_initializer,
                         regularizer=layer.gamma_regularizer, constraint=layer.gamma_constraint, autocast=autocast)
    if layer.center:
        layer.add_weight(name="beta", shape=shape, initializer=layer.beta_initializer,
                         regularizer=layer.beta_regularizer, constraint=layer.beta_constraint, autocast=autocast)


def _scale_and_shift_config(layer):
    """The config entries of `_set_scale_and_shift`'s options."""
    return {
        "center": layer.center,
        "scale": layer.scale,
        "beta_initializer": initializers.serialize(layer.beta_initializer),
        "gamma_initializer": initializers.serialize(layer.gamma_initializer),
        "beta_regularizer": regularizers.serialize(layer.beta_regularizer),
        "gamma_regularizer": regularizers.serialize(layer.gamma_regularizer),
        "beta_constraint": constraints.serialize(layer.beta_constraint),
        "gamma_constraint": constraints.serialize(layer.gamma_constraint),
    }


class BatchNormalization(Layer):
    """Normalizes each feature with batch statistics while training, moving ones otherwise.

    ``gamma``/``beta`` are trainable; ``moving_mean``/``moving_variance`` are
    not and follow ``moving = moving * momentum + batch_stat * (1 - momentum)``.
    A frozen layer (``trainable = False``) always runs in inference mode, as
    in Keras 3. Under a mixed policy it computes in float32 (its weights are
    never cast) and returns its compute dtype, as Keras does. With a mask
    (batch, steps), batch statistics come from the kept steps only, as in Keras 3.
    """

    supports_masking = True
    accepts_mask = True

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization supports one axis, got axis={axis}")
            axis = axis[0]
        self.axis = int(axis)
        self.momentum = in_range("momentum", momentum, 0, 1)
        self.epsilon = in_range("epsilon", epsilon, 0, low_open=True)
        _set_scale_and_shift(self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                             gamma_regularizer, beta_constraint, gamma_constraint)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.synchronized = synchronized

    def build(self, input_shape):
        axis = self.axis % len(input_shape)
        features = input_shape[axis]
        if features is None:
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} of {input_shape} must be known.")
        self._axis_index = axis
        _add_scale_and_shift(self, (features,), autocast=False)
        self.add_weight(name="moving_mean", shape=(features,), initializer=self.moving_mean_initializer, trainable=False, autocast=False)
        self.add_weight(name="moving_variance", shape=(features,), initializer=self.moving_variance_initializer, trainable=False,
                        autocast=False)

    def pure_call(self, weights, x, *, training=False, rng=None, mask=None):
        x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        axis = self.axis % x.ndim
        reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        updates = {}
        if training and self.trainable:
            if mask is None:
                mean = jnp.mean(x, axis=reduce_axes)
                variance = jnp.mean(jnp.square(x - mean.reshape(shape)), axis=reduce_axes)
            else:
                mean, variance = _masked_moments(x, mask, reduce_axes, shape)
            m = self.momentum
            updates = {
                "moving_mean": weights["moving_mean"] * m + mean * (1.0 - m),
                "moving_variance": weights["moving_variance"] * m + variance * (1.0 - m),
            }
        else:
            mean, variance = weights["moving_mean"], weights["moving_variance"]
        inv = 1.0 / jnp.sqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * weights["gamma"]
        y = (x - mean.reshape(shape)) * inv.reshape(shape)
        if self.center:
            y = y + weights["beta"].reshape(shape)
        return y.astype(self.compute_dtype), updates

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            **_scale_and_shift_config(self),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "synchronized": self.synchronized,
        }


def _masked_moments(x, mask, reduce_axes, shape):
    """Keras 3's batch moments over the steps a mask (x's shape but the last axis) keeps; its sums are
    divided by the kept count plus 1e-7 (Keras's epsilon)."""
    if mask.ndim != x.ndim - 1:
        raise ValueError(f"BatchNormalization needs a mask with one axis fewer than its inputs, got a mask of shape "
                         f"{mask.shape} for inputs of shape {x.shape}.")
    keep = jnp.broadcast_to(jnp.asarray(mask, bool)[..., None], x.shape)
    count = jnp.sum(keep.astype(x.dtype), axis=reduce_axes) + 1e-7
    mean = jnp.sum(jnp.where(keep, x, 0.0), axis=reduce_axes) / count
    variance = jnp.sum(jnp.square(jnp.where(keep, x - mean.reshape(shape), 0.0)), axis=reduce_axes) / count
    return mean, variance


class GroupNormalization(Layer):
    """Normalizes each sample within groups of channels (Wu & He 2018): the `axis` channels split into `groups`
    (``-1``: one per channel, instance normalization), each standardized over its channels and the other axes,
    then scaled by ``gamma`` and shifted by ``beta`` per channel. Like LayerNormalization it computes in (at
    least) float32 and passes masks on."""

    supports_masking = True
    autocast = False

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        if isinstance(groups, bool) or not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError(f"GroupNormalization groups must be a positive int, or -1 for instance normalization, "
                             f"got {groups!r}.")
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        _set_scale_and_shift(self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                             gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, input_shape):
        if not -len(input_shape) <= self.axis < len(input_shape):
            raise ValueError(f"GroupNormalization {self.name!r}: axis {self.axis} is out of range for inputs of "
                             f"shape {tuple(input_shape)}.")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"GroupNormalization {self.name!r} needs a known size on axis {self.axis}, got "
                             f"inputs of shape {tuple(input_shape)}.")
        if self.groups == -1:
            self.groups = channels  # as Keras records it
        if channels % self.groups:
            raise ValueError(f"GroupNormalization {self.name!r}: {channels} channels do not split into "
                             f"{self.groups} groups; choose groups dividing {channels}.")
        _add_scale_and_shift(self, (channels,), autocast=False)

    def pure_call(self, weights, x, *, training=False, rng=None):
        axis = self.axis % x.ndim
        grouped_shape = x.shape[:axis] + (self.groups, x.shape[axis] // self.groups) + x.shape[axis + 1:]
        grouped = x.astype(jnp.promote_types(x.dtype, jnp.float32)).reshape(grouped_shape)
        reduced = tuple(i for i in range(1, grouped.ndim) if i != axis)
        mean = jnp.mean(grouped, axis=reduced, keepdims=True)
        variance = jnp.var(grouped, axis=reduced, keepdims=True)
        per_channel = [1] * grouped.ndim
        per_channel[axis], per_channel[axis + 1] = self.groups, x.shape[axis] // self.groups
        inv = lax.rsqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * weights["gamma"].reshape(per_channel)
        shift = -mean * inv
        if self.center:
            shift = shift + weights["beta"].reshape(per_channel)
        y = (grouped * inv + shift).reshape(x.shape)
        return y.astype(self.compute_dtype), {}

    def get_config(self):
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            **_scale_and_shift_config(self),
        }


class _OverAxes(Layer):
    """Base of LayerNormalization and RMSNormalization: statistics of each sample over `axis` (an int or a list
    of ints), computed in at least float32 (inputs and weights are not cast under a mixed policy)."""

    supports_masking = True
    autocast = False

    def normalized_axes(self, ndim):
        """The sorted non-negative axes normalized for inputs of rank `ndim` (a ValueError if out of range)."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for axis in axes:
            if not -ndim <= axis < ndim:
                raise ValueError(f"{type(self).__name__} {self.name!r}: axis {axis} is out of range for inputs of "
                                 f"rank {ndim}.")
        return sorted({axis % ndim for axis in axes})

    def weight_shape(self, input_shape):
        """The shape of the per-feature weights for `input_shape`; `axis` becomes a sorted list, as Keras 3
        keeps it once built."""
        shape = tuple(input_shape[a] for a in self.normalized_axes(len(input_shape)))
        if None in shape:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the normalized axes of {input_shape} must be "
                             "known.")
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        return shape

    def compute_output_shape(self, input_shape):
        self.normalized_axes(len(input_shape))
        return tuple(input_shape)

    def float_inputs(self, x):
        """The normalized axes of `x`, and `x` in at least float32."""
        return self.normalized_axes(x.ndim), x.astype(jnp.promote_types(x.dtype, jnp.float32))


class LayerNormalization(_OverAxes):
    """Normalizes each sample over `axis` (the last by default): ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    `axis` is an int or a list of ints; ``gamma``/``beta`` have the shape of
    those axes. As in Keras 3, the config's `axis` becomes a sorted list once
    the layer is built. Under a mixed policy its inputs and weights are not
    cast: it computes in (at least) float32 and returns its compute dtype, as
    Keras does.
    """

    def __init__(
        self,
        axis=-1,
        epsilon=1e-3,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        rms_scaling=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if rms_scaling:
            raise ValueError(
                "LayerNormalization rms_scaling=True is deprecated in Keras 3 (it scales by the variance) and "
                "not supported: leave rms_scaling=False."
            )
        if isinstance(axis, (list, tuple)):
            if not axis or not all(_is_int(a) for a in axis):
                raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got axis={axis!r}")
            self.axis = [int(a) for a in axis]
        elif _is_int(axis):
            self.axis = int(axis)
        else:
            raise TypeError(f"LayerNormalization axis must be an int or a list of ints, got axis={axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNormalization epsilon must be a positive number, got epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.rms_scaling = False
        _set_scale_and_shift(self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                             gamma_regularizer, beta_constraint, gamma_constraint)

    def build(self, input_shape):
        _add_scale_and_shift(self, self.weight_shape(input_shape))

    def pure_call(self, weights, x, *, training=False, rng=None):
        axes, x = self.float_inputs(x)
        mean = jnp.mean(x, axis=axes, keepdims=True)
        variance = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        y = (x - mean) * lax.rsqrt(variance + self.epsilon)
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        if self.scale:
            y = y * weights["gamma"].reshape(shape)
        if self.center:
            y = y + weights["beta"].reshape(shape)
        return y.astype(self.compute_dtype), {}

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "rms_scaling": self.rms_scaling,
            **_scale_and_shift_config(self),
        }


class RMSNormalization(_OverAxes):
    """Scales each sample by the inverse root mean square over `axis` (the last by default), then by the
    weight ``scale`` (ones at first): ``x * rsqrt(mean(x ** 2) + epsilon) * scale``, computed in at least float32
    (Zhang and Sennrich 2019). As in Keras 3, the config's `axis` becomes a sorted list once the layer is built."""

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        axes = axis if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(_is_int(a) for a in axes):
            raise TypeError(f"RMSNormalization axis must be an int or a list of ints, got axis={axis!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon >= 0:
            raise ValueError(f"RMSNormalization epsilon must be a number >= 0, got epsilon={epsilon!r}")
        self.axis = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = epsilon

    def build(self, input_shape):
        self.add_weight(name="scale", shape=self.weight_shape(input_shape), initializer="ones")

    def pure_call(self, weights, x, *, training=False, rng=None):
        axes, x = self.float_inputs(x)
        y = x * lax.rsqrt(jnp.mean(jnp.square(x), axis=axes, keepdims=True) + self.epsilon)
        shape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        return (y * weights["scale"].reshape(shape)).astype(self.compute_dtype), {}

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def _is_int(value):
    return hasattr(value, "__index__") and not isinstance(value, bool)


class Normalization(Layer):
    """Shifts and scales inputs feature by feature: ``(x - mean) / max(sqrt(variance), epsilon())``.

    The statistics are given (``mean=``, ``variance=``: numbers or arrays that
    broadcast over the kept axes) or computed from data by ``adapt(data)``,
    which stores them in the non-trainable weights ``mean`` and ``variance``
    (and Keras 3's ``count``, kept at 0 as Keras keeps it). `axis` names the
    axes that keep their own statistics (the last by default; None for one
    mean and variance over everything). ``invert=True`` maps normalized values
    back: ``mean + x * max(sqrt(variance), epsilon())``. As in Keras 3.
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif _is_int(axis):
            axis = (int(axis),)
        elif isinstance(axis, (list, tuple)) and all(_is_int(a) for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise TypeError(f"Normalization axis must be an int, a tuple of ints or None, got axis={axis!r}")
        self.axis = axis
        if (mean is None) != (variance is None):
            raise ValueError(f"Normalization needs both mean= and variance= (or neither, and adapt()); got "
                             f"mean={mean!r} and variance={variance!r}.")
        if mean is not None:
            mean, variance = np.asarray(mean, np.float32), np.asarray(variance, np.float32)
            if mean.shape != variance.shape:
                raise ValueError(f"Normalization mean and variance must have the same shape, got {mean.shape} "
                                 f"and {variance.shape}.")
            if mean.ndim > len(axis):
                raise ValueError(f"Normalization mean has rank {mean.ndim}, more than the {len(axis)} kept axes "
                                 f"of axis={axis}.")
        self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)

    def _axes(self, input_shape):
        """``(kept axes, reduced axes, broadcast shape)`` for inputs of `input_shape` (batch first)."""
        ndim = len(input_shape)
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization {self.name!r}: axis {self.axis} is out of range for inputs of "
                             f"shape {tuple(input_shape)}.")
        keep = tuple(sorted(a % ndim for a in self.axis))
        if any(input_shape[a] is None for a in keep):
            raise ValueError(f"Normalization {self.name!r}: the kept axes {keep} of {tuple(input_shape)} must be "
                             "known.")
        reduce = tuple(a for a in range(ndim) if a not in keep)
        return keep, reduce, tuple(input_shape[a] if a in keep else 1 for a in range(ndim))

    def build(self, input_shape):
        keep, _, broadcast = self._axes(input_shape)
        self._broadcast_shape = broadcast
        shape = tuple(input_shape[a] for a in keep)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int32", trainable=False)
            return
        # given statistics line up with the kept axes from the right, as in Keras
        aligned = [1] * len(input_shape)
        for offset, size in enumerate(reversed(self.input_mean.shape), start=1):
            aligned[keep[-offset]] = size
        try:
            self._given = tuple(np.broadcast_to(v.reshape(aligned), broadcast)
                                for v in (self.input_mean, self.input_variance))
        except ValueError:
            raise ValueError(f"Normalization {self.name!r}: mean of shape {self.input_mean.shape} does not "
                             f"broadcast to the kept axes of inputs of shape {tuple(input_shape)}.") from None

    @property
    def mean(self):
        """Keras's ``layer.mean``: the mean in the inputs' broadcast shape, as an array (None before the layer
        is built; after `adapt`, the adapted one)."""
        return self._broadcast_statistic(0)

    @property
    def variance(self):
        """Keras's ``layer.variance``, as `mean`."""
        return self._broadcast_statistic(1)

    def _broadcast_statistic(self, index):
        if not self.built:
            return None
        if self.input_mean is not None:
            return jnp.asarray(self._given[index], self.compute_dtype)
        variable = self.adapt_mean if index == 0 else self.adapt_variance
        return jnp.reshape(variable.value, self._broadcast_shape).astype(self.compute_dtype)

    def adapt(self, data):
        """Compute the mean and variance of `data` over the reduced axes and store them.

        `data` is an array (statistics in one pass, as NumPy's mean and var),
        or a `PyDataset` or an iterable of batches (x, or (x, y) tuples whose x
        is used), combined batch by batch as Keras does.
        """
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r} was given mean= and variance=; adapt() would not "
                             "change them. Make the layer without them to adapt it.")
        if isinstance(data, PyDataset):
            batches = batches_of(data)
        elif hasattr(data, "shape") and hasattr(data, "__array__"):
            batches = None
        elif hasattr(data, "__iter__"):
            batches = batches_of(data)
        else:
            raise TypeError(f"Normalization.adapt takes an array, a PyDataset or an iterable of batches, got "
                            f"{type(data).__name__}.")
        if batches is None:
            data = np.asarray(data)
            _, reduce, _ = self._checked_axes(data.shape)
            mean, variance = np.mean(data, axis=reduce), np.var(data, axis=reduce)
        else:
            first = next(batches, None)
            if first is None:
                raise ValueError("Normalization.adapt got no batches: give an array or at least one batch.")
            mean, variance = self._combined_statistics(itertools.chain([first], batches))
        self.adapt_mean.assign(np.asarray(mean, np.float32))
        self.adapt_variance.assign(np.asarray(variance, np.float32))

    def _checked_axes(self, shape):
        """The axes for data of `shape`, after building for it (or checking it against the built shape)."""
        if not self.built:
            self.build_for((None,) + tuple(shape[1:]))
        axes = self._axes(shape)
        built = self._axes(self.input_shape)[0]
        if axes[0] != built or any(shape[a] != self.input_shape[a] for a in built):
            raise ValueError(f"Normalization {self.name!r} was built for inputs of shape {tuple(self.input_shape)}; "
                             f"adapt() got data of shape {tuple(shape)}.")
        return axes

    def _combined_statistics(self, batches):
        mean = variance = None
        count = 0
        for batch in batches:
            batch = np.asarray(batch[0] if isinstance(batch, tuple) else batch, np.float32)
            _, reduce, _ = self._checked_axes(batch.shape)
            size = int(np.prod([batch.shape[a] for a in reduce]))
            batch_mean, batch_variance = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
            if mean is None:
                mean, variance = np.zeros_like(batch_mean), np.zeros_like(batch_variance)
            count += size
            weight = size / count
            new_mean = mean * (1 - weight) + batch_mean * weight
            # pooled variance: each part's variance plus its mean's squared distance to the new mean
            variance = ((variance + (mean - new_mean) ** 2) * (1 - weight)
                        + (batch_variance + (batch_mean - new_mean) ** 2) * weight)
            mean = new_mean
        return mean, variance

    def pure_call(self, weights, x, *, training=False, rng=None):
        x = x.astype(self.compute_dtype)
        if self.input_mean is None:
            mean = weights["mean"].reshape(self._broadcast_shape)
            variance = weights["variance"].reshape(self._broadcast_shape)
        else:
            mean, variance = (jnp.asarray(v, self.compute_dtype) for v in self._given)
        scale = jnp.maximum(jnp.sqrt(variance), config.epsilon())
        return (mean + x * scale if self.invert else (x - mean) / scale), {}

    def get_config(self):
        given = self.input_mean is not None
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": self.input_mean.tolist() if given else None,
            "variance": self.input_variance.tolist() if given else None,
        }
