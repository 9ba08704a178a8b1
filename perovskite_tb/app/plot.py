"""Figures (matplotlib, Agg backend): g vs transition energy (curve, sweep), g vs temperature (tseries),
the halides comparison (NC curves, bulk), each against the shipped measured data.

matplotlib is imported inside the functions: choosing the Agg backend at import time would take the
inline backend away from notebooks that import the package.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from perovskite_tb.app.store.io import read_curve
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.measured import load_measured, load_measured_bulk, measured_series
from perovskite_tb.errors import InputError
from perovskite_tb.model.temperature import DEFAULT_RULE
from perovskite_tb.model.universal import universal_g_e, universal_g_h

__all__ = ["plot_curve", "plot_temperature_series", "plot_nc", "plot_bulk"]

_MARK = {"etb": "o-", "kp": "s--"}
_COLORS = {"CsPbI3": "tab:red", "CsPbBr3": "tab:green", "CsPbCl3": "tab:blue"}


#: Energy axes of the curve figure: column of the results and axis label.
ENERGY_AXES = {"optical": ("optical_transition_energy", "optical transition energy $E_e - E_h - E_C$ (eV)"),
               "single-particle": ("transition_energy", "single-particle transition energy $E_e - E_h$ (eV)")}


def check_energy_axis(energy_axis: str) -> str:
    """``energy_axis`` if it is a key of :data:`ENERGY_AXES`, else a one-line InputError."""
    if energy_axis not in ENERGY_AXES:
        raise InputError(f"unknown energy axis {energy_axis!r} (choose from {', '.join(ENERGY_AXES)})")
    return energy_axis


def energies(d: dict, energy_axis: str) -> np.ndarray:
    """The energy column (eV) of ``energy_axis`` for rows ``d``; rows without an optical energy (no Coulomb
    step) keep E_e − E_h."""
    check_energy_axis(energy_axis)
    E = np.asarray(d["transition_energy"], dtype=float)
    col = ENERGY_AXES[energy_axis][0]
    if col in d:
        opt = np.asarray(d[col], dtype=float)
        E = np.where(np.isfinite(opt), opt, E)
    return E


def plot_curve(h5_path, png_path, *, models=("etb",), t_tol_K: float = 1.0, energy_axis: str = "optical") -> None:
    """Plot g_e, g_h and g_X = g_e + g_h vs transition energy from a curve file, with measured points overlaid.

    Parameters
    ----------
    h5_path : str or Path
        Curve file written by :func:`perovskite_tb.app.jobs.curve.run_curve`.
    png_path : str or Path
        Output PNG.
    models : sequence of str
        Model groups to draw (those missing in the file are skipped).
    t_tol_K : float, optional
        A measured point is drawn with a model temperature T if |T_meas − T| ≤ t_tol_K (K), in the
        colour of that temperature's curves (default 1 K: only exact matches).
    energy_axis : {"optical", "single-particle"}, optional
        x axis: the optical transition energy E_e − E_h − E_C (default; what the laser energy of the
        experiment measures) or the single-particle E_e − E_h.

    Raises
    ------
    InputError
        Unknown energy axis, or an unreadable curve file.

    Notes
    -----
    Measured points: Meliakov et al., Nanoscale 16, 21496 (2024) and 17, 6522 (2025) (shipped table);
    only rows with a stated energy and a signed g, at the temperatures of the curve (± ``t_tol_K``).
    Reference lines: universal bulk formulas of Kirstein et al., Nat. Commun. 13, 3062 (2022), with
    Eg → E.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check_energy_axis(energy_axis)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharex=True)
    e_all = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    data = {}
    for model in models:
        try:
            data[model] = read_curve(h5_path, model)
        except InputError:
            continue
    # one colour per temperature, shared by all models and by the measured points of that temperature
    temps = sorted({float(T) for d in data.values() for T in d["temperature_K"]})
    color_of = {T: colors[i % len(colors)] for i, T in enumerate(temps)}
    for model, d in data.items():
        for T in temps:
            m = d["temperature_K"] == T
            if not m.any():
                continue
            E = energies(d, energy_axis)[m]
            e_all.extend(E)
            g_X = d["g_e"][m] + d["g_h"][m]
            for ax, g in zip(axes, (d["g_e"][m], d["g_h"][m], g_X)):
                ax.plot(E, g, _MARK.get(model, "^-"), color=color_of[T], ms=4, label=f"{model.upper()} {T:g} K")
    meas = [r for r in load_measured() if np.isfinite(r["energy_eV"]) and not r["abs_only"]]
    for ax, carrier in zip(axes, ("e", "h")):
        for T in temps:
            pts = [r for r in meas if r["carrier"] == carrier and abs(r["temperature_K"] - T) <= t_tol_K]
            if pts:
                ax.plot([r["energy_eV"] for r in pts], [r["g"] for r in pts], "*", color=color_of[T],
                        mec="k", ms=11, ls="none", label=f"measured {T:g} K (Meliakov 2024/2025)")
    gx = [r for r in load_measured() if r["carrier"] == "X" and not r["abs_only"]]
    if gx:  # stated without an energy: "nearly constant over the whole range 1.69–2.25 eV"
        axes[2].hlines([r["g"] for r in gx], 1.69, 2.25, colors="k", linestyles="--",
                       label=f"measured $g_X$ ≈ {gx[0]['g']:+.1f}, 1.69–2.25 eV (Meliakov 2025)")
    lo = min(e_all + [1.65]) - 0.02
    hi = max(e_all + [2.3]) + 0.02
    Eu = np.linspace(lo, hi, 200)
    axes[0].plot(Eu, universal_g_e(Eu), ":", color="gray", label="bulk universal (Kirstein 2022)")
    axes[1].plot(Eu, universal_g_h(Eu), ":", color="gray", label="bulk universal (Kirstein 2022)")
    axes[2].plot(Eu, universal_g_e(Eu) + universal_g_h(Eu), ":", color="gray", label="bulk universal (Kirstein 2022)")
    for ax, name in zip(axes, ("electron $g_e$", "hole $g_h$", "bright exciton $g_X = g_e + g_h$")):
        ax.set_xlabel(ENERGY_AXES[energy_axis][1])
        ax.set_ylabel(name)
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("CsPbI3 nanocrystals: g-factors vs transition energy")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)


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
    Meliakov et al., Nanoscale 16, 21496 (2024) (measured series, doi:10.1039/d4nr03132f).
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


def _universal(ax, Emin, Emax):
    E = np.linspace(Emin, Emax, 200)
    ax.plot(E, universal_g_e(E), "k-", lw=1, label="universal $g_e$ (Kirstein 2022)")
    ax.plot(E, universal_g_h(E), "k--", lw=1, label="universal $g_h$")


def plot_nc(curves, png: str | Path) -> Path:
    """g_e (filled) and g_h (open) vs transition energy for all halides and models on one figure.

    ``curves`` is a :class:`perovskite_tb.app.jobs.halides.HalideCurves`; returns the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    Es = [b["Eg_eV"] for b in curves.bulk.values()]
    for model in ("etb", "kp"):
        for mat, c in getattr(curves, model).items():
            Es += [x for x in c["transition_energy"] if math.isfinite(x)]
    _universal(ax, min(Es) - 0.1, max(Es) + 0.1)
    style = {"etb": ("o", "-"), "kp": ("s", ":")}
    for model in ("etb", "kp"):
        mk, ls = style[model]
        for mat, c in getattr(curves, model).items():
            col = _COLORS.get(mat, None)
            ax.plot(c["transition_energy"], c["g_e"], mk + ls, color=col, ms=5,
                    label=f"{mat} {model.upper()} $g_e$")
            ax.plot(c["transition_energy"], c["g_h"], mk + ls, color=col, mfc="none", ms=5,
                    label=f"{mat} {model.upper()} $g_h$")
    for mat, b in curves.bulk.items():
        col = _COLORS.get(mat, None)
        ax.plot([b["Eg_eV"]], [b["g_e"]], "*", color=col, ms=12, mec="k")
        ax.plot([b["Eg_eV"]], [b["g_h"]], "*", color=col, ms=12, mec="k", mfc="w")
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("transition energy $E_e - E_h$ (eV)")
    ax.set_ylabel("g-factor")
    ax.set_title(f"CsPbX$_3$ cubes N×N×N, ETB set {curves.parameter_set} (★ bulk)", fontsize=10)
    ax.legend(fontsize=6.5, ncol=2, loc="best")
    return _save_figure(fig, png)


#: Figure formats the jobs write (matplotlib back-end Agg).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def check_plot_path(path) -> Path | None:
    """Validate a figure path before any computation; ``None`` or ``"none"`` means no figure.

    Raises
    ------
    InputError
        Unsupported suffix, missing or unwritable directory, or a directory at the path.
    """
    if path is None or str(path).lower() == "none":
        return None
    p = Path(path)
    if p.suffix.lower() not in FIGURE_SUFFIXES:
        raise InputError(f"figure path {str(p)!r} must end in {', '.join(FIGURE_SUFFIXES)} (or be 'none')")
    return check_writable(p, "figure path")


def _save_figure(fig, png: str | Path) -> Path:
    """Lay out, write (dpi 150, parent folders created) and close a figure; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    plt.close(fig)
    return png


def plot_bulk(bulk: dict, png: str | Path, *, parameter_set: str = "nestoklon2023-fit") -> Path:
    """Bulk g_e, g_h vs Eg: fitted ETB sets, universal formula, measured ranges (Kirstein 2022)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    _universal(ax, 1.4, 3.4)
    for mat, b in bulk.items():
        col = _COLORS.get(mat, None)
        ax.plot([b["Eg_eV"]], [b["g_e"]], "o", color=col, ms=8, label=f"{mat} ETB {parameter_set} $g_e$")
        ax.plot([b["Eg_eV"]], [b["g_h"]], "o", color=col, mfc="none", ms=8, label=f"{mat} ETB $g_h$")
    seen = set()
    for r in load_measured_bulk():
        mk = "^" if r["carrier"] == "e" else "v"
        lab = f"measured {r['material']}" if r["material"] not in seen else None
        seen.add(r["material"])
        mid, half = 0.5 * (r["g_min"] + r["g_max"]), 0.5 * (r["g_max"] - r["g_min"])
        ax.errorbar([r["Eg_eV"]], [mid], yerr=[half], fmt=mk, color="0.3", ms=6, capsize=3, label=lab)
    ax.axhline(0, color="0.7", lw=0.5)
    ax.set_xlabel("band gap $E_g$ (eV)")
    ax.set_ylabel("bulk g-factor")
    ax.set_title("bulk g vs Eg (▲ e, ▼ h: measured ranges, Kirstein 2022)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return _save_figure(fig, png)
