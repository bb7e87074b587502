"""California housing: 20,640 block groups of the 1990 census, 8 features each and the median house value in
dollars (the ``'small'`` version: the first 600, Keras 3's stand-in for Boston housing)."""
from scanfit.datasets.boston_housing import shuffled_split

VERSIONS = {"small": 600, "large": None}  # version -> how many of the file's samples it keeps (None: all)


def load_data(version="large", path=None, test_split=0.2, seed=113):
    """Return ``(x_train, y_train), (x_test, y_test)`` as Keras does: the samples of `version` shuffled with
    `seed`, the last `test_split` of them for testing. `path` is Keras's ``california_housing.npz`` or a folder
    holding it; without it the file is looked for in $SCANFIT_DATA_DIR, the cache, then downloaded (unless
    SCANFIT_OFFLINE=1), always checked by SHA-256."""
    if version not in VERSIONS:
        raise ValueError(f"version must be 'small' (600 samples) or 'large' (20,640), got {version!r}.")
    return shuffled_split("california_housing", path, test_split, seed, keep=VERSIONS[version])
