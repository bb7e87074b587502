"""`keras.utils.image_dataset_from_directory`: a folder of image files as a `PyDataset` of batches.

Files are listed as Keras lists them (one sorted subfolder per class, files
walked in sorted order, extensions .bmp .gif .jpeg .jpg .png), shuffled with
the seed before the validation split, and read with Pillow only when a batch
is asked for. Images are resized with Pillow's filters in float32 (no rounding
to 8 bits); values stay in 0..255 as Keras gives them. Pillow's filters widen
when they shrink an image (antialiasing), where Keras's `tf.image.resize`
does not, so shrunk images differ a little from Keras's; enlarged ones agree.
``crop_to_aspect_ratio`` and ``pad_to_aspect_ratio`` cut or pad (with zeros,
centred) before resizing, as `keras.ops.image.resize` does.
"""
import numbers

import numpy as np
from PIL import Image

from scanfit.config import image_data_format
from scanfit.utils import directory_dataset
from scanfit.utils.directory_dataset import DirectoryDataset

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos3": Image.Resampling.LANCZOS,
}
_NOT_IN_PILLOW = ("lanczos5", "gaussian", "mitchellcubic")


class ImageDirectoryDataset(DirectoryDataset):
    """Batches ``(images, labels)`` (or ``images`` alone) read from a list of image files.

    Attributes:
        class_names: the class names, label ``i`` being ``class_names[i]`` (None without labels).
        file_paths: the files, in the order the first epoch reads them.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, image_size, num_channels,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, shuffle, seed):
        super().__init__(file_paths, labels, label_mode, class_names, batch_size, shuffle, seed)
        self._image_size = tuple(image_size)
        self._num_channels = num_channels
        self._filter = _FILTERS[interpolation]
        self._crop = crop_to_aspect_ratio
        self._pad = pad_to_aspect_ratio

    def load(self, path):
        with Image.open(path) as image:
            pixels = _convert(image, self._num_channels, path)
        height, width = pixels.shape[:2]
        target_height, target_width = self._image_size
        if self._crop:
            crop_height = max(min(height, int(width * target_height / target_width)), 1)
            crop_width = max(min(width, int(height * target_width / target_height)), 1)
            top, left = (height - crop_height) // 2, (width - crop_width) // 2
            pixels = pixels[top:top + crop_height, left:left + crop_width]
        elif self._pad:
            top = max(int(width * target_height / target_width) - height, 0) // 2
            left = max(int(height * target_width / target_height) - width, 0) // 2
            pixels = np.pad(pixels, ((top, top), (left, left), (0, 0)))
        if pixels.shape[:2] == self._image_size:
            return pixels
        size = (target_width, target_height)
        return np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(pixels[..., c])).resize(size, self._filter))
                         for c in range(pixels.shape[2])], axis=-1)


def _convert(image, num_channels, path):
    """The image's pixels as float32 (height, width, num_channels), converted as Keras converts them."""
    if num_channels == 1:
        if image.mode not in ("L", "I;16", "I"):
            image = image.convert("L")
    else:
        mode = "RGB" if num_channels == 3 else "RGBA"
        if image.mode != mode:
            image = image.convert(mode)
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] != num_channels:
        raise ValueError(f"image_dataset_from_directory: {path} decoded to {pixels.shape[2]} channels, "
                         f"expected {num_channels}")
    return pixels


def _check_arguments(color_mode, image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                     data_format):
    if color_mode not in _CHANNELS:
        raise ValueError(f"image_dataset_from_directory: color_mode must be 'grayscale', 'rgb' or 'rgba', "
                         f"got {color_mode!r}")
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in image_size)):
        raise ValueError("image_dataset_from_directory: image_size must be (height, width), two positive ints, "
                         f"got {image_size!r}")
    if not isinstance(interpolation, str) or interpolation.lower() not in _FILTERS:
        hint = (" Pillow has no such filter." if isinstance(interpolation, str)
                and interpolation.lower() in _NOT_IN_PILLOW else "")
        raise ValueError(f"image_dataset_from_directory: interpolation must be one of {sorted(_FILTERS)}, got "
                         f"{interpolation!r}.{hint}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("image_dataset_from_directory: crop_to_aspect_ratio and pad_to_aspect_ratio cannot both "
                         "be True; pick one.")
    data_format = image_data_format() if data_format is None else data_format
    if data_format != "channels_last":
        raise ValueError("image_dataset_from_directory: only data_format='channels_last' (batch, height, width, "
                         f"channels) is supported, got {data_format!r}. Transpose the batches if you need "
                         "channels first.")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """A `PyDataset` of image batches from a folder of images (one subfolder per class), as Keras makes it.

    Args:
        directory: the folder. With ``labels='inferred'`` each subfolder holds one class's images.
        labels: 'inferred' (from the subfolders), None (images only), or a list/tuple of int labels, one per
            file in sorted file-path order.
        label_mode: 'int' (int32 (batch,)), 'categorical' (float32 one-hot), 'binary' (float32 (batch, 1),
            two classes only) or None (batches are images alone).
        class_names: with ``labels='inferred'``, the subfolders to use, in label order (default: all, sorted).
        color_mode: 'grayscale', 'rgb' or 'rgba' (1, 3 or 4 channels).
        batch_size: images per batch; None for single images without a batch axis.
        image_size: (height, width) every image is resized to.
        shuffle: shuffle the files (with `seed`) before the split and again after each epoch; False keeps
            sorted order.
        seed: int seed of the shuffling (required with `validation_split` when shuffling).
        validation_split: fraction of the files kept for validation (the last ones after shuffling).
        subset: 'training', 'validation', or 'both' (returns the two datasets); only with `validation_split`.
        interpolation: 'bilinear', 'nearest', 'bicubic', 'area' or 'lanczos3' (Pillow's filters).
        follow_links: walk into symlinked folders.
        crop_to_aspect_ratio: cut the largest centred window with the target aspect ratio before resizing.
        pad_to_aspect_ratio: pad with zeros, centred, to the target aspect ratio before resizing.
        data_format: None or 'channels_last' (the only layout supported).
        verbose: print how many files and classes were found and how many files each subset uses.

    Returns:
        An `ImageDirectoryDataset` (``class_names`` and ``file_paths`` attributes), or a (training,
        validation) pair with ``subset='both'``.
    """
    caller = "image_dataset_from_directory"
    directory_dataset.check_arguments(caller, label_mode, batch_size, validation_split, subset, shuffle, seed)
    _check_arguments(color_mode, image_size, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format)

    def make(paths, labels, label_mode, class_names, subset_shuffle, seed):
        return ImageDirectoryDataset(paths, labels, label_mode, class_names, batch_size, image_size,
                                     _CHANNELS[color_mode], interpolation.lower(), crop_to_aspect_ratio,
                                     pad_to_aspect_ratio, subset_shuffle, seed)

    return directory_dataset.from_directory(caller, make, directory, ALLOWED_FORMATS, labels, label_mode,
                                            class_names, shuffle, seed, validation_split, subset, follow_links,
                                            verbose)
