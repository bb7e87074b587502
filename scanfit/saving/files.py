"""Reading and writing model files defensively.

Every problem with a file becomes a ValueError (or FileNotFoundError) whose
message names the file and what is wrong with it; raw h5py, zipfile and json
errors never reach the caller. Nothing is extracted to disk, HDF5 links and
external storage that could reach outside the file are refused, and every
write goes through one atomic helper.
"""
import contextlib
import errno
import io
import itertools
import json
import lzma
import math
import os
import struct
import zipfile
import zlib

import h5py
import numpy as np

from scanfit.atomic_files import atomic_output

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
MAX_JSON_BYTES = 16 * 2**20
MAX_JSON_ITEMS = 500_000  # JSON arrays, objects and commas: bounds the memory parsing takes
MAX_JSON_DEPTH = 64  # Keras configs nest about 10 deep; deeper ones could exhaust the stack of code that reads them
MAX_ATTRIBUTE_BYTES = 16 * 2**20
MAX_NAMES = 100_000  # in one list of layer or weight names
MAX_ENTRY_BYTES = 64 * 2**30
BOMB_FLOOR_BYTES = 16 * 2**20
BOMB_MAX_RATIO = 100  # as Keras; its files and scanfit's are stored uncompressed
MAX_CENTRAL_DIRECTORY_BYTES = 2**20  # the list of a zip's entries: zipfile parses it all when opening
END_RECORD_SEARCH_BYTES = 22 + 65535 + 20 + 56  # end record, longest comment, zip64 locator and record


def write_atomically(path, data):
    """Write `data` (bytes) to `path` so that readers only ever see the old or the new file.

    A failed write (disk full, no permission) raises an OSError of the same
    errno whose message names `path`; a previous file there is left as it was.
    """
    path = os.fspath(path)
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        with atomic_output(path) as out:
            out.write(data)
    except OSError as error:
        reason = error.strerror or str(error)
        if error.filename and os.fspath(error.filename) != path:
            reason += f" ({os.fspath(error.filename)})"
        blocker = blocking_file(folder)
        if blocker is not None:
            reason += f"; {blocker} is a file, not a folder: move it away or save somewhere else"
        message = f"Could not save {path}: {reason}. Any previous file at that path is unchanged."
        raise (OSError(message) if error.errno is None else OSError(error.errno, message)) from error


def blocking_file(folder):
    """The first path on the way to `folder` that exists but is not a folder (so `folder` cannot be made), or None.

    A symlink to a folder counts as a folder; a broken symlink blocks.
    """
    folder = os.fspath(folder)
    if not folder:
        return None
    ancestors = []
    while folder and folder not in ancestors:
        ancestors.append(folder)
        folder = os.path.dirname(folder)
    for candidate in reversed(ancestors):  # from the root down
        if os.path.isdir(candidate):
            continue
        return candidate if os.path.lexists(candidate) else None
    return None


def check_folder_can_be_made(filepath, who, folder=None):
    """Raise NotADirectoryError naming `filepath` and what to do if a regular file stands where its folder must be.

    `folder` is the part of the folder of `filepath` to check (all of it by
    default); `who` starts the message: the part of scanfit that wants to
    write `filepath` ("ModelCheckpoint").
    """
    target = os.path.dirname(filepath)
    blocker = blocking_file(target if folder is None else folder)
    if blocker is None:
        return
    if os.path.normpath(blocker) == os.path.normpath(target):
        problem = f"its folder {target} is a file, not a folder"
    else:
        problem = f"its folder {target} cannot be created because {blocker} is a file, not a folder"
    raise NotADirectoryError(
        errno.ENOTDIR,
        f"{who} cannot save to {filepath}: {problem}. Move or delete {blocker}, or choose a filepath in "
        "another folder.",
    )


def h5_bytes(write):
    """The bytes of a new HDF5 file filled in by ``write(h5py.File)``."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write(h5)
    return buffer.getvalue()


def check_path(filepath, writing=False):
    """`filepath` as a str, or a TypeError/FileNotFoundError/IsADirectoryError that says what is wrong."""
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"Expected a file path (str or os.PathLike), got {type(filepath).__name__}: {filepath!r}.")
    path = os.fspath(filepath)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"{path} is a directory. scanfit reads and writes single files (.keras, .h5, .weights.h5), "
            "not TensorFlow SavedModel folders."
        )
    if not writing and not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path}")
    return path


def content_kind(path):
    """'zip', 'hdf5', or a short description of what the file holds instead."""
    with open(path, "rb") as file:
        head = file.read(16)
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(HDF5_MAGIC) or h5py.is_hdf5(path):
        return "hdf5"
    if not head:
        return "an empty file"
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head):
        return f"a text file starting with {head.decode('ascii')!r}"
    return f"an unknown binary file starting with {head!r}"


def describe(kind):
    return {"zip": "a zip archive (the .keras format)", "hdf5": "an HDF5 file (.h5)"}.get(kind, kind)


@contextlib.contextmanager
def reading(path):
    """Turn low-level read errors into a ValueError that names `path`."""
    try:
        yield
    except (OSError, KeyError, RuntimeError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
            RecursionError) as error:
        raise ValueError(
            f"Could not read {path}: the file is corrupt or truncated ({type(error).__name__}: {brief(error)})."
        ) from error


def brief(error, limit=500):
    """The message of `error`, cut to `limit` characters (a message can quote huge values from a file)."""
    text = str(error)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def listing(names, limit=10):
    """`names` joined with commas; only the first `limit` when there are more."""
    names = list(names)
    shown = ", ".join(map(str, names[:limit]))
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"


def parse_json(text, path, what):
    """The JSON object in `text` (bytes or str) or a ValueError naming `what` in `path`."""
    items = sum(text.count(mark) for mark in ((b"[", b"{", b",") if isinstance(text, bytes) else ("[", "{", ",")))
    if len(text) > MAX_JSON_BYTES or items > MAX_JSON_ITEMS:
        raise ValueError(
            f"{what} in {path} is too large ({len(text)} characters, {items} items; at most {MAX_JSON_BYTES} "
            f"and {MAX_JSON_ITEMS}): refusing to parse it."
        )
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"{what} in {path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} in {path} must be a JSON object, got {type(value).__name__}.")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"{what} in {path} nests arrays and objects over {MAX_JSON_DEPTH} levels deep.")
    return value


def _depth(value):
    """How deeply `value` nests lists and dicts, found without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


# --- zip archives (.keras) -------------------------------------------------------


def zip_entry_names(path):
    """The names of the entries of the zip archive at `path`."""
    with reading(path), zipfile.ZipFile(path) as archive:
        return archive.namelist()


def read_zip_entries(path, names):
    """``{name: bytes}`` for the named entries of the zip archive at `path` (all required).

    Entries are read into memory, never extracted; the archive is refused if
    any entry name could escape a folder or a declared size is absurd.
    """
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a complete zip archive: it is truncated or corrupt.")
    directory_bytes = _central_directory_bytes(path)
    if directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ValueError(
            f"{path} declares a list of entries of {directory_bytes} bytes (a .keras file needs a few hundred); "
            "refusing to read it."
        )
    entries = {}
    with reading(path), zipfile.ZipFile(path) as archive:
        stored = [info.filename for info in archive.infolist()]
        for name in stored:
            if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
                raise ValueError(f"{path} holds an entry with an unsafe name ({name!r}); refusing to read it.")
        for name in names:
            if name not in stored:
                raise ValueError(f"{path} is missing the entry {name!r}: it is not a complete .keras file.")
            if stored.count(name) > 1:
                raise ValueError(f"{path} holds the entry {name!r} {stored.count(name)} times; refusing to guess which.")
            info = archive.getinfo(name)
            limit = MAX_JSON_BYTES if name.endswith(".json") else MAX_ENTRY_BYTES
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limit or (info.file_size > BOMB_FLOOR_BYTES and ratio > BOMB_MAX_RATIO):
                raise ValueError(
                    f"The entry {name!r} of {path} declares {info.file_size} bytes "
                    f"({info.compress_size} compressed); refusing to read an entry that large."
                )
            with archive.open(info) as entry:
                entries[name] = entry.read(info.file_size + 1)
            if len(entries[name]) != info.file_size:
                raise ValueError(f"The entry {name!r} of {path} is not the size its header declares.")
    return entries


def _central_directory_bytes(path):
    """The size of the zip archive's central directory, as its end record (or zip64 end record) declares it."""
    with open(path, "rb") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - END_RECORD_SEARCH_BYTES)
        file.seek(start)
        tail = file.read()
    end = tail.rfind(b"PK\x05\x06")  # as zipfile finds it: the last end record
    if end < 0 or len(tail) - end < 22:
        return 0
    declared = struct.unpack_from("<I", tail, end + 12)[0]
    zip64 = end - 20 - 56  # zipfile reads a zip64 end record right before the zip64 locator
    if zip64 >= 0 and tail[end - 20:end - 16] == b"PK\x06\x07" and tail[zip64:zip64 + 4] == b"PK\x06\x06":
        declared = max(declared, struct.unpack_from("<Q", tail, zip64 + 40)[0])
    return declared


# --- HDF5 -----------------------------------------------------------------------


@contextlib.contextmanager
def open_h5(source, path):
    """The h5py.File read from `source` (a path or bytes); low-level errors while it is open name `path`."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with reading(path), h5py.File(source, "r") as h5:
        yield h5


def child(parent, name, path, kind=None):
    """``parent[name]`` following only hard links inside the file; `kind` is h5py.Group or h5py.Dataset."""
    node = parent
    for part in name.split("/"):
        if not part:
            raise ValueError(f"{path}: invalid HDF5 path {name!r} under {parent.name!r}.")
        if not isinstance(node, h5py.Group):
            raise ValueError(f"{path}: {node.name!r} should be a group.")
        link = node.get(part, getlink=True)
        if link is None:
            raise ValueError(f"{path} is missing {_join(node.name, part)!r}.")
        if not isinstance(link, h5py.HardLink):
            raise ValueError(f"{path}: {_join(node.name, part)!r} is a link to elsewhere; refusing to follow it.")
        node = node[part]
    if kind is not None and not isinstance(node, kind):
        expected = "a group" if kind is h5py.Group else "a dataset"
        raise ValueError(f"{path}: {node.name!r} should be {expected}.")
    return node


def has_child(parent, name):
    return parent.get(name, getlink=True) is not None


def read_array(parent, name, path, expected_shape=None, what=None):
    """A numeric dataset as a NumPy array, checking its shape before reading any data."""
    dataset = child(parent, name, path, h5py.Dataset)
    what = what or repr(dataset.name)
    if dataset.external or dataset.is_virtual:
        raise ValueError(f"{path}: {what} keeps its data outside the file; refusing to read it.")
    if dataset.dtype.kind not in "fiub":
        raise ValueError(f"{path}: {what} holds {dataset.dtype} values, not numbers.")
    if expected_shape is not None and tuple(dataset.shape) != tuple(expected_shape):
        raise ShapeMismatch(
            f"{path}: {what} has shape {tuple(dataset.shape)}, but the model expects {tuple(expected_shape)}."
        )
    with reading(path):
        return np.asarray(dataset[()])


class ShapeMismatch(ValueError):
    """Stored weights whose count or shape differ from the model's (skippable with skip_mismatch)."""


def read_string_list_attr(node, name, path):
    """A list of strings stored as one attribute or, when large, as ``name0``, ``name1``, ... (Keras's chunking)."""
    with reading(path):
        keys = [name] if name in node.attrs else list(
            itertools.takewhile(node.attrs.__contains__, (f"{name}{index}" for index in itertools.count()))
        )
        if not keys:
            raise ValueError(f"{path}: {node.name!r} has no {name!r} attribute.")
        count = sum(math.prod(node.attrs.get_id(key).shape or ()) for key in keys)
        if count > MAX_NAMES:
            raise ValueError(f"{path}: the {name!r} attribute of {node.name!r} lists {count} names, over {MAX_NAMES}.")
        values = [value for key in keys for value in np.atleast_1d(_attribute(node, key, path))]
    strings = []
    for value in values:
        if isinstance(value, str):  # h5py keeps bytes that are not UTF-8 as surrogates, which h5py cannot look up
            value = value.encode("utf8", errors="surrogateescape")
        if isinstance(value, bytes):
            value = value.decode("utf8", errors="replace")
        if not isinstance(value, str):
            raise ValueError(
                f"{path}: the {name!r} attribute of {node.name!r} should list names, found {value!r:.100}."
            )
        strings.append(value)
    return strings


def read_json_attr(node, name, path):
    """The JSON object stored in attribute `name`, or None when absent."""
    with reading(path):
        if name not in node.attrs:
            return None
        value = _attribute(node, name, path)
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if not isinstance(value, (bytes, str)):
        raise ValueError(f"{path}: the {name!r} attribute should be JSON text, found {type(value).__name__}.")
    return parse_json(value, path, f"The {name!r} attribute")


def _attribute(node, name, path):
    """Attribute `name` of `node`, checking its declared size before reading it."""
    attribute = node.attrs.get_id(name)
    size = math.prod(attribute.shape or ()) * attribute.dtype.itemsize
    if size > MAX_ATTRIBUTE_BYTES:
        raise ValueError(f"{path}: the {name!r} attribute of {node.name!r} declares {size} bytes; refusing to read it.")
    return node.attrs[name]


def _join(group_name, part):
    return f"{group_name.rstrip('/')}/{part}"
