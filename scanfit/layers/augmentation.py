"""Image augmentation layers: RandomFlip, RandomRotation, RandomZoom, RandomTranslation, RandomContrast.

Each draws its changes from the key of its layer call while training (one
draw per image) and is the identity at inference, as in Keras 3. Images are
(batch, height, width, channels) (or channels first with
``data_format='channels_first'``), or one image without the batch axis. The
geometric layers move pixels with one affine map per image, sampled at the
mapped coordinates (`affine_transform`): Keras 3's matrices, fill modes and
interpolations.
"""
import math

import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.base import Layer
from scanfit.layers.convolution import data_format_of, from_channels_last, to_channels_last

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = {"nearest": 0, "bilinear": 1}


def affine_transform(images, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0.0):
    """`images` (batch, height, width, channels) mapped by one affine transform per image, given as
    ``(a0, a1, a2, b0, b1, b2, ...)``: the output pixel at column x, row y takes the input at column
    ``a0 x + a1 y + a2``, row ``b0 x + b1 y + b2``; points outside the image follow `fill_mode`."""
    height, width = images.shape[1:3]
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32),
                              indexing="ij")

    def one(image, t):
        source = [t[3] * cols + t[4] * rows + t[5], t[0] * cols + t[1] * rows + t[2]]

        def plane(values):
            return jax.scipy.ndimage.map_coordinates(values, source, order=INTERPOLATIONS[interpolation],
                                                     mode=fill_mode, cval=fill_value)

        return jax.vmap(plane, in_axes=-1, out_axes=-1)(image)

    return jax.vmap(one)(images, transforms.astype(jnp.float32)).astype(images.dtype)


def rotation_transforms(angles, height, width):
    """Transforms that rotate images by `angles` (degrees, one per image) about their centres."""
    theta = angles * (math.pi / 180.0)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    cx, cy = (width - 1) * 0.5, (height - 1) * 0.5
    zeros = jnp.zeros_like(theta)
    return jnp.stack([cos, -sin, cx - cx * cos + cy * sin, sin, cos, cy - cx * sin - cy * cos, zeros, zeros], axis=1)


def zoom_transforms(width_zoom, height_zoom, height, width):
    """Transforms that scale the sampled area by `width_zoom` and `height_zoom` (one each per image; above 1
    shows more of the image, smaller) about the centre."""
    zeros = jnp.zeros_like(width_zoom)
    return jnp.stack([width_zoom, zeros, (width - 1) / 2.0 * (1.0 - width_zoom), zeros, height_zoom,
                      (height - 1) / 2.0 * (1.0 - height_zoom), zeros, zeros], axis=1)


def translation_transforms(dx, dy):
    """Transforms that shift images by `dx` columns and `dy` rows (one each per image)."""
    zeros, ones = jnp.zeros_like(dx), jnp.ones_like(dx)
    return jnp.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)


def factor_range(factor, name, lowest=-1.0):
    """``(lower, upper)`` from a number (``(-|f|, |f|)``, or ``(0, f)`` when `lowest` is 0, as Keras 3 reads
    RandomContrast's) or from a pair, sorted; each within [lowest, 1]."""
    if isinstance(factor, (list, tuple)) and len(factor) == 2 and all(isinstance(f, (int, float)) for f in factor):
        lower, upper = sorted(float(f) for f in factor)
    elif isinstance(factor, (int, float)) and not isinstance(factor, bool):
        lower, upper = max(-abs(float(factor)), lowest), abs(float(factor))
    else:
        raise ValueError(f"{name} must be a number or a pair of numbers, got {name}={factor!r}.")
    if lower < lowest or upper > 1.0:
        raise ValueError(f"{name} must lie in [{lowest:g}, 1], got {name}={factor!r}.")
    return lower, upper


class _RandomImageLayer(Layer):
    """An augmentation layer: `augment` while training with a key, the identity otherwise. Called on arrays
    with no `training` (and no model's mode around it), it augments, as Keras's do."""

    default_training = True

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.data_format = data_format_of(data_format)

    def pure_call(self, weights, x, *, training=False, rng=None):
        if not training or rng is None:
            return x, {}
        single = x.ndim == 3
        images = to_channels_last(x[None] if single else x, self.data_format)
        images = self.augment(images, rng)
        images = from_channels_last(images, self.data_format)
        return (images[0] if single else images), {}

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "seed": self.seed}


class _GeometricLayer(_RandomImageLayer):
    """An augmentation layer that moves pixels by an affine transform per image."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if fill_mode not in FILL_MODES:
            raise ValueError(f"{type(self).__name__} fill_mode must be one of {FILL_MODES}, got {fill_mode!r}.")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f"{type(self).__name__} interpolation must be one of {sorted(INTERPOLATIONS)}, "
                             f"got {interpolation!r}.")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def move(self, images, transforms):
        return affine_transform(images, transforms, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "interpolation": self.interpolation}


_FLIP_MODES = {"horizontal": (-2,), "vertical": (-3,), "horizontal_and_vertical": (-3, -2)}


class RandomFlip(_RandomImageLayer):
    """Flips each image left-right and/or top-bottom with probability 1/2 each (`mode`: 'horizontal',
    'vertical' or 'horizontal_and_vertical')."""

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in _FLIP_MODES:
            raise ValueError(f"RandomFlip mode must be one of {sorted(_FLIP_MODES)}, got mode={mode!r}.")
        self.mode = mode

    def augment(self, images, rng):
        for axis, key in zip(_FLIP_MODES[self.mode], threefry.split(rng, 2)):
            flip = threefry.bernoulli(key, 0.5, images.shape[:1] + (1, 1, 1))
            images = jnp.where(flip, jnp.flip(images, axis=axis), images)
        return images

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_GeometricLayer):
    """Rotates each image by an angle drawn from ``factor * 360`` degrees (a number f: [-f, f]; a pair:
    [lower, upper]) about its centre."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = factor_range(factor, "RandomRotation factor")

    def augment(self, images, rng):
        angles = threefry.uniform(rng, images.shape[:1], minval=self.factor[0] * 360.0,
                                  maxval=self.factor[1] * 360.0)
        return self.move(images, rotation_transforms(angles, *images.shape[1:3]))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_GeometricLayer):
    """Zooms each image by ``1 + u`` with u drawn from `height_factor` (a number f: [-f, f]; a pair) and,
    when given, `width_factor` (else the same zoom both ways); a positive u zooms out."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = factor_range(height_factor, "RandomZoom height_factor")
        self.width_range = None if width_factor is None else factor_range(width_factor, "RandomZoom width_factor")

    def augment(self, images, rng):
        height_key, width_key = threefry.split(rng)
        batch = images.shape[:1]
        height_zoom = 1.0 + threefry.uniform(height_key, batch, minval=self.height_range[0],
                                             maxval=self.height_range[1])
        width_zoom = height_zoom if self.width_range is None else 1.0 + threefry.uniform(
            width_key, batch, minval=self.width_range[0], maxval=self.width_range[1])
        return self.move(images, zoom_transforms(width_zoom, height_zoom, *images.shape[1:3]))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomTranslation(_GeometricLayer):
    """Shifts each image by fractions of its height and width drawn from `height_factor` and `width_factor`
    (each a number f: [-f, f], or a pair)."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor
        self.height_range = factor_range(height_factor, "RandomTranslation height_factor")
        self.width_range = factor_range(width_factor, "RandomTranslation width_factor")

    def augment(self, images, rng):
        height_key, width_key = threefry.split(rng)
        height, width = images.shape[1:3]
        dy = height * threefry.uniform(height_key, images.shape[:1], minval=self.height_range[0],
                                       maxval=self.height_range[1])
        dx = width * threefry.uniform(width_key, images.shape[:1], minval=self.width_range[0],
                                      maxval=self.width_range[1])
        return self.move(images, translation_transforms(dx, dy))

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


def adjust_brightness(images, deltas, value_range):
    """Each image plus its brightness delta, clipped to `value_range`."""
    return jnp.clip(images + deltas.reshape(-1, 1, 1, 1), value_range[0], value_range[1])


class RandomBrightness(_RandomImageLayer):
    """Adds to each image a delta drawn from [lower, upper] times the width of `value_range`, where `factor` (a
    number f gives (-f, f), or a pair in [-1, 1]) sets (lower, upper); then clips to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "RandomBrightness factor")
        if not isinstance(value_range, (list, tuple)) or len(value_range) != 2:
            raise ValueError(f"RandomBrightness value_range must be a pair (low, high), got {value_range!r}.")
        self.value_range = sorted(value_range)

    def augment(self, images, rng):
        width = self.value_range[1] - self.value_range[0]
        deltas = threefry.uniform(rng, images.shape[:1], minval=self.factor[0], maxval=self.factor[1]) * width
        return adjust_brightness(images, deltas.astype(images.dtype), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


def adjust_contrast(images, factors, value_range):
    """Each image's distance from its own per-channel mean scaled by its factor, clipped to `value_range`."""
    mean = jnp.mean(images, axis=(1, 2), keepdims=True)
    return jnp.clip((images - mean) * factors.reshape(-1, 1, 1, 1) + mean, value_range[0], value_range[1])


class RandomContrast(_RandomImageLayer):
    """Scales each image's contrast by a factor drawn from [1 - lower, 1 + upper], where `factor` (a number
    f gives (0, f), as Keras 3 reads it, or a pair) sets (lower, upper); then clips to `value_range`."""

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "RandomContrast factor", lowest=0.0)
        self.value_range = tuple(value_range)

    def augment(self, images, rng):
        factors = threefry.uniform(rng, images.shape[:1], minval=1.0 - self.factor[0], maxval=1.0 + self.factor[1])
        return adjust_contrast(images, factors.astype(images.dtype), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}
