"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing (Zalando, MIT license)."""
from scanfit.datasets import _source

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_data(path=None):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does.

    uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28) and
    (10000,); label ``i`` is ``CLASS_NAMES[i]``. ``path`` is a folder holding
    the four IDX files (plain or .gz); without it the data is looked for in
    $SCANFIT_DATA_DIR, the cache, Debian's /usr/share/datasets/fashion-mnist
    (``apt-get install dataset-fashion-mnist``), then downloaded unless
    SCANFIT_OFFLINE=1. Every copy is checked against the published MD5 of
    each decompressed file. See `scanfit.datasets._source` for the details.
    """
    arrays = _source.load_arrays("fashion_mnist", path)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
