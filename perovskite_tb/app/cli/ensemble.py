r"""``perovskite-tb ensemble run.toml``: ensemble spin dephasing from a model curve in a result file.

The run file (schema ``perovskite_tb.ensemble-run/1``, documented in ``docs/ensemble.md``)::

    results = "curve.h5"        # sweep/curve result file holding (or receiving) the model points
    output = "ensemble.h5"      # ensemble output (HDF5); plot = "ensemble.png" optional

    [axes]                      # which rows make the model curve (sweep meaning, one value each)
    material = "CsPbI3"
    parameter_set = "default"
    temperature_K = 6.0
    orbital_zeeman = false
    n_cells = [6, 8, 10, 12]    # optional: these cubes; those missing in `results` are computed

    [ensemble]                  # perovskite_tb.app.jobs.ensemble.EnsembleConfig
    laser_eV = 1.824
    field_T = 0.43
    window_fwhm_eV = 0.01
    pl_centre_eV = 1.85         # or size_mean_nm + size_std_nm
    pl_fwhm_eV = 0.1

The model curve is read from the rows of ``results`` (:mod:`perovskite_tb.app.jobs.ensemble_io`); points
already there are never recomputed. With ``[axes].n_cells`` the cubes missing from the file are
computed by the sweep engine (:func:`perovskite_tb.app.engine.sweep.run_sweep`, with the run file's
``[options]`` and ``[execution]``) and appended to ``results``, so the next run reads them. Without
``n_cells`` every ETB cube row of the file with the given material, set, temperature and Zeeman
variant is used and nothing is computed.

Every input is validated before anything is computed (key path in the message); the laser energy and
the PL centre are checked against the computed range once the curve is known.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from perovskite_tb.app.jobs.ensemble import EnsembleConfig, ModelCurve, run_ensemble
from perovskite_tb.app.jobs.ensemble_io import (check_outputs, curve_from_rows, read_etb_rows, select_rows,
                                           write_outputs)
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.engine.runfile import RunSpec, parse_run, start_check
from perovskite_tb.app.engine.sweep import check_output, run_sweep
from perovskite_tb.app.engine.validate import Check, show
from perovskite_tb.errors import InputError, PerovskiteTBError
from perovskite_tb.model.materials import load_parameters

__all__ = ["ENSEMBLE_RUN_SCHEMA", "EnsembleRun", "parse_ensemble_run", "load_ensemble_run", "model_curve",
           "run_ensemble_job", "add_subcommand"]

ENSEMBLE_RUN_SCHEMA = "perovskite_tb.ensemble-run/1"
_TOP = ("schema", "results", "output", "plot", "axes", "options", "execution", "cluster", "ensemble")
_AXES = ("material", "parameter_set", "temperature_K", "orbital_zeeman", "n_cells")
#: [ensemble] key → (unit, kind); kind "pos" = finite number > 0, "int" = integer in a range, "bool".
_ENSEMBLE = {
    "laser_eV": ("eV", "pos"), "field_T": ("T", "pos"), "window_fwhm_eV": ("eV", "pos"),
    "size_mean_nm": ("nm", "pos"), "size_std_nm": ("nm", "pos"), "pl_centre_eV": ("eV", "pos"),
    "pl_fwhm_eV": ("eV", "pos"), "T2_0_ps": ("ps", "pos"), "t_max_ps": ("ps", "pos"),
    "field_max_T": ("T", "pos"), "trace_nuclear": ("", "bool"), "n_t": ((2, 10**6), "int"),
    "n_grid": ((101, 10**6), "int"), "n_B": ((2, 10**5), "int"),
}
_REQUIRED = ("laser_eV", "field_T", "window_fwhm_eV")


@dataclass(frozen=True)
class EnsembleRun:
    """A validated ensemble run file.

    Attributes
    ----------
    results : str
        Result file of the model points (absolute once resolved by :func:`load_ensemble_run`).
    output, plot : str or None
        Ensemble HDF5 and figure paths.
    material, parameter_set : str
        Selection of the model rows (``parameter_set`` as given: a name, ``"default"`` or a file).
    temperature_K : float
    orbital_zeeman : bool
    sweep : RunSpec or None
        The sweep that makes sure the ``[axes].n_cells`` points exist (None: read only).
    ensemble : dict
        Validated ``[ensemble]`` values (keys of :class:`perovskite_tb.app.jobs.ensemble.EnsembleConfig`).
    source : str
    """

    results: str
    output: str | None
    plot: str | None
    material: str = "CsPbI3"
    parameter_set: str = "default"
    temperature_K: float = 6.0
    orbital_zeeman: bool = False
    sweep: RunSpec | None = None
    ensemble: dict = field(default_factory=dict)
    source: str = "<ensemble>"


def _one(c: Check, ax: dict, key: str, default, item):
    vals = c.axis(ax.get(key, default), f"[axes].{key}", item)
    if len(vals) != 1:
        c.fail(f"[axes].{key}", f"the ensemble uses one value, got {len(vals)} ({show(list(vals))})")
    return vals[0]


def _parse_ensemble(c: Check, doc: dict) -> dict:
    if "ensemble" not in doc:
        c.fail("[ensemble]", "missing table (laser_eV, field_T, window_fwhm_eV and the size distribution)")
    ens = c.table(doc["ensemble"], "[ensemble]", tuple(_ENSEMBLE))
    out = {}
    for key, v in ens.items():
        unit, kind = _ENSEMBLE[key]
        path = f"[ensemble].{key}"
        if kind == "pos":
            out[key] = c.number(v, path, strict=True, unit=unit)
        elif kind == "bool":
            out[key] = c.boolean(v, path)
        else:
            out[key] = c.pos_int(v, path, f"an integer in {unit[0]}..{unit[1]}", lo=unit[0], hi=unit[1])
    missing = [k for k in _REQUIRED if k not in out]
    if missing:
        c.fail("[ensemble]", f"missing {', '.join(missing)} (laser energy eV, field T, "
               "spectral window FWHM eV)")
    by_size = [k for k in ("size_mean_nm", "size_std_nm") if k in out]
    by_pl = [k for k in ("pl_centre_eV", "pl_fwhm_eV") if k in out]
    if bool(by_size) == bool(by_pl) or len(by_size + by_pl) != 2:
        c.fail("[ensemble]", "give either size_mean_nm + size_std_nm (log-normal, nm) or pl_centre_eV + "
               f"pl_fwhm_eV (PL band, eV), got {', '.join(by_size + by_pl) or 'neither'}")
    return out


def parse_ensemble_run(doc: dict, *, source: str = "<ensemble>", base_dir=None) -> EnsembleRun:
    """Validate an ensemble run-file document (``tomllib`` output) into an :class:`EnsembleRun`.

    Raises
    ------
    InputError
        Any schema violation, as ``"<source>: <key path>: <problem>"``.
    """
    c, path_of = start_check(doc, source, base_dir, _TOP, ENSEMBLE_RUN_SCHEMA)

    if "results" not in doc:
        c.fail("results", "missing: the sweep/curve result file of the model points (.h5)")
    results = c.string(doc["results"], "results")
    if not results.lower().endswith((".h5", ".hdf5")):
        c.fail("results", f"must be a result file ending in .h5 or .hdf5, got {results!r}")
    output = path_of(c.string(doc.get("output", "ensemble.h5"), "output"))
    plot = path_of(c.string(doc["plot"], "plot")) if "plot" in doc else None
    ens = _parse_ensemble(c, doc)
    ax = c.table(doc.get("axes", {}), "[axes]", _AXES)
    sel = {"material": _one(c, ax, "material", "CsPbI3", c.string),
           "parameter_set": _one(c, ax, "parameter_set", "default", c.string),
           "temperature_K": _one(c, ax, "temperature_K", 6.0, lambda x, p: c.number(x, p, unit="K")),
           "orbital_zeeman": _one(c, ax, "orbital_zeeman", False, c.boolean)}
    if sel["parameter_set"].endswith(".toml"):
        sel["parameter_set"] = path_of(sel["parameter_set"])
    sweep = None
    if "n_cells" in ax:
        sweep = parse_run({"output": results, "axes": {**sel, "model": "etb", "n_cells": ax["n_cells"]},
                           **{k: doc[k] for k in ("options", "execution", "cluster") if k in doc}},
                          source=source, base_dir=base_dir)
        for i, n in enumerate(sweep.axes.n_cells):
            if len(set(n)) != 1:
                c.fail(f"[axes].n_cells[{i}]", f"the ensemble uses cubes (one edge L), got {list(n)}")
        results = sweep.output
    else:
        for k in ("options", "execution", "cluster"):
            if k in doc:
                c.fail(f"[{k}]", "only used to compute points: give [axes].n_cells (the cubes to compute)")
        results = path_of(results)
    return EnsembleRun(results=results, output=output, plot=plot, sweep=sweep, ensemble=ens, source=source,
                       **sel)


def load_ensemble_run(path) -> EnsembleRun:
    """Read and validate an ensemble run file (relative paths are relative to its directory).

    Raises
    ------
    InputError
        Unreadable file, invalid TOML or a schema violation (one line with the key path).
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as exc:
        raise InputError(f"cannot read run file {str(p)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{p}: invalid TOML: {' '.join(str(exc).split())}") from None
    return parse_ensemble_run(doc, source=str(p), base_dir=p.resolve().parent)


def _set_label(run: EnsembleRun) -> str:
    """The parameter-set label stored in result rows (the set's name, or the file path)."""
    ps = run.parameter_set
    if ps.endswith(".toml"):
        return ps
    try:
        return load_parameters(run.material, None if ps == "default" else ps).parameter_set
    except PerovskiteTBError as exc:
        raise type(exc)(f"{run.source}: [axes].parameter_set: {exc}") from None


def model_curve(run: EnsembleRun, *, progress: bool | None = None) -> tuple[ModelCurve, dict]:
    """The model curve of ``run``: its rows of ``run.results``, after computing the missing ``n_cells`` cubes.

    Returns
    -------
    (ModelCurve, dict)
        The curve and facts about it: ``results``, ``keys`` (point keys used), ``n_computed`` (points
        computed by this call), ``options_json`` of the result file, ``notes`` (list of str).

    Raises
    ------
    PerovskiteTBError
        Missing or foreign result file, fewer than 2 matching rows, failed points.
    """
    n_computed = 0
    keys = None
    if run.sweep is not None:
        keys = {p.key for p in expand_points(run.sweep).points}
        check_output(run.sweep)
        kind = "sweep"
        if Path(run.results).exists():
            kind = read_etb_rows(run.results)[1].get("kind", "sweep")
        n_computed = run_sweep(run.sweep, progress=progress, kind=kind).n_computed
    rows, attrs = read_etb_rows(run.results)
    sel = dict(keys=keys) if keys is not None else dict(
        material=run.material, parameter_set=_set_label(run), temperature_K=run.temperature_K,
        orbital_zeeman=run.orbital_zeeman)
    mask = select_rows(rows, **sel)
    if mask.sum() < 2:
        raise InputError(_too_few_rows(run, rows, int(mask.sum())))
    notes = []
    for c in ("e", "h"):
        col = np.asarray(rows.get(f"Delta_N_{c}", np.full(len(mask), np.nan)), dtype=float)[mask]
        if np.isnan(col).any():
            notes.append(f"Delta_N_{c} is NaN in {int(np.isnan(col).sum())} of {int(mask.sum())} model rows "
                         "(no cited hyperfine constant, or a file written before the observable)")
    info = {"results": str(run.results), "keys": sorted(rows["key"][mask]), "n_computed": n_computed,
            "options_json": attrs.get("options_json", ""), "notes": notes}
    return curve_from_rows(rows, mask), info


def _too_few_rows(run: EnsembleRun, rows: dict, n: int) -> str:
    have = sorted(set(zip(rows.get("material", ()), rows.get("parameter_set", ()),
                          np.asarray(rows.get("temperature_K", ()), dtype=float))))
    held = ", ".join(f"{m}/{s} {t:g} K" for m, s, t in have) or "no ETB rows"
    return (f"{run.source}: results: {run.results} has {n} ETB cube row(s) for {run.material}/"
            f"{run.parameter_set} at {run.temperature_K:g} K (oz={run.orbital_zeeman}); the ensemble needs "
            f">= 2 (file holds {held}; give [axes].n_cells to compute sizes)")


def _check_range(run: EnsembleRun, curve: ModelCurve, info: dict) -> None:
    lo, hi = curve.E_range
    for key in ("laser_eV", "pl_centre_eV"):
        E = run.ensemble.get(key)
        if E is not None and not lo <= E <= hi:
            raise InputError(f"{run.source}: [ensemble].{key}: {E:g} eV is outside the computed range "
                             f"{lo:.4f}-{hi:.4f} eV of the model curve ({len(curve.E_eV)} sizes in "
                             f"{info['results']}); add sizes to [axes].n_cells")


def run_ensemble_job(run: EnsembleRun, *, progress: bool | None = None, run_file_text: str = "") -> dict:
    """Check the outputs, get the model curve (reading or computing points), run the ensemble, write files.

    Returns
    -------
    dict
        :func:`perovskite_tb.app.jobs.ensemble.run_ensemble` result plus ``model`` (the facts of
        :func:`model_curve`).

    Raises
    ------
    PerovskiteTBError
        Bad output paths (before any computation), model-curve problems, energies outside the
        computed range.
    """
    check_outputs(run.output, run.plot, results=run.results, source=run.source)
    curve, info = model_curve(run, progress=progress)
    _check_range(run, curve, info)
    cfg = EnsembleConfig(curve=curve, output=run.output, plot=run.plot, **run.ensemble)
    attrs = {"model_results": info["results"], "model_points_json": json.dumps(info["keys"]),
             "model_options_json": info["options_json"], "model_points_computed_now": info["n_computed"],
             "run_file_text": run_file_text}
    res = run_ensemble(replace(cfg, output=None, plot=None))
    res["notes"] = info["notes"] + res["notes"]
    res["files"] = write_outputs(cfg, res, attrs)
    res["model"] = info
    return res


def add_subcommand(sub) -> None:
    """Register ``ensemble`` on the ``perovskite-tb`` sub-parser."""
    e = sub.add_parser("ensemble", help="ensemble g spread, ODMR linewidth, T2* and TRFE trace from a model "
                                        "curve (run file; docs/ensemble.md)")
    e.add_argument("run_file", help="TOML run file (schema in docs/ensemble.md)")
    e.add_argument("--json", action="store_true", help="print the scalar results as one JSON object")
    e.add_argument("--no-progress", action="store_true", help="no progress bar while points are computed")
    e.set_defaults(func=_cmd_ensemble)


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


def _cmd_ensemble(args) -> int:
    run = load_ensemble_run(args.run_file)
    text = Path(args.run_file).read_text(encoding="utf-8")
    res = run_ensemble_job(run, progress=False if args.no_progress else None, run_file_text=text)
    scalars = {k: v for k, v in res.items() if isinstance(v, float)}
    if args.json:
        m = res["model"]
        print(json.dumps({**scalars, "n_model_points": len(m["keys"]), "n_computed": m["n_computed"],
                          "files": res["files"], "notes": res["notes"]}))
        return 0
    m = res["model"]
    print(f"model curve: {len(m['keys'])} sizes from {m['results']} ({m['n_computed']} computed now)")
    for c, name in (("e", "electron"), ("h", "hole")):
        v = {k: _fmt(res[k.format(c=c)]) for k in ("g_{c}_mean", "Delta_g_{c}", "Delta_N_{c}_mT",
                                                    "odmr_linewidth_{c}_mT", "T2star_{c}_ps", "T2star_{c}_exp_ps")}
        print(f"{name:>8s}: g = {v['g_{c}_mean']}, Δg = {v['Delta_g_{c}']}, Δ_N = {v['Delta_N_{c}_mT']} mT, "
              f"ODMR ΔB = {v['odmr_linewidth_{c}_mT']} mT, T2* = {v['T2star_{c}_ps']} ps "
              f"(exp form {v['T2star_{c}_exp_ps']} ps)")
    for n in res["notes"]:
        print(f"note: {n}")
    print("wrote " + " and ".join(res["files"]))
    return 0
