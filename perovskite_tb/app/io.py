"""HDF5 results (schema ``perovskite_tb.app.curve/1``) and the shipped measured-data table.

Layout of a curve file::

    /                attrs: schema, package_version, git_describe, created, config_json,
                            material, parameter_set, parameter_file_sha256, parameter_citations,
                            numpy/scipy/numba/h5py versions, units note
    /params          attrs: every ETB parameter value (eV, nm)
    /<model>/rows/<column>   one resizable dataset per column, one row per finished point,
                             attr ``units``; rows are appended and flushed as each point finishes,
                             so an interrupted run keeps everything finished.

Columns: n_cells (3), edge_nm, temperature_K, n_states, E_e, E_h, transition_energy, g_e, g_h,
g_e_tensor (3×3), g_h_tensor (3×3), residual_e, residual_h, seconds, peak_rss_GB.
Sweeps (:mod:`perovskite_tb.app.sweep`) add the identity columns of :data:`ID_COLUMNS` (material,
parameter_set, lattice_set, orbital_zeeman); files without them take the values from the root
attributes (:func:`perovskite_tb.app.export.load_results`).

Atomic rows: every ``/<model>/rows`` group carries ``n_complete``, raised only after all columns of
a row are written and flushed. A writer killed mid-row leaves longer datasets; readers use the first
``n_complete`` rows and :class:`CurveWriter` truncates the partial row when it reopens the file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from perovskite_tb.errors import InputError

__all__ = ["SCHEMA", "COLUMNS", "ID_COLUMNS", "CurveWriter", "read_curve", "load_measured",
           "provenance", "load_results", "n_complete"]

SCHEMA = "perovskite_tb.app.curve/1"

#: column name -> (shape of one row, dtype, unit)
COLUMNS = {
    "n_cells": ((3,), "i8", "1"),
    "edge_nm": ((), "f8", "nm"),
    "temperature_K": ((), "f8", "K"),
    "n_states": ((), "i8", "1"),
    "E_e": ((), "f8", "eV"),
    "E_h": ((), "f8", "eV"),
    "transition_energy": ((), "f8", "eV"),
    "g_e": ((), "f8", "1"),
    "g_h": ((), "f8", "1"),
    "g_e_tensor": ((3, 3), "f8", "1"),
    "g_h_tensor": ((3, 3), "f8", "1"),
    "residual_e": ((), "f8", "eV"),
    "residual_h": ((), "f8", "eV"),
    "seconds": ((), "f8", "s"),
    "peak_rss_GB": ((), "f8", "GB"),
}

#: Optional identity columns (written by sweeps): name -> (shape, dtype, unit). ``"str"`` is UTF-8.
ID_COLUMNS = {
    "material": ((), "str", ""),
    "parameter_set": ((), "str", ""),
    "lattice_set": ((), "str", ""),
    "orbital_zeeman": ((), "bool", ""),
}


def _h5_dtype(dtype):
    import h5py

    return h5py.string_dtype() if dtype == "str" else np.dtype(dtype)


def n_complete(grp) -> int:
    """Count the complete rows of a ``/<model>/rows`` group (``n_complete``, else shortest column)."""
    lengths = [grp[k].shape[0] for k in grp]
    n = min(lengths) if lengths else 0
    if "n_complete" in grp.attrs:
        n = min(n, int(grp.attrs["n_complete"]))
    return n


def provenance() -> dict:
    """Package version, git describe and library versions (strings)."""
    import h5py
    import numba
    import scipy

    from perovskite_tb import __version__

    try:
        gd = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=Path(__file__).parent, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        gd = ""
    return {
        "package_version": __version__, "git_describe": gd or "unknown",
        "numpy_version": np.__version__, "scipy_version": scipy.__version__,
        "numba_version": numba.__version__, "h5py_version": h5py.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


class CurveWriter:
    """Append-as-you-go writer of curve rows (one group per model).

    Parameters
    ----------
    path : str or Path
        HDF5 file; an existing file with the same schema and inputs is resumed.
    attrs : dict
        Root attributes (config, parameter provenance). On resume, ``config_json`` must match.
    params : dict, optional
        Parameter values written to ``/params`` attributes.

    Raises
    ------
    InputError
        If an existing file has another schema or was made with a different configuration.
    """

    def __init__(self, path, attrs: dict, params: dict | None = None):
        import h5py

        self.path = Path(path)
        exists = self.path.exists()
        try:
            self._f = h5py.File(self.path, "a")
        except OSError as exc:
            raise InputError(f"cannot open result file {str(self.path)!r}: {exc}") from None
        f = self._f
        if exists and "schema" in f.attrs:
            if f.attrs["schema"] != SCHEMA:
                self._f.close()
                raise InputError(f"{self.path} has schema {f.attrs['schema']!r}, expected {SCHEMA!r}")
            if "config_json" in attrs and f.attrs.get("config_json") not in (None, attrs["config_json"]):
                old = json.loads(f.attrs["config_json"])
                new = json.loads(attrs["config_json"])
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in ("n_cells_list", "temperatures_K", "models"))
                if diff:
                    self._f.close()
                    raise InputError(f"{self.path} was made with different inputs ({', '.join(diff)}); use another output file")
        f.attrs["schema"] = SCHEMA
        self._repair()
        for k, v in {**provenance(), **attrs}.items():
            f.attrs[k] = v
        f.attrs["units"] = "energies eV, lengths nm, temperatures K, fields T, time s"
        if params:
            g = f.require_group("params")
            for k, v in params.items():
                g.attrs[k] = v
        f.flush()

    def _repair(self) -> None:
        """Drop a partially written trailing row (writer killed mid-row) and set ``n_complete``."""
        for name, obj in self._f.items():
            grp = obj.get("rows") if hasattr(obj, "get") else None
            if grp is None or not hasattr(grp, "attrs"):
                continue
            n = n_complete(grp)
            for k in grp:
                if grp[k].shape[0] > n:
                    grp[k].resize(n, axis=0)
            grp.attrs["n_complete"] = n

    @property
    def file(self):
        """The open :class:`h5py.File` (for extra root attributes; rows go through :meth:`append`)."""
        return self._f

    def rows(self, model: str) -> dict:
        """Complete rows of ``model`` as column name → ndarray (strings decoded); empty if none."""
        grp = self._f.get(f"{model}/rows")
        if grp is None:
            return {}
        n = n_complete(grp)
        return {k: _read_column(grp[k], n) for k in grp}

    def done(self, model: str) -> set:
        """Set of (n_cells tuple, temperature_K) already in the file for ``model``."""
        grp = self._f.get(f"{model}/rows")
        if grp is None or "n_cells" not in grp:
            return set()
        nc = grp["n_cells"][...]
        T = grp["temperature_K"][...]
        return {(tuple(int(x) for x in nc[i]), float(T[i])) for i in range(len(T))}

    def append(self, model: str, row: dict, *, fill: dict | None = None) -> None:
        """Append one finished point and flush to disk (atomically: ``n_complete`` is raised last).

        Parameters
        ----------
        model : str
            Group name (``"etb"``, ``"kp"``).
        row : dict
            Every column of :data:`COLUMNS`, optionally columns of :data:`ID_COLUMNS`.
        fill : dict, optional
            Values of :data:`ID_COLUMNS` for the rows already in the group when such a column is
            created now (files written before the column existed); default "" / False.
        """
        grp = self._f.require_group(f"{model}/rows")
        n = n_complete(grp) if len(grp) else 0
        cols = dict(COLUMNS)
        cols.update({k: v for k, v in ID_COLUMNS.items() if k in row or k in grp})
        for name, (shape, dtype, unit) in cols.items():
            if name not in grp:
                ds = grp.create_dataset(name, shape=(n, *shape), maxshape=(None, *shape),
                                        dtype=_h5_dtype(dtype), chunks=(64, *shape) if shape else (64,))
                ds.attrs["units"] = unit
                if n:
                    ds[:] = (fill or {}).get(name, "" if dtype == "str" else False)
            ds = grp[name]
            ds.resize(n + 1, axis=0)
            val = row.get(name, (fill or {}).get(name, "" if dtype == "str" else False))
            ds[n] = val if dtype == "str" else np.asarray(val)
        self._f.flush()
        # both counters in one final flush: n_points_computed counts rows ever appended (a row
        # computed twice across restarts would make it exceed the number of rows)
        self._f.attrs["n_points_computed"] = int(self._f.attrs.get("n_points_computed", 0)) + 1
        grp.attrs["n_complete"] = n + 1
        self._f.flush()

    def close(self) -> None:
        """Close the file."""
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_curve(path, model: str = "etb") -> dict:
    """Read the rows of ``model`` from a curve file, sorted by (temperature, size).

    Returns
    -------
    dict
        column name → ndarray, plus ``"attrs"`` (root attributes) and ``"units"`` (column → unit).

    Raises
    ------
    InputError
        Missing file, wrong schema or missing model group.
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise InputError(f"result file {str(p)!r} does not exist")
    with h5py.File(p, "r") as f:
        if f.attrs.get("schema") != SCHEMA:
            raise InputError(f"{p} is not a {SCHEMA} file (schema {f.attrs.get('schema')!r})")
        if f"{model}/rows" not in f:
            raise InputError(f"{p} has no results for model {model!r}")
        g = f[f"{model}/rows"]
        n = n_complete(g)
        out = {k: _read_column(g[k], n) for k in g}
        units = {k: g[k].attrs.get("units", "") for k in g}
        attrs = dict(f.attrs)
    order = np.lexsort((out["transition_energy"], out["temperature_K"]))
    out = {k: v[order] for k, v in out.items()}
    out["attrs"] = attrs
    out["units"] = units
    return out


def _read_column(ds, n: int) -> np.ndarray:
    import h5py

    if h5py.check_string_dtype(ds.dtype) is not None:
        return np.array(ds.asstr()[:n], dtype=object)
    return ds[:n]


def load_results(path):
    """All rows of a result file (curve, sweep, tseries) as one labelled table.

    See :func:`perovskite_tb.app.export.load_results` (coordinates, units, sorting).
    """
    from perovskite_tb.app.export import load_results as _load

    return _load(path)


def load_measured(path=None) -> list[dict]:
    """Measured CsPbI3 NC g-factors (Meliakov et al. 2024, 2025) shipped in ``perovskite_tb/data``.

    Returns
    -------
    list of dict
        Keys: source_doi, sample, temperature_K (float), energy_eV (float or nan), carrier, g (float),
        abs_only (bool), method, note.
    """
    if path is None:
        text = resources.files("perovskite_tb").joinpath("data/measured_g_factors_CsPbI3_NC.csv").read_text()
    else:
        text = Path(path).read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        rows.append({
            **r,
            "temperature_K": float(r["temperature_K"]),
            "energy_eV": float(r["energy_eV"]) if r["energy_eV"] else float("nan"),
            "g": float(r["g"]),
            "abs_only": r["abs_only"] == "1",
        })
    return rows
