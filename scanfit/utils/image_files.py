"""Single images as Keras's `keras.utils` reads and writes them: `load_img`, `img_to_array`, `array_to_img`,
`save_img` (Chollet's chapter on what a CNN learns shows its feature maps and heatmaps with them).

Images are Pillow images; arrays are (height, width, channels) unless the
data format says channels first.
"""
import os

import numpy as np
from PIL import Image

from scanfit import backend
from scanfit.config import image_data_format

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "hamming": Image.Resampling.HAMMING,
    "box": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
}
_MODES = {"grayscale": ("L", "I;16", "I"), "rgb": ("RGB",), "rgba": ("RGBA",)}


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """The image at `path` (a path or a file object) as a Pillow image in `color_mode` ('grayscale', 'rgb',
    'rgba'), resized to `target_size` (height, width) with `interpolation`; `keep_aspect_ratio` crops the
    largest centred box of the target's aspect ratio first."""
    if color_mode not in _MODES:
        raise ValueError(f"load_img: color_mode must be 'grayscale', 'rgb' or 'rgba', got {color_mode!r}.")
    if hasattr(path, "read"):
        image = Image.open(path)
    elif isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as handle:
            image = Image.open(handle)
            image.load()
    else:
        raise TypeError(f"load_img: path must be a path or a file object, got {type(path).__name__}.")
    if image.mode not in _MODES[color_mode]:
        image = image.convert(_MODES[color_mode][0])
    if target_size is None:
        return image
    size = (int(target_size[1]), int(target_size[0]))  # Pillow's (width, height)
    if image.size == size:
        return image
    if interpolation not in FILTERS:
        raise ValueError(f"load_img: interpolation must be one of {sorted(FILTERS)}, got {interpolation!r}.")
    box = None
    if keep_aspect_ratio:
        width, height = image.size
        crop_width = min(width, height * size[0] // size[1])
        crop_height = min(height, width * size[1] // size[0])
        left, top = (width - crop_width) // 2, (height - crop_height) // 2
        box = (left, top, left + crop_width, top + crop_height)
    return image.resize(size, FILTERS[interpolation], box=box)


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image (or array) as an array of `dtype` (the float type by default), with a channel axis."""
    data_format = _data_format(data_format)
    array = np.asarray(img, dtype=dtype or backend.floatx())
    if array.ndim == 2:
        array = array[..., None]
    elif array.ndim != 3:
        raise ValueError(f"img_to_array: expected an image of 2 or 3 axes, got shape {array.shape}.")
    return np.moveaxis(array, -1, 0) if data_format == "channels_first" else array


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """An array of one image as a Pillow image: `scale` stretches its values to 0..255 first; 1, 3 or 4
    channels give a grayscale ('L', or 'I' above 255), RGB or RGBA image."""
    data_format = _data_format(data_format)
    x = np.asarray(x, dtype=dtype or backend.floatx())
    if x.ndim != 3:
        raise ValueError(f"array_to_img: expected one image of 3 axes, got shape {x.shape}.")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    if channels in (3, 4):
        return Image.fromarray(x.astype("uint8"), "RGB" if channels == 3 else "RGBA")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"array_to_img: an image needs 1, 3 or 4 channels, got {channels}.")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array `x` as an image file (`file_format` from the name by default; Pillow's `kwargs`).
    An RGBA image saved as JPEG loses its alpha channel, as JPEG has none."""
    image = array_to_img(x, data_format=data_format, scale=scale)
    name = str(path).lower()
    if image.mode == "RGBA" and (file_format or "").lower() in ("jpg", "jpeg") or (
            file_format is None and name.endswith((".jpg", ".jpeg"))):
        image = image.convert("RGB")
    image.save(path, format=file_format, **kwargs)


def _data_format(data_format):
    data_format = image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return data_format
