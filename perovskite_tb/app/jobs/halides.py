r"""Halide-exchange comparison (Nestoklon et al., Nano Lett. 23, 8218 (2023)): g_e, g_h of CsPbX3.

Two figures (:mod:`perovskite_tb.app.plot`):

* **NC curves** — ETB and k·p g_e, g_h of cubic N×N×N nanocrystals of the three halides against the
  single-particle transition energy, with the universal bulk formula of Kirstein et al., Nat. Commun.
  13, 3062 (2022) (:mod:`perovskite_tb.model.universal`) for reference.
* **bulk** — g_e, g_h against Eg of the three fitted bulk ETB sets, the universal formula and the
  measured bulk ranges of Kirstein et al. 2022 (``perovskite_tb/data/measured_bulk_g_factors.csv``).

A job of the sweep engine: :func:`halide_runs` builds the run files (materials × models × cubes at
each set's reference temperature, k·p cubes of the ETB edge N·a), :func:`halide_curves` runs them
into one result file (``kind = "halides"``, rows in ``/<model>/rows`` with a ``material`` column)
and :func:`write_h5` adds the tables ``bulk`` (:data:`perovskite_tb.app.store.results.BULK_COLUMNS`),
``universal`` and ``measured_bulk`` (:data:`perovskite_tb.app.store.results.REFERENCE_COLUMNS`). The file
carries the provenance of every result file (:mod:`perovskite_tb.app.store.io`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from perovskite_tb.app.store.export import load_results
from perovskite_tb.app.store.io import ResultWriter
from perovskite_tb.measured import load_measured_bulk
from perovskite_tb.app.plot import check_plot_path, plot_bulk, plot_nc
from perovskite_tb.app.store.results import (BULK_COLUMNS, BULK_JSON, REFERENCE_COLUMNS, bulk_row,
                                       to_json)
from perovskite_tb.app.engine.runfile import RunSpec, parse_run
from perovskite_tb.app.engine.sweep import check_result_path, run_sweep
from perovskite_tb.errors import InputError
from perovskite_tb.model.bulk import bulk_properties
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.universal import (DELTA_UNIVERSAL, DGE_UNIVERSAL, P_UNIVERSAL_EV_NM,
                                           universal_g_e, universal_g_h)

__all__ = ["HALIDES", "DEFAULT_SET", "DEFAULT_N_CELLS", "HalideCurves", "load_measured_bulk",
           "bulk_points", "halide_runs", "halide_curves", "write_h5", "plot_nc", "plot_bulk",
           "add_subcommand"]

HALIDES = ("CsPbI3", "CsPbBr3", "CsPbCl3")
DEFAULT_SET = "nestoklon2023-fit"
DEFAULT_N_CELLS = (3, 4, 5, 6, 7, 8)
_CURVE_KEYS = ("edge_nm", "transition_energy", "g_e", "g_h", "seconds")


@dataclass
class HalideCurves:
    """NC g-factor curves of several halides.

    Attributes
    ----------
    parameter_set : str
        ETB set name used for every material.
    bulk : dict of material → dict
        Bulk properties (CLI ``bulk --json`` keys, :data:`perovskite_tb.app.store.results.BULK_JSON`).
    etb, kp : dict of material → dict of str → ndarray
        Per model: ``n_cells`` (int64), ``edge_nm`` [nm], ``transition_energy`` [eV], ``g_e``, ``g_h``,
        ``seconds`` [s], each shape (n_sizes,); NaN where a point failed.
    notes : list of str
        Failures.
    output : str
        Result file holding the rows.
    orbital_zeeman : bool
    """

    parameter_set: str
    bulk: dict = field(default_factory=dict)
    etb: dict = field(default_factory=dict)
    kp: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    output: str = ""
    orbital_zeeman: bool = False


def bulk_points(materials=HALIDES, parameter_set: str = DEFAULT_SET, *,
                orbital_zeeman: bool = False) -> dict:
    """Bulk ETB properties of each material's set: ``{material: bulk --json object}``.

    Raises
    ------
    ParameterError
        Unknown material or set.
    """
    return {m: to_json(_bulk_row(m, parameter_set, orbital_zeeman), BULK_JSON, BULK_COLUMNS)
            for m in materials}


def _bulk_row(material: str, parameter_set: str, orbital_zeeman: bool) -> dict:
    p = load_parameters(material, parameter_set)
    return bulk_row(bulk_properties(p, orbital_zeeman=orbital_zeeman), material=material,
                    parameter_set=p.parameter_set, orbital_zeeman=orbital_zeeman)


def _check(models, n_cells) -> tuple[tuple, list]:
    models = tuple(models)
    bad = [m for m in models if m not in ("etb", "kp")]
    if bad:
        raise InputError(f"unknown model(s) {bad} (known: etb, kp)")
    sizes = [int(n) for n in n_cells]
    if not sizes or any(n < 2 for n in sizes):
        raise InputError(f"n_cells must be integers ≥ 2, got {list(n_cells)}")
    return models, sizes


def halide_runs(materials=HALIDES, *, parameter_set: str = DEFAULT_SET, n_cells=DEFAULT_N_CELLS,
                models=("etb", "kp"), orbital_zeeman: bool = False, kp_set: str | None = None,
                output: str = "halides.h5") -> list[RunSpec]:
    """The job's run files: one per reference temperature of the materials' sets (each set is used
    at its own reference temperature, the k·p sets at their T → 0 values).

    Raises
    ------
    InputError
        Unknown model or bad size.
    ParameterError
        Unknown material or set.
    """
    models, sizes = _check(models, n_cells)
    by_T: dict[float, list] = {}
    for m in materials:
        by_T.setdefault(load_parameters(m, parameter_set).reference_temperature_K, []).append(m)
    runs = []
    for T, mats in by_T.items():
        doc = {"axes": {"material": mats, "parameter_set": parameter_set, "model": list(models),
                        "n_cells": sizes, "temperature_K": T, "orbital_zeeman": orbital_zeeman},
               "options": {} if kp_set is None else {"kp_parameter_set": kp_set},
               "execution": {"workers": 1}}
        runs.append(replace(parse_run(doc, source="halides"), output=str(output)))
    return runs


def _progress_line(row: dict) -> None:
    print(f"{row['material']:8s} {row['model']:3s} N={int(row['n_cells'][0]):2d} "
          f"edge={row['edge_nm']:5.2f} nm  E={row['transition_energy']:.4f} eV  "
          f"g_e={row['g_e']:+.3f} g_h={row['g_h']:+.3f}  ({row['seconds']:.1f} s)", flush=True)


def _curves_from_file(out: HalideCurves, materials, models, sizes) -> None:
    """Fill ``out.etb`` / ``out.kp`` from the rows of ``out.output`` (NaN for missing points).

    Rows are selected by material and ``lattice_set`` (the ETB set: its own rows, and the k·p rows
    whose edge N·a it fixes)."""
    ps = out.parameter_set
    try:
        t = load_results(out.output)
    except InputError:  # every point failed: no rows
        t = None
    for model in models:
        for mat in materials:
            cols = {k: np.full(len(sizes), np.nan) for k in _CURVE_KEYS}
            name = ps if ps.endswith(".toml") else load_parameters(mat, ps).parameter_set
            sel = None if t is None else t.where(model=model, material=mat, lattice_set=name)
            for i, n in enumerate(sizes):
                rows = None if sel is None else sel.where(n_cells=(n, n, n))
                if rows is not None and model == "etb":
                    rows = rows.where(orbital_zeeman=out.orbital_zeeman)
                if rows is not None and len(rows):
                    for k in _CURVE_KEYS:
                        cols[k][i] = rows[k][0]
            cols["n_cells"] = np.asarray(sizes, dtype=np.int64)
            getattr(out, model)[mat] = cols


def halide_curves(materials=HALIDES, *, parameter_set: str = DEFAULT_SET, n_cells=DEFAULT_N_CELLS,
                  models=("etb", "kp"), orbital_zeeman: bool = False, kp_set: str | None = None,
                  progress: bool = False, output: str | Path | None = None) -> HalideCurves:
    """Compute NC g-factor curves of cubic N×N×N nanocrystals for several halides.

    Parameters
    ----------
    materials : sequence of str
    parameter_set : str
        ETB set for every material (default ``nestoklon2023-fit``).
    n_cells : sequence of int
        Cube sizes (Pb sites per edge), each ≥ 2.
    models : sequence of {"etb", "kp"}
    orbital_zeeman : bool
        On-site L·B term in the ETB (default off).
    kp_set : str, optional
        k·p parameter set (default: the kp module's default). k·p cubes have the ETB edge N·a.
    progress : bool
        Print one line per point.
    output : path, optional
        Result file (resumed if it exists); default: a temporary file (``HalideCurves.output``).

    Returns
    -------
    HalideCurves

    Raises
    ------
    InputError
        Unknown model or bad size.
    ParameterError
        Unknown material or set.
    """
    models, sizes = _check(models, n_cells)
    if output is None:
        output = Path(tempfile.mkdtemp(prefix="perovskite_tb_halides_")) / "halides.h5"
    check_result_path(output, "halides")  # before the bulk points and the sweeps
    out = HalideCurves(parameter_set=parameter_set, output=str(output), orbital_zeeman=orbital_zeeman)
    out.bulk = bulk_points(materials, parameter_set, orbital_zeeman=orbital_zeeman)
    attrs = {"config_json": json.dumps({"parameter_set": parameter_set,
                                        "orbital_zeeman": orbital_zeeman, "kp_set": kp_set}),
             "parameter_set": parameter_set, "orbital_zeeman": orbital_zeeman}
    for spec in halide_runs(materials, parameter_set=parameter_set, n_cells=sizes, models=models,
                            orbital_zeeman=orbital_zeeman, kp_set=kp_set, output=str(output)):
        rep = run_sweep(spec, progress=False, kind="halides", attrs=attrs, raise_failures=False,
                        on_row=_progress_line if progress else None)
        out.notes += [f"{k}: {m}" for k, m in rep.failures]
    _curves_from_file(out, materials, models, sizes)
    return out


def write_h5(curves: HalideCurves, path: str | Path) -> Path:
    """Complete the result file of ``curves`` at ``path``: rows (copied if computed elsewhere), the
    tables ``bulk``, ``universal``, ``measured_bulk`` and the failure notes.

    Raises
    ------
    InputError
        If the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if curves.output and Path(curves.output).resolve() != path.resolve():
            shutil.copyfile(curves.output, path)
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc}") from None
    with ResultWriter(path, {"kind": "halides", "notes": "\n".join(curves.notes)}) as w:
        w.write_table("bulk", [_bulk_row(m, curves.parameter_set, curves.orbital_zeeman)
                               for m in curves.bulk])
        Eg = np.linspace(1.4, 3.6, 111)
        uni = [{"Eg": E, "g_e": ge, "g_h": gh}
               for E, ge, gh in zip(Eg, universal_g_e(Eg), universal_g_h(Eg))]
        w.write_table("universal", uni, {k: REFERENCE_COLUMNS[k] for k in ("Eg", "g_e", "g_h")},
                      attrs={"hbar_p_over_m0_eV_nm": P_UNIVERSAL_EV_NM, "Delta_eV": DELTA_UNIVERSAL,
                             "delta_g_e": DGE_UNIVERSAL, "source": "kirstein2022"})
        meas = [{**r, "Eg": r["Eg_eV"]} for r in load_measured_bulk()]
        w.write_table("measured_bulk", meas, REFERENCE_COLUMNS,
                      attrs={"source": "Kirstein et al., Nat. Commun. 13, 3062 (2022), Table 1"})
    return path


def add_subcommand(sub) -> None:
    """Register ``perovskite-tb halides`` on an argparse sub-parser collection."""
    h = sub.add_parser("halides", help="NC g-curves of CsPbI3/Br3/Cl3 vs transition energy + bulk plot → HDF5 + PNG")
    h.add_argument("--parameter-set", default=DEFAULT_SET,
                   help=f"ETB set used for every material (default {DEFAULT_SET})")
    h.add_argument("--materials", nargs="+", default=list(HALIDES),
                   help="compounds (default CsPbI3 CsPbBr3 CsPbCl3)")
    h.add_argument("--n-cells", nargs="+", type=int, default=list(DEFAULT_N_CELLS),
                   help="cube sizes (Pb sites per edge, ≥ 2; edge N·a nm); default 3..8")
    h.add_argument("--model", default="etb,kp", help="comma-separated: etb, kp (default both)")
    h.add_argument("--orbital-zeeman", action="store_true",
                   help="include the on-site μB L·B term in the ETB (default off)")
    h.add_argument("-o", "--output", default="halides.h5", help="HDF5 output path (resumed if it exists)")
    h.add_argument("--plot", default="halides.png", help="NC-curve PNG path, or 'none'")
    h.add_argument("--bulk-plot", default="halides_bulk.png", help="bulk PNG path, or 'none'")
    h.add_argument("--no-progress", action="store_true", help="no line per point on stdout")
    h.set_defaults(func=_cmd_halides)


def _cmd_halides(args) -> int:
    models = tuple(m.strip() for m in args.model.split(",") if m.strip())
    check_plot_path(args.plot)
    check_plot_path(args.bulk_plot)
    c = halide_curves(args.materials, parameter_set=args.parameter_set, n_cells=args.n_cells,
                      models=models, orbital_zeeman=args.orbital_zeeman,
                      progress=not args.no_progress, output=args.output)
    out = write_h5(c, args.output)
    msg = [f"wrote {out}"]
    if args.plot.lower() != "none":
        msg.append(str(plot_nc(c, args.plot)))
    if args.bulk_plot.lower() != "none":
        msg.append(str(plot_bulk(c.bulk, args.bulk_plot, parameter_set=args.parameter_set)))
    for n in c.notes:
        print(f"note: {n}")
    print(" and ".join(msg))
    return 0
