"""The result schema: every column of a result row defined once (name, unit, dtype, shape, description).

One row is one solved nanocrystal (a *point*). Rows are built only here — :func:`row_from_result`
for a solved NC (ETB or k·p), :func:`failed_row` for a point that raised — and every consumer takes
names, units and dtypes from :data:`COLUMNS`: the HDF5 writer (:mod:`perovskite_tb.app.store.io`), the
CSV export (:mod:`perovskite_tb.app.store.export`), the sweep engine and its jobs (curve, tseries,
halides, the k·p study) and the CLI JSON (:func:`to_json`, which spells the historical keys such as
``E_e_eV`` through :attr:`Column.json_key`).

Observables (:data:`perovskite_tb.observables.REGISTRY`, e.g. ``g_X``) get a column each,
automatically: registering one is all it takes for it to appear in rows, files, CSV and JSON.

Bulk properties (``perovskite-tb bulk``, the halides job) have their own small table,
:data:`BULK_COLUMNS`, built by :func:`bulk_row`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from perovskite_tb.observables import REGISTRY, evaluate

__all__ = [
    "Column", "COLUMNS", "EXCITON_OBSERVABLES", "ID_COLUMNS", "BULK_COLUMNS", "NC_JSON", "KP_NC_JSON", "BULK_JSON",
    "KP_BULK_JSON", "STUDY_JSON", "REFERENCE_COLUMNS", "JSON_KEYS", "nc_json",
    "default_row", "row_from_result", "row_from_columns", "failed_row", "bulk_row", "to_json", "flat_names",
    "units", "check_row", "ROW_LEVELS", "ROW_DEGENERACY",
]


@dataclass(frozen=True)
class Column:
    """One column of a result table.

    Attributes
    ----------
    name : str
        Column name in rows, HDF5 datasets and the CSV header.
    unit : str
        Unit ("1" dimensionless, "" for labels).
    dtype : {"f8", "i8", "bool", "str"}
        Storage type of one element.
    description : str
        One line (shown in ``docs/run-file.md`` and the HDF5 ``description`` attribute).
    shape : tuple of int
        Shape of one row's value (``()`` scalar, ``(3,)``, ``(3, 3)``).
    json_key : str or None
        Key in the CLI JSON (historical spelling, e.g. ``E_e_eV``); None: same as ``name``.
    stored : bool
        Written to HDF5 (False for ``model``, the group name, and ``error``).
    """

    name: str
    unit: str
    dtype: str
    description: str
    shape: tuple = ()
    json_key: str | None = None
    stored: bool = True

    @property
    def key(self) -> str:
        """CLI JSON key."""
        return self.json_key or self.name

    @property
    def default(self):
        """Value of a column nobody set: NaN, 0, False or "" (arrays of it for shaped columns)."""
        fill = {"f8": math.nan, "i8": 0, "bool": False, "str": ""}[self.dtype]
        if not self.shape:
            return fill
        return np.full(self.shape, fill, dtype=self.dtype)


_NAN3 = "NaN where not applicable"

#: Identity columns (the coordinates of a point; the sweep's resume key is built from them).
ID_COLUMNS: tuple[Column, ...] = (
    Column("model", "", "str", "model: etb (tight binding) or kp (8-band k·p)", stored=False),
    Column("material", "", "str", "compound, e.g. CsPbI3"),
    Column("parameter_set", "", "str", "parameter set of the model (ETB or k·p set name or file)"),
    Column("lattice_set", "", "str", "ETB set fixing a k·p edge N·a(T) ('' for explicit k·p edges)"),
    Column("orbital_zeeman", "", "bool", "on-site μB L·B term included (ETB only)"),
    Column("temperature_K", "K", "f8", "temperature of the parameter set"),
    Column("shape", "", "str", "NC shape (perovskite_tb.model.shapes: cube, cuboid, sphere, spheroid)"),
    Column("termination", "", "str", "surface termination of an ETB NC (perovskite_tb.model.termination: "
           "pbx6, passivated, csx); '' for k·p and rows written before terminations existed"),
    Column("n_cells", "1", "i8", "Pb sites per edge (Nx, Ny, Nz); 0 for shapes not given by cells",
           shape=(3,)),
    Column("edge_nm", "nm", "f8", "edge along x (cubes: the edge); NaN for spheres and spheroids"),
    Column("diameter_nm", "nm", "f8", f"sphere diameter; {_NAN3}"),
    Column("semi_axes_nm", "nm", "f8", f"spheroid semi-axes along x, y, z; {_NAN3}", shape=(3,)),
    Column("kp_basis", "", "str", "k·p envelope basis (legendre, sine); '' for ETB", json_key="basis"),
    Column("kp_resolution", "1", "i8", "requested k·p functions per direction; 0 = kp default"),
)

_DATA_COLUMNS: tuple[Column, ...] = (
    Column("edges_nm", "nm", "f8", f"edges (Lx, Ly, Lz) of a box-shaped NC; {_NAN3}", shape=(3,),
           json_key="edge_nm"),
    Column("n_states", "1", "i8", "basis size (rows of H)"),
    Column("n_atoms", "1", "i8", "atoms of the ETB structure; 0 for k·p"),
    Column("kp_n_basis", "1", "i8", "k·p envelope functions used per direction; 0 for ETB",
           shape=(3,), json_key="n_basis"),
    Column("E_e", "eV", "f8", "lowest electron level (bulk VBM ≈ 0)", json_key="E_e_eV"),
    Column("E_h", "eV", "f8", "highest hole level", json_key="E_h_eV"),
    Column("transition_energy", "eV", "f8", "E_e − E_h (single particle)",
           json_key="transition_energy_eV"),
    Column("g_e", "1", "f8", "electron g = trace(g tensor)/3 (J convention, Kirstein et al. 2022)"),
    Column("g_h", "1", "f8", "hole g = trace(g tensor)/3"),
    Column("g_e_tensor", "1", "f8", "electron g tensor, rows = field x, y, z", shape=(3, 3)),
    Column("g_h_tensor", "1", "f8", "hole g tensor, rows = field x, y, z", shape=(3, 3)),
    Column("residual_e", "eV", "f8", "‖Hv − Ev‖ of the electron doublet", json_key="residual_e_eV"),
    Column("residual_h", "eV", "f8", "‖Hv − Ev‖ of the hole doublet", json_key="residual_h_eV"),
)

#: Multiplets per carrier a row stores (``levels`` K ≤ this; NaN / 0 beyond the levels computed).
ROW_LEVELS = 16
#: Zeeman values stored per multiplet (degeneracies up to this; the point-group irreps have ≤ 4).
ROW_DEGENERACY = 8

_LEVEL_COLUMNS: tuple[Column, ...] = tuple(
    col for c, side, order in (("e", "electron", "ascending"), ("h", "hole", "descending from the gap")) for col in (
        Column(f"levels_{c}", "eV", "f8", f"{side} multiplet energies, {order} (perovskite_tb.eigen.spectrum); "
               "NaN beyond the levels computed", shape=(ROW_LEVELS,)),
        Column(f"degeneracy_{c}", "1", "i8", f"states in each {side} multiplet; 0 beyond the levels computed",
               shape=(ROW_LEVELS,)),
        Column(f"zeeman_{c}", "muB", "f8", f"first-order Zeeman values of each {side} multiplet along x, y, z "
               "(energy per μB·B), by decreasing <J>; a doublet gives (+g/2, -g/2); NaN-padded",
               shape=(ROW_LEVELS, 3, ROW_DEGENERACY)),
    ))

_RUN_COLUMNS: tuple[Column, ...] = (
    Column("solver", "", "str", "eigensolver back end ('' when unknown)"),
    Column("seconds", "s", "f8", "wall time of the point"),
    Column("peak_rss_GB", "GB", "f8", "peak resident memory of the computing process (10⁹ bytes)"),
    Column("error", "", "str", "failure message of a point that raised ('' otherwise)", stored=False),
)


def _observable_columns() -> tuple[Column, ...]:
    # JSON keys carry the unit like the other energies (coulomb → coulomb_eV, Delta_N_e → Delta_N_e_mT).
    return tuple(Column(o.name, o.unit, "f8", o.description,
                        json_key=o.json_key or (f"{o.name}_{o.unit}" if o.unit not in ("1", "") else None))
                 for o in REGISTRY.values())


#: name → Column of a result row, in table order (identity, data, observables, run facts).
COLUMNS: dict[str, Column] = {
    c.name: c for c in ID_COLUMNS + _DATA_COLUMNS + _observable_columns() + _LEVEL_COLUMNS + _RUN_COLUMNS
}

#: name → Column of a bulk row (``perovskite-tb bulk``, the halides job's bulk table).
BULK_COLUMNS: dict[str, Column] = {c.name: c for c in (
    Column("material", "", "str", "compound"),
    Column("parameter_set", "", "str", "ETB parameter set"),
    Column("orbital_zeeman", "", "bool", "on-site μB L·B term included in g"),
    Column("Eg", "eV", "f8", "direct gap at R", json_key="Eg_eV"),
    Column("gap_M", "eV", "f8", "direct gap at M", json_key="gap_M_eV"),
    Column("gap_X", "eV", "f8", "direct gap at X", json_key="gap_X_eV"),
    Column("Delta_so", "eV", "f8", "CB spin–orbit splitting at R", json_key="Delta_so_eV"),
    Column("E_vbm", "eV", "f8", "VB maximum at R"),
    Column("Ep", "eV", "f8", "Kane energy 2m0P²/ħ² (k·p sets; NaN for ETB)", json_key="Ep_eV"),
    Column("m_e", "m0", "f8", "electron mass at R along [100]"),
    Column("m_h", "m0", "f8", "hole mass at R along [100]"),
    Column("g_e", "1", "f8", "bulk electron g (J convention)"),
    Column("g_h", "1", "f8", "bulk hole g (J convention)"),
)}

#: name → Column of the halides job's reference tables (universal curve, measured bulk ranges).
REFERENCE_COLUMNS: dict[str, Column] = {c.name: c for c in (
    BULK_COLUMNS["material"], BULK_COLUMNS["Eg"], BULK_COLUMNS["g_e"], BULK_COLUMNS["g_h"],
    Column("carrier", "", "str", "e (electron) or h (hole)"),
    Column("g_min", "1", "f8", "smallest measured g over field orientations"),
    Column("g_max", "1", "f8", "largest measured g over field orientations"),
    Column("source", "", "str", "citation key (parameters/references.toml)"),
)}

#: Observables that are NaN unless the exciton CI was requested (``nc --excitons``, ``[options].excitons``):
#: columns of the result rows, left out of the default CLI JSON (``nc --excitons`` adds its own keys).
EXCITON_OBSERVABLES = ("exciton_bright_dark", "exciton_bright_splitting", "g_X_bright", "radiative_lifetime", "trion_negative_binding",
                       "trion_positive_binding", "biexciton_binding")
_JSON_OBSERVABLES = tuple(n for n in REGISTRY if n not in EXCITON_OBSERVABLES)
#: Columns of ``perovskite-tb nc --json`` (historical keys first, then shape, observables, solver).
NC_JSON = ("n_cells", "edges_nm", "n_states", "E_e", "E_h", "transition_energy", "g_e", "g_h",
           "g_e_tensor", "g_h_tensor", "residual_e", "residual_h", "seconds",
           "shape", "n_atoms", "diameter_nm", "semi_axes_nm", "termination", *_JSON_OBSERVABLES, "solver")
#: Columns of ``perovskite-tb kp-nc --json`` (the historical keys of kp.confinement.nc_gfactors).
KP_NC_JSON = ("n_states", "E_e", "E_h", "transition_energy", "g_e", "g_h", "g_e_tensor",
              "g_h_tensor", "residual_e", "residual_h", "parameter_set", "kp_basis", "kp_n_basis",
              "seconds", "edges_nm", "shape", *_JSON_OBSERVABLES, "solver")
#: Columns of a k·p study record (``python -m perovskite_tb.app.jobs.kp_study``; scalar ``edge_nm``).
STUDY_JSON = ("model", "n_cells", "edge_nm", "n_states", "E_e", "E_h", "transition_energy", "g_e",
              "g_h", "residual_e", "residual_h", "parameter_set", "kp_basis", "kp_resolution",
              "kp_n_basis", *_JSON_OBSERVABLES, "solver", "seconds", "peak_rss_GB")
#: Columns of ``perovskite-tb bulk --json``.
BULK_JSON = ("Eg", "gap_M", "gap_X", "Delta_so", "m_e", "m_h", "g_e", "g_h")
#: Columns of ``perovskite-tb kp-bulk --json``.
KP_BULK_JSON = ("material", "parameter_set", "Eg", "Delta_so", "Ep", "m_e", "m_h", "g_e", "g_h")
#: Column name → CLI JSON key (``E_e`` → ``E_e_eV`` …), for every column.
JSON_KEYS: dict[str, str] = {n: c.key for n, c in COLUMNS.items()}
#: Size columns left out of the JSON when not applicable (NaN).
_OPTIONAL_SIZES = ("edges_nm", "edge_nm", "diameter_nm", "semi_axes_nm")


def default_row(columns: dict = COLUMNS) -> dict:
    """A row with every column at its default (NaN, 0, False, "")."""
    return {name: c.default for name, c in columns.items()}


def check_row(row: dict, columns: dict = COLUMNS) -> dict:
    """Convert the values of ``row`` to the schema's dtypes and shapes.

    Raises
    ------
    KeyError
        A name that is not a column (a programming error: rows are built only through this module).
    ValueError
        A value of the wrong shape.
    """
    out = {}
    for name, v in row.items():
        c = columns[name]
        if c.dtype == "str":
            out[name] = str(v)
        elif c.shape:
            a = np.asarray(v, dtype=c.dtype)
            if a.shape != c.shape:
                raise ValueError(f"column {name}: shape {a.shape}, expected {c.shape}")
            out[name] = a
        elif c.dtype == "bool":
            out[name] = bool(v)
        elif c.dtype == "i8":
            out[name] = int(v)
        else:
            out[name] = float(v)
    return out


def _first(obj, *names, default=None):
    """First attribute of ``obj`` among dotted ``names`` that exists (``"electron.energy"``)."""
    for dotted in names:
        v = obj
        for part in dotted.split("."):
            v = getattr(v, part, None)
            if v is None:
                break
        if v is not None:
            return v
    return default


def _result_columns(result) -> dict:
    """Columns readable from a solved NC (ETB :class:`perovskite_tb.nc.NcResult` or the k·p result)."""
    E_e = float(_first(result, "E_e", "electron.energy"))
    E_h = float(_first(result, "E_h", "hole.energy"))
    H0 = _first(result, "terms.H0")
    n_states = _first(result, "n_states", default=None if H0 is None else H0.shape[0])
    stats = _first(result, "stats", default={}) or {}
    cols = {
        "E_e": E_e, "E_h": E_h,
        "transition_energy": float(_first(result, "transition_energy", default=E_e - E_h)),
        "g_e": result.g_e.g, "g_h": result.g_h.g,
        "g_e_tensor": result.g_e.tensor, "g_h_tensor": result.g_h.tensor,
        "residual_e": _first(result, "residual_e", "electron.residual", default=math.nan),
        "residual_h": _first(result, "residual_h", "hole.residual", default=math.nan),
        "seconds": _first(result, "seconds", default=math.nan),
        "solver": _first(result, "solver", default=stats.get("solver") or stats.get("method", "")),
    }
    for name, v in (_first(result, "shape_info", default={}) or {}).items():  # ETB shapes: size_json()
        if name in COLUMNS:
            cols[name] = tuple(v) if isinstance(v, list) else v
    if n_states is not None:
        cols["n_states"] = int(n_states)
    for name in ("n_cells", "n_atoms", "shape"):
        v = _first(result, name)
        if v is not None:
            cols[name] = getattr(v, "kind", v)
    if "shape" not in cols and "n_cells" in cols:
        cols["shape"] = "cube" if len(set(cols["n_cells"])) == 1 else "cuboid"
    edges = _first(result, "edge_nm")
    if edges is not None:
        cols["edges_nm"] = tuple(edges)
        cols["edge_nm"] = float(tuple(edges)[0])
    cols.update(_level_columns(result))
    nb = _first(result, "terms.basis.n_max")
    if nb is not None:
        cols["kp_n_basis"] = tuple(int(v) for v in nb)
        cols["kp_basis"] = _first(result, "terms.basis.kind", default="")
    return cols


def _level_columns(result) -> dict:
    """The spectrum of a :class:`perovskite_tb.nc.SolvedNanocrystal` as the ``levels_*``, ``degeneracy_*`` and
    ``zeeman_*`` columns (first :data:`ROW_LEVELS` multiplets per carrier); {} for other results."""
    spectrum = getattr(result, "spectrum", None)
    if spectrum is None or not hasattr(result, "zeeman"):
        return {}
    out = {}
    for c in ("e", "h"):
        E = np.full(ROW_LEVELS, math.nan)
        deg = np.zeros(ROW_LEVELS, dtype=np.int64)
        Z = np.full((ROW_LEVELS, 3, ROW_DEGENERACY), math.nan)
        for i, m in enumerate(spectrum.carrier(c)[:ROW_LEVELS]):
            E[i], deg[i] = m.energy, m.degeneracy
            z = result.zeeman(c, i)
            Z[i, :, : min(z.shape[1], ROW_DEGENERACY)] = z[:, :ROW_DEGENERACY]
        out.update({f"levels_{c}": E, f"degeneracy_{c}": deg, f"zeeman_{c}": Z})
    return out


def row_from_result(result, **columns) -> dict:
    """The row of one solved nanocrystal.

    Parameters
    ----------
    result
        A solved NC: :class:`perovskite_tb.nc.NcResult` or the k·p result of
        :func:`kp.confinement.solve_nc` (attributes ``g_e``, ``g_h`` (GFactor) and ``E_e``/``E_h`` or
        ``electron``/``hole`` doublets; optional ``n_states``, ``edge_nm``, ``residual_*``,
        ``seconds``, ``stats``).
    **columns
        Point columns (identity, sizes, ``peak_rss_GB`` …); they take precedence over the values
        read from ``result``.

    Returns
    -------
    dict
        Every column of :data:`COLUMNS`, typed; observables evaluated by
        :func:`perovskite_tb.observables.evaluate`.

    Raises
    ------
    KeyError
        A keyword that is not a column.
    """
    row = default_row()
    row.update(_result_columns(result))
    row.update(evaluate(result))
    row.update(columns)
    return check_row(row)


def row_from_columns(**columns) -> dict:
    """A row from column values alone (e.g. a point read from another program's output); the
    others keep their defaults."""
    row = default_row()
    row.update(columns)
    return check_row(row)


def failed_row(message: str, **columns) -> dict:
    """Row of a point that raised: identity ``columns``, NaN data, ``error = message``."""
    row = default_row()
    row.update(columns, error=str(message))
    return check_row(row)


def bulk_row(props, **columns) -> dict:
    """Row of :data:`BULK_COLUMNS` from :class:`perovskite_tb.model.bulk.BulkProperties`."""
    row = default_row(BULK_COLUMNS)
    row.update({n: getattr(props, n) for n in BULK_COLUMNS if hasattr(props, n)})
    row.update(columns)
    return check_row(row, BULK_COLUMNS)


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def to_json(row: dict, names, columns: dict = COLUMNS) -> dict:
    """JSON object of ``row`` restricted to ``names``, keyed by :attr:`Column.key`.

    Arrays become nested lists; size columns that do not apply (all NaN, e.g. ``diameter_nm`` of a
    cube) are left out.
    """
    out = {}
    for name in names:
        v = row.get(name, columns[name].default)
        if name in _OPTIONAL_SIZES and np.all(np.isnan(np.asarray(v, dtype=float))):
            continue
        out[columns[name].key] = _plain(v)
    return out


def nc_json(result, params=None, **columns) -> dict:
    """``perovskite-tb nc --json`` object of a solved NC (:data:`NC_JSON` keys).

    ``params`` (the ETB set) supplies ``n_atoms`` = n_states / orbitals per atom when the result
    does not carry it; ``columns`` as in :func:`row_from_result`.
    """
    if params is not None and getattr(result, "n_atoms", None) is None and "n_atoms" not in columns:
        columns["n_atoms"] = result.n_states // params.n_orb
    return to_json(row_from_result(result, **columns), NC_JSON)


def units(columns: dict = COLUMNS) -> dict:
    """name → unit."""
    return {n: c.unit for n, c in columns.items()}


_TENSOR = ("xx", "xy", "xz", "yx", "yy", "yz", "zx", "zy", "zz")


def flat_names(name: str, ndim_shape: tuple | None = None) -> list[str]:
    """CSV header names of a column: ``n_cells`` → ``n_cells_x/y/z``, tensors → ``g_e_xx … g_e_zz``.

    ``ndim_shape`` (the shape of one value) is used for names not in :data:`COLUMNS`.
    """
    shape = COLUMNS[name].shape if name in COLUMNS else tuple(ndim_shape or ())
    if shape == (3,):
        return [f"{name}_{a}" for a in "xyz"]
    if shape == (3, 3):
        return [f"{name.removesuffix('_tensor')}_{s}" for s in _TENSOR]
    if shape:  # e.g. the level spectra: levels_e_0 …, zeeman_e_0_x_0 …
        axes = [("x", "y", "z") if n == 3 and k == 1 and len(shape) == 3 else range(n) for k, n in enumerate(shape)]
        return [f"{name}_" + "_".join(str(i) for i in idx) for idx in itertools.product(*axes)]
    return [name]
