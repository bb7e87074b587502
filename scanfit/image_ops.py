"""`keras.ops.image`: image operations with Keras 3's names, arguments and results, on 'channels_last' images
(one image (height, width, channels) or a batch of them): `resize` and `rgb_to_grayscale`. Other names are an
AttributeError, never a guess."""
import jax.numpy as jnp

from scanfit.layers.resizing import check_resize_options
from scanfit.layers.resizing import resize as _resize_batch


def _checked(images, data_format, name):
    """`images` as an array of rank 3 or 4 in the 'channels_last' layout; a clear error otherwise."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.image.{name}: scanfit's images are 'channels_last', got data_format={data_format!r}.")
    images = jnp.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"ops.image.{name} takes one image (height, width, channels) or a batch of them; got shape "
                         f"{images.shape}.")
    return images


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """`images` resized to `size` (height, width), first cropped (centred) or padded with `fill_value` to its aspect
    ratio when asked, as Keras resizes them."""
    images = _checked(images, data_format, "resize")
    check_resize_options(interpolation, fill_mode, crop_to_aspect_ratio, pad_to_aspect_ratio, "ops.image.resize:")
    if len(size) != 2:
        raise ValueError(f"ops.image.resize: size must be (height, width), got {size!r}.")
    single = images.ndim == 3
    resized = _resize_batch(images[None] if single else images, int(size[0]), int(size[1]), interpolation,
                            crop_to_aspect_ratio, pad_to_aspect_ratio, fill_value, antialias)
    return resized[0] if single else resized


def rgb_to_grayscale(images, data_format=None):
    """RGB images as one-channel grey ones (TensorFlow's weights 0.2989, 0.5870, 0.1140); grey ones as they are."""
    images = _checked(images, data_format, "rgb_to_grayscale")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"ops.image.rgb_to_grayscale takes 3 (RGB) or 1 channels, got shape {images.shape}.")
    if images.shape[-1] == 1:
        return images
    floats = images.astype(jnp.result_type(images.dtype, float))
    grey = jnp.tensordot(floats, jnp.asarray([0.2989, 0.5870, 0.1140], floats.dtype), axes=(-1, -1))
    return grey[..., None].astype(images.dtype)
