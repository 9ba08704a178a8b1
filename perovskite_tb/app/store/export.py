"""Result files as one labelled table: :func:`load_results` (NumPy) and :func:`write_csv`.

Decision: no xarray dependency. A sweep is a *sparse* product (k·p points have no Zeeman variant,
sizes differ per model), so the natural object is a table of points, one row per point, whose
identity columns are the coordinates (:data:`COORDS`) and whose other columns are data. Every column
is a NumPy array with its unit in :attr:`ResultTable.units`; select with :meth:`ResultTable.where`.
Anyone wanting xarray/pandas can build it from ``table.columns`` in one line.
"""

from __future__ import annotations

import csv
import io as _io
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from perovskite_tb.app.store.integrity import damage_guard
from perovskite_tb.app.store.salvage import Salvage, salvage
from perovskite_tb.app.store.io import open_results, read_rows
from perovskite_tb.app.store.keys import row_key
from perovskite_tb.app.store.results import COLUMNS, flat_names
from perovskite_tb.errors import InputError

__all__ = ["COORDS", "ResultTable", "load_results", "salvage_results", "write_csv"]

#: Identity columns (the coordinates of a point), in sort order. ``n_cells`` is (n, 3) int.
COORDS = ("model", "material", "parameter_set", "lattice_set", "orbital_zeeman", "temperature_K",
          "shape", "n_cells", "edge_nm", "diameter_nm", "semi_axes_nm", "kp_basis", "kp_resolution")


@dataclass(frozen=True)
class ResultTable:
    """Rows of a result file, sorted by :data:`COORDS`.

    Attributes
    ----------
    columns : dict of str → ndarray
        One entry per column, first axis = row. Strings are object arrays; ``n_cells`` (n, 3) int64;
        ``g_e_tensor``/``g_h_tensor`` (n, 3, 3); ``orbital_zeeman`` bool.
    units : dict of str → str
        Unit of every column ("" for labels, "1" for dimensionless).
    coords : tuple of str
        Identity columns (:data:`COORDS`).
    attrs : dict
        Root attributes of the file (provenance, ``run_toml`` for sweeps).
    """

    columns: dict
    units: dict
    coords: tuple = COORDS
    attrs: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.columns["model"])

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise InputError(f"no column {name!r} (columns: {', '.join(self.columns)})") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def where(self, **sel) -> "ResultTable":
        """Rows whose columns equal the given values, e.g. ``t.where(model="etb", temperature_K=6.0)``."""
        m = np.ones(len(self), bool)
        for k, v in sel.items():
            col = self[k]
            m &= (
                np.all(col == np.asarray(v), axis=tuple(range(1, col.ndim)))
                if col.ndim > 1
                else (col == v)
            )
        return ResultTable(
            {k: v[m] for k, v in self.columns.items()}, self.units, self.coords, self.attrs
        )

    def point_keys(self) -> list:
        """Resume keys (:func:`perovskite_tb.app.store.keys.point_key`) of the rows."""
        return [row_key({k: v[i] for k, v in self.columns.items()}) for i in range(len(self))]


def load_results(path) -> ResultTable:
    """Read every model group of a result file (curve, sweep, tseries, halides, kp-study).

    Columns missing in older files are filled (:mod:`perovskite_tb.app.store.io`); units and column order
    come from :data:`perovskite_tb.app.store.results.COLUMNS`. Row digests and sealed attributes are
    verified (:mod:`perovskite_tb.app.store.integrity`).

    Returns
    -------
    ResultTable

    Raises
    ------
    InputError
        Missing file, not HDF5, a foreign or unknown schema, or no rows; DamagedFileError (one line)
        if any part of it cannot be read or fails its check (:func:`salvage_results` reads the rest).
    """
    p = Path(path)
    with open_results(p) as f, damage_guard(p):
        attrs = dict(f.attrs)
        parts = {}
        for model in sorted(f):
            if not isinstance(f[model], h5py.Group):
                continue
            cols = read_rows(f, model)
            if cols:
                parts[model] = cols
    return _table(parts, attrs, p)


def salvage_results(path) -> tuple[ResultTable, Salvage]:
    """The intact rows of a damaged (bit-flipped, truncated) result file and what was lost.

    Rows are kept only if their SHA-256 digest matches (:func:`perovskite_tb.app.store.integrity.salvage`);
    the file is never written.

    Raises
    ------
    InputError
        No intact row at all (the message lists what was lost).
    """
    s = salvage(path)
    if not s.kept:
        raise InputError(f"nothing intact to salvage in {path}: {'; '.join(s.lost) or 'no rows'}")
    parts = {model: {k: _stack([r[k] for r in rows], k) for k in rows[0]} for model, rows in s.parts.items()}
    return _table(parts, s.attrs, Path(path)), s


def _stack(values: list, name: str) -> np.ndarray:
    c = COLUMNS[name]
    if c.dtype == "str":
        return np.array([str(v) for v in values], dtype=object)
    return np.asarray(values, dtype=c.dtype).reshape(len(values), *c.shape)


def _table(parts: dict, attrs: dict, p: Path) -> ResultTable:
    """One sorted ResultTable of the rows of every model group (``parts``: model → columns)."""
    for model, cols in parts.items():
        cols["model"] = np.array([model] * len(cols["n_cells"]), dtype=object)
    parts = [c for c in parts.values() if len(c["model"])]
    if not parts:
        raise InputError(f"{p} has no result rows")
    names = [k for k in parts[0] if all(k in c for c in parts)]
    table = {k: np.concatenate([c[k] for c in parts]) for k in names}
    table["orbital_zeeman"] = table["orbital_zeeman"].astype(bool)
    order = sorted(range(len(table["model"])),
                   key=lambda i: tuple(_sort_key(table[k][i]) for k in COORDS))
    front = list(COORDS) + [k for k in COLUMNS if k not in COORDS and k in table]
    table = {k: table[k][order] for k in front + [k for k in table if k not in front]}
    units = {k: COLUMNS[k].unit if k in COLUMNS else "" for k in table}
    return ResultTable(table, units, COORDS, attrs)


def _sort_key(v):
    """Sort key of one cell: NaN sorts first, arrays element by element."""
    if isinstance(v, np.ndarray):
        return tuple(_sort_key(x) for x in v.tolist())
    if isinstance(v, (float, np.floating)):
        return (0, 0.0) if math.isnan(v) else (1, float(v))
    return v


def write_csv(table: ResultTable, dest, note: str = "") -> None:
    """Write ``table`` as CSV: ``#`` comment lines (source, units), a header, one line per point.

    Array columns are flattened: ``n_cells`` → ``n_cells_x/y/z``, tensors → ``g_e_xx`` … ``g_e_zz``.
    Floats are written with full precision (``repr``).

    Parameters
    ----------
    table : ResultTable
    dest : path or text file
    note : str, optional
        An extra ``#`` comment line after the units line (e.g. what a salvage lost).
    """
    cols, units = [], []
    for k, v in table.columns.items():
        names = flat_names(k, v.shape[1:])
        cols.append((k, names))
        units += [f"{n}={table.units.get(k, '') or '-'}" for n in names]

    def fmt(x):
        if isinstance(x, (bool, np.bool_)):
            return "1" if x else "0"
        if isinstance(x, (float, np.floating)):
            return repr(float(x))
        if isinstance(x, (int, np.integer)):
            return str(int(x))
        return str(x)

    buf = _io.StringIO()
    buf.write(
        f"# perovskite_tb results ({table.attrs.get('schema', '')}, kind "
        f"{table.attrs.get('kind', 'curve')}); one row per point\n"
    )
    buf.write("# units: " + "; ".join(units) + "\n")
    if note:
        buf.write("# " + " ".join(note.split()) + "\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([n for _k, names in cols for n in names])
    for i in range(len(table)):
        line = []
        for k, names in cols:
            v = table.columns[k][i]
            line += [fmt(x) for x in np.ravel(v)] if len(names) > 1 else [fmt(v)]
        w.writerow(line)
    text = buf.getvalue()
    if hasattr(dest, "write"):
        dest.write(text)
    else:
        try:
            Path(dest).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {str(dest)!r}: {exc.strerror or exc}") from None
