"""`keras.utils.text_dataset_from_directory`: a folder of ``.txt`` files as a `PyDataset` of batches (Chollet
chapter 11 reads the IMDB reviews' ``aclImdb`` folders with it).

Files are listed, labelled, shuffled and split as `image_dataset_from_directory` does them, as Keras does. A
batch's texts are the files' bytes, a NumPy array of `bytes` as Keras's string tensors give them, cut to
`max_length` bytes when it is given; `TextVectorization` takes them as they are. The dataset has tf.data's `map`,
`cache`, `prefetch` and `take` (`utils/dataset_pipeline.py`), so Chollet's pipelines run as written.
"""
import numpy as np

from scanfit import checks
from scanfit.utils import directory_dataset
from scanfit.utils.directory_dataset import DirectoryDataset


class TextDirectoryDataset(DirectoryDataset):
    """Batches ``(texts, labels)`` (or ``texts`` alone) read from a list of text files.

    Attributes:
        class_names: the class names, label ``i`` being ``class_names[i]`` (None without labels).
        file_paths: the files, in the order the first epoch reads them.
    """

    def __init__(self, file_paths, labels, label_mode, class_names, batch_size, max_length, shuffle, seed):
        super().__init__(file_paths, labels, label_mode, class_names, batch_size, shuffle, seed)
        self._max_length = max_length

    def load(self, path):
        with open(path, "rb") as file:
            return file.read() if self._max_length is None else file.read(self._max_length)

    def stack(self, inputs):
        texts = np.empty(len(inputs), dtype=object)
        texts[:] = inputs
        return texts


def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """A `PyDataset` of text batches from a folder of ``.txt`` files (one subfolder per class), as Keras makes it.

    Args:
        directory: the folder. With ``labels='inferred'`` each subfolder holds one class's files.
        labels: 'inferred' (from the subfolders), None (texts only), or a list/tuple of int labels, one per
            file in sorted file-path order.
        label_mode: 'int' (int32 (batch,)), 'categorical' (float32 one-hot), 'binary' (float32 (batch, 1),
            two classes only) or None (batches are texts alone).
        class_names: with ``labels='inferred'``, the subfolders to use, in label order (default: all, sorted).
        batch_size: texts per batch; None for single texts without a batch axis.
        max_length: the most bytes kept of each text (None: all).
        shuffle: shuffle the files (with `seed`) before the split and again after each epoch; False keeps
            sorted order.
        seed: int seed of the shuffling (required with `validation_split` when shuffling).
        validation_split: fraction of the files kept for validation (the last ones after shuffling).
        subset: 'training', 'validation', or 'both' (returns the two datasets); only with `validation_split`.
        follow_links: walk into symlinked folders.
        verbose: print how many files and classes were found and how many files each subset uses.

    Returns:
        A `TextDirectoryDataset` (``class_names`` and ``file_paths`` attributes), or a (training, validation)
        pair with ``subset='both'``.
    """
    caller = "text_dataset_from_directory"
    directory_dataset.check_arguments(caller, label_mode, batch_size, validation_split, subset, shuffle, seed)
    checks.int_at_least("max_length", max_length, 1)

    def make(paths, labels, label_mode, class_names, subset_shuffle, seed):
        return TextDirectoryDataset(paths, labels, label_mode, class_names, batch_size, max_length, subset_shuffle,
                                    seed)

    return directory_dataset.from_directory(caller, make, directory, (".txt",), labels, label_mode, class_names,
                                            shuffle, seed, validation_split, subset, follow_links, verbose)
