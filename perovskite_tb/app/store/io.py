"""HDF5 result files (schema ``perovskite_tb.results/2``): one writer and one reader for every job.

Layout::

    /                    attrs: schema, kind (curve | sweep | tseries | halides | kp-study), provenance
                                (package_version, git_describe, created, numpy/scipy/numba/h5py
                                versions), parameter_files_json (path, SHA-256 and citations of every
                                parameter set used), run_toml / run_file_text / config_json (the job's
                                inputs), units, n_points_computed, job-specific attributes
    /params              attrs: ETB parameter values of a one-set job (eV, nm)
    /<model>/rows/<col>  one resizable dataset per column of :data:`perovskite_tb.app.store.results.COLUMNS`
                         (attrs ``units``, ``description``); one row per finished point
    /tables/<name>/<col> whole tables (the halides job's bulk properties, universal curve, measured
                         bulk values), attrs ``units``

Atomic rows: every ``/<model>/rows`` group carries ``n_complete``, raised only after all columns of
a row are written and flushed. A writer killed mid-row leaves longer datasets; readers use the first
``n_complete`` rows and :class:`ResultWriter` truncates the partial row when it reopens the file.

Integrity (:mod:`perovskite_tb.app.store.integrity`): ``/<model>/row_sha256`` and ``/<model>/row_journal``
per row, ``attrs_sha256`` on every object the writer sets attributes on, ``provenance_history_json``
(:mod:`perovskite_tb.app.store.provenance`). Reading is in :mod:`perovskite_tb.app.store.reader` (re-exported
here); salvage of damaged files in :mod:`perovskite_tb.app.store.salvage`.

Older files: files of the first row layout (schema ``perovskite_tb.curve/1``, also spelled
``perovskite_tb.app.curve/1``: curve, sweep and tseries files) are **read** — their missing columns
are filled from the root attributes (material, sets, Zeeman variant, k·p resolution) or left at the
column default — but not extended: appending to one is refused with a one-line error (use a new
output file). Files of the old halides layout (``perovskite_tb.halides/1``) and unknown schemas are
refused with a one-line error.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from filelock import FileLock, Timeout

from perovskite_tb.app.store.integrity import (JOURNAL, LIBVER, ROW_SHA, column_sha256, damage_guard, open_error,
                                         row_sha256, seal, write_guard)
from perovskite_tb.measured import load_measured  # noqa: F401  (public name of this module)
from perovskite_tb.app.store.provenance import history, provenance
from perovskite_tb.app.store.reader import (LEGACY_SCHEMAS, SCHEMA, check_not_being_written, check_readable, hold,  # noqa: F401
                                      read_column, n_complete, open_results, read_curve, read_rows, read_table,
                                      release, root_attrs, schema_of)
from perovskite_tb.app.store.results import BULK_COLUMNS, check_row, default_row
from perovskite_tb.app.store.results import COLUMNS as ROW_COLUMNS
from perovskite_tb.app.store.salvage import row_record
from perovskite_tb.errors import InputError

__all__ = ["SCHEMA", "LEGACY_SCHEMAS", "KINDS", "COLUMNS", "ResultWriter", "CurveWriter", "open_results",
           "root_attrs", "check_readable", "check_not_being_written", "read_rows", "read_curve", "read_table",
           "update_attrs", "provenance", "n_complete", "load_results", "load_measured"]

#: Values of the root ``kind`` attribute.
KINDS = ("curve", "sweep", "tseries", "halides", "kp-study")
_UNITS_NOTE = "energies eV, lengths nm, temperatures K, fields T, time s, memory GB (1e9 bytes)"

_STORED = {n: c for n, c in ROW_COLUMNS.items() if c.stored}
#: Stored row columns as name → (shape of one row, dtype, unit) (compact view of the schema).
COLUMNS = {n: (c.shape, c.dtype, c.unit) for n, c in _STORED.items()}


def _h5_dtype(dtype: str):
    return h5py.string_dtype() if dtype == "str" else np.dtype(dtype)


def _check_before_writing(path: Path, attrs: dict) -> None:
    """Refusals of an existing output, on a read-only handle: not HDF5, foreign, older, other inputs, damaged."""
    try:
        f = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001
        raise open_error(path, exc, "open result file") from None
    with f, damage_guard(path, "attributes"):
        if not len(f.attrs):
            if len(f.keys()):
                raise InputError(f"{str(path)!r} is an HDF5 file of another program (no perovskite-tb "
                                 "schema); choose another output path")
            return  # an empty HDF5 file: adopted
        schema = schema_of(f, path)
        if schema != SCHEMA:
            raise InputError(f"{path} was written by an older version ({schema}); it can be "
                             "read and exported but not extended — use a new output file")
        old_cfg = f.attrs.get("config_json")
        if "config_json" in attrs and old_cfg not in (None, attrs["config_json"]):
            old, new = json.loads(old_cfg), json.loads(attrs["config_json"])
            free = ("n_cells_list", "temperatures_K", "models")
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in free)
            if diff:
                raise InputError(f"{path} was made with different inputs ({', '.join(diff)}); "
                                 "use another output file")
    check_readable(path)


def _fresh_tail(ds, n: int) -> None:
    """Resize a row dataset to ``n`` rows, rewriting the rows of its last chunk into a new chunk.

    Shrinking to the chunk boundary below ``n`` deletes every chunk from there on (HDF5 frees chunks
    that lie wholly outside the extent), so the rows appended next land in a chunk that holds no
    stale heap references.
    """
    c0 = (n // ds.chunks[0]) * ds.chunks[0]
    keep = ds[c0:n] if n > c0 else None
    ds.resize(c0, axis=0)
    ds.resize(n, axis=0)
    if keep is not None:
        ds[c0:n] = keep


class ResultWriter:
    """Append-as-you-go writer of result rows (one group per model) with atomic rows.

    Parameters
    ----------
    path : str or Path
        HDF5 file; an existing file of this schema is resumed (rows kept, attributes updated).
    attrs : dict
        Root attributes; ``kind`` (one of :data:`KINDS`, default ``"sweep"``) and the job's inputs.
        On resume a differing ``config_json`` refuses (other material, set, options).
    params : dict, optional
        Parameter values written to ``/params`` attributes.

    Raises
    ------
    InputError
        Unwritable file, another or an older schema, a different job configuration, unknown kind.
    """

    def __init__(self, path, attrs: dict, params: dict | None = None):
        self.path = Path(path)
        kind = attrs.get("kind", "sweep")
        if kind not in KINDS:
            raise InputError(f"unknown result kind {kind!r} (known: {', '.join(KINDS)})")
        # Our own advisory lock (works where HDF5's file locking is off, e.g. on cluster file systems).
        self._lock = FileLock(str(self.path) + ".lock")
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise InputError(f"result file {str(self.path)!r} is being written by another process "
                             f"(lock {str(self.path)}.lock)") from None
        self._key = hold(self.path)
        try:
            if self.path.exists():  # everything that can refuse runs on a read-only handle first
                _check_before_writing(self.path, attrs)
            self._f = h5py.File(self.path, "a", libver=LIBVER)
        except OSError as exc:
            self._release()
            raise InputError(f"cannot open result file {str(self.path)!r}: {' '.join(str(exc).split())}") from None
        except BaseException:
            self._release()
            raise
        try:
            with write_guard(self.path, "being opened for writing"):
                self._init(attrs, kind, params)
        except BaseException:
            try:
                self._f.close()
            except Exception:  # noqa: BLE001 — closing a file HDF5 failed to write: nothing more to save
                pass
            self._release()
            raise

    def _release(self) -> None:
        release(self._key)
        self._lock.release()

    def _init(self, attrs: dict, kind: str, params: dict | None) -> None:
        f = self._f
        f.attrs["schema"] = SCHEMA
        self._repair()
        prov = provenance()
        prov["modified"] = prov["created"]
        prov["created"] = str(f.attrs.get("created", prov["created"]))  # the first run's creation time
        new = {**prov, **attrs, "kind": kind, "units": _UNITS_NOTE}
        new["provenance_history_json"] = json.dumps(history(f, new))
        for k, v in new.items():
            f.attrs[k] = v
        if params:
            g = f.require_group("params")
            for k, v in params.items():
                g.attrs[k] = v
            seal(g)
        seal(f)
        f.flush()

    def _repair(self) -> None:
        """Drop a partially written trailing row (writer killed mid-row) and set ``n_complete``.

        Variable-length columns also get a fresh last chunk (:func:`_fresh_tail`): a writer killed
        while flushing can leave a chunk that refers to heap objects never written, and HDF5 frees
        the old object of every element it overwrites ("bad heap index" on the next row).
        """
        for obj in self._f.values():
            grp = obj.get("rows") if isinstance(obj, h5py.Group) else None
            if not isinstance(grp, h5py.Group):
                continue
            n = n_complete(grp)
            for ds in [*grp.values(), obj.get(ROW_SHA), obj.get(JOURNAL)]:
                if ds is None:
                    continue
                if h5py.check_vlen_dtype(ds.dtype) is not None or h5py.check_string_dtype(ds.dtype) and \
                        h5py.check_string_dtype(ds.dtype).length is None:
                    _fresh_tail(ds, n)
                elif ds.shape[0] > n:
                    ds.resize(n, axis=0)
            grp.attrs["n_complete"] = n

    @property
    def file(self):
        """The open :class:`h5py.File` (for job attributes; rows go through :meth:`append`)."""
        return self._f

    def rows(self, model: str) -> dict:
        """Complete rows of ``model`` as column name → ndarray (strings decoded); empty if none."""
        return read_rows(self._f, model)

    def done(self, model: str) -> set:
        """Set of (n_cells tuple, temperature_K) already in the file for ``model``."""
        r = self.rows(model)
        if not r:
            return set()
        return {(tuple(int(x) for x in nc), float(T)) for nc, T in zip(r["n_cells"], r["temperature_K"])}

    def append(self, model: str, row: dict) -> None:
        """Append one finished point and flush (atomically: ``n_complete`` is raised last).

        The row's SHA-256 (:func:`perovskite_tb.app.store.integrity.row_sha256`, computed from the values
        read back from the file) is written with the row, before the counter.

        Parameters
        ----------
        model : str
            Group name (``"etb"``, ``"kp"``).
        row : dict
            Columns of :data:`perovskite_tb.app.store.results.COLUMNS` (missing ones take their default;
            ``model`` and ``error`` are not stored).
        """
        full = check_row({**default_row(), **row})
        with write_guard(self.path, "a row was appended"):
            self._append(model, full)

    def _append(self, model: str, full: dict) -> None:
        grp = self._f.require_group(f"{model}/rows")
        n = n_complete(grp) if len(grp) else 0
        for name, c in _STORED.items():
            if name not in grp:
                ds = grp.create_dataset(name, shape=(n, *c.shape), maxshape=(None, *c.shape),
                                        dtype=_h5_dtype(c.dtype), chunks=(64, *c.shape))
                ds.attrs["units"] = c.unit
                ds.attrs["description"] = c.description
                seal(ds)
                if n:
                    ds[:] = c.default
            ds = grp[name]
            ds.resize(n + 1, axis=0)
            ds[n] = full[name]
        sha, journal = self._sha_dataset(model, n)
        cover = [str(c) for c in sha.attrs["columns"]]
        back = {k: grp[k][n] for k in cover}  # the values as stored
        for ds in (sha, journal):
            ds.resize(n + 1, axis=0)
        sha[n] = row_sha256(back, cover)
        journal[n] = row_record(model, back, cover)
        self._f.flush()
        # both counters in one final flush: n_points_computed counts rows ever appended (a row
        # computed twice across restarts would make it exceed the number of rows)
        self._f.attrs["n_points_computed"] = int(self._f.attrs.get("n_points_computed", 0)) + 1
        grp.attrs["n_complete"] = n + 1
        self._f.flush()

    def _sha_dataset(self, model: str, n: int):
        """``/<model>/row_sha256`` and ``row_journal`` (created for the current columns; earlier rows empty)."""
        g = self._f[model]
        if ROW_SHA not in g:
            ds = g.create_dataset(ROW_SHA, shape=(n,), maxshape=(None,), dtype="S64", chunks=(256,))
            ds.attrs["columns"] = np.array(list(_STORED), dtype=h5py.string_dtype())
            ds.attrs["description"] = "SHA-256 (hex) of the row's covered columns; empty: not recorded"
            seal(ds)
        if JOURNAL not in g:
            ds = g.create_dataset(JOURNAL, shape=(g[ROW_SHA].shape[0],), maxshape=(None,), chunks=(256,),
                                  dtype=h5py.string_dtype("ascii"))
            ds.attrs["description"] = "the row as a self-checking record, for salvage by scanning the bytes"
            seal(ds)
        return g[ROW_SHA], g[JOURNAL]

    def set_attrs(self, **attrs) -> None:
        """Set root attributes (a job's facts), re-seal them and flush."""
        with write_guard(self.path, "its attributes were set"):
            for k, v in attrs.items():
                self._f.attrs[k] = v
            seal(self._f)
            self._f.flush()

    def write_table(self, name: str, rows: list[dict], columns: dict = BULK_COLUMNS,
                    attrs: dict | None = None) -> None:
        """Write (replace) ``/tables/<name>``: one dataset per column of ``columns`` (+ ``attrs``)."""
        with write_guard(self.path, f"table {name} was written"):
            self._write_table(name, rows, columns, attrs)

    def _write_table(self, name: str, rows: list[dict], columns: dict, attrs: dict | None) -> None:
        g = self._f.require_group("tables")
        if name in g:
            del g[name]
        t = g.create_group(name)
        t.attrs.update(attrs or {})
        for cname, c in columns.items():
            vals = [check_row({cname: r.get(cname, c.default)}, columns)[cname] for r in rows]
            data = (np.array(vals, dtype=object) if c.dtype == "str"
                    else np.asarray(vals, dtype=c.dtype).reshape(len(rows), *c.shape))
            ds = t.create_dataset(cname, data=data, dtype=_h5_dtype(c.dtype))
            ds.attrs["units"] = c.unit
            ds.attrs["description"] = c.description
            ds.attrs["data_sha256"] = column_sha256(read_column(ds, ds.shape[0]))
            seal(ds)
        seal(t)
        self._f.flush()

    def close(self) -> None:
        """Close the file and release the advisory lock."""
        try:
            with write_guard(self.path, "being closed"):
                self._f.close()
        finally:
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: Historical name of :class:`ResultWriter`.
CurveWriter = ResultWriter


def update_attrs(path, **attrs) -> None:
    """Set root attributes of an existing result file of this schema (a job's derived facts).

    The file is verified first (never written if it cannot be read fully) and re-sealed.
    """
    check_readable(path)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError(f"result file {str(path)!r} is being written by another process") from None
    try:
        with h5py.File(path, "a", libver=LIBVER) as f:
            if f.attrs.get("schema") != SCHEMA:
                raise InputError(f"{path}: not a {SCHEMA} file")
            for k, v in attrs.items():
                f.attrs[k] = v
            seal(f)
    finally:
        lock.release()


def load_results(path):
    """All rows of a result file as one labelled table (:func:`perovskite_tb.app.store.export.load_results`)."""
    from perovskite_tb.app.store.export import load_results as _load  # export imports io: a cycle

    return _load(path)
