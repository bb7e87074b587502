"""CIFAR-10: 60,000 32x32 colour images of 10 classes (Krizhevsky 2009), from the python tarball."""
import pickle
import tarfile

import numpy as np

from scanfit.datasets import _source, safe_pickle

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TARBALL = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def load_data(path=None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does (channels last).

    uint8 arrays of shapes (50000, 32, 32, 3), (50000, 1), (10000, 32, 32, 3)
    and (10000, 1); label ``i`` is ``CLASS_NAMES[i]``. `path` is
    ``cifar-10-python.tar.gz`` or a folder holding it; without it the file is
    looked for in $SCANFIT_DATA_DIR, the cache, then downloaded from the
    Toronto site (unless SCANFIT_OFFLINE=1), always checked by SHA-256. The
    batches are read from the tarball directly (nothing is extracted) and
    their pickles may hold arrays only.
    """
    file = _source.fetch_file("cifar10", TARBALL, path)
    try:
        with tarfile.open(file, "r:gz") as archive:
            train = [read_batch(archive, f"{FOLDER}/{name}", file) for name in TRAIN_BATCHES]
            test = read_batch(archive, f"{FOLDER}/test_batch", file)
    except (tarfile.TarError, OSError, EOFError) as err:
        raise ValueError(f"{str(file)!r} is not a readable {TARBALL} ({err}); get it again.") from err
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), test


def read_batch(archive, member_name, file, label_key=b"labels", classes=len(CLASS_NAMES), title="CIFAR-10"):
    """Images (n, 32, 32, 3) and labels (n, 1), uint8, of the pickled batch `member_name` in the tarball `archive`
    (read from `file`): its ``data`` and its labels under `label_key`, each below `classes`."""
    try:
        member = archive.extractfile(member_name)
    except KeyError:
        member = None
    if member is None:
        raise ValueError(f"{str(file)!r} has no {member_name}; it is not the {title} python tarball.")
    try:
        batch = safe_pickle.load(member, encoding="bytes")
        data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key])
    except (pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError) as err:
        raise ValueError(f"{str(file)!r}: {member_name} is not a {title} batch ({err}).") from err
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise ValueError(f"{str(file)!r}: {member_name} holds data {data.shape} {data.dtype} and labels "
                         f"{labels.shape}, expected (n, 3072) uint8 and (n,).")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{str(file)!r}: {member_name} has labels outside 0..{classes - 1}.")
    images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels.astype(np.uint8).reshape(-1, 1)
