"""Weight initializers with Keras 3's names, defaults and configs.

Every initializer is called as ``init(shape, dtype="float32", key=None)`` and
returns a new JAX array.

Values are computed on the host with NumPy (random draws in float64, then
cast to `dtype`) and handed to JAX with ``jax.device_put``: building a model
compiles no XLA program.

Seeding follows Keras 3: a random initializer fixes its key when it is made,
so one object returns the same values on every call. With an integer `seed`
the key comes from that seed; with ``seed=None`` it is the next key of
scanfit's global stream (`scanfit.seeding`), which `set_seed` makes repeatable.
Pass ``key=`` to a call to draw with a different key (a raw ``uint32`` key,
as `scanfit.seeding` and ``jax.random.PRNGKey`` make, or a typed
``jax.random.key``). The key seeds a NumPy generator, so the numbers differ
from the ones ``jax.random`` (and so Keras's JAX backend) draws with that
key; their distributions are the same.
"""
import math
import numbers
import operator

import jax
import jax.numpy as jnp
import numpy as np

from scanfit.seeding import key_from_seed
from scanfit.serialization import resolve, serialize_object

_MODULE = "keras.initializers"

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it
# gives a truncated normal the variance the untruncated one would have.
_TRUNCATED_UNIT_NORMAL_STDDEV = 0.87962566103423978


def _as_shape(shape):
    """`shape` as a tuple of non-negative ints, or a clear error."""
    try:
        dims = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise TypeError(f"shape must be a sequence of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must not have negative dimensions, got {shape!r}")
    return dims


def _as_dtype(dtype):
    return jnp.dtype("float32" if dtype is None else dtype)


def _to_jax(values, dtype):
    """Host `values` as a JAX array of `dtype` (as JAX stores it: float64 is float32 unless x64 is on).

    The cast happens in NumPy and ``jax.device_put`` copies the result:
    ``jnp.asarray`` of a host array would compile a small program per shape.
    """
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    return jax.device_put(np.asarray(values).astype(dtype, copy=False))


# Prefix of the entropy that turns a key into a NumPy generator (see `_generator`).
_DRAW_TAG = 0x1417


def _key_words(key):
    """The ``uint32`` words of a JAX key: a raw key (NumPy or JAX array) or a typed one."""
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = np.asarray(key)
    if not np.issubdtype(words.dtype, np.integer) or words.ndim != 1 or words.size == 0:
        raise TypeError(
            f"key must be one JAX random key (a raw uint32 array such as jax.random.PRNGKey(0), "
            f"or jax.random.key(0)); got {type(key).__name__} of dtype {words.dtype} and shape {words.shape}"
        )
    return [int(word) & 0xFFFFFFFF for word in words.ravel()]


def _generator(key):
    """A NumPy generator whose whole stream is fixed by `key`."""
    return np.random.default_rng(np.random.SeedSequence([_DRAW_TAG, *_key_words(key)]))


def _uniform(rng, shape, low, high, dtype):
    """Uniform draws in ``[low, high)`` (float64), cast to `dtype` without leaving the interval.

    Rounding to a narrower float can carry a value onto `high` or below
    `low`; such values are moved to the nearest representable one inside.
    """
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    values = (low + (high - low) * rng.random(shape)).astype(dtype)
    if high > low:
        lowest, highest = np.asarray(low, dtype), np.asarray(high, dtype)
        if float(lowest) < low:
            lowest = np.nextafter(lowest, np.asarray(high, dtype))
        if float(highest) >= high:
            highest = np.nextafter(highest, np.asarray(low, dtype))
        if lowest <= highest:
            values = np.clip(values, lowest, highest)
    return values


def _truncated_unit_normal(rng, shape):
    """Standard normal draws (float64) kept strictly within ``(-2, 2)``: values outside are drawn again."""
    values = rng.standard_normal(shape)
    outside = np.flatnonzero(np.abs(values) >= 2.0)
    flat = values.reshape(-1)
    while outside.size:
        redrawn = rng.standard_normal(outside.size)
        flat[outside] = redrawn
        outside = outside[np.abs(redrawn) >= 2.0]
    return values


def _as_float_dtype(dtype, initializer):
    dtype = _as_dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(
            f"{type(initializer).__name__} draws random floats, so dtype must be a "
            f"floating-point type; got dtype={dtype}"
        )
    return dtype


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, counted the way Keras does.

    A dense kernel ``(in, out)`` gives ``(in, out)``; a convolution kernel
    ``(*receptive_field, in, out)`` multiplies both by the receptive field size.
    `input_axes` and `output_axes`, when both are given, name the axes to count.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (
            int(np.prod([shape[axis] for axis in input_axes])),
            int(np.prod([shape[axis] for axis in output_axes])),
        )
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class Initializer:
    """Base class: ``init(shape, dtype="float32", key=None)`` returns a new array."""

    def __call__(self, shape, dtype="float32", key=None):
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype, key)")

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        """A new initializer with the same config (and, if unseeded, a new key)."""
        return type(self).from_config(self.get_config())


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32", key=None):
        return _to_jax(np.zeros(_as_shape(shape)), _as_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32", key=None):
        return _to_jax(np.ones(_as_shape(shape)), _as_dtype(dtype))


def _encode_constant(value):
    """`value` in the JSON-friendly form Keras's config uses."""
    if isinstance(value, jax.Array):
        return {"class_name": "__tensor__", "config": {"value": np.asarray(value).tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": str(value.dtype)}}
    if isinstance(value, (np.ndarray, np.generic)):
        return value.item()
    return value


def _decode_constant(value):
    if isinstance(value, dict):
        kind = value.get("class_name")
        if kind not in ("__numpy__", "__tensor__"):
            raise ValueError(f"Constant value must be a number or an encoded array, got {value!r}")
        array = np.array(value["config"]["value"], dtype=value["config"]["dtype"])
        return array if kind == "__numpy__" else jax.device_put(array)
    return value


class Constant(Initializer):
    """Every element equal to `value` (a scalar, or an array broadcast to the shape)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32", key=None):
        shape = _as_shape(shape)
        dtype = _as_dtype(dtype)
        value = np.asarray(self.value).astype(dtype)
        try:
            return _to_jax(np.broadcast_to(value, shape), dtype)
        except ValueError:
            raise ValueError(
                f"Constant value of shape {value.shape} cannot fill a weight of shape {shape}"
            ) from None

    def get_config(self):
        return {"value": _encode_constant(self.value)}

    @classmethod
    def from_config(cls, config):
        return cls(_decode_constant(config["value"]))


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only).

    Keras 3's config for Identity is empty, which loses `gain`; scanfit
    writes ``{"gain": ...}``, which Keras reads back unchanged.
    """

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32", key=None):
        shape = _as_shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity can only fill a 2-D weight; got shape={shape} of rank {len(shape)}")
        return _to_jax(self.gain * np.eye(*shape), _as_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base class of the initializers that draw random values (see module docs on seeding)."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an int or None, got {seed!r} (a {type(seed).__name__})")
        self.seed = None if seed is None else int(seed)
        self._key = key_from_seed(self.seed)

    def _rng(self, key):
        """The NumPy generator of one call: from `key` if given, else from the object's own key."""
        return _generator(self._key if key is None else key)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal draws with the given `mean` and `stddev`."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32", key=None):
        dtype = _as_float_dtype(dtype, self)
        sample = self._rng(key).standard_normal(_as_shape(shape))
        return _to_jax(sample * self.stddev + self.mean, dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """Normal draws re-drawn until within two `stddev` of `mean`."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32", key=None):
        dtype = _as_float_dtype(dtype, self)
        sample = _truncated_unit_normal(self._rng(key), _as_shape(shape))
        return _to_jax(sample * self.stddev + self.mean, dtype)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform draws in ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32", key=None):
        dtype = _as_float_dtype(dtype, self)
        sample = _uniform(self._rng(key), _as_shape(shape), self.minval, self.maxval, dtype)
        return _to_jax(sample, dtype)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(RandomInitializer):
    """Draws whose variance is ``scale / n``, with ``n`` the fan given by `mode`.

    `distribution` is ``"truncated_normal"`` (``"normal"`` is read as this,
    as tf.keras and Keras 3 both do), ``"untruncated_normal"`` or
    ``"uniform"`` (within ``±sqrt(3 * scale / n)``).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
            raise ValueError(f"scale must be a positive number, got scale={scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}, got mode={mode!r}")
        if not isinstance(distribution, str):
            raise ValueError(f"distribution must be one of {self._DISTRIBUTIONS}, got distribution={distribution!r}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {self._DISTRIBUTIONS}, got distribution={distribution!r}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32", key=None):
        dtype = _as_float_dtype(dtype, self)
        shape = _as_shape(shape)
        rng = self._rng(key)
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(variance) / _TRUNCATED_UNIT_NORMAL_STDDEV
            sample = _truncated_unit_normal(rng, shape) * stddev
        elif self.distribution == "untruncated_normal":
            sample = rng.standard_normal(shape) * math.sqrt(variance)
        else:
            limit = math.sqrt(3.0 * variance)
            sample = _uniform(rng, shape, -limit, limit, dtype)
        return _to_jax(sample, dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are set by the subclass."""

    _preset = {}

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(**self._preset, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_FixedVarianceScaling):
    """Uniform within ``±sqrt(6 / (fan_in + fan_out))`` (Xavier uniform)."""

    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform"}


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal with variance ``2 / (fan_in + fan_out)`` (Xavier normal)."""

    _preset = {"scale": 1.0, "mode": "fan_avg", "distribution": "truncated_normal"}


class HeNormal(_FixedVarianceScaling):
    """Truncated normal with variance ``2 / fan_in``."""

    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "truncated_normal"}


class HeUniform(_FixedVarianceScaling):
    """Uniform within ``±sqrt(6 / fan_in)``."""

    _preset = {"scale": 2.0, "mode": "fan_in", "distribution": "uniform"}


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal with variance ``1 / fan_in``."""

    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"}


class LecunUniform(_FixedVarianceScaling):
    """Uniform within ``±sqrt(3 / fan_in)``."""

    _preset = {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}


class Orthogonal(RandomInitializer):
    """`gain` times a random orthogonal matrix (QR of normal draws).

    Shapes of rank above 2 are treated as ``(prod(shape[:-1]), shape[-1])``.
    The result has orthonormal columns, or orthonormal rows when it has
    fewer rows than columns.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype="float32", key=None):
        dtype = _as_float_dtype(dtype, self)
        shape = _as_shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a weight of rank 2 or more; got shape={shape} of rank {len(shape)}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        tall = self._rng(key).standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(tall)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return _to_jax(self.gain * q.reshape(shape), dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


class STFT(Initializer):
    """Convolution kernels of a short-time Fourier transform, shape (frame_length, 1, bins): the `side` ('real':
    cosines, 'imag': minus sines) of ``exp(-2 pi i t f / fft_length)`` with ``fft_length = 2 * (bins - 1)``,
    times `window` ('hann', 'hamming', an array of frame_length values, or None; `periodic` as SciPy's
    ``get_window(..., fftbins=periodic)``), divided by the window's L2 norm (`scaling` 'density') or its sum
    ('spectrum'), or not (None). `STFTSpectrogram`'s kernels."""

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT side must be 'real' or 'imag', got {side!r}.")
        if isinstance(window, str) and window not in WINDOWS:
            raise ValueError(f"STFT window must be one of {WINDOWS} (scanfit has no SciPy windows), an array of "
                             f"frame_length values, or None; got {window!r}.")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError(f"STFT scaling must be None, 'density' or 'spectrum', got {scaling!r}.")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype="float32", key=None):
        frame_length, _, bins = _as_shape(shape)
        dtype = np.dtype(_as_float_dtype(dtype, self))
        time = np.arange(frame_length, dtype=dtype).reshape(frame_length, 1, 1)
        frequency = np.arange(bins, dtype=dtype).reshape(1, 1, bins) / dtype.type((bins - 1) * 2)
        angle = -2 * time * frequency * dtype.type(np.pi)
        kernel = np.cos(angle) if self.side == "real" else np.sin(angle)
        if self.window is not None:
            window = (named_window(self.window, frame_length, self.periodic) if isinstance(self.window, str)
                      else np.asarray(self.window)).astype(dtype)
            if window.shape != (frame_length,):
                raise ValueError(f"STFT window must have shape (frame_length,) = ({frame_length},), got "
                                 f"{window.shape}.")
            window = window.reshape(frame_length, 1, 1)
            scale = {"density": np.sqrt(np.sum(np.square(window))), "spectrum": np.sum(np.abs(window)),
                     None: dtype.type(1)}[self.scaling]
            kernel = kernel * window / scale
        return _to_jax(kernel, dtype)

    def get_config(self):
        return {"side": self.side, "window": self.window, "periodic": self.periodic, "scaling": self.scaling}


WINDOWS = ("hann", "hamming")


def named_window(name, length, periodic=False):
    """The 'hann' or 'hamming' window of `length` samples (float64), symmetric or `periodic`, as SciPy's
    ``get_window(name, length, fftbins=periodic)`` gives it."""
    if length == 1:
        return np.ones(1)
    even = 0.5 if name == "hann" else 0.54
    period = length if periodic else length - 1
    return even - (1 - even) * np.cos(2 * np.pi * np.arange(length) / period)


# Lower-case names, as `keras.initializers` also exports them.
zeros = Zeros
ones = Ones
constant = Constant
identity = IdentityInitializer = Identity
random_normal = RandomNormal
truncated_normal = TruncatedNormal
random_uniform = RandomUniform
variance_scaling = VarianceScaling
glorot_uniform = GlorotUniform
glorot_normal = GlorotNormal
he_normal = HeNormal
he_uniform = HeUniform
lecun_normal = LecunNormal
lecun_uniform = LecunUniform
orthogonal = OrthogonalInitializer = Orthogonal
stft = STFTInitializer = STFT

_CLASSES = (
    Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform, VarianceScaling,
    GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal, STFT,
)
_REGISTRY = {
    **{cls.__name__: cls for cls in _CLASSES},
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "identity": Identity, "IdentityInitializer": Identity,
    "random_normal": RandomNormal, "normal": RandomNormal,
    "truncated_normal": TruncatedNormal,
    "random_uniform": RandomUniform, "uniform": RandomUniform,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_normal": HeNormal, "he_uniform": HeUniform,
    "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "OrthogonalInitializer": Orthogonal,
    "stft": STFT, "STFTInitializer": STFT,
}


def _from_array(array):
    """An initializer returning `array` itself (its shape must match the weight's)."""

    def initialize(shape, dtype="float32", key=None):
        if _as_shape(shape) != tuple(array.shape):
            raise ValueError(f"This array initializer has shape {tuple(array.shape)}, but the weight has shape {tuple(shape)}")
        dtype = _as_dtype(dtype)
        if isinstance(array, jax.Array) and array.dtype == jax.dtypes.canonicalize_dtype(dtype):
            return array
        return _to_jax(array, dtype)

    return initialize


def serialize(initializer):
    """Keras 3's config dict for `initializer` (None stays None; a named function is saved by its name)."""
    return serialize_object("initializer", initializer, Initializer, _MODULE, _REGISTRY)


def deserialize(config, custom_objects=None):
    """The initializer described by a name or a Keras config dict."""
    if not isinstance(config, (str, dict)):
        raise TypeError(f"deserialize expects an initializer name or config dict, got {config!r}")
    return resolve("initializer", _REGISTRY, config, custom_objects)


def get(identifier):
    """Turn a name, config dict, class, array, callable or None into an initializer."""
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, (np.ndarray, jax.Array)):
        return _from_array(identifier)
    return resolve("initializer", _REGISTRY, identifier)
