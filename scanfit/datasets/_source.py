"""Where a dataset's files come from: finding, verifying, downloading.

`load_arrays(name, path)` looks in this order and uses the first complete copy:

1. ``path=`` given to ``load_data``: only there (an explicit folder never
   falls back to other places);
2. ``$SCANFIT_DATA_DIR/<folder>``, then ``$SCANFIT_DATA_DIR`` itself;
3. the cache, ``$SCANFIT_CACHE_DIR/datasets/<folder>``, by default
   ``$XDG_CACHE_HOME/scanfit/datasets/<folder>`` or
   ``~/.cache/scanfit/datasets/<folder>``;
4. the folder of the Debian package, where there is one (`DEBIAN_DIRS`);
5. a download from `MIRROR_URL` into the cache, unless ``SCANFIT_OFFLINE=1``.

``<folder>`` is ``fashion-mnist``, ``mnist``, ``imdb``, ``cifar-10``, ``cifar-100``,
``reuters``, ``boston-housing`` or ``california-housing``. IMDB (``imdb.npz``,
``imdb_word_index.json``), Reuters (``reuters.npz``, ``reuters_word_index.json``), Boston housing
(``boston_housing.npz``), California housing (``california_housing.npz``), CIFAR-10
(``cifar-10-python.tar.gz``) and CIFAR-100 (``cifar-100-python.tar.gz``) are single files that `fetch_file` finds in the
same order, each checked against its published SHA-256 or MD5 (`FILES`).
For the image sets, a folder holds either the four
IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each plain or
``.gz``) or, for MNIST, Keras's ``mnist.npz``.

Checksums are keyed by file name: a file is verified wherever it is found
when its dataset has a checksum for that name (the MD5 of the decompressed
content of each Fashion-MNIST IDX file, so the Debian copy and a download
both pass; the SHA-256 of Keras's ``mnist.npz``). MNIST's IDX files have no
checksum here, since folders of that layout are usually subsets such as the
MNIST sample; they are checked by shape and dtype only, like every copy.
"""
import hashlib
import os
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from scanfit.datasets.idx import read_idx
from scanfit.downloads import download, file_digest

MIRROR_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
DEBIAN_PACKAGES = {"fashion_mnist": "dataset-fashion-mnist"}
FOLDER_NAMES = {"fashion_mnist": "fashion-mnist", "mnist": "mnist", "imdb": "imdb", "cifar10": "cifar-10",
                "cifar100": "cifar-100", "reuters": "reuters", "boston_housing": "boston-housing",
                "california_housing": "california-housing"}
TITLES = {"fashion_mnist": "Fashion-MNIST", "mnist": "MNIST", "imdb": "IMDB reviews", "cifar10": "CIFAR-10",
          "cifar100": "CIFAR-100", "reuters": "Reuters newswires", "boston_housing": "Boston housing",
          "california_housing": "California housing"}
# Datasets of single files (fetched one by one with `fetch_file`): file name -> (digest kind, digest).
FILES = {
    "imdb": {
        "imdb.npz": ("SHA-256", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
        "imdb_word_index.json": ("MD5", "bfafd718b763782e994055a2d397834f"),
    },
    "cifar10": {
        "cifar-10-python.tar.gz": ("SHA-256", "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    },
    "cifar100": {
        "cifar-100-python.tar.gz": ("SHA-256", "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
    },
    "reuters": {
        "reuters.npz": ("SHA-256", "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"),
        "reuters_word_index.json": ("MD5", "4d44cc38712099c9e383dc6e5f11a921"),
    },
    "boston_housing": {
        "boston_housing.npz": ("SHA-256", "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"),
    },
    "california_housing": {
        "california_housing.npz": ("SHA-256", "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"),
    },
}
# Files not on `MIRROR_URL`: file name -> URL.
FILE_URLS = {"cifar-10-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
             "cifar-100-python.tar.gz": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_MD5 = {
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "mnist": {},
}
NPZ_FILES = {"mnist": "mnist.npz"}
NPZ_SHA256 = {"mnist.npz": "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10


class Location(NamedTuple):
    """Where a dataset is (a folder, or None) and a sentence saying how it got or gets there."""

    where: Path | None
    how: str


class _Place(NamedTuple):
    folder: Path
    label: str


class _Found(NamedTuple):
    place: _Place
    files: dict


def dataset_name(name):
    """The canonical name ('fashion_mnist', 'mnist') for ``name``; ValueError if unknown."""
    canonical = str(name).replace("-", "_").lower()
    if canonical not in FOLDER_NAMES:
        raise ValueError(f"Unknown dataset {name!r}; known datasets: {', '.join(FOLDER_NAMES)}.")
    return canonical


def cache_dir(name):
    """The cache folder of dataset ``name`` (it need not exist yet)."""
    root = os.environ.get("SCANFIT_CACHE_DIR")
    if root:
        root = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "scanfit"
    return root / "datasets" / FOLDER_NAMES[dataset_name(name)]


def offline():
    """True when ``SCANFIT_OFFLINE`` forbids downloads (1, true, yes, on)."""
    return os.environ.get("SCANFIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def download_urls(name):
    """The URLs a download of dataset ``name`` fetches, in order."""
    name = dataset_name(name)
    if name in FILES:
        return [_url_of(file_name) for file_name in FILES[name]]
    if name in NPZ_FILES:
        return [MIRROR_URL + NPZ_FILES[name]]
    return [f"{MIRROR_URL}{base}.gz" for base in IDX_NAMES.values()]


def locate(name):
    """Where dataset ``name`` would be loaded from, without reading or downloading it.

    Returns a `Location`: the folder of the first complete copy and where it
    was found, or ``where=None`` and what `load_data` will do or what to run.
    """
    name = dataset_name(name)
    places, _ = _places(name)
    for place in places:
        if isinstance(_find(name, place.folder), dict):
            return Location(place.folder, f"found in {place.label}")
    if offline():
        return Location(None, f"not found (downloads are off: SCANFIT_OFFLINE is set). {_how_to_get(name)}")
    source = _url_of(next(iter(FILES[name]))) if name in FILES else MIRROR_URL
    return Location(None, f"not on this machine yet; load_data() downloads it from {source} into {cache_dir(name)}")


def load_arrays(name, path=None):
    """Find, verify and read dataset ``name``; return its x/y train/test arrays as a dict.

    Raises FileNotFoundError listing every place looked in (and how to get
    the data) when no copy is found and none can be downloaded, and
    ValueError when a file's checksum, format, shape or dtype is wrong.
    """
    name = dataset_name(name)
    if path is not None:
        return _load(name, _explicit(name, path))
    places, notes = _places(name)
    for place in places:
        files = _find(name, place.folder)
        if isinstance(files, dict):
            return _load(name, _Found(place, files))
        notes.append(f"{place.folder} ({place.label}): {files}")
    if offline():
        notes.append(f"download from {MIRROR_URL}: off, because SCANFIT_OFFLINE is set")
        raise FileNotFoundError(_not_found_message(name, notes))
    cache = _Place(cache_dir(name), "the cache")
    try:
        _download_missing(name, cache.folder)
    except OSError as err:
        notes.append(f"download: {err}")
        raise FileNotFoundError(_not_found_message(name, notes)) from err
    return _load(name, _Found(cache, _find(name, cache.folder)))


def _places(name):
    """The folders to search after an explicit path, and notes on the ones skipped."""
    places, notes = [], []
    data_dir = os.environ.get("SCANFIT_DATA_DIR")
    if data_dir:
        root = Path(data_dir).expanduser()
        places.append(_Place(root / FOLDER_NAMES[name], "SCANFIT_DATA_DIR"))
        places.append(_Place(root, "SCANFIT_DATA_DIR"))
    else:
        notes.append("SCANFIT_DATA_DIR: not set")
    places.append(_Place(cache_dir(name), "the cache"))
    if name in DEBIAN_DIRS:
        places.append(_Place(Path(DEBIAN_DIRS[name]), f"Debian package {DEBIAN_PACKAGES[name]}"))
    return places, notes


def _find(name, folder):
    """The dataset's files in ``folder`` as a dict, or a string saying what is missing."""
    if not folder.is_dir():
        return "no such folder"
    if name in FILES:
        primary = next(iter(FILES[name]))
        return {"file": folder / primary} if (folder / primary).is_file() else f"missing {primary}"
    npz = NPZ_FILES.get(name)
    if npz and (folder / npz).is_file():
        return {"npz": folder / npz}
    files, missing = {}, []
    for role, base in IDX_NAMES.items():
        candidates = [folder / base, folder / f"{base}.gz"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            missing.append(f"{base}[.gz]")
        else:
            files[role] = found
    if not missing:
        return files
    return ("missing " + (f"{npz} or " if npz else "")) + ", ".join(missing)


def _explicit(name, path):
    """The files at a ``path=`` argument: a folder, or (for MNIST) an .npz file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path= must be a folder path (str or os.PathLike), got {type(path).__name__}.")
    path = Path(path).expanduser()
    place = _Place(path, "path= argument")
    if path.is_file() and path.suffix == ".npz" and name in NPZ_FILES:
        return _Found(place, {"npz": path})
    if not path.is_dir():
        npz_hint = " or an .npz file like Keras's mnist.npz" if name in NPZ_FILES else ""
        raise FileNotFoundError(
            f"path={str(path)!r} for {TITLES[name]} is not a folder{npz_hint}. Pass the folder "
            f"holding {', '.join(f'{b}[.gz]' for b in IDX_NAMES.values())}."
        )
    files = _find(name, path)
    if not isinstance(files, dict):
        raise FileNotFoundError(f"path={str(path)!r} does not hold {TITLES[name]}: {files}.")
    return _Found(place, files)


def _load(name, found):
    """Read and verify the files of ``found``; return the four arrays."""
    if "npz" in found.files:
        file = found.files["npz"]
        if file.name in NPZ_SHA256:
            _check_digest(file, "SHA-256", NPZ_SHA256[file.name], file_digest(file))
        arrays = _read_npz(file)
    else:
        table = IDX_MD5[name]
        arrays = {}
        for role, file in found.files.items():
            expected = table.get(IDX_NAMES[role])
            hasher = hashlib.md5() if expected else None
            arrays[role] = read_idx(file, hasher=hasher)
            if expected:
                _check_digest(file, "MD5 of the decompressed content", expected, hasher.hexdigest())
    _check_arrays(name, arrays, found.place.folder)
    return arrays


def _read_npz(file):
    keys = tuple(IDX_NAMES)
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in keys if key in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"{str(file)!r} is not a readable .npz file ({err}); get it again.") from err
    missing = [key for key in keys if key not in arrays]
    if missing:
        raise ValueError(f"{str(file)!r} lacks the arrays {missing}; it needs {list(keys)}.")
    return arrays


def _check_arrays(name, arrays, folder):
    """Shapes, dtypes and label range as Keras returns them; ValueError otherwise."""
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        problem = None
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            problem = f"dtypes {x.dtype} and {y.dtype}, expected uint8"
        elif x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or y.ndim != 1:
            problem = f"shapes {x.shape} and {y.shape}, expected (n, 28, 28) and (n,)"
        elif len(x) != len(y):
            problem = f"{len(x)} images but {len(y)} labels"
        elif y.size and y.max() >= NUM_CLASSES:
            problem = f"label {int(y.max())}, expected labels 0..{NUM_CLASSES - 1}"
        if problem:
            raise ValueError(f"{TITLES[name]} in {folder}: the {split} split has {problem}.")


def _check_digest(file, kind, expected, actual):
    if actual != expected:
        raise ValueError(
            f"Checksum mismatch for {str(file)!r}: {kind} is {actual}, expected {expected}. "
            "The file is corrupt or not the published data set; delete it (or fix the folder) "
            "and load again."
        )


def _download_missing(name, folder):
    """Download into ``folder`` the files of dataset ``name`` it does not hold yet."""
    folder.mkdir(parents=True, exist_ok=True)
    for url in download_urls(name):
        file_name = url.rsplit("/", 1)[1]
        base = file_name.removesuffix(".gz")
        if (folder / file_name).is_file() or (folder / base).is_file():
            continue
        if file_name in NPZ_SHA256:
            download(url, folder / file_name, "SHA-256", NPZ_SHA256[file_name], file_digest)
        else:
            expected = IDX_MD5[name].get(base)
            download(url, folder / file_name, "MD5 of the decompressed content", expected, _md5_of_idx)


def _md5_of_idx(file):
    hasher = hashlib.md5()
    read_idx(file, hasher=hasher)
    return hasher.hexdigest()


def _how_to_get(name, file_name=None):
    ways = []
    if name in DEBIAN_PACKAGES:
        ways.append(f"run `apt-get install {DEBIAN_PACKAGES[name]}` (Debian/Ubuntu)")
    if file_name is not None:
        layout, source = file_name, _url_of(file_name)
    else:
        layout, source = ", ".join(f"{b}.gz" for b in IDX_NAMES.values()), MIRROR_URL
        if name in NPZ_FILES:
            layout = f"{NPZ_FILES[name]} or {layout}"
    ways.append(f"put {layout} in a folder and set SCANFIT_DATA_DIR to it (or pass path=)")
    if offline():
        ways.append(f"unset SCANFIT_OFFLINE to download it from {source}")
    else:
        ways.append(f"run again with internet access to download it from {source}")
    return "To get it: " + "; or ".join(ways) + "."


# --- datasets of single files (IMDB, Reuters, Boston and California housing, CIFAR-10, CIFAR-100) ----


def _url_of(file_name):
    return FILE_URLS.get(file_name) or MIRROR_URL + file_name


def _digest_of_file(kind, file):
    return file_digest(file, "sha256" if kind == "SHA-256" else "md5")


def fetch_file(name, file_name, path=None):
    """The verified local path of file ``file_name`` of dataset ``name``, downloading it if need be.

    Looks in the same order as `load_arrays`: ``path=`` only (the file
    itself, or a folder holding it), else ``$SCANFIT_DATA_DIR/<folder>``,
    ``$SCANFIT_DATA_DIR``, the cache, then a download into the cache unless
    ``SCANFIT_OFFLINE=1``. Every copy must match the published checksum.
    """
    name = dataset_name(name)
    kind, expected = FILES[name][file_name]
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path= must be a file or folder path (str or os.PathLike), got {type(path).__name__}.")
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / file_name
        if not candidate.is_file():
            raise FileNotFoundError(
                f"path={str(path)!r} for {TITLES[name]} is neither {file_name} nor a folder holding it."
            )
        return _verified(candidate, kind, expected)
    places, notes = _places(name)
    for place in places:
        candidate = place.folder / file_name
        if candidate.is_file():
            return _verified(candidate, kind, expected)
        notes.append(f"{place.folder} ({place.label}): " + ("no such folder" if not place.folder.is_dir()
                                                           else f"missing {file_name}"))
    url = _url_of(file_name)
    if offline():
        notes.append(f"download from {url}: off, because SCANFIT_OFFLINE is set")
        raise FileNotFoundError(_file_not_found(name, file_name, notes))
    target = cache_dir(name) / file_name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        download(url, target, kind, expected, lambda file: _digest_of_file(kind, file))
    except OSError as err:
        notes.append(f"download: {err}")
        raise FileNotFoundError(_file_not_found(name, file_name, notes)) from err
    return target


def _verified(file, kind, expected):
    _check_digest(file, kind, expected, _digest_of_file(kind, file))
    return file


def _file_not_found(name, file_name, notes):
    looked = "\n".join(f"  - {note}" for note in notes)
    return f"{TITLES[name]} ({file_name}) was not found. Looked in:\n{looked}\n{_how_to_get(name, file_name)}"


def _not_found_message(name, notes):
    looked = "\n".join(f"  - {note}" for note in notes)
    return f"{TITLES[name]} was not found. Looked in:\n{looked}\n{_how_to_get(name)}"
