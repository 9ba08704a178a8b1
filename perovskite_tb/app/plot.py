"""Figures: g_e, g_h vs transition energy against the measured CsPbI3 NC data (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np

from perovskite_tb.app.io import load_measured, read_curve
from perovskite_tb.model.universal import universal_g_e, universal_g_h

__all__ = ["plot_curve"]

_MARK = {"etb": "o-", "kp": "s--"}


def plot_curve(h5_path, png_path, *, models=("etb",), t_tol_K: float = 1.0) -> None:
    """Plot g_e and g_h vs transition energy from a curve file, with measured points overlaid.

    Parameters
    ----------
    h5_path : str or Path
        Curve file written by :func:`perovskite_tb.app.curve.run_curve`.
    png_path : str or Path
        Output PNG.
    models : sequence of str
        Model groups to draw (those missing in the file are skipped).
    t_tol_K : float, optional
        A measured point is drawn with a model temperature T if |T_meas − T| ≤ t_tol_K (K), in the
        colour of that temperature's curves (default 1 K: only exact matches).

    Notes
    -----
    Measured points: Meliakov et al., Nanoscale 16, 21496 (2024) and 17, 6522 (2025) (shipped table);
    only rows with a stated energy and a signed g, at the temperatures of the curve (± ``t_tol_K``).
    Reference lines: Kirstein et al. 2022 universal bulk formulas with Eg → E (brief §2.1).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perovskite_tb.errors import InputError

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True)
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
            E = d["transition_energy"][m]
            e_all.extend(E)
            for ax, key in zip(axes, ("g_e", "g_h")):
                ax.plot(E, d[key][m], _MARK.get(model, "^-"), color=color_of[T], ms=4,
                        label=f"{model.upper()} {T:g} K")
    meas = [r for r in load_measured() if np.isfinite(r["energy_eV"]) and not r["abs_only"]]
    for ax, carrier in zip(axes, ("e", "h")):
        for T in temps:
            pts = [r for r in meas if r["carrier"] == carrier and abs(r["temperature_K"] - T) <= t_tol_K]
            if pts:
                ax.plot([r["energy_eV"] for r in pts], [r["g"] for r in pts], "*", color=color_of[T],
                        mec="k", ms=11, ls="none", label=f"measured {T:g} K (Meliakov 2024/2025)")
    lo = min(e_all + [1.65]) - 0.02
    hi = max(e_all + [2.3]) + 0.02
    Eu = np.linspace(lo, hi, 200)
    axes[0].plot(Eu, universal_g_e(Eu), ":", color="gray", label="bulk universal (Kirstein 2022)")
    axes[1].plot(Eu, universal_g_h(Eu), ":", color="gray", label="bulk universal (Kirstein 2022)")
    for ax, name in zip(axes, ("electron $g_e$", "hole $g_h$")):
        ax.set_xlabel("transition energy (eV)")
        ax.set_ylabel(name)
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("CsPbI3 nanocrystals: g-factors vs transition energy")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)
    plt.close(fig)
