"""CIFAR-100: 60,000 32x32 colour images of 100 classes in 20 superclasses (Krizhevsky 2009), from the python
tarball."""
import tarfile

import numpy as np

from scanfit.datasets import _source
from scanfit.datasets.cifar10 import read_batch

TARBALL = "cifar-100-python.tar.gz"
FOLDER = "cifar-100-python"
CLASSES = {"fine": 100, "coarse": 20}


def load_data(label_mode="fine", path=None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does (channels last).

    uint8 arrays of shapes (50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3)
    and (10000, 1); the labels are the 100 classes (``label_mode='fine'``) or
    the 20 superclasses (``'coarse'``). `path` is ``cifar-100-python.tar.gz``
    or a folder holding it; without it the file is looked for in
    $SCANFIT_DATA_DIR, the cache, then downloaded from the Toronto site
    (unless SCANFIT_OFFLINE=1), always checked by SHA-256. The pickled
    batches are read from the tarball directly and may hold arrays only.
    """
    if label_mode not in CLASSES:
        raise ValueError(f"label_mode must be 'fine' or 'coarse', got {label_mode!r}.")
    file = _source.fetch_file("cifar100", TARBALL, path)
    label_key = f"{label_mode}_labels".encode()
    try:
        with tarfile.open(file, "r:gz") as archive:
            train, test = (read_batch(archive, f"{FOLDER}/{name}", file, label_key, CLASSES[label_mode], "CIFAR-100")
                           for name in ("train", "test"))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ValueError(f"{str(file)!r} is not a readable {TARBALL} ({err}); get it again.") from err
    return (np.ascontiguousarray(train[0]), train[1]), (np.ascontiguousarray(test[0]), test[1])
