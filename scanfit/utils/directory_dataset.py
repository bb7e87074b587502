"""What `image_dataset_from_directory` and `text_dataset_from_directory` share: listing a folder's files as Keras
lists them (one sorted subfolder per class, files walked in sorted order), their labels, the seeded shuffle
before the validation split, and a `PyDataset` that reads a batch's files only when the batch is asked for.
"""
import numbers
import os

import numpy as np

from scanfit.utils.dataset_pipeline import Pipeline

LABEL_MODES = ("int", "categorical", "binary", None)
SUBSETS = ("training", "validation", "both", None)


class DirectoryDataset(Pipeline):
    """Batches ``(inputs, labels)`` (or inputs alone) read from a list of files; subclasses define `load`. It has
    tf.data's `map`, `cache`, `prefetch` and `take` (`dataset_pipeline`), as Keras's folder datasets do.

    Attributes:
        class_names: the class names, label ``i`` being ``class_names[i]`` (None without labels).
        file_paths: the files, in the order the first epoch reads them.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, shuffle, seed):
        super().__init__()
        self.file_paths = list(file_paths)
        self.class_names = class_names
        self._labels = None if labels is None else np.asarray(labels, dtype=np.int32)
        self._label_mode = label_mode
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def load(self, path):
        """The input that the file at `path` holds."""
        raise NotImplementedError

    def stack(self, inputs):
        """A batch's inputs as one array."""
        return np.stack(inputs)

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
        inputs = self.stack([self.load(self.file_paths[row]) for row in rows])
        if self._batch_size is None:
            inputs = inputs[0]
        if self._label_mode is None:
            return inputs
        labels = self._encode(self._labels[rows])
        if self._batch_size is None:
            labels = labels[0]
        return inputs, labels

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


def _list_files(directory, follow_links, formats):
    """The files under `directory` whose names end with one of `formats`, as paths relative to it: folders in
    sorted order, then files."""
    found = []
    for root, _, names in sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0]):
        for name in sorted(names):
            if name.lower().endswith(formats):
                found.append(os.path.relpath(os.path.join(root, name), directory))
    return found


def _index(caller, directory, labels, class_names, follow_links, formats):
    """(file paths, integer labels or None, class names or None) of the files under `directory`."""
    if labels == "inferred":
        subdirs = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None:
            if (not isinstance(class_names, (list, tuple)) or not all(isinstance(n, str) for n in class_names)
                    or len(set(class_names)) != len(class_names)):
                raise ValueError(f"{caller}: class_names must be a list of distinct subfolder names, got "
                                 f"{class_names!r}")
            missing = sorted(set(class_names) - set(subdirs))
            if missing:
                raise ValueError(f"{caller}: class_names {missing} are not subfolders of {directory!r} (its "
                                 f"subfolders: {subdirs}). Pass a subset of them, in the order the labels should "
                                 "follow.")
            subdirs = list(class_names)
        paths, found_labels = [], []
        for label, subdir in enumerate(subdirs):
            names = _list_files(os.path.join(directory, subdir), follow_links, formats)
            paths += [os.path.join(directory, subdir, name) for name in names]
            found_labels += [label] * len(names)
        return paths, found_labels, list(subdirs)
    if class_names is not None:
        raise ValueError(f"{caller}: class_names can only be given with labels='inferred' (with labels=None or "
                         "label_mode=None there are no classes; with a labels list the class names are its sorted "
                         "distinct values). Leave class_names out.")
    paths = [os.path.join(directory, name) for name in _list_files(directory, follow_links, formats)]
    if labels is None:
        return paths, None, None
    if len(labels) != len(paths):
        raise ValueError(f"{caller}: labels has {len(labels)} entries but {directory!r} holds {len(paths)} "
                         f"{_kind(formats)} files: give one label per file, in sorted file-path order.")
    return paths, list(labels), [str(label) for label in sorted(set(labels))]


def _kind(formats):
    return "text" if formats == (".txt",) else "image"


def _check_labels(caller, labels, label_mode):
    if labels is None or (isinstance(labels, str) and labels == "inferred"):
        return
    if not isinstance(labels, (list, tuple)):
        raise ValueError(f"{caller}: labels must be 'inferred', None, or a list/tuple of int labels (one per file, "
                         f"in sorted file-path order), got {type(labels).__name__}.")
    if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= 0 for x in labels):
        raise ValueError(f"{caller}: labels must hold non-negative ints (class indices).")
    num_classes = len(set(labels))
    if label_mode == "categorical" and labels and max(labels) >= num_classes:
        raise ValueError(f"{caller}: labels hold {num_classes} distinct values, so with label_mode='categorical' "
                         f"they must lie in 0..{num_classes - 1}; got {max(labels)}. Number the classes from 0.")
    if label_mode == "binary" and not set(labels) <= {0, 1}:
        raise ValueError(f"{caller}: label_mode='binary' needs labels 0 and 1, got {sorted(set(labels))}.")


def check_arguments(caller, label_mode, batch_size, validation_split, subset, shuffle, seed):
    """Clear errors for the arguments both kinds of directory dataset take."""
    if label_mode not in LABEL_MODES:
        raise ValueError(f"{caller}: label_mode must be 'int', 'categorical', 'binary' or None, got {label_mode!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral)
                                   or batch_size < 1):
        raise ValueError(f"{caller}: batch_size must be a positive int or None (no batch axis), got {batch_size!r}")
    if validation_split is not None and (isinstance(validation_split, bool)
                                         or not isinstance(validation_split, numbers.Real)
                                         or not 0 <= validation_split < 1):
        raise ValueError(f"{caller}: validation_split must be a float in (0, 1), got {validation_split!r}")
    if subset not in SUBSETS:
        raise ValueError(f"{caller}: subset must be 'training', 'validation', 'both' or None, got {subset!r}")
    if bool(validation_split) != (subset is not None):
        raise ValueError(f"{caller}: validation_split and subset go together: give both (e.g. validation_split=0.2, "
                         f"subset='training') or neither; got validation_split={validation_split!r}, "
                         f"subset={subset!r}.")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{caller}: with validation_split and shuffle=True, give a seed, so that the training and "
                         "validation subsets (made by separate calls) do not overlap.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or not 0 <= seed < 2**32):
        raise ValueError(f"{caller}: seed must be None or an int in [0, 2**32), got {seed!r}")


def from_directory(caller, make, directory, formats, labels, label_mode, class_names, shuffle, seed,
                   validation_split, subset, follow_links, verbose):
    """The dataset (or with ``subset='both'`` the pair) `caller` returns: ``make(paths, labels, label_mode,
    class_names, shuffle, seed)`` builds one from its files. The other arguments are checked already."""
    _check_labels(caller, labels, label_mode)
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        raise ValueError(f"{caller}: directory={directory!r} is not an existing folder.")
    directory = os.fspath(directory)
    if label_mode is None:
        labels = None
    elif labels is None:
        label_mode = None
    paths, found_labels, class_names = _index(caller, directory, labels, class_names, follow_links, formats)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"{caller}: label_mode='binary' needs exactly 2 classes, found {len(class_names)}: "
                         f"{class_names}. Use label_mode='int' or 'categorical'.")
    if not paths:
        raise ValueError(f"{caller}: no {_kind(formats)} files in directory={directory!r} (allowed extensions: "
                         f"{', '.join(formats)}).")
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

    def subset_of(rows, subset_shuffle):
        return make([paths[i] for i in rows], None if found_labels is None else [found_labels[i] for i in rows],
                    label_mode, class_names, subset_shuffle, seed)

    if not validation_split:
        return subset_of(range(len(paths)), shuffle)
    num_val = int(validation_split * len(paths))
    if num_val == 0:
        raise ValueError(f"{caller}: validation_split={validation_split} of {len(paths)} files leaves no file for "
                         "validation; raise validation_split.")
    train_rows, val_rows = range(len(paths) - num_val), range(len(paths) - num_val, len(paths))
    if verbose and subset in ("training", "both"):
        print(f"Using {len(train_rows)} files for training.")
    if verbose and subset in ("validation", "both"):
        print(f"Using {len(val_rows)} files for validation.")
    if subset == "training":
        return subset_of(train_rows, shuffle)
    if subset == "validation":
        return subset_of(val_rows, shuffle)
    return subset_of(train_rows, shuffle), subset_of(val_rows, False)
