"""JAX's persistent compilation cache, on by default for scanfit programs.

Compiled epoch programs are stored under ``$SCANFIT_CACHE_DIR/jax`` (default
``~/.cache/scanfit/jax``), so a second run of the same model and data shapes
skips XLA compilation. ``SCANFIT_COMPILATION_CACHE=0`` turns it off (the
benchmarks do, to report cold compile times honestly).
"""
import os
from pathlib import Path

import jax


def cache_root():
    """scanfit's cache folder: ``$SCANFIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/scanfit`` or ``~/.cache/scanfit``."""
    return os.environ.get("SCANFIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "scanfit")


def cache_dir():
    return os.path.join(cache_root(), "jax")


def enable():
    """Point JAX's persistent cache at scanfit's folder unless disabled or already configured."""
    if os.environ.get("SCANFIT_COMPILATION_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return
    if jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.3)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
