"""Reading result files (layout: :mod:`perovskite_tb.app.store.io`): open, verify, read rows, tables and curves.

Every reader verifies what it reads (sealed attributes, row digests, row counter; see
:mod:`perovskite_tb.app.store.integrity`) and turns any failure into one line: a damaged file is never
half-read. Files of the first row layout are read with their missing columns filled (see
:mod:`perovskite_tb.app.store.io`). A file whose advisory lock another process holds (a sweep writing it)
is refused rather than read in a half-written state.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock, Timeout

from perovskite_tb.app.store.integrity import (check_seal, check_seals, column_sha256, damage_guard, damaged, open_error,
                                         verify_rows)
from perovskite_tb.app.store.results import COLUMNS as ROW_COLUMNS
from perovskite_tb.errors import InputError, PerovskiteTBError
from kp.confinement import nc_default_set

__all__ = ["SCHEMA", "LEGACY_SCHEMAS", "n_complete", "check_not_being_written", "hold", "release", "open_results",
           "root_attrs", "read_rows", "check_readable", "read_table", "read_curve", "schema_of"]

SCHEMA = "perovskite_tb.results/2"
#: Older row layouts that are read (not extended).
LEGACY_SCHEMAS = ("perovskite_tb.curve/1", "perovskite_tb.app.curve/1")
_STORED = {n: c for n, c in ROW_COLUMNS.items() if c.stored}


def n_complete(grp) -> int:
    """Count the complete rows of a ``/<model>/rows`` group (``n_complete``, else shortest column)."""
    lengths = [grp[k].shape[0] for k in grp]
    n = min(lengths) if lengths else 0
    if "n_complete" in grp.attrs:
        n = min(n, int(grp.attrs["n_complete"]))
    return n


def schema_of(f, path) -> str:
    """Schema of an open file: SCHEMA or a legacy row layout; raises InputError otherwise."""
    schema = f.attrs.get("schema")
    if schema == SCHEMA or schema in LEGACY_SCHEMAS:
        return schema
    if isinstance(schema, str) and "halides/1" in schema:
        raise InputError(f"{path}: old halides file ({schema}), not readable by this version; "
                         f"write a new output file (layout {SCHEMA})")
    raise InputError(f"{path} is not a perovskite_tb result file of a known version "
                     f"(schema {schema!r}; this version reads {SCHEMA} and {LEGACY_SCHEMAS[0]})")


#: Result files whose advisory lock this process holds (a reader here must not mistake it for another's).
_HELD: set = set()


def hold(path) -> str:
    """Record that this process holds the advisory lock of ``path`` (by :class:`~perovskite_tb.app.store.io.ResultWriter`)."""
    key = str(Path(path).resolve())
    _HELD.add(key)
    return key


def release(key: str) -> None:
    """Forget a lock recorded by :func:`hold`."""
    _HELD.discard(key)


def check_not_being_written(path) -> None:
    """InputError if another process holds the advisory lock of ``path`` (a sweep is writing it).

    Only an existing ``<path>.lock`` is probed (a reader never creates one). Reading a file while
    another process writes it can see a half-written state (with HDF5 file locking off).
    """
    lock = Path(str(path) + ".lock")
    if not lock.exists() or str(Path(path).resolve()) in _HELD:
        return
    probe = FileLock(str(lock))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        raise InputError(f"result file {str(path)!r} is being written by another process (lock {lock}); "
                         "read it when that run has finished") from None
    except OSError:  # a lock file we may not open (read-only directory): nothing to learn
        return
    probe.release()


def open_results(path):
    """Open a result file for reading (h5py.File); one-line InputError if missing, not HDF5, foreign or damaged.

    Sealed attributes (:mod:`perovskite_tb.app.store.integrity`) are checked on every group and dataset.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"result file {str(p)!r} does not exist")
    check_not_being_written(p)
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001 — OSError, or anything from a damaged superblock
        raise open_error(p, exc) from None
    try:
        with damage_guard(p, "attributes"):
            schema_of(f, p)
            check_seals(f, p)
    except BaseException:
        f.close()
        raise
    return f


def root_attrs(path) -> dict:
    """Root attributes of an existing file ({} if it has none, e.g. an empty or foreign HDF5 file).

    Raises
    ------
    InputError
        Not HDF5; DamagedFileError if the attributes fail their seal or cannot be read.
    """
    p = Path(path)
    check_not_being_written(p)
    try:
        f = h5py.File(p, "r")
    except Exception as exc:  # noqa: BLE001
        raise open_error(p, exc, "open result file") from None
    with f, damage_guard(p, "attributes"):
        if "schema" not in f.attrs:
            return {}
        if check_seal(f) is False:
            check_seals(f, p)
        return dict(f.attrs)


def read_column(ds, n: int) -> np.ndarray:
    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array(ds.asstr()[:n], dtype=object)
    return ds[:n]


def _legacy_fill(attrs: dict, model: str, cols: dict) -> dict:
    """Values of columns missing in a file of the first layout, from its root attributes."""
    material = str(attrs.get("material", ""))
    etb_set = str(attrs.get("parameter_set", ""))
    kp_set = ""
    if model == "kp" and material:
        try:
            kp_set = nc_default_set(material)
        except PerovskiteTBError:  # unknown material in an old file: leave the label empty
            kp_set = ""
    opts = json.loads(attrs.get("options_json", "{}") or "{}")
    n_cells = cols.get("n_cells")
    return {
        "material": material,
        "parameter_set": etb_set if model == "etb" else kp_set,
        "lattice_set": etb_set,
        "orbital_zeeman": bool(attrs.get("orbital_zeeman", False)) if model == "etb" else False,
        "kp_basis": "legendre" if model == "kp" else "",
        "kp_resolution": int(opts.get("kp_resolution") or 0) if model == "kp" else 0,
        "shape": None if n_cells is None else np.array(
            ["cube" if len(set(r)) == 1 or not any(r) else "cuboid" for r in np.asarray(n_cells)],
            dtype=object),
    }


def _complete_columns(cols: dict, n: int, fill: dict) -> dict:
    """Add every schema column missing from ``cols`` (values from ``fill`` or the column default)."""
    out = dict(cols)
    for name, c in _STORED.items():
        if name in out:
            continue
        v = fill.get(name)
        if isinstance(v, np.ndarray) and v.shape[:1] == (n,):
            out[name] = v
        else:
            v = c.default if v is None else v
            out[name] = (np.array([v] * n, dtype=object) if c.dtype == "str"
                         else np.repeat(np.asarray(v, dtype=c.dtype)[None], n, axis=0))
    return out


def read_rows(f, model: str) -> dict:
    """Complete rows of ``model`` in an open result file as column name → ndarray (all columns).

    Columns missing in the file (older files) are filled (module docstring); unknown extra columns
    are kept. Rows with a SHA-256 digest (:mod:`perovskite_tb.app.store.integrity`) are verified.

    Raises
    ------
    DamagedFileError
        A row fails its digest, the row counter disagrees with the column lengths, or a read fails.
    """
    with damage_guard(f.filename, f"{model} rows"):
        grp = f.get(f"{model}/rows")
        if not isinstance(grp, h5py.Group) or "n_cells" not in grp:
            return {}
        n = n_complete(grp)
        cols = {k: read_column(grp[k], n) for k in grp}
        verify_rows(f, model, grp, cols, n)
        fill = _legacy_fill(dict(f.attrs), model, cols) if f.attrs.get("schema") != SCHEMA else {}
    return _complete_columns(cols, n, fill)


def check_readable(path) -> None:
    """Read every row and table of an existing result file, verifying digests and seals (no writes).

    Raises
    ------
    InputError
        Foreign or unknown schema; DamagedFileError if anything cannot be read or fails its check.
    """
    with open_results(path) as f:
        with damage_guard(path):
            for name in list(f):
                obj = f[name]
                if name == "tables" and isinstance(obj, h5py.Group):
                    for t in obj:
                        read_table(path, t)
                elif isinstance(obj, h5py.Group) and name != "params":
                    read_rows(f, name)


def read_table(path, name: str) -> dict:
    """Columns of ``/tables/<name>`` (column → ndarray, plus ``"units"``); InputError if absent."""
    with open_results(path) as f:
        t = f.get(f"tables/{name}")
        if not isinstance(t, h5py.Group):
            raise InputError(f"{path} has no table {name!r}")
        with damage_guard(path, f"table {name}"):
            out = {k: read_column(t[k], t[k].shape[0]) for k in t}
            bad = [k for k in t if "data_sha256" in t[k].attrs and column_sha256(out[k]) != t[k].attrs["data_sha256"]]
            out["units"] = {k: str(t[k].attrs.get("units", "")) for k in t}
    if bad:
        raise damaged(path, f"table {name} column(s) {', '.join(bad[:3])} fail their SHA-256 check")
    return out


def read_curve(path, model: str = "etb") -> dict:
    """Read the rows of ``model``, sorted by (temperature, transition energy).

    Returns
    -------
    dict
        column name → ndarray, plus ``"attrs"`` (root attributes) and ``"units"`` (column → unit).

    Raises
    ------
    InputError
        Missing file, foreign or unknown schema, or no rows of ``model``.
    """
    with open_results(path) as f:
        out = read_rows(f, model)
        if not out:
            raise InputError(f"{path} has no results for model {model!r}")
        attrs = dict(f.attrs)
    order = np.lexsort((out["transition_energy"], out["temperature_K"]))
    out = {k: v[order] for k, v in out.items()}
    out["attrs"] = attrs
    out["units"] = {k: (_STORED[k].unit if k in _STORED else "") for k in out if k != "attrs"}
    return out
