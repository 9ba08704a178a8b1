"""Files of the ensemble job: the model curve from result rows, and the ensemble's HDF5 + PNG output.

* **Input**: the rows of a sweep or curve result file (:mod:`perovskite_tb.app.store.io`, schema
  ``perovskite_tb.results/2`` or the first layout) → :class:`perovskite_tb.app.jobs.ensemble.ModelCurve`
  from the columns ``transition_energy`` (eV), ``edge_nm`` (nm), ``g_e``, ``g_h``, ``Delta_N_e`` and
  ``Delta_N_h`` (mT). Rows are selected by their point keys (:func:`perovskite_tb.app.store.keys.row_key`)
  or by material, parameter set, temperature and Zeeman variant (ETB cubes only).
* **Output** (schema ``perovskite_tb.app.ensemble/1``): root attributes ``schema``, provenance
  (:func:`perovskite_tb.app.store.io.provenance`), ``config_json`` (inputs), ``results_json`` (scalars) and
  the job's attributes (results file, point keys used, run-file text); datasets ``t_ps``,
  ``trace_e``, ``trace_h`` (TRFE, normalised), ``L_nm``, ``E_eV``, ``w``, ``density``, ``g_e``,
  ``g_h`` (the selected sub-ensemble), the field scan ``B_T``, ``odmr_linewidth_{e,h}_mT_vs_B``,
  ``T2star_{e,h}_ps_vs_B``, and ``curve/<column>`` (the model curve used). Each dataset carries a
  ``units`` attribute. The file is written to a temporary name and renamed, so a failed run leaves
  no partial file; an existing file at the path is replaced only if it is an ensemble output.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np

from perovskite_tb.app.jobs.ensemble import EnsembleConfig, ModelCurve
from perovskite_tb.app.store.io import open_results, provenance, read_rows
from perovskite_tb.app.plot import check_plot_path
from perovskite_tb.app.store.keys import row_key
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.errors import InputError

__all__ = ["ENSEMBLE_SCHEMA", "CURVE_COLUMNS", "read_etb_rows", "select_rows", "curve_from_rows",
           "check_outputs", "write_outputs"]

ENSEMBLE_SCHEMA = "perovskite_tb.app.ensemble/1"
#: ModelCurve field → result-row column (:data:`perovskite_tb.app.store.results.COLUMNS`).
CURVE_COLUMNS = {"E_eV": "transition_energy", "edge_nm": "edge_nm", "g_e": "g_e", "g_h": "g_h",
                 "Delta_N_e_mT": "Delta_N_e", "Delta_N_h_mT": "Delta_N_h"}
_UNITS = {"t_ps": "ps", "trace_e": "1", "trace_h": "1", "L_nm": "nm", "E_eV": "eV", "w": "1",
          "density": "1", "g_e": "1", "g_h": "1", "B_T": "T", "odmr_linewidth_e_mT_vs_B": "mT",
          "odmr_linewidth_h_mT_vs_B": "mT", "T2star_e_ps_vs_B": "ps", "T2star_h_ps_vs_B": "ps"}
_CURVE_UNITS = {"E_eV": "eV", "edge_nm": "nm", "g_e": "1", "g_h": "1", "Delta_N_e_mT": "mT",
                "Delta_N_h_mT": "mT"}


def read_etb_rows(path) -> tuple[dict, dict]:
    """(rows, root attributes) of the ETB rows of a result file; rows are column → ndarray plus ``key``.

    Raises
    ------
    InputError
        Missing, foreign or unreadable file (one line).
    """
    with open_results(path) as f:
        rows = read_rows(f, "etb")
        attrs = {k: (v if isinstance(v, str) else str(v)) for k, v in f.attrs.items()}
    n = len(rows.get("n_cells", ()))
    if n:
        rows["key"] = np.array([row_key({"model": "etb", **{k: v[i] for k, v in rows.items()}})
                                for i in range(n)], dtype=object)
    return rows, attrs


def select_rows(rows: dict, *, keys=None, material: str | None = None, parameter_set: str | None = None,
                temperature_K: float | None = None, orbital_zeeman: bool | None = None) -> np.ndarray:
    """Boolean mask of the ETB cube rows matching ``keys`` (point keys) and the given identity values.

    Parameters
    ----------
    rows : dict
        From :func:`read_etb_rows`.
    keys : iterable of str, optional
        Point keys (:func:`perovskite_tb.app.store.keys.point_key`); None = any.
    material, parameter_set, temperature_K, orbital_zeeman : optional
        Identity columns (temperature in K, compared to 1e-9 K); None = any.

    Returns
    -------
    ndarray of bool, shape (n_rows,)
    """
    n = len(rows.get("n_cells", ()))
    if not n:
        return np.zeros(0, dtype=bool)
    nc = np.asarray(rows["n_cells"])
    m = (np.asarray(rows["shape"]) == "cube") & np.all(nc == nc[:, :1], axis=1) & (nc[:, 0] > 0)
    if keys is not None:
        m &= np.isin(rows["key"], list(keys))
    if material is not None:
        m &= np.asarray(rows["material"]) == material
    if parameter_set is not None:
        m &= np.asarray(rows["parameter_set"]) == parameter_set
    if temperature_K is not None:
        m &= np.abs(np.asarray(rows["temperature_K"], dtype=float) - float(temperature_K)) <= 1e-9
    if orbital_zeeman is not None:
        m &= np.asarray(rows["orbital_zeeman"], dtype=bool) == bool(orbital_zeeman)
    return m


def curve_from_rows(rows: dict, mask=None) -> ModelCurve:
    """:class:`ModelCurve` of the rows (all, or those of the boolean ``mask``), no recomputation.

    Parameters
    ----------
    rows : dict
        Column name → ndarray (:func:`read_etb_rows`, :func:`perovskite_tb.app.store.io.read_rows`); columns
        ``transition_energy``, ``edge_nm``, ``g_e``, ``g_h`` and, if present, ``Delta_N_e``,
        ``Delta_N_h`` (NaN when absent, e.g. files written before the hyperfine observable).

    Raises
    ------
    InputError
        Fewer than 2 rows, or energies not strictly decreasing with the edge.
    """
    n = len(rows.get("transition_energy", ()))
    sel = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    cols = {f: (np.asarray(rows[c], dtype=float)[sel] if c in rows else None)
            for f, c in CURVE_COLUMNS.items()}
    return ModelCurve.from_arrays(cols["E_eV"] if cols["E_eV"] is not None else [], cols["edge_nm"],
                                  cols["g_e"], cols["g_h"], cols["Delta_N_e_mT"], cols["Delta_N_h_mT"])


def _is_ensemble_file(p: Path) -> bool:
    try:
        with h5py.File(p, "r") as f:
            return f.attrs.get("schema") == ENSEMBLE_SCHEMA
    except OSError:
        return False


def check_outputs(output, plot, *, results=None, source: str = "ensemble") -> tuple[Path | None, Path | None]:
    """Validate the ensemble output paths before anything is computed.

    Parameters
    ----------
    output : path or None
        HDF5 output: ``.h5``/``.hdf5``, existing directory, and either absent or an earlier ensemble
        output (a result file or any other HDF5 file is never replaced).
    plot : path or None
        Figure (:func:`perovskite_tb.app.plot.check_plot_path`).
    results : path, optional
        The model's result file; the output must be another file.

    Raises
    ------
    InputError
        One line naming the path.
    """
    out = None
    if output is not None:
        out = Path(output)
        if out.suffix.lower() not in (".h5", ".hdf5"):
            raise InputError(f"{source}: output: {str(out)!r} must end in .h5 or .hdf5 "
                             "(the ensemble is HDF5)")
        check_writable(out, f"{source}: output")
        if results is not None and out.resolve() == Path(results).resolve():
            raise InputError(f"{source}: output: {str(out)!r} is the model's result file; "
                             "write the ensemble to another file")
        if out.exists() and not _is_ensemble_file(out):
            raise InputError(f"{source}: output: {str(out)!r} exists and is not an ensemble output "
                             f"(schema {ENSEMBLE_SCHEMA}); choose another path")
    return out, check_plot_path(plot)


def _scalars(res: dict) -> dict:
    return {k: v for k, v in res.items() if isinstance(v, float)}


def _json_value(v):
    return v if not isinstance(v, float) or math.isfinite(v) else str(v)


def write_outputs(cfg: EnsembleConfig, res: dict, attrs: dict | None = None) -> list[str]:
    """Write ``cfg.output`` (HDF5, layout in the module docstring) and ``cfg.plot`` (figure).

    Parameters
    ----------
    cfg : EnsembleConfig
    res : dict
        :func:`perovskite_tb.app.jobs.ensemble.run_ensemble` result (before ``files`` is set).
    attrs : dict, optional
        Extra root attributes (strings or numbers).

    Returns
    -------
    list of str
        Paths written.
    """
    files = []
    if cfg.output:
        out = Path(cfg.output)
        tmp = out.with_name(out.name + ".tmp")
        doc = {k: _json_value(v) for k, v in asdict(cfg).items() if k != "curve"}
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update({**provenance(), **(attrs or {})})
                f.attrs["schema"] = ENSEMBLE_SCHEMA
                f.attrs["config_json"] = json.dumps(doc)
                f.attrs["results_json"] = json.dumps(_scalars(res))
                f.attrs["notes_json"] = json.dumps(res.get("notes", []))
                for k, unit in _UNITS.items():
                    f.create_dataset(k, data=res[k]).attrs["units"] = unit
                for q, unit in _CURVE_UNITS.items():
                    f.create_dataset(f"curve/{q}", data=getattr(cfg.curve, q)).attrs["units"] = unit
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        files.append(str(cfg.output))
    if cfg.plot:
        _plot(cfg, res)
        files.append(str(cfg.plot))
    return files


def _plot(cfg: EnsembleConfig, res: dict) -> None:
    """Three panels: selected sizes with g(E); TRFE traces; ODMR ΔB(B)."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures are left alone

    fig = Figure(figsize=(14, 3.8))
    a1, a2, a3 = fig.subplots(1, 3)
    a1.plot(res["E_eV"], res["density"] / res["density"].max(), label="selected NCs")
    a1.axvline(cfg.laser_eV, ls=":", c="k")
    a1.set(xlabel="transition energy (eV)", ylabel="weight (norm.)")
    a1b = a1.twinx()
    a1b.plot(cfg.curve.E_eV, cfg.curve.g_e, "o-", c="C1", label="g_e(E)")
    a1b.plot(cfg.curve.E_eV, cfg.curve.g_h, "s-", c="C2", label="g_h(E)")
    a1b.set_ylabel("g (model)")
    a1b.legend(fontsize=8, loc="upper right")
    a2.plot(res["t_ps"], res["trace_e"], label=f"e: T2* = {res['T2star_e_ps']:.0f} ps")
    a2.plot(res["t_ps"], res["trace_h"], label=f"h: T2* = {res['T2star_h_ps']:.0f} ps", alpha=0.7)
    a2.set(xlabel="delay (ps)", ylabel="TRFE (norm.)", title=f"B = {cfg.field_T} T, E_L = {cfg.laser_eV} eV")
    a2.legend(fontsize=8)
    for c in ("e", "h"):
        a3.plot(res["B_T"], res[f"odmr_linewidth_{c}_mT_vs_B"], label=f"{c}: Δg = {res[f'Delta_g_{c}']:.3g}")
    a3.axvline(cfg.field_T, ls=":", c="k")
    a3.set(xlabel="B (T)", ylabel="ODMR ΔB (mT)")
    a3.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(cfg.plot, dpi=120)
