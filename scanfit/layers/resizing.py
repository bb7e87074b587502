"""Image size layers: Resizing, CenterCrop and RandomCrop (Keras 3's arguments and results).

Both work on (batch, height, width, channels) images (channels first with
``data_format='channels_first'``) or on one image without the batch axis.
"""
import jax
import jax.numpy as jnp

from scanfit import threefry
from scanfit.layers.base import Layer
from scanfit.layers.convolution import data_format_of, from_channels_last, to_channels_last

INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _size(value, name, layer):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{layer} {name} must be a positive int, got {name}={value!r}.")
    return value


def resize(images, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
           fill_value=0.0, antialias=False):
    """(batch, h, w, c) `images` resized to `height` x `width`; first cropped (centred) or padded with
    `fill_value` to the target's aspect ratio when asked, with Keras 3's rounding."""
    batch, in_height, in_width, channels = images.shape
    if crop_to_aspect_ratio:
        crop_height = max(min(in_height, int(in_width * height / width)), 1)
        crop_width = max(min(in_width, int(in_height * width / height)), 1)
        top, left = int((in_height - crop_height) / 2), int((in_width - crop_width) / 2)
        images = images[:, top:top + crop_height, left:left + crop_width]
    elif pad_to_aspect_ratio:
        pad_height = max(in_height, int(in_width * height / width))
        pad_width = max(in_width, int(in_height * width / height))
        top, left = int((pad_height - in_height) / 2), int((pad_width - in_width) / 2)
        images = jnp.pad(images, ((0, 0), (top, top), (left, left), (0, 0)), constant_values=fill_value)
    return jax.image.resize(images, (batch, height, width, channels), method=interpolation,
                            antialias=antialias).astype(images.dtype)


def check_resize_options(interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio, what):
    """Keras's checks of `resize`'s options (`what` names the caller in the error)."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"{what} interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    if fill_mode != "constant":
        raise ValueError(f"{what} fill_mode must be 'constant' (as in Keras 3), got {fill_mode!r}.")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{what} takes crop_to_aspect_ratio or pad_to_aspect_ratio, not both.")


class _ImageSizeLayer(Layer):
    """A layer that makes images `height` x `width`, on (batch, h, w, c) images or one image."""

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.height, self.width = _size(height, "height", name), _size(width, "width", name)
        self.data_format = data_format_of(data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        first = len(shape) - 3 + (1 if self.data_format == "channels_first" else 0)
        shape[first:first + 2] = [self.height, self.width]
        return tuple(shape)

    def pure_call(self, weights, x, *, training=False, rng=None):
        single = x.ndim == 3
        images = to_channels_last(x[None] if single else x, self.data_format)
        images = from_channels_last(self.resized(images), self.data_format)
        return (images[0] if single else images), {}

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


class Resizing(_ImageSizeLayer):
    """Resizes images to `height` x `width` with `interpolation`; `crop_to_aspect_ratio` or
    `pad_to_aspect_ratio` first make them the target's shape without distortion."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(height, width, data_format, **kwargs)
        check_resize_options(interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio, "Resizing")
        self.interpolation, self.antialias = interpolation, bool(antialias)
        self.crop_to_aspect_ratio, self.pad_to_aspect_ratio = bool(crop_to_aspect_ratio), bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)

    def resized(self, images):
        return resize(images, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio,
                      self.pad_to_aspect_ratio, self.fill_value, self.antialias)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_ImageSizeLayer):
    """Crops the centred `height` x `width` block of each image; an image smaller than that is cropped to the
    target's aspect ratio and resized (bilinear), as Keras 3 does."""

    def resized(self, images):
        in_height, in_width = images.shape[1:3]
        if in_height >= self.height and in_width >= self.width:
            top, left = (in_height - self.height) // 2, (in_width - self.width) // 2
            return images[:, top:top + self.height, left:left + self.width]
        return resize(images, self.height, self.width, crop_to_aspect_ratio=True)


class RandomCrop(_ImageSizeLayer):
    """While training, crops a `height` x `width` block at a random place, one place per batch (as Keras 3
    draws it). At inference, and while training on images not larger than the target both ways, it makes the
    largest centred block of the target's aspect ratio and resizes it to `height` x `width` (bilinear), as
    Keras documents (Keras 3.15 on JAX returns the images unchanged at inference, shaped unlike its own
    ``compute_output_shape``; scanfit keeps to the documented result)."""

    default_training = True  # (Keras's call takes training=True)

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        super().__init__(height, width, data_format, name=name, **kwargs)
        self.seed = seed

    def pure_call(self, weights, x, *, training=False, rng=None):
        single = x.ndim == 3
        images = to_channels_last(x[None] if single else x, self.data_format)
        batch, in_height, in_width, channels = images.shape
        if training and rng is not None and in_height > self.height and in_width > self.width:
            top_key, left_key = threefry.split(rng)
            top = jnp.floor(threefry.uniform(top_key, (), 0.0, in_height - self.height + 1)).astype(jnp.int32)
            left = jnp.floor(threefry.uniform(left_key, (), 0.0, in_width - self.width + 1)).astype(jnp.int32)
            images = jax.lax.dynamic_slice(images, (0, top, left, 0), (batch, self.height, self.width, channels))
        else:
            images = resize(images, self.height, self.width, crop_to_aspect_ratio=True)
        images = from_channels_last(images, self.data_format)
        return (images[0] if single else images), {}

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
