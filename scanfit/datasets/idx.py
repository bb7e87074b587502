"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values in C
order, big-endian. Files may be gzip-compressed (named ``*.gz`` or starting
with the gzip magic bytes). `read_idx` checks the header against the data
before trusting it and never allocates more than ``max_bytes`` for the values.
"""
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from scanfit.atomic_files import atomic_output

TYPE_CODES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODE_OF_KIND = {(dtype.kind, dtype.itemsize): code for code, dtype in TYPE_CODES.items()}
DEFAULT_MAX_BYTES = 2**31
GZIP_MAGIC = b"\x1f\x8b"
_SUPPORTED = "uint8, int8, int16, int32, float32, float64"


def read_idx(path, *, max_bytes=DEFAULT_MAX_BYTES, hasher=None):
    """Return the array stored in the IDX file at ``path`` (plain or gzip).

    The result is a writable array in native byte order. ``hasher`` (a
    ``hashlib`` object), if given, is fed every decompressed byte of the file,
    so a checksum of the uncompressed content costs no second pass. Raises
    FileNotFoundError for a missing file and ValueError, naming the file, for
    a bad magic number, an unsupported type code, a declared size above
    ``max_bytes``, data shorter or longer than declared, or corrupt gzip data.
    """
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist (or is not a file).")
    with open(path, "rb") as raw:
        compressed = path.suffix == ".gz" or raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _read_stream(raw, path, max_bytes, hasher, os.fstat(raw.fileno()).st_size)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, max_bytes, hasher, None)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(
                f"{str(path)!r} is not valid gzip data ({err}); the file is corrupt or "
                "truncated: download or copy it again."
            ) from err


def _read_stream(stream, path, max_bytes, hasher, file_size):
    """Parse one IDX stream; ``file_size`` is known for uncompressed files."""
    magic = _read_exactly(stream, 4, path, "the 4-byte magic number")
    zeros, code, ndim = magic[:2], magic[2], magic[3]
    if zeros != b"\x00\x00":
        raise ValueError(
            f"{str(path)!r} is not an IDX file: its magic number {magic.hex()} should start "
            "with two zero bytes (e.g. 00000803 for uint8 images)."
        )
    if code not in TYPE_CODES:
        raise ValueError(
            f"{str(path)!r} has unsupported IDX type code 0x{code:02X}; supported codes are "
            + ", ".join(f"0x{c:02X} ({TYPE_CODES[c].newbyteorder('=').name})" for c in TYPE_CODES)
            + "."
        )
    if ndim == 0:
        raise ValueError(f"{str(path)!r} declares 0 dimensions; an IDX array needs at least one.")
    header = magic + _read_exactly(stream, 4 * ndim, path, f"the sizes of {ndim} dimensions")
    shape = struct.unpack(f">{ndim}I", header[4:])
    dtype = TYPE_CODES[code]
    data_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if data_bytes > max_bytes:
        raise ValueError(
            f"{str(path)!r} declares shape {shape} of {dtype.newbyteorder('=').name}, i.e. "
            f"{data_bytes} bytes, above the limit of {max_bytes} bytes; the header is corrupt, "
            "or pass a larger max_bytes= if the file really is that big."
        )
    if file_size is not None and file_size != len(header) + data_bytes:
        problem = "is truncated" if file_size < len(header) + data_bytes else "has trailing bytes"
        raise ValueError(
            f"{str(path)!r} {problem}: its header declares shape {shape} "
            f"({len(header) + data_bytes} bytes in all) but the file holds {file_size} bytes."
        )
    data = bytearray(data_bytes)
    got = _read_into(stream, data)
    if got < data_bytes:
        raise ValueError(
            f"{str(path)!r} is truncated: its header declares shape {shape} "
            f"({data_bytes} data bytes) but only {got} follow the header."
        )
    if stream.read(1):
        raise ValueError(
            f"{str(path)!r} has trailing bytes after the {data_bytes} data bytes its header "
            f"declares for shape {shape}."
        )
    if hasher is not None:
        hasher.update(header)
        hasher.update(data)
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array if dtype.isnative else array.astype(dtype.newbyteorder("="))


def _read_exactly(stream, count, path, what):
    buffer = bytearray(count)
    if _read_into(stream, buffer) < count:
        raise ValueError(f"{str(path)!r} is truncated: it ends inside {what}.")
    return bytes(buffer)


def _read_into(stream, buffer):
    """Fill ``buffer`` from ``stream`` as far as the stream goes; return the count."""
    view = memoryview(buffer)
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


def write_idx(path, array):
    """Write ``array`` to ``path`` as IDX, gzip-compressed when the name ends in ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64; other
    dtypes raise TypeError (convert first, e.g. ``labels.astype('uint8')``).
    The file is written atomically: readers see the old file or the new one.
    """
    array = np.asarray(array)
    code = CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"write_idx cannot store dtype {array.dtype}; IDX supports {_SUPPORTED}. "
            "Convert the array first, e.g. array.astype('uint8')."
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs an array with 1 to 255 dimensions, got shape {array.shape}.")
    if max(array.shape) >= 2**32:
        raise ValueError(f"write_idx cannot store shape {array.shape}: each size must be below 2**32.")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=TYPE_CODES[code]).tobytes()
    path = Path(os.fspath(path))
    with atomic_output(path) as out:
        if path.suffix == ".gz":
            with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as compressed:
                compressed.write(payload)
        else:
            out.write(payload)
