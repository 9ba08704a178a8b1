"""Integrity of result files: per-row SHA-256, sealed attributes and one-line refusal of damaged files.

What HDF5 checks by itself (files are written with ``libver=("v108", "latest")``): the superblock and
the version-2 object headers carry checksums, so a flipped bit there makes the read fail. What it
does not check: raw chunk data, the global heap (variable-length strings of columns and attributes)
and version-1 chunk B-trees. This module closes that gap:

* **Rows**: ``/<model>/row_sha256`` (64-byte ASCII hex, one entry per row) holds the SHA-256 of the
  row's stored columns as read back from the file (:func:`row_sha256`; the covered columns are the
  dataset's ``columns`` attribute). It is written before the row counter ``n_complete`` is raised. A
  row whose digest does not match is damaged; an empty digest marks a row written by an older
  version (read as before, unverified).
* **Attributes**: every object whose attributes the writer sets carries ``attrs_sha256``, the SHA-256
  of its other attributes (:func:`seal`), except the counters that change with every row
  (``n_complete``, ``n_points_computed``); ``n_complete`` is checked against the column lengths.
* **Tables** (``/tables/<name>/<col>``): each column dataset carries ``data_sha256``
  (:func:`column_sha256`), sealed with its other attributes.
* **Row journal** ``/<model>/row_journal``: every row once more as a self-checking text record, which
  :mod:`perovskite_tb.app.store.salvage` finds by scanning the raw bytes when the HDF5 structure is lost.

Any failure while reading a file becomes one :class:`DamagedFileError` line (never a traceback), and a
file that fails is never written to.
"""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager

import numpy as np

from perovskite_tb.app.store.results import COLUMNS
from perovskite_tb.errors import InputError

__all__ = ["LIBVER", "ROW_SHA", "JOURNAL", "SEAL", "VOLATILE", "DamagedFileError", "damaged", "open_error", "row_sha256", "column_sha256",
           "seal", "check_seal", "check_seals", "verify_rows", "damage_guard", "write_guard"]

#: HDF5 format bounds of new objects: v2 object headers and superblock (checksummed), no v3 superblock
#: (whose "open for write" flag would make a killed writer's file unreadable until h5clear).
LIBVER = ("v108", "latest")
ROW_SHA = "row_sha256"
#: Row journal: ``/<model>/row_journal``, one :func:`perovskite_tb.app.store.salvage.row_record` per row.
JOURNAL = "row_journal"
SEAL = "attrs_sha256"
#: Attributes that change with every row (not sealed; checked against the row lengths instead).
VOLATILE = frozenset({"n_complete", "n_points_computed", SEAL})
#: Stored row columns (name → Column).
STORED = {n: c for n, c in COLUMNS.items() if c.stored}


class DamagedFileError(InputError):
    """A result file that cannot be read fully and consistently (flipped bits, truncation)."""


def damaged(path, what: str) -> DamagedFileError:
    """The one-line error for a damaged file (``what``: which part failed)."""
    return DamagedFileError(f"{str(path)!r} is damaged ({what}); it was not modified — "
                            f"'perovskite-tb export {path} --csv --salvage' writes its intact rows")


def open_error(path, exc: BaseException, verb: str = "read") -> InputError:
    """The one-line error for a file h5py cannot open: truncated (damaged, salvageable) or not HDF5."""
    msg = " ".join(str(exc).split())
    m = re.search(r"eof = (\d+).*stored_eof = (\d+)", msg)
    if "truncated file" in msg and m:
        return damaged(path, f"truncated: {m.group(1)} of {m.group(2)} bytes")
    if not isinstance(exc, OSError):
        return DamagedFileError(f"{str(path)!r} cannot be opened as HDF5 ({type(exc).__name__}: {msg})")
    return InputError(f"cannot {verb} {str(path)!r} as HDF5: {msg}")


def cell_bytes(value, dtype: str) -> bytes:
    if dtype == "str":
        return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
    return np.ascontiguousarray(np.asarray(value, dtype=dtype)).tobytes()


def row_sha256(row: dict, columns) -> bytes:
    """SHA-256 (64 ASCII hex bytes) of one row's ``columns`` (name, length and bytes of every value).

    Parameters
    ----------
    row : dict
        Column name → value as stored (strings as str, numbers in the column's dtype).
    columns : sequence of str
        Covered columns (names of :data:`perovskite_tb.app.store.results.COLUMNS`), in order.
    """
    h = hashlib.sha256()
    for name in columns:
        b = cell_bytes(row[name], STORED[name].dtype if name in STORED else "str")
        h.update(name.encode() + b"\0" + len(b).to_bytes(8, "little") + b)
    return h.hexdigest().encode("ascii")


def column_sha256(values) -> str:
    """SHA-256 (hex) of a whole column as read back (strings by their UTF-8 bytes, numbers by theirs)."""
    a = np.asarray(values)
    h = hashlib.sha256(a.dtype.str.encode() + str(a.shape).encode())
    if a.dtype.kind == "O":
        for v in a.ravel().tolist():
            b = v if isinstance(v, bytes) else str(v).encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little") + b)
    else:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _attr_bytes(value) -> bytes:
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return b"b" + value
    a = np.asarray(value)
    if a.dtype.kind == "O":
        return b"o" + "\0".join(map(str, a.ravel().tolist())).encode("utf-8", "surrogatepass")
    return a.dtype.str.encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes()


def _attrs_digest(obj) -> str:
    h = hashlib.sha256()
    for name in sorted(k for k in obj.attrs if k not in VOLATILE):
        b = _attr_bytes(obj.attrs[name])
        h.update(name.encode() + b"\0" + len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


def seal(obj) -> None:
    """Store the SHA-256 of the non-volatile attributes of an HDF5 object as its ``attrs_sha256``."""
    obj.attrs[SEAL] = _attrs_digest(obj)


def check_seal(obj) -> bool | None:
    """True if ``attrs_sha256`` matches, False if not, None if the object has no seal (older file)."""
    if SEAL not in obj.attrs:
        return None
    return str(obj.attrs[SEAL]) == _attrs_digest(obj)


def short_message(exc: BaseException) -> str:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= 160 else msg[:157] + "..."


@contextmanager
def damage_guard(path, what: str = "reading"):
    """Turn any error raised while reading ``path`` (h5py, decoding, JSON) into one DamagedFileError line."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 — a damaged file can make h5py raise anything
        raise damaged(path, f"{what}: {short_message(exc)}") from None


@contextmanager
def write_guard(path, what: str):
    """Turn an HDF5 failure while extending ``path`` into one DamagedFileError line.

    A file that reads fully can still hold a damaged structure that only writing touches (e.g. the
    free-space records of its attribute heap); the rows already in it stay verifiable.
    """
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 — h5py raises OSError, KeyError, RuntimeError, ...
        raise DamagedFileError(f"{str(path)!r} failed while {what} ({short_message(exc)}); its rows are checked "
                               f"by their SHA-256 — 'perovskite-tb export {path} --csv --salvage' writes the "
                               "intact ones; use another output file") from None


def check_seals(f, path) -> None:
    """DamagedFileError if any sealed object's attributes changed (flipped bits in the file)."""
    bad = [] if check_seal(f) is not False else ["/"]
    f.visititems(lambda name, obj: bad.append(name) if check_seal(obj) is False else None)
    if bad:
        raise damaged(path, f"the attributes of {', '.join(bad[:3])} fail their SHA-256 check")


def verify_rows(f, model: str, grp, cols: dict, n: int) -> None:
    """Row counter within one row of every column length; every row with a digest matches it."""
    path = f.filename
    if "n_complete" in grp.attrs:
        c = int(grp.attrs["n_complete"])
        lengths = [grp[k].shape[0] for k in grp]
        if c < 0 or min(lengths) < c or max(lengths) > c + 1:
            raise damaged(path, f"{model} claims {c} rows but its columns hold {min(lengths)}…{max(lengths)}")
    sha_ds = f[model].get(ROW_SHA)
    if sha_ds is None or not n:
        return
    cover = [str(c) for c in np.atleast_1d(sha_ds.attrs["columns"])]
    shas = sha_ds[:n]
    if len(shas) < n or any(c not in cols for c in cover):
        bad = list(range(len(shas), n)) or [i for i, s in enumerate(shas) if s]
    else:
        bad = [i for i, s in enumerate(shas) if s and row_sha256({k: cols[k][i] for k in cover}, cover) != s]
    if bad:
        raise damaged(path, f"{model} row(s) {', '.join(map(str, bad[:5]))} fail their SHA-256 check")


