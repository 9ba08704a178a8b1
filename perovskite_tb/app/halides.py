r"""Halide-exchange comparison (Nano Lett. 23, 8218 (2023)): g_e, g_h of CsPbX3 (X = I, Br, Cl).

Two figures:

* **NC curves** — ETB (and k·p if :mod:`kp.confinement` is available) g_e, g_h of cubic N×N×N
  nanocrystals of the three halides against the single-particle transition energy, with the bulk
  universal formula of Kirstein et al. (:mod:`perovskite_tb.model.universal`) for reference.
* **bulk** — g_e, g_h against Eg of the three fitted bulk ETB sets, the universal formula and the
  measured bulk values of Kirstein 2022 (``perovskite_tb/data/measured_bulk_g_factors.csv``).

Results go to one HDF5 file (``schema = "perovskite_tb.app.halides/1"``; groups ``/<material>/etb``,
``/<material>/kp`` with datasets ``n_cells``, ``edge_nm`` [nm], ``transition_energy`` [eV], ``g_e``,
``g_h`` [1], ``seconds`` [s]; ``/<material>/bulk`` attributes; ``/universal``; ``/measured_bulk``).
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perovskite_tb.errors import InputError, PerovskiteTBError

__all__ = [
    "HALIDES",
    "DEFAULT_SET",
    "DEFAULT_N_CELLS",
    "HalideCurves",
    "load_measured_bulk",
    "bulk_points",
    "halide_curves",
    "write_h5",
    "plot_nc",
    "plot_bulk",
    "add_subcommand",
]

HALIDES = ("CsPbI3", "CsPbBr3", "CsPbCl3")
DEFAULT_SET = "nestoklon2023-fit"
DEFAULT_N_CELLS = (3, 4, 5, 6, 7, 8)
_COLORS = {"CsPbI3": "tab:red", "CsPbBr3": "tab:green", "CsPbCl3": "tab:blue"}


@dataclass
class HalideCurves:
    """NC g-factor curves of several halides.

    Attributes
    ----------
    parameter_set : str
        ETB set name used for every material.
    bulk : dict of material → dict
        Bulk properties (``BulkProperties.as_json()`` keys) of each ETB set.
    etb, kp : dict of material → dict of str → ndarray
        Per model: ``n_cells`` (int64), ``edge_nm`` [nm], ``transition_energy`` [eV], ``g_e``, ``g_h``,
        ``seconds`` [s], each shape (n_sizes,); NaN where a point failed.
    notes : list of str
        Failures and skipped models.
    """

    parameter_set: str
    bulk: dict = field(default_factory=dict)
    etb: dict = field(default_factory=dict)
    kp: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def load_measured_bulk(path: str | Path | None = None) -> list[dict]:
    """Measured bulk g-factor ranges (Kirstein 2022, brief §2.2) from the shipped CSV.

    Returns
    -------
    list of dict
        Keys ``material``, ``Eg_eV``, ``carrier`` (e | h), ``g_min``, ``g_max`` (float), ``source``, ``note``.

    Raises
    ------
    InputError
        Missing file or malformed row.
    """
    path = Path(path) if path is not None else Path(__file__).parent.parent / "data" / "measured_bulk_g_factors.csv"
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    except OSError as exc:
        raise InputError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    rows = []
    for r in csv.DictReader(lines):
        try:
            rows.append({**r, "Eg_eV": float(r["Eg_eV"]), "g_min": float(r["g_min"]), "g_max": float(r["g_max"])})
        except (KeyError, ValueError) as exc:
            raise InputError(f"{path.name}: malformed row {r!r} ({exc})") from None
    return rows


def bulk_points(materials=HALIDES, parameter_set: str = DEFAULT_SET, *, orbital_zeeman: bool = False) -> dict:
    """Bulk ETB properties of each material's set: ``{material: BulkProperties.as_json()}``.

    Raises
    ------
    ParameterError
        Unknown material or set.
    """
    from perovskite_tb.model.bulk import bulk_properties
    from perovskite_tb.model.materials import load_parameters

    return {m: bulk_properties(load_parameters(m, parameter_set), orbital_zeeman=orbital_zeeman).as_json()
            for m in materials}


def _kp_available() -> bool:
    try:
        from kp.confinement import nc_gfactors  # noqa: F401
    except ImportError:
        return False
    return True


def halide_curves(
    materials=HALIDES, *, parameter_set: str = DEFAULT_SET, n_cells=DEFAULT_N_CELLS, models=("etb", "kp"),
    orbital_zeeman: bool = False, kp_set: str | None = None, progress: bool = False,
) -> HalideCurves:
    """Compute NC g-factor curves of cubic N×N×N nanocrystals for several halides.

    Parameters
    ----------
    materials : sequence of str
    parameter_set : str
        ETB set for every material (default ``nestoklon2023-fit``).
    n_cells : sequence of int
        Cube sizes (Pb sites per edge), each ≥ 2.
    models : sequence of {"etb", "kp"}
        k·p is skipped with a note if :mod:`kp.confinement` is not importable.
    orbital_zeeman : bool
        On-site L·B term in the ETB (default off).
    kp_set : str, optional
        k·p parameter set (default: the kp module's default). k·p cubes have the ETB edge N·a.
    progress : bool
        Print one line per point.

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
    from perovskite_tb.model.materials import load_parameters
    from perovskite_tb.nc import nc_gfactors

    models = tuple(models)
    bad = [m for m in models if m not in ("etb", "kp")]
    if bad:
        raise InputError(f"unknown model(s) {bad} (known: etb, kp)")
    sizes = [int(n) for n in n_cells]
    if not sizes or any(n < 2 for n in sizes):
        raise InputError(f"n_cells must be integers ≥ 2, got {list(n_cells)}")
    out = HalideCurves(parameter_set=parameter_set)
    out.bulk = bulk_points(materials, parameter_set, orbital_zeeman=orbital_zeeman)
    use_kp = "kp" in models and _kp_available()
    if "kp" in models and not use_kp:
        out.notes.append("k·p skipped: kp.confinement.nc_gfactors not importable")
    for mat in materials:
        params = load_parameters(mat, parameter_set)
        for model in ("etb", "kp"):
            if model == "etb" and "etb" not in models or model == "kp" and not use_kp:
                continue
            cols = {k: np.full(len(sizes), np.nan) for k in ("edge_nm", "transition_energy", "g_e", "g_h", "seconds")}
            for i, n in enumerate(sizes):
                edge = n * params.a
                cols["edge_nm"][i] = edge
                t0 = time.perf_counter()
                try:
                    if model == "etb":
                        r = nc_gfactors(params, (n, n, n), orbital_zeeman=orbital_zeeman)
                        E, ge, gh = r.transition_energy, r.g_e.g, r.g_h.g
                    else:
                        from kp.confinement import nc_gfactors as kp_nc

                        d = kp_nc(mat, (edge, edge, edge), parameter_set=kp_set)
                        E, ge, gh = d["transition_energy_eV"], d["g_e"], d["g_h"]
                except PerovskiteTBError as exc:
                    out.notes.append(f"{mat} {model} N={n}: {type(exc).__name__}: {exc}")
                    continue
                cols["transition_energy"][i], cols["g_e"][i], cols["g_h"][i] = E, ge, gh
                cols["seconds"][i] = time.perf_counter() - t0
                if progress:
                    print(f"{mat:8s} {model:3s} N={n:2d} edge={edge:5.2f} nm  E={E:.4f} eV  "
                          f"g_e={ge:+.3f} g_h={gh:+.3f}  ({cols['seconds'][i]:.1f} s)", flush=True)
            cols["n_cells"] = np.asarray(sizes, dtype=np.int64)
            getattr(out, model)[mat] = cols
    return out


def write_h5(curves: HalideCurves, path: str | Path) -> Path:
    """Write :class:`HalideCurves` (plus universal formula and measured bulk data) to HDF5.

    Raises
    ------
    InputError
        If the file cannot be written.
    """
    import h5py

    from perovskite_tb import __version__
    from perovskite_tb.model.universal import DELTA_UNIVERSAL, DGE_UNIVERSAL, P_UNIVERSAL_EV_NM, universal_g_e, universal_g_h

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(path, "w")
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc}") from None
    units = {"n_cells": "1", "edge_nm": "nm", "transition_energy": "eV", "g_e": "1", "g_h": "1", "seconds": "s"}
    with f:
        f.attrs["schema"] = "perovskite_tb.app.halides/1"
        f.attrs["version"] = __version__
        f.attrs["parameter_set"] = curves.parameter_set
        f.attrs["notes"] = "\n".join(curves.notes)
        for mat, b in curves.bulk.items():
            g = f.require_group(f"{mat}/bulk")
            for k, v in b.items():
                g.attrs[k] = v
        for model in ("etb", "kp"):
            for mat, cols in getattr(curves, model).items():
                g = f.require_group(f"{mat}/{model}")
                for k, v in cols.items():
                    ds = g.create_dataset(k, data=v)
                    ds.attrs["units"] = units[k]
        Eg = np.linspace(1.4, 3.6, 111)
        u = f.create_group("universal")
        u.attrs.update({"hbar_p_over_m0_eV_nm": P_UNIVERSAL_EV_NM, "Delta_eV": DELTA_UNIVERSAL,
                        "delta_g_e": DGE_UNIVERSAL, "source": "kirstein2022"})
        u.create_dataset("Eg", data=Eg).attrs["units"] = "eV"
        u.create_dataset("g_e", data=universal_g_e(Eg)).attrs["units"] = "1"
        u.create_dataset("g_h", data=universal_g_h(Eg)).attrs["units"] = "1"
        rows = load_measured_bulk()
        m = f.create_group("measured_bulk")
        m.attrs["source"] = "kirstein2022 (brief §2.2, 3P)"
        m.create_dataset("material", data=np.array([r["material"] for r in rows], dtype="S"))
        m.create_dataset("carrier", data=np.array([r["carrier"] for r in rows], dtype="S"))
        for k in ("Eg_eV", "g_min", "g_max"):
            m.create_dataset(k, data=np.array([r[k] for r in rows]))
    return path


def _universal(ax, Emin, Emax):
    from perovskite_tb.model.universal import universal_g_e, universal_g_h

    E = np.linspace(Emin, Emax, 200)
    ax.plot(E, universal_g_e(E), "k-", lw=1, label="universal $g_e$ (Kirstein 2022)")
    ax.plot(E, universal_g_h(E), "k--", lw=1, label="universal $g_h$")


def plot_nc(curves: HalideCurves, png: str | Path) -> Path:
    """g_e (filled) and g_h (open) vs transition energy for all halides and models on one figure."""
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


def _save_figure(fig, png: str | Path) -> Path:
    """Lay out, write (dpi 150, parent folders created) and close a figure; returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    plt.close(fig)
    return png


def plot_bulk(bulk: dict, png: str | Path, *, parameter_set: str = DEFAULT_SET) -> Path:
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


def add_subcommand(sub) -> None:
    """Register ``perovskite-tb halides`` on an argparse sub-parser collection."""
    h = sub.add_parser("halides", help="NC g-curves of CsPbI3/Br3/Cl3 vs transition energy + bulk plot → HDF5 + PNG")
    h.add_argument("--parameter-set", default=DEFAULT_SET)
    h.add_argument("--materials", nargs="+", default=list(HALIDES))
    h.add_argument("--n-cells", nargs="+", type=int, default=list(DEFAULT_N_CELLS))
    h.add_argument("--model", default="etb,kp", help="comma-separated: etb, kp (default both)")
    h.add_argument("--orbital-zeeman", action="store_true")
    h.add_argument("-o", "--output", default="halides.h5")
    h.add_argument("--plot", default="halides.png", help="NC-curve PNG, or 'none'")
    h.add_argument("--bulk-plot", default="halides_bulk.png", help="bulk PNG, or 'none'")
    h.add_argument("--no-progress", action="store_true")
    h.set_defaults(func=_cmd_halides)


def _cmd_halides(args) -> int:
    models = tuple(m.strip() for m in args.model.split(",") if m.strip())
    c = halide_curves(args.materials, parameter_set=args.parameter_set, n_cells=args.n_cells, models=models,
                      orbital_zeeman=args.orbital_zeeman, progress=not args.no_progress)
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
