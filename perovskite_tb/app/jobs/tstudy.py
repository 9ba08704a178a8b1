r"""The temperature study (issue 21, items 2–4): lattice hypotheses × comparison modes, ranked against sample #1.

``perovskite-tb tstudy`` computes CsPbI3 ETB cubes at the measured temperatures for every temperature rule of
:mod:`perovskite_tb.model.temperature` (``a``: E_g(T) in E_pc; ``b``: Harrison hoppings; ``vb``: on the valence
side; ``foley``: the MAPbI3 band-edge split; ``dw``: Debye–Waller hoppings) — one run-file template over the
sweep engine per rule (resumable, ``<stem>.<rule>.h5``) — plus the frozen-displacement hypothesis
(:mod:`perovskite_tb.thermal_disorder`, ``disorder``; rows in ``<stem>.h5``, resumed by key). The k·p model
enters through rules a and b (the only ones with a k·p meaning, :func:`~perovskite_tb.model.temperature.kane_energy_scale`).

Comparison modes
    ``fixed``: the same cube (cell count) at every T; the size of sample #1 is the cube whose 6 K optical
    transition is nearest the 6 K laser energy, 1.703 eV; the other sizes of the grid stand for samples
    #2–#3 (their sizes are not in the shipped data: Meliakov et al., Nanoscale 16, 21496 (2024) give
    8–16 nm and 1.69–1.78 eV for the three samples).
    ``laser``: the NC whose optical transition at T equals the measured laser energy E_L(T) (1.703, 1.710,
    1.725, 1.759 eV at 6, 30, 65, 90 K): g interpolated linearly in the optical energy between the sizes of
    the grid at that T (no extrapolation: NaN outside).

Scores (against the measured sample-#1 points, nothing fitted): Δg_e(6→90 K) = −0.51, Δg_h(6→65 K) = +0.48,
ratio model/measured for each (goal: within a factor 2, i.e. 0.5–2), and the change of g_X = g_e + g_h over
6→90 K (measured: flat, g_X ≈ +2.2). Ranked by the larger of |log₂ ratio| of the two slopes.

Disorder rows are averages of ``2·n_pairs`` configurations at a size; their laser-mode value is the
undisplaced rule-``dw`` curve shifted by the configurations' Δg at equal size, moved along the size slope by
their optical-energy shift (first order; stated in the report).

Outputs: ``<stem>.h5`` (ranking, disorder rows, config as attributes), ``<stem>.<rule>.h5`` (sweep rows),
``tstudy.png`` (g_e(T), g_h(T), g_X(T) per hypothesis and mode, data overlaid), ``tstudy.md`` (the table).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import h5py
import numpy as np

from perovskite_tb.app.engine.runfile import RunSpec, parse_run
from perovskite_tb.app.engine.sweep import run_sweep
from perovskite_tb.app.plot import _save_figure, check_plot_path, energies
from perovskite_tb.app.store.io import open_results, read_rows
from perovskite_tb.measured import load_measured
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.errors import InputError
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.model.temperature import RULE_INFO, RULES

__all__ = ["TStudyConfig", "LASER_EV", "MEASURED_SLOPES", "rule_run", "rule_curves", "laser_select",
           "score", "run_tstudy", "DISORDER"]

#: Laser energy (eV) at each temperature (K) of sample #1 (Meliakov et al., Nanoscale 16, 21496 (2024)).
LASER_EV = {6.0: 1.703, 30.0: 1.710, 65.0: 1.725, 90.0: 1.759}
#: Measured changes of sample #1: Δg_e over 6→90 K and Δg_h over 6→65 K (same source, shipped table).
#: (T0 K, T1 K, Δg): g_e 2.33 → 1.82, g_h −0.14 → +0.34.
MEASURED_SLOPES = {"e": (6.0, 90.0, 1.82 - 2.33), "h": (6.0, 65.0, 0.34 - (-0.14))}
#: Rules with a k·p meaning (E_g(T) and the Kane-energy scaling; the partition and DW rules act on ETB on-site/hopping terms).
KP_RULES = ("a", "b")
#: Name of the frozen-displacement hypothesis (not a temperature rule: its own rows).
DISORDER = "disorder"


@dataclass(frozen=True)
class TStudyConfig:
    """Inputs of the temperature study (sizes: cells per cube edge; K; paths)."""

    material: str = "CsPbI3"
    parameter_set: str = "nestoklon2023"
    rules: tuple = RULES
    temperatures_K: tuple = (6.0, 65.0, 90.0)
    n_cells: tuple = (12, 14, 16)
    disorder_n_cells: tuple = (10,)
    disorder_pairs: int = 1
    disorder_msd_scale: tuple = (1.0,)
    output: str = "tstudy.h5"
    plot: str | None = "tstudy.png"
    report: str | None = "tstudy.md"
    workers: int | None = 1
    kp: bool = True
    kp_n_cells: tuple = (12, 14, 16, 18, 20)


def _check(cfg: TStudyConfig) -> None:
    for r in cfg.rules:
        if r not in RULES:
            raise InputError(f"unknown temperature rule {r!r} (known: {', '.join(RULES)})")
    for T in cfg.temperatures_K:
        if float(T) not in LASER_EV:
            raise InputError(f"tstudy temperatures must be measured ones {sorted(LASER_EV)} K, got {T}")
    if 6.0 not in [float(T) for T in cfg.temperatures_K]:
        raise InputError("tstudy needs 6 K (the reference of the measured changes)")
    if len(cfg.n_cells) < 2:
        raise InputError("tstudy needs at least two sizes (the laser mode interpolates between them)")
    if not str(cfg.output).endswith(".h5"):
        raise InputError(f"tstudy output must be a .h5 file, got {cfg.output!r}")
    if cfg.report is not None:
        if not str(cfg.report).endswith(".md"):
            raise InputError(f"the tstudy report must be a .md file, got {cfg.report!r}")
        check_writable(cfg.report, "tstudy: report")
    check_writable(cfg.output, "tstudy: output")


def rule_path(cfg: TStudyConfig, rule: str) -> str:
    """Sweep file of one rule: ``<stem>.<rule>.h5``."""
    return str(Path(cfg.output).with_suffix(f".{rule}.h5"))


def rule_run(cfg: TStudyConfig, rule: str) -> RunSpec:
    """Run file of one rule: ETB cubes ``n_cells`` × ``temperatures_K``, ``[options].temperature_rule = rule``."""
    axes = {"material": [cfg.material], "parameter_set": [cfg.parameter_set], "model": ["etb"],
            "n_cells": [int(N) for N in cfg.n_cells], "temperature_K": [float(T) for T in cfg.temperatures_K]}
    execution = {"threads_per_worker": 1}
    if cfg.workers is not None:
        execution["workers"] = int(cfg.workers)
    spec = parse_run({"axes": axes, "options": {"temperature_rule": rule}, "execution": execution},
                     source=f"tstudy:{rule}")
    return replace(spec, output=rule_path(cfg, rule), plot=None)


def kp_path(cfg: TStudyConfig, rule: str) -> str:
    """k·p sweep file of one rule: ``<stem>.<rule>.kp.h5``."""
    return str(Path(cfg.output).with_suffix(f".{rule}.kp.h5"))


def kp_run(cfg: TStudyConfig, rule: str) -> RunSpec:
    """k·p cubes of ``kp_n_cells`` cells (edge N·a0 at 6 K, following a(T)), ``temperature_rule = rule``
    (Kane energy scaled as the rule implies, :func:`perovskite_tb.model.temperature.kane_energy_scale`)."""
    a0 = load_parameters(cfg.material, cfg.parameter_set).a
    axes = {"material": [cfg.material], "parameter_set": [cfg.parameter_set], "model": ["kp"],
            "edge_nm": [round(int(N) * a0, 9) for N in cfg.kp_n_cells],
            "temperature_K": [float(T) for T in cfg.temperatures_K]}
    spec = parse_run({"axes": axes, "options": {"temperature_rule": rule, "kp_edge_temperature_K": 6.0,
                                                "kp_kane_scaling": True},
                      "execution": {"workers": 1}}, source=f"tstudy:kp:{rule}")
    return replace(spec, output=kp_path(cfg, rule), plot=None)


def rule_curves(path, model: str = "etb", a_nm: float | None = None) -> dict:
    """Rows of one rule's file: {(N, T): {g_e, g_h, E_opt, E_sp}} (eV); k·p rows are keyed by N = edge/a_nm."""
    with open_results(path) as f:
        d = read_rows(f, model)
    E_opt, E_sp = energies(d, "optical"), energies(d, "single-particle")
    out = {}
    for k in range(len(d["g_e"])):
        if model == "kp":
            N = int(round(float(np.asarray(d["edges_nm"])[k][0]) / a_nm))
        else:
            N = int(np.asarray(d["n_cells"])[k][0])
        T = float(np.asarray(d["temperature_K"])[k])
        out[(N, T)] = {"g_e": float(d["g_e"][k]), "g_h": float(d["g_h"][k]), "E_opt": float(E_opt[k]),
                       "E_sp": float(E_sp[k])}
    return out


def laser_select(curve: dict, T: float) -> dict:
    """g_e, g_h at the optical energy E_L(T), linear in the optical energy between the sizes at T (NaN outside)."""
    pts = sorted((v["E_opt"], v["g_e"], v["g_h"]) for (N, TT), v in curve.items() if TT == T)
    E = np.array([p[0] for p in pts])
    EL = LASER_EV[T]
    if E.size < 2 or not (E.min() <= EL <= E.max()):
        return {"g_e": float("nan"), "g_h": float("nan"), "E_opt": EL}
    return {"g_e": float(np.interp(EL, E, [p[1] for p in pts])),
            "g_h": float(np.interp(EL, E, [p[2] for p in pts])), "E_opt": EL}


def _series(curve: dict, mode, temps) -> dict:
    """T → {g_e, g_h, E_opt} of one mode (an int N: fixed size; "laser": laser-selected)."""
    if mode == "laser":
        return {T: laser_select(curve, T) for T in temps}
    return {T: curve.get((mode, T), {"g_e": float("nan"), "g_h": float("nan"), "E_opt": float("nan")}) for T in temps}


def score(series: dict) -> dict:
    """Slopes and ratios of one series against the measured sample-#1 changes (module docstring)."""
    out = {}
    for c in ("e", "h"):
        T0, T1, meas = MEASURED_SLOPES[c]
        d = series.get(T1, {}).get(f"g_{c}", float("nan")) - series.get(T0, {}).get(f"g_{c}", float("nan"))
        out[f"dg_{c}"] = d
        out[f"ratio_{c}"] = d / meas
    gx = [series.get(T, {}).get("g_e", float("nan")) + series.get(T, {}).get("g_h", float("nan")) for T in (6.0, 90.0)]
    out["dg_X"] = gx[1] - gx[0]
    r = [out["ratio_e"], out["ratio_h"]]
    out["miss"] = max(abs(math.log2(x)) if (math.isfinite(x) and x > 0) else math.inf for x in r)
    out["within_2"] = bool(out["miss"] <= 1.0)
    return out


def _sample1_size(curve: dict) -> int:
    """Cube whose 6 K optical energy is nearest E_L(6 K) = 1.703 eV."""
    cand = [(abs(v["E_opt"] - LASER_EV[6.0]), N) for (N, T), v in curve.items() if T == 6.0]
    return min(cand)[1]


# --------------------------------------------------------------------------- disorder rows


def _disorder_key(N, T, scale, pairs) -> str:
    return f"N{int(N)}_T{float(T):g}_s{float(scale):g}_p{int(pairs)}"


def _run_disorder(cfg: TStudyConfig, log) -> dict:
    """Compute (or read back) the frozen-displacement rows in ``<stem>.h5`` group ``/disorder``."""
    from perovskite_tb.thermal_disorder import solve_disordered

    params = load_parameters(cfg.material, cfg.parameter_set)
    out = {}
    with h5py.File(cfg.output, "a") as f:
        g = f.require_group("disorder")
        for N in cfg.disorder_n_cells:
            for T in cfg.temperatures_K:
                for s in cfg.disorder_msd_scale:
                    key = _disorder_key(N, T, s, cfg.disorder_pairs)
                    if key not in g.attrs:
                        t0 = time.perf_counter()
                        r = solve_disordered(params, int(N), float(T), n_pairs=cfg.disorder_pairs, msd_scale=float(s))
                        rec = {"N": int(N), "T": float(T), "scale": float(s), "pairs": cfg.disorder_pairs,
                               "g_e": r.g_e, "g_h": r.g_h, "g_e_sem": r.g_e_sem, "g_h_sem": r.g_h_sem,
                               "E_opt": r.optical_transition_energy, "E_sp": r.transition_energy,
                               "msd_nm2": r.msd_nm2, "reference": r.reference, "per_config": r.per_config,
                               "seconds": time.perf_counter() - t0}
                        g.attrs[key] = json.dumps(rec)
                        f.flush()
                        log(f"disorder {key}: g_e {r.g_e:.4f} g_h {r.g_h:.4f} ({rec['seconds']:.0f} s)")
                    out[key] = json.loads(g.attrs[key])
    return out


def _disorder_series(dis: dict, dw_curve: dict, cfg: TStudyConfig, scale: float) -> dict:
    """Series of the disorder hypothesis: the rule-dw curve plus the configurations' Δg at their size.

    Fixed size: at the disorder size. Laser: the dw laser-selected value + Δg(disorder − undisplaced) −
    (dg/dE_opt along size) × ΔE_opt(disorder − undisplaced), first order in the displacement effect; the size
    slope is taken between the undisplaced reference NC and the nearest rule-dw cube at the same T.
    """
    out = {"fixed": {}, "laser": {}}
    N = int(cfg.disorder_n_cells[0])
    for T in cfg.temperatures_K:
        rec = dis.get(_disorder_key(N, T, scale, cfg.disorder_pairs))
        if rec is None:
            continue
        ref = rec["reference"]
        dge, dgh = rec["g_e"] - ref["g_e"], rec["g_h"] - ref["g_h"]
        dE = rec["E_sp"] - ref["transition_energy"]
        out["fixed"][T] = {"g_e": rec["g_e"], "g_h": rec["g_h"], "E_opt": rec["E_opt"]}
        # size slope dg/dE_opt at the disorder size: its undisplaced reference and the nearest dw cube at T
        near = min((abs(n - N), n) for (n, TT) in dw_curve if TT == T)[1]
        q = dw_curve[near, T]
        E_ref = ref["transition_energy"] - ref["coulomb_eV"]
        se = (q["g_e"] - ref["g_e"]) / (q["E_opt"] - E_ref)
        sh = (q["g_h"] - ref["g_h"]) / (q["E_opt"] - E_ref)
        base = laser_select(dw_curve, T)
        out["laser"][T] = {"g_e": base["g_e"] + dge - se * dE, "g_h": base["g_h"] + dgh - sh * dE,
                           "E_opt": base["E_opt"]}
    return out


# --------------------------------------------------------------------------- report


def rank(cfg: TStudyConfig, curves: dict, dis: dict) -> list[dict]:
    """One row per (hypothesis, mode): series, slopes, ratios; sorted by ``miss`` (module docstring)."""
    temps = [float(T) for T in cfg.temperatures_K]
    rows = []
    for (rule, model), curve in curves.items():
        n1 = _sample1_size(curve)
        modes = [("laser", "laser-selected")] + [(N, f"fixed N={N}" + (" (sample #1)" if N == n1 else ""))
                                                 for N in sorted({N for N, _ in curve}, reverse=True)]
        for mode, label in modes:
            s = _series(curve, mode, temps)
            rows.append({"hypothesis": rule if model == "etb" else f"{rule} (k·p)", "info": RULE_INFO[rule],
                         "model": model, "mode": label,
                         "series": {str(T): v for T, v in s.items()}, **score(s)})
    if dis and ("dw", "etb") in curves:
        for sc in cfg.disorder_msd_scale:
            ds = _disorder_series(dis, curves["dw", "etb"], cfg, sc)
            info = (f"frozen ± displacements (Debye MSD × {sc:g}, Zacharias & Giustino 2016), "
                    f"{2 * cfg.disorder_pairs} configs at N={cfg.disorder_n_cells[0]}; dw E_pc")
            for mode, label in (("laser", "laser-selected (first order)"),
                                ("fixed", f"fixed N={cfg.disorder_n_cells[0]}")):
                s = ds[mode]
                rows.append({"hypothesis": f"{DISORDER}×{sc:g}", "info": info, "model": "etb", "mode": label,
                             "series": {str(T): v for T, v in s.items()}, **score(s)})
    return sorted(rows, key=lambda r: (not math.isfinite(r["miss"]), r["miss"]))


def report_markdown(rows: list[dict], cfg: TStudyConfig, seconds: dict) -> str:
    """The ranking table (Markdown)."""
    def f(x, p=3):
        return "–" if not (isinstance(x, float) and math.isfinite(x)) else f"{x:+.{p}f}"

    head = ("| rank | hypothesis | mode | Δg_e 6→90 K (meas −0.51) | ratio | Δg_h 6→65 K (meas +0.48) | ratio | "
            "Δg_X 6→90 K (meas ≈ 0) | within ×2 |")
    out = [f"# Temperature study: {cfg.material} ({cfg.parameter_set}) against sample #1", "",
           "Measured: Meliakov et al., Nanoscale 16, 21496 (2024), sample #1, laser at the TRFE maximum "
           "(1.703, 1.710, 1.725, 1.759 eV at 6, 30, 65, 90 K). Nothing is fitted to these points. "
           "Ranked by max |log2(model/measured)| of the two changes.", "",
           "Hypotheses:", ""]
    for r in dict.fromkeys((r["hypothesis"], r["info"]) for r in rows):
        out.append(f"- `{r[0]}`: {r[1]}")
    out += ["", head, "|" + "---|" * (head.count("|") - 1)]
    for i, r in enumerate(rows, 1):
        out.append(f"| {i} | {r['hypothesis']} | {r['mode']} | {f(r['dg_e'])} | {f(r['ratio_e'], 2)} | "
                   f"{f(r['dg_h'])} | {f(r['ratio_h'], 2)} | {f(r['dg_X'])} | {'yes' if r['within_2'] else 'no'} |")
    out += ["", "Wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()), ""]
    return "\n".join(out) + "\n"


def plot_tstudy(rows: list[dict], png) -> Path:
    """g_e(T), g_h(T), g_X(T) per hypothesis × mode with the measured sample-#1 points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.5))
    hyps = sorted({r["hypothesis"] for r in rows})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in rows:
        if not (r["mode"].startswith("laser") or "sample #1" in r["mode"] or r["hypothesis"].startswith(DISORDER)):
            continue
        T = sorted(float(t) for t in r["series"])
        ge = [r["series"][str(t)]["g_e"] for t in T]
        gh = [r["series"][str(t)]["g_h"] for t in T]
        ls = "-" if r["mode"].startswith("laser") else "--"
        kw = dict(color=colors[hyps.index(r["hypothesis"]) % len(colors)], ls=ls, marker="o", ms=3, lw=1.2,
                  label=f"{r['hypothesis']}, {r['mode']}")
        axes[0].plot(T, ge, **kw)
        axes[1].plot(T, gh, **kw)
        axes[2].plot(T, np.add(ge, gh), **kw)
    meas = [m for m in load_measured() if str(m["sample"]) == "1" and not m["abs_only"]]
    for ax, c in zip(axes, ("e", "h")):
        pts = [(m["temperature_K"], m["g"]) for m in meas if m["carrier"] == c]
        ax.plot(*zip(*pts), "k*", ms=13, ls="none", label="measured, sample #1 (Meliakov 2024)")
    axes[2].axhline(2.2, color="k", ls=":", label="measured g_X ≈ +2.2 (flat)")
    for ax, name in zip(axes, ("electron $g_e$", "hole $g_h$", "$g_X = g_e + g_h$")):
        ax.set_xlabel("T (K)")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle("CsPbI3 NCs vs T: lattice hypotheses (colour), laser-selected (solid) / fixed sample-#1 size (dashed)")
    fig.tight_layout()
    return _save_figure(fig, png)


def run_tstudy(cfg: TStudyConfig, *, progress: bool | None = None, log=print) -> list[dict]:
    """Run (or resume) the study; write ``<stem>.h5``, the per-rule files, the figure and the table.

    Raises
    ------
    PerovskiteTBError
        Bad inputs (before anything is computed) or failed points.
    """
    _check(cfg)
    check_plot_path(cfg.plot)
    seconds, curves = {}, {}
    for rule in cfg.rules:
        t0 = time.perf_counter()
        run_sweep(rule_run(cfg, rule), progress=progress, kind="sweep")
        curves[rule, "etb"] = rule_curves(rule_path(cfg, rule))
        seconds[rule] = time.perf_counter() - t0
    a0 = load_parameters(cfg.material, cfg.parameter_set).a
    for rule in [r for r in cfg.rules if r in KP_RULES] if cfg.kp else []:
        t0 = time.perf_counter()
        run_sweep(kp_run(cfg, rule), progress=progress, kind="sweep")
        curves[rule, "kp"] = rule_curves(kp_path(cfg, rule), "kp", a0)
        seconds[f"{rule} (k·p)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dis = _run_disorder(cfg, log) if cfg.disorder_n_cells and "dw" in cfg.rules else {}
    seconds[DISORDER] = time.perf_counter() - t0
    rows = rank(cfg, curves, dis)
    with h5py.File(cfg.output, "a") as f:
        f.attrs["kind"] = "tstudy"
        f.attrs["config_json"] = json.dumps(asdict(cfg))
        f.attrs["ranking_json"] = json.dumps(rows)
        f.attrs["units"] = "g: 1; energies: eV; temperatures: K"
    if cfg.plot:
        plot_tstudy(rows, cfg.plot)
    if cfg.report:
        Path(cfg.report).write_text(report_markdown(rows, cfg, seconds), encoding="utf-8")
    return rows


def add_subcommand(sub) -> None:
    """Register ``perovskite-tb tstudy``."""
    s = sub.add_parser("tstudy", help="rank lattice temperature hypotheses × comparison modes against the "
                                      "sample-#1 g(T) → tstudy.h5, tstudy.png, tstudy.md")
    s.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES, help="temperature rules")
    s.add_argument("--n-cells", nargs="+", type=int, default=[12, 14, 16], help="cube sizes (cells per edge)")
    s.add_argument("--temperatures", nargs="+", type=float, default=[6.0, 65.0, 90.0],
                   help="temperatures (K), measured ones only (6, 30, 65, 90)")
    s.add_argument("--disorder-n-cells", nargs="*", type=int, default=[10],
                   help="size of the frozen-displacement configurations (none: skip)")
    s.add_argument("--disorder-pairs", type=int, default=1, help="± configuration pairs per point")
    s.add_argument("--disorder-msd-scale", nargs="+", type=float, default=[1.0],
                   help="factors on the Debye Δ<u²> (1: the derived estimate)")
    s.add_argument("--no-kp", action="store_true", help="skip the k·p cubes (rules a and b)")
    s.add_argument("--workers", type=int, default=1, help="points computed at once")
    s.add_argument("-o", "--output", default="tstudy.h5", help="HDF5 output (resumed if it exists)")
    s.add_argument("--plot", default="tstudy.png", help="figure path, or 'none'")
    s.add_argument("--report", default="tstudy.md", help="Markdown table path, or 'none'")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_tstudy)


def _cmd_tstudy(args) -> int:
    cfg = TStudyConfig(rules=tuple(args.rules), n_cells=tuple(args.n_cells), temperatures_K=tuple(args.temperatures),
                       disorder_n_cells=tuple(args.disorder_n_cells), disorder_pairs=args.disorder_pairs,
                       disorder_msd_scale=tuple(args.disorder_msd_scale), workers=args.workers, kp=not args.no_kp,
                       output=args.output, plot=None if args.plot.lower() == "none" else args.plot,
                       report=None if args.report.lower() == "none" else args.report)
    rows = run_tstudy(cfg, progress=False if args.no_progress else None)
    print(f"wrote {cfg.output}" + (f", {cfg.plot}" if cfg.plot else "") + (f", {cfg.report}" if cfg.report else ""))
    if rows:
        b = rows[0]
        print(f"best: {b['hypothesis']}, {b['mode']}: Δg_e {b['dg_e']:+.3f} (×{b['ratio_e']:.2f}), "
              f"Δg_h {b['dg_h']:+.3f} (×{b['ratio_h']:.2f})")
    return 0
