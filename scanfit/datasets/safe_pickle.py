"""Reading the pickles inside Keras's dataset files without running code from them.

Keras's ``imdb.npz`` holds ragged object arrays and CIFAR-10's batches are
pickled dicts; both need pickle. `Unpickler` lets a file rebuild NumPy
arrays and plain Python values only: any other class or function a file
names is refused, so a crafted file cannot run code.
"""
import io
import pickle
import zipfile

import numpy as np

_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class Unpickler(pickle.Unpickler):
    """A pickle reader that rebuilds NumPy arrays and builtin values only."""

    def find_class(self, module, name):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a dataset file holds arrays only")


def load(handle, **kwargs):
    """Unpickle one object from the binary file `handle` with `Unpickler`."""
    return Unpickler(handle, **kwargs).load()


def load_npz(path):
    """The arrays of an .npz file as a dict; object arrays are read with `Unpickler`."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            data = io.BytesIO(archive.read(member))
            try:
                array = np.lib.format.read_array(data, allow_pickle=False)
            except ValueError:  # an object array: its payload is a pickle after the header
                data.seek(0)
                major, _ = np.lib.format.read_magic(data)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                read_header(data)
                array = load(data)
            arrays[member.removesuffix(".npy")] = array
    return arrays
