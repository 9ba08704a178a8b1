"""Output paths: refuse, before anything is computed, a file that cannot be written.

One check for every job that writes (curve, sweep, tseries, halides, study, ensemble, export and their
figures): the directory must exist, the path must not be a directory, and a file must be creatable
in the directory. The last is probed by creating and removing an empty temporary file rather than
asked of ``os.access``, which answers yes to root on directories such as ``/proc`` where nothing can
be created.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from perovskite_tb.errors import InputError

__all__ = ["check_writable"]


def check_writable(path, label: str) -> Path:
    """``Path(path)`` if a file can be written there; else one :class:`InputError` line.

    Parameters
    ----------
    path : str or Path
        The file to be written (it may exist: it is then resumed, replaced or appended to).
    label : str
        Start of the message, e.g. ``"curve: output"`` or ``"figure path"``.
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"{label}: directory {str(parent)!r} does not exist")
    if p.is_dir():
        raise InputError(f"{label}: {str(p)!r} is a directory")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"{label}: {str(p)!r} cannot be written (read-only file)")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".perovskite-tb-probe-")
    except OSError as exc:
        why = "" if exc.errno == errno.ENOENT else f": {exc.strerror or exc}"  # ENOENT: e.g. /proc
        raise InputError(f"{label}: {str(p)!r} cannot be written (no file can be created in "
                         f"{str(parent)!r}{why})") from None
    os.close(fd)
    os.unlink(probe)
    return p
