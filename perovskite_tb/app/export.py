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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perovskite_tb.errors import InputError, PerovskiteTBError

__all__ = ["COORDS", "ResultTable", "load_results", "write_csv"]

#: Identity columns (the coordinates of a point), in sort order. ``n_cells`` is (n, 3) int.
COORDS = (
    "model",
    "material",
    "parameter_set",
    "lattice_set",
    "orbital_zeeman",
    "temperature_K",
    "n_cells",
    "edge_nm",
)
_TENSOR_SUFFIX = ("xx", "xy", "xz", "yx", "yy", "yz", "zx", "zy", "zz")


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
        """Resume keys (:func:`perovskite_tb.app.sweep.point_key`) of the rows."""
        from perovskite_tb.app.sweep import point_key

        c = self.columns
        return [
            point_key(
                *(
                    c[k][i]
                    for k in (
                        "model",
                        "material",
                        "parameter_set",
                        "lattice_set",
                        "n_cells",
                        "edge_nm",
                        "temperature_K",
                        "orbital_zeeman",
                    )
                )
            )
            for i in range(len(self))
        ]


def load_results(path) -> ResultTable:
    """Read every model group of a ``perovskite_tb.app.curve/1`` file (curve, sweep, tseries).

    Identity columns missing in older files are taken from the root attributes (``material``,
    ``parameter_set``, ``orbital_zeeman``; k·p rows get the default k·p set).

    Returns
    -------
    ResultTable

    Raises
    ------
    InputError
        Missing file, not HDF5, another schema, or no rows.
    """
    import h5py

    from perovskite_tb.app.io import SCHEMA, _read_column, n_complete

    p = Path(path)
    if not p.exists():
        raise InputError(f"result file {str(p)!r} does not exist")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"cannot read {str(p)!r} as HDF5: {exc}") from None
    with f:
        if f.attrs.get("schema") != SCHEMA:
            raise InputError(f"{p} is not a {SCHEMA} file (schema {f.attrs.get('schema')!r})")
        attrs = dict(f.attrs)
        parts, units = (
            [],
            {
                "model": "",
                "material": "",
                "parameter_set": "",
                "lattice_set": "",
                "orbital_zeeman": "",
            },
        )
        for model in sorted(f):
            g = f[model].get("rows") if isinstance(f[model], h5py.Group) else None
            if not isinstance(g, h5py.Group) or "n_cells" not in g:
                continue
            n = n_complete(g)
            cols = {k: _read_column(g[k], n) for k in g}
            units.update({k: str(g[k].attrs.get("units", "")) for k in g})
            fill = _fill(attrs, model)
            for k, v in fill.items():
                if k not in cols:
                    cols[k] = np.array([v] * n, dtype=bool if k == "orbital_zeeman" else object)
            cols["model"] = np.array([model] * n, dtype=object)
            parts.append(cols)
    if not parts or not sum(len(c["model"]) for c in parts):
        raise InputError(f"{p} has no result rows")
    names = [k for k in parts[0] if all(k in c for c in parts)]
    table = {k: np.concatenate([c[k] for c in parts]) for k in names}
    table["orbital_zeeman"] = table["orbital_zeeman"].astype(bool)
    order = sorted(
        range(len(table["model"])), key=lambda i: tuple(_sort_key(table[k][i]) for k in COORDS)
    )
    table = {k: v[order] for k, v in table.items()}
    from perovskite_tb.app.io import COLUMNS

    front = [k for k in COORDS if k in table]
    front += [k for k in COLUMNS if k in table and k not in front]
    table = {k: table[k] for k in front + [k for k in table if k not in front]}
    return ResultTable(table, {k: units.get(k, "") for k in table}, COORDS, attrs)


def _sort_key(v):
    return tuple(v.tolist()) if isinstance(v, np.ndarray) else v


def _fill(attrs: dict, model: str) -> dict:
    kp_default = ""
    if model == "kp":
        from perovskite_tb.app.sweep import _kp_default

        try:
            kp_default = _kp_default(str(attrs.get("material", "")))
        except PerovskiteTBError:  # unknown material in an old file: leave the label empty
            kp_default = ""
    etb_set = str(attrs.get("parameter_set", ""))
    return {
        "material": str(attrs.get("material", "")),
        "parameter_set": etb_set if model == "etb" else kp_default,
        "lattice_set": etb_set,
        "orbital_zeeman": bool(attrs.get("orbital_zeeman", False)) if model == "etb" else False,
    }


def write_csv(table: ResultTable, dest) -> None:
    """Write ``table`` as CSV: ``#`` comment lines (source, units), a header, one line per point.

    Array columns are flattened: ``n_cells`` → ``n_cells_x/y/z``, tensors → ``g_e_xx`` … ``g_e_zz``.
    Floats are written with full precision (``repr``).

    Parameters
    ----------
    table : ResultTable
    dest : path or text file
    """
    cols, units = [], []
    for k, v in table.columns.items():
        if k == "n_cells":
            names = [f"n_cells_{a}" for a in "xyz"]
        elif v.ndim == 3:
            names = [f"{k.removesuffix('_tensor')}_{s}" for s in _TENSOR_SUFFIX]
        else:
            names = [k]
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
