r"""g_e and g_h vs temperature at fixed NC size, against the measured series of sample #1 (issue 4).

Measured series: Meliakov et al., Nanoscale 16, 21496 (2024) (doi:10.1039/d4nr03132f), sample 1,
laser tuned to the TRFE maximum at each temperature: 1.703 eV at 6 K (g_e = 2.33, g_h = −0.14),
1.710 eV at 30 K (g_h ≈ 0), 1.725 eV at 65 K (g_h = 0.34), 1.759 eV at 90 K (g_e = 1.82) (shipped
table, :func:`perovskite_tb.app.store.io.load_measured`).

Size choice (documented, switchable)
------------------------------------
The NC size is fixed by requiring the model's transition energy at ``match_temperature_K`` (6 K) to
equal ``target_energy_eV`` (1.703 eV); the NC then keeps its number of cells and expands with the
lattice, :math:`L(T) = L_* a(T)/a(T_{\rm match})` (:func:`perovskite_tb.model.temperature.lattice_scale`).

* ``"kp"``: the edge :math:`L_*` is found by a secant search in :math:`1/L^2` on the k·p transition
  energy (tolerance ``energy_tol_eV``); this model can match 1.703 eV (L* ≈ 11 nm). The k·p set's Eg
  follows its own ``dEg_dT`` (same value, meliakov2024); with ``kp_kane_scaling`` (default on) the
  interband momentum is also scaled as the ETB rule implies
  (:func:`perovskite_tb.model.temperature.kane_energy_scale`, ±0.8 % in E_p at 120 K).
* ``"etb"``: cubes are discrete (N cells × a); the series is computed at ``etb_n_cells`` and its 6 K
  energy mismatch is stored (``etb_E_match_mismatch_eV`` attribute) and printed in the legend. For
  CsPbI3 ``nestoklon2023`` N = 25 (15.7 nm, 1.24 M states) matches 1.703 eV within −1.2 meV; it takes
  ≈ 4 min per temperature with the optional PRIMME solver (measured 2026-11-22, 2 cores). The default
  (8 cells, seconds per point) shows the *temperature trend* of a smaller NC, not sample #1.

Result at the matched size (``perovskite-tb tseries --etb-n-cells 25``, rule a, figure
``docs/figures/tseries_sample1.png``): 6 → 90 K the ETB g_e falls by 0.048 and the k·p g_e by 0.047
(measured 0.51); 6 → 65 K g_h rises by 0.022 (ETB) and 0.025 (k·p) (measured 0.48). Both models get the
temperature dependence through Eg(T) and a(T) alone an order of magnitude too weak.

Neither model includes the exciton Coulomb energy (single-particle transition energy between the
band-edge levels of the PbX6-terminated NC, README, Termination).

A job of the sweep engine: the series are two run files built in code (:func:`series_runs`): ETB
cubes of ``etb_n_cells`` and the k·p cube of the matched edge with ``kp_edge_temperature_K`` = the
match temperature (the NC keeps its cell count) and the Kane-energy scaling of the rule; the size
search evaluates its k·p points through the same engine code and hands its last point to the run.

Output: an HDF5 result file (:mod:`perovskite_tb.app.store.io`, ``kind = "tseries"``; k·p rows carry
``n_cells = (0, 0, 0)``, their size is ``edge_nm``) with root attributes ``kp_edge_nm_matched``,
``target_energy_eV``, ``match_temperature_K`` (units eV, nm, K); resumable like every sweep. The
PNG has three panels: g_e(T), g_h(T) and the transition energy E(T) (measured laser energies for
comparison; :func:`perovskite_tb.app.plot.plot_temperature_series`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import h5py

from perovskite_tb.app.store.io import read_curve, update_attrs
from perovskite_tb.measured import MEASURED_DOI, measured_series
from perovskite_tb.app.engine.models import compute_point
from perovskite_tb.app.plot import check_plot_path, plot_temperature_series
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.engine.runfile import parse_run
from perovskite_tb.app.engine.sweep import check_result_path, run_sweep
from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import DEFAULT_RULE, RULES, check_temperature

__all__ = [
    "TSeriesConfig",
    "measured_series",
    "match_kp_edge",
    "series_runs",
    "run_tseries",
    "plot_temperature_series",
    "MEASURED_DOI",
]

@dataclass(frozen=True)
class TSeriesConfig:
    """Inputs of a temperature-series run (stored as ``config_json``).

    Attributes
    ----------
    material : str
    parameter_set : str or None
        ETB set (default: the material's default); also supplies the temperature coefficients.
    kp_parameter_set : str or None
        k·p set (default: the confined model's set for the material,
        :func:`kp.confinement.nc_default_set`, e.g. ``etb-nestoklon2023``).
    temperatures_K : tuple of float
        Default 6, 30, 65, 90 (the measured temperatures) and 120 K (end of the measured range).
    target_energy_eV, match_temperature_K : float
        Transition energy the size is matched to (eV) and the temperature of the match (K);
        default sample #1, 1.703 eV at 6 K.
    models : tuple of str
        ``"kp"`` and/or ``"etb"``.
    etb_n_cells : int
        ETB cube size (cells per edge) for the ``"etb"`` series.
    rule : str
        Temperature rule of :mod:`perovskite_tb.model.temperature` (default ``"a"``).
    kp_kane_scaling : bool
        Scale the k·p interband momentum with the rule's E_p(T)/E_p(T_ref) (default True).
    kp_edge_nm : float or None
        Use this k·p edge (nm at the match temperature) instead of matching.
    energy_tol_eV : float
        Tolerance of the k·p size match (eV).
    orbital_zeeman : bool
        ETB on-site μB L·B term (default off, as the curve job).
    output, plot : str
        HDF5 path; PNG path or None.
    """

    material: str = "CsPbI3"
    parameter_set: str | None = None
    kp_parameter_set: str | None = None
    temperatures_K: tuple = (6.0, 30.0, 65.0, 90.0, 120.0)
    target_energy_eV: float = 1.703
    match_temperature_K: float = 6.0
    models: tuple = ("kp", "etb")
    etb_n_cells: int = 8
    rule: str = DEFAULT_RULE
    kp_kane_scaling: bool = True
    kp_edge_nm: float | None = None
    energy_tol_eV: float = 5e-4
    orbital_zeeman: bool = False
    output: str = "tseries.h5"
    plot: str | None = "tseries.png"


def _run_doc(cfg: TSeriesConfig, model: str, temps, **axes) -> dict:
    """Run-file document of one model's series (both models share the options: one output file);
    k·p edges are edges at the match temperature and follow the lattice, a(T)/a(T_match)."""
    return {
        "axes": {"material": cfg.material, "parameter_set": cfg.parameter_set or "default",
                 "model": model, "temperature_K": sorted(temps), **axes},
        "options": {"temperature_rule": cfg.rule, "kp_kane_scaling": cfg.kp_kane_scaling,
                    "kp_edge_temperature_K": float(cfg.match_temperature_K),
                    **({} if cfg.kp_parameter_set is None
                       else {"kp_parameter_set": cfg.kp_parameter_set})},
        "execution": {"workers": 1},
    }


def _kp_solve(cfg: TSeriesConfig, etb_base, edge_nm: float, T: float) -> dict:
    """Row of one k·p cube of edge ``edge_nm`` (nm at ``T``) at ``T``: Eg(T) of the k·p set, E_p
    scaled by the rule if ``cfg.kp_kane_scaling`` (computed by the sweep engine's point code).

    ``etb_base`` is the ETB set at its reference temperature (it fixes the Kane-energy scaling).
    """
    doc = _run_doc(cfg, "kp", [T], edge_nm=[float(edge_nm)])
    doc["axes"]["parameter_set"] = etb_base.path
    del doc["options"]["kp_edge_temperature_K"]  # the edge is given at T
    (point,) = expand_points(parse_run(doc, source="tseries")).points
    return compute_point(point)


def match_kp_edge(cfg: TSeriesConfig, etb_base, *, L0_nm: float = 10.0, L1_nm: float = 14.0,
                  max_iter: int = 12) -> tuple[float, list[dict]]:
    r"""Edge (nm) of the k·p cube whose transition energy at the match temperature is the target.

    Secant iteration on :math:`x = 1/L^2` (confinement energy ≈ linear in x), started from
    ``L0_nm`` and ``L1_nm``.

    Returns
    -------
    edge_nm : float
    rows : list of dict
        Every k·p point evaluated on the way (curve-row format, at the match temperature).

    Raises
    ------
    SolverError
        No convergence within ``max_iter`` solves, or the target is below the bulk gap.
    """
    T = check_temperature(cfg.match_temperature_K)
    f = {}
    rows = []

    def E_minus_target(L):
        row = _kp_solve(cfg, etb_base, L, T)
        rows.append(row)
        f[L] = row["transition_energy"] - cfg.target_energy_eV
        return f[L]

    x0, x1 = L0_nm**-2, L1_nm**-2
    y0, y1 = E_minus_target(L0_nm), E_minus_target(L1_nm)
    for _ in range(max_iter):
        if abs(y1) <= cfg.energy_tol_eV:
            return 1.0 / math.sqrt(x1), rows
        if y1 == y0:
            break
        x2 = x1 - y1 * (x1 - x0) / (y1 - y0)
        if not x2 > 0:
            raise SolverError(
                f"target {cfg.target_energy_eV} eV at {T} K is at or below the k·p bulk gap; no finite edge matches"
            )
        x0, y0 = x1, y1
        x1 = x2
        y1 = E_minus_target(1.0 / math.sqrt(x1))
    raise SolverError(f"k·p size match to {cfg.target_energy_eV} eV did not converge (last miss {y1:+.4f} eV)")


def _validate(cfg: TSeriesConfig) -> tuple[float, ...]:
    Ts = tuple(check_temperature(T) for T in cfg.temperatures_K)
    if not Ts:
        raise InputError("no temperatures given")
    check_temperature(cfg.match_temperature_K)
    if cfg.rule not in RULES:
        raise InputError(f"unknown temperature rule {cfg.rule!r} (known: {', '.join(RULES)})")
    for m in cfg.models:
        if m not in ("etb", "kp"):
            raise InputError(f"unknown model {m!r} (known: etb, kp)")
    if not cfg.models:
        raise InputError("no models given")
    if isinstance(cfg.etb_n_cells, bool) or int(cfg.etb_n_cells) != cfg.etb_n_cells or cfg.etb_n_cells < 1:
        raise InputError(f"cells per edge must be a positive integer, got {cfg.etb_n_cells}")
    if not (math.isfinite(cfg.target_energy_eV) and cfg.target_energy_eV > 0):
        raise InputError(f"target transition energy must be > 0 eV, got {cfg.target_energy_eV} eV")
    if cfg.kp_edge_nm is not None and not (math.isfinite(cfg.kp_edge_nm) and cfg.kp_edge_nm > 0):
        raise InputError(f"k·p edge must be > 0 nm, got {cfg.kp_edge_nm} nm")
    return Ts


def series_runs(cfg: TSeriesConfig, kp_edge_nm: float | None = None) -> dict:
    """The run files of the series: ``{"etb": RunSpec, "kp": RunSpec}`` for the models of ``cfg``.

    The k·p run needs the matched edge ``kp_edge_nm`` (nm at the match temperature).

    Raises
    ------
    PerovskiteTBError
        Bad inputs.
    """
    temps = set(_validate(cfg)) | {float(cfg.match_temperature_K)}
    runs = {}
    if "etb" in cfg.models:
        runs["etb"] = _run_doc(cfg, "etb", temps, n_cells=[int(cfg.etb_n_cells)],
                               orbital_zeeman=[cfg.orbital_zeeman])
    if "kp" in cfg.models and kp_edge_nm is not None:
        runs["kp"] = _run_doc(cfg, "kp", temps, edge_nm=[float(kp_edge_nm)])
    return {m: replace(parse_run(doc, source="tseries"), output=str(cfg.output))
            for m, doc in runs.items()}


def _attrs(cfg: TSeriesConfig, base) -> dict:
    doc = {k: v for k, v in dataclasses.asdict(cfg).items()
           if k not in ("output", "plot", "temperatures_K")}
    doc["parameter_set"] = base.parameter_set
    return {
        "config_json": json.dumps(doc), "material": cfg.material,
        "parameter_set": base.parameter_set, "parameter_file_sha256": base.file_sha256,
        "parameter_file": base.path, "parameter_citations": json.dumps(dict(base.sources)),
        "orbital_zeeman": cfg.orbital_zeeman, "target_energy_eV": cfg.target_energy_eV,
        "match_temperature_K": float(cfg.match_temperature_K), "temperature_rule": cfg.rule,
        "measured_source_doi": MEASURED_DOI,
    }


def _mismatch(out: Path, model: str, Tm: float, target: float, N: int | None = None):
    d = read_curve(out, model)
    m = d["temperature_K"] == Tm
    if N is not None:
        m &= d["n_cells"][:, 0] == N
    return float(d["transition_energy"][m][0] - target) if m.any() else None


def run_tseries(cfg: TSeriesConfig) -> str:
    """Compute the temperature series, write HDF5 (+ PNG); returns the output path.

    Finished (model, size, T) points already in ``cfg.output`` are not recomputed; the matched k·p
    edge is read back from the file (attribute ``kp_edge_nm_matched``) when present.

    Raises
    ------
    PerovskiteTBError
        Bad inputs, solver failures.
    """
    check_plot_path(cfg.plot)
    _validate(cfg)
    check_result_path(cfg.output, "tseries")
    base = load_parameters(cfg.material, cfg.parameter_set)
    attrs, out, Tm = _attrs(cfg, base), Path(cfg.output), float(cfg.match_temperature_K)
    edge_kp = cfg.kp_edge_nm
    if edge_kp is None and "kp" in cfg.models and out.exists():
        with h5py.File(out, "r") as f:
            edge_kp = f.attrs.get("kp_edge_nm_matched")
            edge_kp = None if edge_kp is None else float(edge_kp)
    prefilled = {}
    if edge_kp is None and "kp" in cfg.models:
        edge_kp, rows = match_kp_edge(cfg, base)
        spec = series_runs(cfg, edge_kp)["kp"]
        (p,) = [p for p in expand_points(spec).points if p.temperature_K == Tm]
        prefilled = {p.key: rows[-1]}  # the last secant point is the matched cube at Tm: keep it
    runs = series_runs(cfg, edge_kp)
    if "etb" in runs:
        run_sweep(runs["etb"], progress=False, kind="tseries", attrs=attrs, params_attrs=base.values())
        N = int(cfg.etb_n_cells)
        extra = {"etb_n_cells": N}
        miss = _mismatch(out, "etb", Tm, cfg.target_energy_eV, N)
        if miss is not None:
            extra["etb_E_match_mismatch_eV"] = miss
        update_attrs(out, **extra)
    if "kp" in runs:
        run_sweep(runs["kp"], progress=False, kind="tseries", attrs=attrs, params_attrs=base.values(),
                  prefilled=prefilled)
        extra = {"kp_edge_nm_matched": edge_kp, "kp_edge_units": "nm (at match_temperature_K)"}
        miss = _mismatch(out, "kp", Tm, cfg.target_energy_eV)
        if miss is not None:
            extra["kp_E_match_mismatch_eV"] = miss
        update_attrs(out, **extra)
    if cfg.plot:
        plot_temperature_series(out, cfg.plot)
    return str(out)


def add_subcommand(sub, finite_float, positive_int) -> None:
    """Register ``perovskite-tb tseries`` on the CLI's sub-parser collection (used by :mod:`perovskite_tb.app.cli`)."""
    t = sub.add_parser("tseries", help="g_e, g_h vs temperature at the size matched to sample #1 → HDF5 + PNG")
    t.add_argument("--material", default="CsPbI3", help="compound (default CsPbI3)")
    t.add_argument("--parameter-set", default=None,
                   help="ETB set (also supplies the temperature coefficients; default: material's)")
    t.add_argument("--kp-parameter-set", default=None,
                   help="k·p set (default: the confined model's set, e.g. etb-nestoklon2023)")
    t.add_argument("--temperature-K", nargs="+", type=finite_float("K"),
                   default=list(TSeriesConfig.temperatures_K),
                   help="temperatures (K); default 6 30 65 90 120")
    t.add_argument("--target-energy-eV", type=finite_float("eV"), default=TSeriesConfig.target_energy_eV,
                   help="transition energy the size is matched to (eV; default 1.703 eV, sample #1)")
    t.add_argument("--match-temperature-K", type=finite_float("K"),
                   default=TSeriesConfig.match_temperature_K,
                   help="temperature of the size match (K; default 6 K)")
    t.add_argument("--model", default="kp,etb", help="comma-separated models: kp, etb (default kp,etb)")
    t.add_argument("--etb-n-cells", type=positive_int, default=TSeriesConfig.etb_n_cells,
                   help="ETB cube size (Pb sites per edge, edge N·a nm); the ETB cannot reach 1.703 eV "
                        "(needs N ≳ 20)")
    t.add_argument("--kp-edge-nm", type=finite_float("nm"), default=None,
                   help="k·p cube edge (nm, at the match temperature): skip the k·p size match")
    t.add_argument("--temperature-rule", choices=RULES, default=DEFAULT_RULE,
                   help="ETB temperature rule (perovskite_tb.model.temperature; default a)")
    t.add_argument("--no-kp-kane-scaling", action="store_true", help="keep the k·p E_p (eV) fixed in T")
    t.add_argument("--orbital-zeeman", action="store_true",
                   help="include the on-site μB L·B term in the ETB (default off)")
    t.add_argument("-o", "--output", default="tseries.h5", help="HDF5 output path (resumed if it exists)")
    t.add_argument("--plot", default="tseries.png", help="PNG path, or 'none'")
    t.set_defaults(func=_cmd_tseries)


def _cmd_tseries(args) -> int:
    cfg = TSeriesConfig(
        material=args.material, parameter_set=args.parameter_set, kp_parameter_set=args.kp_parameter_set,
        temperatures_K=tuple(args.temperature_K), target_energy_eV=args.target_energy_eV,
        match_temperature_K=args.match_temperature_K,
        models=tuple(m.strip() for m in args.model.split(",") if m.strip()),
        etb_n_cells=args.etb_n_cells, rule=args.temperature_rule,
        kp_kane_scaling=not args.no_kp_kane_scaling, kp_edge_nm=args.kp_edge_nm,
        orbital_zeeman=args.orbital_zeeman, output=args.output,
        plot=None if args.plot.lower() == "none" else args.plot,
    )
    out = run_tseries(cfg)
    print(f"wrote {out}" + (f" and {cfg.plot}" if cfg.plot else ""))
    return 0
