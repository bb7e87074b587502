"""`keras.utils.get_file`: download a file once into a cache folder, check its hash, unpack an archive.

The cache layout and the returned paths are Keras 3's, so tutorial code that
builds paths from them runs unchanged: ``~/.keras/datasets/<fname>`` (or
``$KERAS_HOME``, or `cache_dir`), and for ``extract=True`` the folder the
archive was unpacked into. Unlike Keras: a download lands only once it is
complete and matches `file_hash`; a `cache_dir` that does not exist yet is
created (Keras falls back to ``/tmp/.keras``); an archive is unpacked into a
temporary folder renamed into place, and only again when it was downloaded
again; a member that would land outside that folder (through ``..`` or a
link leading out) fails the extraction with an error, where Keras skips it
with a warning (an absolute member path is unpacked inside the folder, its
leading '/' dropped, as Python's safe tar filter does); a file that is not an
archive of the formats asked for is an error, not a warning.
"""
import contextlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
from pathlib import Path

from scanfit.downloads import download, file_digest

ARCHIVE_FORMATS = ("tar", "zip")


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download `origin` into the cache unless a good copy is there already; the path of the file, or of the
    folder it was unpacked into when `extract` (or tf.keras 2's `untar`) is true.

    `fname` names the cached file (default: the URL's last part); `file_hash` (or tf.keras 2's `md5_hash`) is
    its SHA-256 or MD5 in hex (`hash_algorithm` 'auto' tells them apart by length): a cached copy that differs
    is downloaded again, and a download that differs is refused. `cache_dir` defaults to ``$KERAS_HOME`` or
    ``~/.keras`` (``/tmp/.keras`` when that cannot be written), `cache_subdir` is a folder inside it or an
    absolute path. `archive_format` is 'auto' (tar, then zip), 'tar', 'zip' or a list of them.
    """
    if origin is None:
        raise ValueError("get_file needs origin=, the URL of the file to download.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = _algorithm(hash_algorithm, file_hash)
    formats = _formats(archive_format)
    folder = _cache_folder(cache_dir, cache_subdir)
    given_name = os.fspath(fname) if fname is not None else None
    name = given_name or os.path.basename(urllib.parse.urlsplit(origin).path)
    if not name:
        raise ValueError(f"get_file cannot take a file name from origin={origin!r}; pass fname=.")
    if os.sep in name or (os.altsep and os.altsep in name):
        raise ValueError(f"get_file's fname is a file name, not a path: got {name!r}. "
                         "Choose the folder with cache_dir= (and cache_subdir=).")
    unpack = bool(extract or untar)
    archive, unpacked = _targets(folder, name, given_name is not None, unpack)

    fetched = False
    if force_download or not archive.is_file() or not _matches(archive, file_hash, algorithm):
        if archive.is_file() and not force_download:
            print(f"The cached file {archive} does not match the {algorithm} hash {file_hash}; downloading it again.")
        print(f"Downloading data from {origin}")
        digest_of = None if file_hash is None else (lambda path: file_digest(path, algorithm))
        download(origin, archive, f"the {algorithm} hash", file_hash, digest_of)
        fetched = True
    if not unpack:
        return str(archive)
    if fetched or not unpacked.is_dir():
        _unpack(archive, unpacked, ["tar"] if untar else formats)
    return str(unpacked)


def _algorithm(hash_algorithm, file_hash):
    """'sha256' or 'md5' for `hash_algorithm` ('auto': SHA-256 for a 64-digit hash, else MD5, as Keras)."""
    if hash_algorithm == "auto":
        return "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"
    if hash_algorithm not in ("sha256", "md5"):
        raise ValueError(f"get_file's hash_algorithm must be 'auto', 'sha256' or 'md5', got {hash_algorithm!r}.")
    return hash_algorithm


def _formats(archive_format):
    """The archive formats to try, as a list ('auto': tar then zip; None or []: none)."""
    if archive_format == "auto":
        return list(ARCHIVE_FORMATS)
    formats = [archive_format] if isinstance(archive_format, str) else list(archive_format or ())
    unknown = [f for f in formats if f not in ARCHIVE_FORMATS]
    if unknown:
        raise ValueError(f"get_file's archive_format must be 'auto', 'tar', 'zip', a list of them or None; "
                         f"got {archive_format!r}.")
    return formats


def _cache_folder(cache_dir, cache_subdir):
    """The folder files go to, created: `cache_subdir` under `cache_dir` ($KERAS_HOME or ~/.keras by default,
    /tmp/.keras when that cannot be written)."""
    base = Path(os.path.expanduser(cache_dir if cache_dir is not None
                                   else os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))))
    with contextlib.suppress(OSError):
        base.mkdir(parents=True, exist_ok=True)
    if not os.access(base, os.W_OK):
        base = Path(tempfile.gettempdir()) / ".keras"
    folder = base / cache_subdir
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _targets(folder, name, named, unpack):
    """(where the download goes, where it is unpacked), named as Keras 3 names them."""
    if not unpack:
        return folder / name, None
    if named and "." in name:  # "spa-eng.zip": the archive keeps its name, unpacked into "spa-eng_extracted"
        return folder / name, folder / f"{name[:name.find('.')]}_extracted"
    return folder / f"{name}_archive", folder / name


def _matches(path, file_hash, algorithm):
    return file_hash is None or file_digest(path, algorithm) == file_hash


def _unpack(archive, folder, formats):
    """Unpack `archive` into `folder` (replacing what is there), by the first of `formats` it is in."""
    for archive_format in formats:
        if not _IS_FORMAT[archive_format](archive):
            continue
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
        try:
            _UNPACKERS[archive_format](archive, partial)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(partial, folder)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return
    asked = " or ".join(formats) if formats else "no format (archive_format=None)"
    raise ValueError(f"get_file cannot unpack {archive}: it is not an archive of {asked}. "
                     "Pass extract=False to keep the file as it is.")


def _unpack_tar(archive, folder):
    with tarfile.open(archive) as tar:
        try:
            tar.extractall(folder, filter="data")  # refuses members outside `folder`, links out, devices
        except tarfile.FilterError as err:
            raise ValueError(f"get_file refused to unpack {archive}: {err}.") from err


def _unpack_zip(archive, folder):
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.namelist():
            path = os.path.normpath(member.lstrip("/"))
            if path == ".." or path.startswith(".." + os.sep):
                raise ValueError(f"get_file refused to unpack {archive}: member {member!r} would land outside "
                                 f"{folder}.")
        bundle.extractall(folder)


_UNPACKERS = {"tar": _unpack_tar, "zip": _unpack_zip}
_IS_FORMAT = {"tar": tarfile.is_tarfile, "zip": zipfile.is_zipfile}
