"""Downloads that land whole and checked, or not at all; file digests.

`download` streams a URL into a temporary file beside the target, shows its
progress on stderr, checks the temporary file (its digest, or whatever the
caller's check reads), and only then renames it into place: a failed or
corrupt download leaves nothing behind, and a file already there is replaced
only by a good one. The data sets (`scanfit.datasets`) and
`keras.utils.get_file` both fetch through it.
"""
import hashlib
import http.client
import sys
import urllib.request
from pathlib import Path

from scanfit.atomic_files import atomic_output

CHUNK = 1 << 20  # bytes read at a time
ALGORITHMS = {"sha256": hashlib.sha256, "md5": hashlib.md5}


def file_digest(file, algorithm="sha256"):
    """The hex digest of a file's bytes by `algorithm` ('sha256' or 'md5')."""
    hasher = ALGORITHMS[algorithm]()
    with open(file, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def download(url, target, kind=None, expected=None, digest_of=None, timeout=60):
    """Fetch `url` to `target`; the file appears only once the download ended and, where `expected` is given,
    ``digest_of(path)`` of the downloaded file equals it (`kind` names that digest in the error). A network or
    HTTP failure is an OSError naming the URL; a digest that differs, or a `digest_of` that raises ValueError,
    a ValueError saying that nothing was saved."""
    target = Path(target)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, atomic_output(target) as out:
            _copy_with_progress(response, out, target.name)
            if digest_of is None:
                return
            try:
                actual = digest_of(Path(out.name))
            except ValueError as err:
                raise ValueError(f"Download of {url} is not valid, nothing was saved: {err}") from err
            if expected is not None and actual != expected:
                raise ValueError(
                    f"Checksum mismatch for the download of {url}: {kind} is {actual}, expected "
                    f"{expected}; nothing was saved to {target.parent}. The server sent other "
                    "data; try again later or get the file another way."
                )
    except (OSError, http.client.HTTPException) as err:
        raise OSError(f"fetching {url} failed: {err}") from err


def _copy_with_progress(response, out, label):
    """Copy the response's body into `out`, redrawing the size done on stderr at each whole percent."""
    total = int(response.headers.get("Content-Length") or 0)
    done, shown_percent = 0, None
    for chunk in iter(lambda: response.read(CHUNK), b""):
        out.write(chunk)
        done += len(chunk)
        percent = done * 100 // total if total else None
        if percent != shown_percent or not total:
            shown_percent = percent
            size = f"{done / 1e6:.1f}" + (f"/{total / 1e6:.1f} MB ({percent}%)" if total else " MB")
            sys.stderr.write(f"\rscanfit: downloading {label}: {size}")
            sys.stderr.flush()
    if done:
        sys.stderr.write("\n")
    out.flush()
