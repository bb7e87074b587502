"""Atomic file output: a file is replaced whole or not at all, and a killed writer's leftovers are cleaned up.

Every file scanfit writes (models, weights, checkpoints, plots, data sets)
goes through `atomic_output`.
"""
import contextlib
import hashlib
import os
import re
import secrets
import socket
import stat
from pathlib import Path

# A temporary file's name says which process writes it: ".NAME.PID-MACHINE.TOKEN.part", where MACHINE
# is a tag of this host and PID namespace, so that a later write can tell a dead writer's leftover from
# another process's write in flight.
_TEMPORARY_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)-(?P<machine>[0-9a-f]{8})\.[0-9a-f]{8}\.part")


def machine_tag():
    """8 hex digits naming this host and PID namespace (PIDs are only comparable within one)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return hashlib.sha256(f"{socket.gethostname()}/{namespace}".encode()).hexdigest()[:8]


def _process_is_running(pid):
    """Whether process `pid` of this machine runs (a number no process can have counts as running: keep its file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # it runs, as another user; or no PID at all
        return True
    return True


def temporary_path(path):
    """A new temporary path beside `path`, named after this process (see `remove_stale_temporaries`)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{machine_tag()}.{secrets.token_hex(4)}.part")


def remove_stale_temporaries(folder):
    """Delete the temporary files in `folder` that processes of this machine left when they were killed.

    Only files named by `temporary_path` whose writer ran on this machine (host
    and PID namespace) and no longer runs are removed; a live process's write
    in flight, this process's own and other machines' files are kept. Errors
    (a file gone meanwhile, no permission) are ignored: cleaning up never makes
    a write fail.
    """
    folder = Path(folder)
    machine = machine_tag()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY_NAME.fullmatch(name)
        if match is None or match["machine"] != machine:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_is_running(pid):
            continue
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.lstat(folder / name).st_mode):
                os.unlink(folder / name)


@contextlib.contextmanager
def atomic_output(path):
    """Yield a binary file that replaces ``path`` only if the block succeeds.

    Data goes to a temporary file in the same folder (its path is the file's
    ``name``, so the block can check what it wrote), which is flushed, fsynced
    and renamed over ``path``; on any error it is deleted instead. Temporary
    files that killed processes left in that folder are deleted first.
    """
    path = Path(path)
    remove_stale_temporaries(path.parent)
    temporary = temporary_path(path)
    try:
        with open(temporary, "xb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
