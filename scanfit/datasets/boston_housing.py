"""Boston house prices: 506 samples of 13 features and the median price in $1000s (Chollet's regression example)."""
import numpy as np

from scanfit.datasets import _source, word_sequences


def load_data(path=None, test_split=0.2, seed=113):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does: the samples shuffled with `seed`, the
    last `test_split` of them for testing. `path` is Keras's ``boston_housing.npz`` or a folder holding it;
    without it the file is looked for in $SCANFIT_DATA_DIR, the cache, then downloaded (unless
    SCANFIT_OFFLINE=1), always checked by SHA-256."""
    return shuffled_split("boston_housing", path, test_split, seed)


def shuffled_split(dataset, path, test_split, seed, keep=None):
    """Keras's split of a regression data set's ``<dataset>.npz`` (arrays x and y): its first `keep` samples
    (None: all) shuffled with `seed`, the last `test_split` of them for testing."""
    test_split = word_sequences.test_split_of(test_split)
    file = _source.fetch_file(dataset, f"{dataset}.npz", path)
    try:
        with np.load(file, allow_pickle=False) as arrays:
            x, y = arrays["x"][:keep], arrays["y"][:keep]
    except Exception as err:
        raise ValueError(f"{str(file)!r} is not a readable {dataset}.npz with arrays x and y ({err}).") from err
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    count = int(len(x) * (1 - test_split))
    return (np.array(x[:count]), np.array(y[:count])), (np.array(x[count:]), np.array(y[count:]))
