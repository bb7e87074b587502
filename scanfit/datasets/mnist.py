"""MNIST: 70,000 28x28 grayscale images of handwritten digits (LeCun and Cortes, CC BY-SA 3.0)."""
from pathlib import Path

from scanfit.datasets import _source

CLASS_NAMES = tuple(str(digit) for digit in range(10))
KERAS_DEFAULT_PATH = "mnist.npz"


def load_data(path=None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, as Keras does.

    The full data set has shapes (60000, 28, 28), (60000,), (10000, 28, 28)
    and (10000,). ``path`` is a folder holding Keras's ``mnist.npz`` or the
    four IDX files (plain or .gz), or the path of an .npz file; Keras's own
    ``path="mnist.npz"`` (a name inside Keras's cache) means the default
    search when no such file exists here. Without it the data is looked for
    in $SCANFIT_DATA_DIR, the cache, then downloaded (Keras's mirror) unless
    SCANFIT_OFFLINE=1. A file named mnist.npz must match Keras's SHA-256;
    IDX folders (e.g. a subset like the MNIST sample) are checked by shape
    and dtype only. See `scanfit.datasets._source` for the details.
    """
    if path == KERAS_DEFAULT_PATH and not Path(path).exists():
        path = None
    arrays = _source.load_arrays("mnist", path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
