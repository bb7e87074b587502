"""Builds scanfit's native CPU kernels on first use and registers them with XLA.

The C++ sources beside this module are compiled once per machine with the
system's C++ compiler (``$CXX``, else ``c++`` or ``g++``) against the XLA FFI
headers that jaxlib ships, into ``$SCANFIT_CACHE_DIR/native/<key>/`` (default
``~/.cache/scanfit/native``). The key hashes the source, the compiler's
version, jaxlib's version and the CPU's features, so a changed source, compiler
or machine builds afresh; the library is written to a temporary name and moved
into place, so concurrent builds never load a half-written file. Only a library
built here from scanfit's own source is loaded.

Without a compiler, or with ``SCANFIT_NATIVE_KERNELS=0``, `library()` returns
None and the layers run their XLA forms, which compute the same results to
float32 rounding.
"""
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import jax
import jaxlib

from scanfit.engine.compilation_cache import cache_root

SOURCE = Path(__file__).with_name("recurrent.cc")
# The handlers that recurrent.cc defines, registered under "scanfit_<name>".
HANDLERS = tuple(f"{cell}{direction}" for cell in ("SimpleRnn", "Lstm", "Gru") for direction in ("Forward", "Backward"))

_loaded = {}
_lock = threading.Lock()  # programs may be traced on a background thread (Program.compile_ahead)


def enabled():
    """False when ``SCANFIT_NATIVE_KERNELS`` is 0/false/no/off."""
    return os.environ.get("SCANFIT_NATIVE_KERNELS", "1").lower() not in ("0", "false", "no", "off")


def _compiler():
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _flags():
    flags = ["-O3", "-std=c++17", "-shared", "-fPIC", "-fno-math-errno", f"-I{jax.ffi.include_dir()}"]
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.append("-march=native")
    return flags


def _cpu_features():
    try:
        with open("/proc/cpuinfo") as info:
            return next((line for line in info if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _build_key(compiler, flags):
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False).stdout
    parts = [SOURCE.read_bytes(), version.encode(), " ".join(flags).encode(), jaxlib.__version__.encode(),
             platform.machine().encode(), _cpu_features().encode()]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:20]


def _build(compiler, flags, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        result = subprocess.run([compiler, *flags, str(SOURCE), "-o", partial], capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{compiler} exited with status {result.returncode}: {result.stderr[-2000:].strip()}")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def library():
    """The loaded kernel library with its handlers registered, or None where it cannot be built (warned once)."""
    with _lock:
        if "library" not in _loaded:
            _loaded["library"] = _load()
        return _loaded["library"]


def _load():
    if not enabled():
        return None
    compiler = _compiler()
    if compiler is None:
        warnings.warn("scanfit found no C++ compiler (set CXX, or install g++): recurrent layers run their "
                      "slower XLA time loop on CPU.", RuntimeWarning, stacklevel=3)
        return None
    flags = _flags()
    target = Path(cache_root()) / "native" / _build_key(compiler, flags) / "recurrent.so"
    try:
        if not target.exists():
            _build(compiler, flags, target)
        lib = ctypes.cdll.LoadLibrary(str(target))
    except (OSError, RuntimeError) as error:
        warnings.warn(f"scanfit could not build its native recurrent kernels ({error}); recurrent layers run "
                      "their slower XLA time loop on CPU.", RuntimeWarning, stacklevel=3)
        return None
    for name in HANDLERS:
        jax.ffi.register_ffi_target(f"scanfit_{name}", jax.ffi.pycapsule(getattr(lib, name)), platform="cpu")
    return lib
