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
import os

import numpy as np
from PIL import Image

from scanfit.config import image_data_format
from scanfit.utils.py_dataset import PyDataset

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_LABEL_MODES = ("int", "categorical", "binary", None)
_FILTERS = {
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos3": Image.Resampling.LANCZOS,
}
_NOT_IN_PILLOW = ("lanczos5", "gaussian", "mitchellcubic")
_SUBSETS = ("training", "validation", "both", None)


class ImageDirectoryDataset(PyDataset):
    """Batches ``(images, labels)`` (or ``images`` alone) read from a list of image files.

    Attributes:
        class_names: the class names, label ``i`` being ``class_names[i]`` (None without labels).
        file_paths: the files, in the order the first epoch reads them.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, image_size, num_channels,
                 interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, shuffle, seed):
        super().__init__()
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int32)
        self._label_mode = label_mode
        self._batch_size = batch_size
        self._image_size = tuple(image_size)
        self._num_channels = num_channels
        self._filter = _FILTERS[interpolation]
        self._crop = crop_to_aspect_ratio
        self._pad = pad_to_aspect_ratio
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def __len__(self):
        if self._batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self._batch_size)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"batch index must be an int, got {type(index).__name__} ({index!r})")
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"batch index {index} out of range for {count} batches")
        index %= count
        if self._batch_size is None:
            rows = self._order[index:index + 1]
        else:
            rows = self._order[index * self._batch_size:(index + 1) * self._batch_size]
        images = np.stack([self._load(self.file_paths[row]) for row in rows])
        if self._batch_size is None:
            images = images[0]
        if self._label_mode is None:
            return images
        labels = self._encode(self._labels[rows])
        if self._batch_size is None:
            labels = labels[0]
        return images, labels

    def on_epoch_end(self):
        """Draw the next epoch's order (when ``shuffle`` is on)."""
        if self._shuffle:
            self._order = self._rng.permutation(len(self.file_paths))

    def _encode(self, labels):
        if self._label_mode == "int":
            return labels
        if self._label_mode == "binary":
            return labels.astype(np.float32)[:, None]
        return np.eye(len(self.class_names), dtype=np.float32)[labels]

    def _load(self, path):
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


def _list_files(directory, follow_links):
    """The image files under `directory`, as paths relative to it: folders in sorted order, then files."""
    found = []
    for root, _, names in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(names):
            if name.lower().endswith(ALLOWED_FORMATS):
                found.append(os.path.relpath(os.path.join(root, name), directory))
    return found


def _index(directory, labels, class_names, follow_links):
    """(file paths, integer labels or None, class names or None) of the files under `directory`."""
    if labels == "inferred":
        subdirs = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if (not isinstance(class_names, (list, tuple)) or not all(isinstance(n, str) for n in class_names)
                    or len(set(class_names)) != len(class_names)):
                raise ValueError("image_dataset_from_directory: class_names must be a list of distinct subfolder "
                                 f"names, got {class_names!r}")
            missing = sorted(set(class_names) - set(subdirs))
            if missing:
                raise ValueError(f"image_dataset_from_directory: class_names {missing} are not subfolders of "
                                 f"{directory!r} (its subfolders: {subdirs}). Pass a subset of them, in the order "
                                 "the labels should follow.")
            subdirs = list(class_names)
        paths, found_labels = [], []
        for label, subdir in enumerate(subdirs):
            names = _list_files(os.path.join(directory, subdir), follow_links)
            paths += [os.path.join(directory, subdir, name) for name in names]
            found_labels += [label] * len(names)
        return paths, found_labels, list(subdirs)
    if class_names is not None:
        raise ValueError("image_dataset_from_directory: class_names can only be given with labels='inferred' (with "
                         "labels=None or label_mode=None there are no classes; with a labels list the class names "
                         "are its sorted distinct values). Leave class_names out.")
    paths = [os.path.join(directory, name) for name in _list_files(directory, follow_links)]
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(f"image_dataset_from_directory: labels has {len(labels)} entries but {directory!r} holds "
                         f"{len(paths)} image files: give one label per file, in sorted file-path order.")
    return paths, list(labels), [str(label) for label in sorted(set(labels))]


def _check_labels(labels, label_mode):
    if labels is None or (isinstance(labels, str) and labels == "inferred"):
        return
    if not isinstance(labels, (list, tuple)):
        raise ValueError("image_dataset_from_directory: labels must be 'inferred', None, or a list/tuple of int "
                         f"labels (one per file, in sorted file-path order), got {type(labels).__name__}.")
    if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= 0 for x in labels):
        raise ValueError("image_dataset_from_directory: labels must hold non-negative ints (class indices).")
    num_classes = len(set(labels))
    if label_mode == "categorical" and labels and max(labels) >= num_classes:
        raise ValueError(f"image_dataset_from_directory: labels hold {num_classes} distinct values, so with "
                         f"label_mode='categorical' they must lie in 0..{num_classes - 1}; got {max(labels)}. "
                         "Number the classes from 0.")
    if label_mode == "binary" and not set(labels) <= {0, 1}:
        raise ValueError("image_dataset_from_directory: label_mode='binary' needs labels 0 and 1, got "
                         f"{sorted(set(labels))}.")


def _check_arguments(label_mode, color_mode, batch_size, image_size, interpolation, validation_split, subset,
                     shuffle, seed, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format):
    if label_mode not in _LABEL_MODES:
        raise ValueError("image_dataset_from_directory: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if color_mode not in _CHANNELS:
        raise ValueError(f"image_dataset_from_directory: color_mode must be 'grayscale', 'rgb' or 'rgba', "
                         f"got {color_mode!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"image_dataset_from_directory: batch_size must be a positive int or None (no batch "
                         f"axis), got {batch_size!r}")
    if (not isinstance(image_size, (list, tuple)) or len(image_size) != 2
            or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in image_size)):
        raise ValueError("image_dataset_from_directory: image_size must be (height, width), two positive ints, "
                         f"got {image_size!r}")
    if not isinstance(interpolation, str) or interpolation.lower() not in _FILTERS:
        hint = (" Pillow has no such filter." if isinstance(interpolation, str)
                and interpolation.lower() in _NOT_IN_PILLOW else "")
        raise ValueError(f"image_dataset_from_directory: interpolation must be one of {sorted(_FILTERS)}, got "
                         f"{interpolation!r}.{hint}")
    if validation_split is not None and (isinstance(validation_split, bool)
                                         or not isinstance(validation_split, numbers.Real)
                                         or not 0 <= validation_split < 1):
        raise ValueError("image_dataset_from_directory: validation_split must be a float in (0, 1), got "
                         f"{validation_split!r}")
    if subset not in _SUBSETS:
        raise ValueError("image_dataset_from_directory: subset must be 'training', 'validation', 'both' or None, "
                         f"got {subset!r}")
    if bool(validation_split) != (subset is not None):
        raise ValueError("image_dataset_from_directory: validation_split and subset go together: give both "
                         f"(e.g. validation_split=0.2, subset='training') or neither; got validation_split="
                         f"{validation_split!r}, subset={subset!r}.")
    if validation_split and shuffle and seed is None:
        raise ValueError("image_dataset_from_directory: with validation_split and shuffle=True, give a seed, so "
                         "that the training and validation subsets (made by separate calls) do not overlap.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**32):
        raise ValueError(f"image_dataset_from_directory: seed must be None or an int in [0, 2**32), got {seed!r}")
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
    _check_arguments(label_mode, color_mode, batch_size, image_size, interpolation, validation_split, subset,
                     shuffle, seed, crop_to_aspect_ratio, pad_to_aspect_ratio, data_format)
    _check_labels(labels, label_mode)
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        raise ValueError(f"image_dataset_from_directory: directory={directory!r} is not an existing folder.")
    directory = os.fspath(directory)
    if label_mode is None:
        labels = None
    elif labels is None:
        label_mode = None
    paths, found_labels, class_names = _index(directory, labels, class_names, follow_links)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"image_dataset_from_directory: label_mode='binary' needs exactly 2 classes, found "
                         f"{len(class_names)}: {class_names}. Use label_mode='int' or 'categorical'.")
    if not paths:
        raise ValueError(f"image_dataset_from_directory: no image files in directory={directory!r} (allowed "
                         f"extensions: {', '.join(ALLOWED_FORMATS)}).")
    if verbose:
        classes = "" if class_names is None else f" belonging to {len(class_names)} classes"
        print(f"Found {len(paths)} files{classes}.")
    if seed is None:
        seed = int(np.random.randint(1_000_000))
    if shuffle:
        order = np.random.RandomState(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        if found_labels is not None:
            found_labels = [found_labels[i] for i in order]

    def make(rows, subset_shuffle):
        return ImageDirectoryDataset(
            [paths[i] for i in rows], None if found_labels is None else [found_labels[i] for i in rows],
            label_mode, class_names, batch_size, image_size, _CHANNELS[color_mode], interpolation.lower(),
            crop_to_aspect_ratio, pad_to_aspect_ratio, subset_shuffle, seed)

    if not validation_split:
        return make(range(len(paths)), shuffle)
    num_val = int(validation_split * len(paths))
    if num_val == 0:
        raise ValueError(f"image_dataset_from_directory: validation_split={validation_split} of {len(paths)} files "
                         "leaves no file for validation; raise validation_split.")
    train_rows, val_rows = range(len(paths) - num_val), range(len(paths) - num_val, len(paths))
    if verbose and subset in ("training", "both"):
        print(f"Using {len(train_rows)} files for training.")
    if verbose and subset in ("validation", "both"):
        print(f"Using {len(val_rows)} files for validation.")
    if subset == "training":
        return make(train_rows, shuffle)
    if subset == "validation":
        return make(val_rows, shuffle)
    return make(train_rows, shuffle), make(val_rows, False)
