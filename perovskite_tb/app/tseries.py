r"""g_e and g_h vs temperature at fixed NC size, against the measured series of sample #1 (issue 4).

Measured series: Meliakov et al., Nanoscale 16, 21496 (2024) (doi:10.1039/d4nr03132f), sample 1,
laser tuned to the TRFE maximum at each temperature: 1.703 eV at 6 K (g_e = 2.33, g_h = −0.14),
1.710 eV at 30 K (g_h ≈ 0), 1.725 eV at 65 K (g_h = 0.34), 1.759 eV at 90 K (g_e = 1.82) (shipped
table, :func:`perovskite_tb.app.io.load_measured`).

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

Neither model includes the exciton Coulomb energy (single-particle transition energy, brief §3.4).

Output: an HDF5 file of schema ``perovskite_tb.app.curve/1`` (rows as in :mod:`perovskite_tb.app.curve`;
k·p rows carry ``n_cells = (0, 0, 0)``, their size is ``edge_nm``) with root attributes
``kind = "tseries"``, ``kp_edge_nm_matched``, ``target_energy_eV``, ``match_temperature_K`` (units
eV, nm, K); resumable like the curve job. The PNG has three panels: g_e(T), g_h(T) and the
transition energy E(T) (measured laser energies for comparison).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.app.io import CurveWriter, load_measured, read_curve
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import (
    DEFAULT_RULE, RULES, check_temperature, kane_energy_scale, lattice_scale, parameters_at,
)

__all__ = [
    "TSeriesConfig",
    "measured_series",
    "match_kp_edge",
    "run_tseries",
    "plot_temperature_series",
    "MEASURED_DOI",
]

#: DOI of the temperature paper whose sample-1 series is plotted (Meliakov et al. 2024).
MEASURED_DOI = "10.1039/d4nr03132f"


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


def measured_series(sample: str = "1", doi: str = MEASURED_DOI) -> list[dict]:
    """Measured rows of one sample of the temperature paper, sorted by temperature.

    Returns
    -------
    list of dict
        Rows of :func:`perovskite_tb.app.io.load_measured` (temperature_K [K], energy_eV [eV], carrier, g).
    """
    rows = [r for r in load_measured() if r["source_doi"] == doi and r["sample"] == sample
            and not r["abs_only"] and np.isfinite(r["energy_eV"])]
    return sorted(rows, key=lambda r: (r["temperature_K"], r["carrier"]))


def _kp_solve(cfg: TSeriesConfig, etb_base, edge_nm: float, T: float) -> dict:
    """One k·p point: Eg(T) from the k·p set, P scaled by the rule (optional), cube of edge ``edge_nm``."""
    from kp.confinement import nc_default_set, solve_nc
    from kp.parameters import load_kp_parameters

    t0 = time.perf_counter()
    name = cfg.kp_parameter_set if cfg.kp_parameter_set is not None else nc_default_set(cfg.material)
    kpp = load_kp_parameters(cfg.material, name).at_temperature(T)
    if cfg.kp_kane_scaling:
        kpp = dataclasses.replace(kpp, P=kpp.P * math.sqrt(kane_energy_scale(etb_base, T, rule=cfg.rule)))
    r = solve_nc(kpp, (edge_nm,) * 3)
    return {
        "n_cells": (0, 0, 0), "edge_nm": edge_nm, "temperature_K": T,
        "n_states": int(r.terms.H0.shape[0]), "E_e": r.electron.energy, "E_h": r.hole.energy,
        "transition_energy": r.electron.energy - r.hole.energy, "g_e": r.g_e.g, "g_h": r.g_h.g,
        "g_e_tensor": np.asarray(r.g_e.tensor), "g_h_tensor": np.asarray(r.g_h.tensor),
        "residual_e": np.nan, "residual_h": np.nan, "seconds": time.perf_counter() - t0,
        "peak_rss_GB": np.nan,
    }


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


def run_tseries(cfg: TSeriesConfig) -> str:
    """Compute the temperature series, write HDF5 (+ PNG); returns the output path.

    Finished (model, size, T) points already in ``cfg.output`` are not recomputed; the matched k·p
    edge is read back from the file (attribute ``kp_edge_nm_matched``) when present.

    Raises
    ------
    PerovskiteTBError
        Bad inputs, missing k·p module (``InputError``), solver failures.
    """
    import h5py

    Ts = _validate(cfg)
    base = load_parameters(cfg.material, cfg.parameter_set)
    doc = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("output", "plot", "temperatures_K")}
    doc["parameter_set"] = base.parameter_set
    attrs = {
        "config_json": json.dumps(doc), "kind": "tseries", "material": cfg.material,
        "parameter_set": base.parameter_set, "parameter_file_sha256": base.file_sha256,
        "parameter_file": base.path, "parameter_citations": json.dumps(dict(base.sources)),
        "orbital_zeeman": cfg.orbital_zeeman, "target_energy_eV": cfg.target_energy_eV,
        "match_temperature_K": float(cfg.match_temperature_K), "temperature_rule": cfg.rule,
        "measured_source_doi": MEASURED_DOI,
    }
    if "kp" in cfg.models:
        try:
            import kp.confinement  # noqa: F401
        except ImportError:
            raise InputError("model 'kp' needs the kp package (kp.confinement), which is not importable") from None
    out = Path(cfg.output)
    edge_kp = cfg.kp_edge_nm
    if edge_kp is None and out.exists():
        with h5py.File(out, "r") as f:
            edge_kp = f.attrs.get("kp_edge_nm_matched")
            edge_kp = None if edge_kp is None else float(edge_kp)
    with CurveWriter(out, attrs, base.values()) as w:
        f = w._f  # noqa: SLF001 — extra attributes on the same open file
        if "etb" in cfg.models:
            N = int(cfg.etb_n_cells)
            done = w.done("etb")
            for T in sorted(set(Ts) | {float(cfg.match_temperature_K)}):
                if ((N, N, N), T) in done:
                    continue
                from perovskite_tb.nc import nc_gfactors

                r = nc_gfactors(parameters_at(base, T, rule=cfg.rule), (N, N, N), orbital_zeeman=cfg.orbital_zeeman)
                w.append("etb", {
                    "n_cells": r.n_cells, "edge_nm": r.edge_nm[0], "temperature_K": T, "n_states": r.n_states,
                    "E_e": r.E_e, "E_h": r.E_h, "transition_energy": r.transition_energy,
                    "g_e": r.g_e.g, "g_h": r.g_h.g, "g_e_tensor": r.g_e.tensor, "g_h_tensor": r.g_h.tensor,
                    "residual_e": r.residual_e, "residual_h": r.residual_h, "seconds": r.seconds,
                    "peak_rss_GB": np.nan,
                })
            d = read_curve(out, "etb")
            m = (d["temperature_K"] == float(cfg.match_temperature_K)) & (d["n_cells"][:, 0] == N)
            if m.any():
                f.attrs["etb_E_match_mismatch_eV"] = float(d["transition_energy"][m][0] - cfg.target_energy_eV)
            f.attrs["etb_n_cells"] = N
        if "kp" in cfg.models:
            Tm = float(cfg.match_temperature_K)
            done = {T for (_n, T) in w.done("kp")}
            if edge_kp is None:
                edge_kp, rows = match_kp_edge(cfg, base)
                if Tm not in done:  # the last secant point is the matched cube at Tm: keep it
                    w.append("kp", rows[-1])
                    done.add(Tm)
            f.attrs["kp_edge_nm_matched"] = edge_kp
            f.attrs["kp_edge_units"] = "nm (at match_temperature_K)"
            for T in sorted(set(Ts) | {Tm}):
                if T in done:
                    continue
                L = edge_kp * lattice_scale(base, T) / lattice_scale(base, Tm)
                w.append("kp", _kp_solve(cfg, base, L, T))
            d = read_curve(out, "kp")
            m = d["temperature_K"] == Tm
            if m.any():
                f.attrs["kp_E_match_mismatch_eV"] = float(d["transition_energy"][m][0] - cfg.target_energy_eV)
        f.flush()
    if cfg.plot:
        plot_temperature_series(out, cfg.plot)
    return str(out)


def plot_temperature_series(h5_path, png_path, *, sample: str = "1") -> None:
    """Plot g_e(T), g_h(T) and E(T) from a tseries file against the measured series of ``sample``.

    Parameters
    ----------
    h5_path : str, Path or sequence of them
        File(s) written by :func:`run_tseries` (e.g. one k·p and one ETB run); the first file that
        holds a model is used for it.
    png_path : str or Path
        Output PNG.
    sample : str
        Sample label of the temperature paper (default "1": 1.703 eV at 6 K).

    Raises
    ------
    InputError
        Missing or foreign file, or no model rows in it.

    References
    ----------
    meliakov2024 (measured series, doi:10.1039/d4nr03132f).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = [h5_path] if isinstance(h5_path, (str, Path)) else list(h5_path)
    data = {}
    for model in ("kp", "etb"):
        for path in paths:
            try:
                data[model] = read_curve(path, model)
                break
            except InputError:
                continue
    if not data:
        raise InputError(f"{h5_path} has no temperature-series rows (models kp, etb)")
    attrs = next(iter(data.values()))["attrs"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.3), sharex=True)
    style = {"kp": ("s-", "C0"), "etb": ("o--", "C1")}
    for model, d in data.items():
        mk, c = style[model]
        a = d["attrs"]
        if model == "kp":
            lab = f"k·p, L = {float(a.get('kp_edge_nm_matched', d['edge_nm'][0])):.2f} nm"
            miss = a.get("kp_E_match_mismatch_eV")
        else:
            lab = f"ETB, N = {int(d['n_cells'][0, 0])} ({d['edge_nm'][0]:.2f} nm)"
            miss = a.get("etb_E_match_mismatch_eV")
        if miss is not None:
            lab += f", E(6 K) − target = {1e3 * float(miss):+.0f} meV"
        o = np.argsort(d["temperature_K"])
        for ax, key in zip(axes, ("g_e", "g_h", "transition_energy")):
            ax.plot(d["temperature_K"][o], d[key][o], mk, color=c, ms=5, label=lab)
    meas = measured_series(sample)
    for ax, carrier in zip(axes[:2], ("e", "h")):
        pts = [r for r in meas if r["carrier"] == carrier]
        ax.plot([r["temperature_K"] for r in pts], [r["g"] for r in pts], "k*", ms=12, ls="none",
                label=f"measured, sample {sample} (Meliakov 2024)")
    Em = {r["temperature_K"]: r["energy_eV"] for r in meas}
    axes[2].plot(list(Em), list(Em.values()), "k*", ms=12, ls="none", label="measured laser energy (TRFE max)")
    for ax, name in zip(axes, ("electron $g_e$", "hole $g_h$", "transition energy (eV)")):
        ax.set_xlabel("temperature (K)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].axhline(0, color="k", lw=0.5)
    fig.suptitle(f"{attrs.get('material', 'CsPbI3')} NC, size matched to {float(attrs.get('target_energy_eV', np.nan)):.3f} eV "
                 f"at {float(attrs.get('match_temperature_K', np.nan)):g} K; temperature rule "
                 f"{attrs.get('temperature_rule', DEFAULT_RULE)}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


def add_subcommand(sub, finite_float, positive_int) -> None:
    """Register ``perovskite-tb tseries`` on the CLI's sub-parser collection (used by :mod:`perovskite_tb.app.cli`)."""
    t = sub.add_parser("tseries", help="g_e, g_h vs temperature at the size matched to sample #1 → HDF5 + PNG")
    t.add_argument("--material", default="CsPbI3")
    t.add_argument("--parameter-set", default=None, help="ETB set (also supplies the temperature coefficients)")
    t.add_argument("--kp-parameter-set", default=None)
    t.add_argument("--temperature-K", nargs="+", type=finite_float("K"), default=list(TSeriesConfig.temperatures_K))
    t.add_argument("--target-energy-eV", type=finite_float("eV"), default=TSeriesConfig.target_energy_eV,
                   help="transition energy the size is matched to (default 1.703 eV, sample #1)")
    t.add_argument("--match-temperature-K", type=finite_float("K"), default=TSeriesConfig.match_temperature_K)
    t.add_argument("--model", default="kp,etb", help="comma-separated models: kp, etb (default kp,etb)")
    t.add_argument("--etb-n-cells", type=positive_int, default=TSeriesConfig.etb_n_cells,
                   help="ETB cube size (cells per edge); the ETB cannot reach 1.703 eV (needs N ≳ 20)")
    t.add_argument("--kp-edge-nm", type=finite_float("nm"), default=None, help="skip the k·p size match")
    t.add_argument("--temperature-rule", choices=RULES, default=DEFAULT_RULE)
    t.add_argument("--no-kp-kane-scaling", action="store_true", help="keep the k·p E_p fixed in T")
    t.add_argument("--orbital-zeeman", action="store_true")
    t.add_argument("-o", "--output", default="tseries.h5")
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
