r"""The excitons job: band-edge exciton fine structure, lifetimes and X±/XX binding vs size, shape and screening.

``perovskite-tb excitons`` is a run-file template over the sweep engine (resumable like ``study`` and
``curve``): for each screening model one run (the screening is a model option, checked on resume, so it
cannot be a sweep axis), each material its cubes plus an aspect-ratio series of cuboids
(``[options].excitons = true``, ``[options].ci_levels = N``), rows carrying the registered exciton
observables (:mod:`perovskite_tb.observables.excitons`). Outputs

* ``excitons.h5`` — the rows of the first screening model; further models go to
  ``excitons.<model>.h5`` (each an ordinary results file, resumed if it exists);
* ``excitons.png`` — Δ_BD vs L, bright splitting vs aspect ratio, τ_rad vs L, binding energies of X⁺,
  X⁻, XX per screening model on the universal axes E_b/Ry* vs L/a_B with the empirical CsPbBr3 law,
  g_X_bright beside g_e + g_h vs the optical transition energy;
* ``excitons.md`` — the screening models ranked by the RMS of their binding energies against the
  empirical law (CsPbBr3 cubes only: the law is for CsPbBr3).

Empirical law (CsPbBr3 NCs): E(X*) − E(X) = A + B/L² with A = −10 meV, B = −780 meV·nm² (trion, charge
not resolved) and E(XX) − 2E(X) = A + B/L² with A = −16.5 meV, B = −1370 meV·nm² (L the cube edge);
binding = −(A + B/L²). Source: a paper citing Tamarat et al., Nat. Commun. 14, 229 (2023) —
**not confirmed** (most likely Amara et al., arXiv:2301.09571 (2023), whose abstract reports the size
dependence of the trion and biexciton binding of single CsPbBr3 NCs; its figures were not read).

Universal axes: Ry* = 13.606 eV·μ/ε∞² and a_B = 0.05292 nm·ε∞/μ with μ = m_e m_h/(m_e + m_h) from the
ETB bulk masses (:func:`perovskite_tb.model.bulk.bulk_properties`) and ε∞ the material's default
(``parameters/dielectric.toml``), the same for every screening model (so the axes do not move between
models).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from perovskite_tb.app.engine.runfile import RunSpec, parse_run
from perovskite_tb.app.engine.sweep import run_sweep
from perovskite_tb.app.plot import _save_figure, check_plot_path
from perovskite_tb.app.store.io import open_results, read_rows
from perovskite_tb.app.store.paths import check_writable
from perovskite_tb.errors import InputError
from perovskite_tb.observables.excitons import DEFAULT_DOUBLETS, check_exciton_request
from perovskite_tb.observables.screening import SCREENING_MODELS

__all__ = ["ExcitonsConfig", "EMPIRICAL_CSPBBR3", "QUICK", "DEFAULT_CUBES", "DEFAULT_ASPECT", "excitons_runs",
           "run_excitons", "load_excitons", "empirical_binding_meV", "score_screening", "exciton_units"]

#: Cubes (cells per edge) at about 4, 6, 8, 10, 12, 16 nm: CsPbBr3 (a = 0.587 nm) 4.1, 5.9, 8.2, 10.0, 11.7,
#: 15.9 nm; CsPbI3 (a = 0.629 nm) 3.8, 6.3, 8.2, 10.1, 11.9, 15.7 nm.
DEFAULT_CUBES = {"CsPbBr3": (7, 10, 14, 17, 20, 27), "CsPbI3": (6, 10, 13, 16, 19, 25)}
#: Aspect-ratio series (cells): a 14×14 base (8.2 nm CsPbBr3, 8.8 nm CsPbI3), Nz/14 = 1.07 … 1.5; computed
#: for the first screening model only (the bright splitting is a fine-structure quantity).
DEFAULT_ASPECT = ((14, 14, 15), (14, 14, 16), (14, 14, 18), (14, 14, 21))
#: ``--quick``: tiny CsPbBr3 cubes, one cuboid, one screening model (tests; about a minute on 2 cores).
QUICK = {"materials": ("CsPbBr3",), "cubes": {"CsPbBr3": (3, 4)}, "aspect": ((3, 3, 4),),
         "screenings": ("epsilon-inf",)}
#: Empirical CsPbBr3 law E − E_ref = A + B/L² (A meV, B meV·nm²): trion X* (E(X*) − E(X)) and
#: biexciton (E(XX) − 2E(X)); source not confirmed (likely Amara et al., arXiv:2301.09571 (2023)).
EMPIRICAL_CSPBBR3 = {"trion": (-10.0, -780.0), "biexciton": (-16.5, -1370.0)}
_EMPIRICAL_LABEL = ("empirical CsPbBr3 law A + B/L² (source not confirmed; likely Amara et al., "
                    "arXiv:2301.09571 (2023))")
_BINDINGS = (("trion_negative_binding", "X⁻", "trion"), ("trion_positive_binding", "X⁺", "trion"),
             ("biexciton_binding", "XX", "biexciton"))


@dataclass(frozen=True)
class ExcitonsConfig:
    """Inputs of the excitons job.

    Attributes
    ----------
    materials : tuple of str
    cubes : dict
        material → cube sizes (cells per edge); missing materials take :data:`DEFAULT_CUBES`.
    aspect : tuple of (int, int, int)
        Cuboids (cells) of every material (aspect ratio Nz/Nx).
    screenings : tuple of str
        :data:`perovskite_tb.observables.screening.SCREENING_MODELS`; a model whose constants are MISSING
        for a material is skipped for that material (reported in the Markdown).
    ci_levels : int
        CI basis, Kramers doublets per carrier (default :data:`~perovskite_tb.observables.excitons.DEFAULT_DOUBLETS`).
    output, plot, report : str or None
        ``excitons.h5`` (first screening model; others ``excitons.<model>.h5``), figure, Markdown.
    workers : int or None
        Points computed at once.
    """

    materials: tuple = ("CsPbBr3", "CsPbI3")
    cubes: dict | None = None
    aspect: tuple = DEFAULT_ASPECT
    screenings: tuple = SCREENING_MODELS
    ci_levels: int = DEFAULT_DOUBLETS
    output: str = "excitons.h5"
    plot: str | None = "excitons.png"
    report: str | None = "excitons.md"
    workers: int | None = None

    def cubes_of(self, material: str) -> tuple:
        """Cube sizes (cells per edge) of ``material``: ``cubes[material]`` or :data:`DEFAULT_CUBES`."""
        return tuple((self.cubes or {}).get(material, DEFAULT_CUBES.get(material, ())))


def output_of(cfg: ExcitonsConfig, screening: str) -> str:
    """HDF5 path of one screening model: ``cfg.output`` for the first, ``<stem>.<model>.h5`` for the others."""
    if screening == cfg.screenings[0]:
        return str(cfg.output)
    p = Path(cfg.output)
    return str(p.with_name(f"{p.stem}.{screening}{p.suffix}"))


def _reference_temperature(material: str) -> float:
    from perovskite_tb.model.materials import load_parameters

    return float(load_parameters(material).reference_temperature_K)


def excitons_runs(cfg: ExcitonsConfig) -> tuple[list, list]:
    """The run specs of the job and the skipped (material, screening, reason).

    Returns
    -------
    (list of (str, RunSpec), list of (str, str, str))
        (screening, spec) per screening model and material, in order; skipped combinations.

    Raises
    ------
    PerovskiteTBError
        Unknown screening or material, bad sizes or basis, a report path that cannot be written.
    """
    if not cfg.screenings or len(set(cfg.screenings)) != len(cfg.screenings):
        raise InputError(f"excitons: screening models must be distinct and at least one, got {list(cfg.screenings)}")
    if not str(cfg.output).endswith((".h5", ".hdf5")):
        raise InputError(f"excitons: output must end with .h5 or .hdf5, got {cfg.output!r}")
    if cfg.report is not None:
        if not str(cfg.report).endswith(".md"):
            raise InputError(f"excitons: the report must be a .md file, got {cfg.report!r}")
        check_writable(cfg.report, "excitons: report")
    runs, skipped = [], []
    for scr in cfg.screenings:
        for mat in cfg.materials:
            try:
                check_exciton_request(mat, scr, cfg.ci_levels)
            except InputError as exc:
                if "MISSING" not in str(exc):
                    raise
                skipped.append((mat, scr, str(exc)))
                continue
            sizes = [int(n) for n in cfg.cubes_of(mat)]
            if scr == cfg.screenings[0]:
                sizes += [list(map(int, c)) for c in cfg.aspect]
            if not sizes:
                raise InputError(f"excitons: no sizes for {mat}")
            doc = {"axes": {"material": [mat], "model": ["etb"], "n_cells": sizes,
                            "temperature_K": [_reference_temperature(mat)]},
                   "options": {"excitons": True, "screening": scr, "ci_levels": int(cfg.ci_levels)},
                   "execution": {"threads_per_worker": 1, **({"workers": int(cfg.workers)} if cfg.workers else {})}}
            spec = parse_run(doc, source="excitons")
            runs.append((scr, replace(spec, output=output_of(cfg, scr), plot=None)))
    if not runs:
        raise InputError("excitons: every (material, screening) combination lacks constants: "
                         + "; ".join(f"{m}/{s}" for m, s, _ in skipped))
    return runs, skipped


def load_excitons(path) -> dict:
    """Rows of one excitons file as arrays (``read_rows`` of the ETB table; {} if the file has none)."""
    with open_results(path) as f:
        return read_rows(f, "etb") or {}


def exciton_units(material: str) -> tuple[float, float]:
    """(Ry* in meV, a_B in nm) of ``material`` from the ETB bulk masses and the default ε∞ (module docstring)."""
    from perovskite_tb.model.bulk import bulk_properties
    from perovskite_tb.model.materials import load_parameters
    from perovskite_tb.observables.dielectric import dielectric_constants

    b = bulk_properties(load_parameters(material))
    mu = abs(b.m_e) * abs(b.m_h) / (abs(b.m_e) + abs(b.m_h))
    eps = float(dielectric_constants(material).eps_in.value)
    return 13605.693 * mu / eps**2, 0.0529177 * eps / mu


def empirical_binding_meV(kind: str, L_nm) -> np.ndarray:
    """Binding energy (meV, positive = bound) of the empirical CsPbBr3 law: −(A + B/L²), ``kind`` trion/biexciton."""
    A, B = EMPIRICAL_CSPBBR3[kind]
    L = np.asarray(L_nm, dtype=float)
    return -(A + B / L**2)


def _cubes(d: dict, material: str) -> tuple[np.ndarray, np.ndarray]:
    """Mask of the cubes of ``material`` and their edges (nm)."""
    mat = np.asarray(d["material"]).astype(str)
    n = np.asarray(d["n_cells"])
    m = (mat == material) & (n[:, 0] == n[:, 1]) & (n[:, 1] == n[:, 2])
    return m, np.asarray(d["edges_nm"], float)[:, 0]


def score_screening(data: dict) -> list[dict]:
    """RMS (meV) of the CsPbBr3 cube binding energies vs the empirical law, per screening model.

    Parameters
    ----------
    data : dict
        screening → :func:`load_excitons` rows.

    Returns
    -------
    list of dict
        ``screening``, ``n`` (cubes), ``rms_Xm``, ``rms_Xp``, ``rms_XX``, ``rms_all`` (meV; NaN where no
        CsPbBr3 cube has a finite value), sorted by ``rms_all`` (NaN last).
    """
    rows = []
    for scr, d in data.items():
        r = {"screening": scr, "n": 0}
        diffs = []
        if d:
            m, L = _cubes(d, "CsPbBr3")
            r["n"] = int(m.sum())
            for col, tag, kind in _BINDINGS:
                v = np.asarray(d[col], float)[m]
                ok = np.isfinite(v)
                e = v[ok] - empirical_binding_meV(kind, L[m][ok])
                r[f"rms_{ {'X⁻': 'Xm', 'X⁺': 'Xp', 'XX': 'XX'}[tag]}"] = (float(np.sqrt(np.mean(e**2)))
                                                                        if e.size else float("nan"))
                diffs += list(e)
        for k in ("rms_Xm", "rms_Xp", "rms_XX"):
            r.setdefault(k, float("nan"))
        r["rms_all"] = float(np.sqrt(np.mean(np.square(diffs)))) if diffs else float("nan")
        rows.append(r)
    return sorted(rows, key=lambda r: (not math.isfinite(r["rms_all"]), r["rms_all"] if math.isfinite(r["rms_all"]) else 0))


def report_markdown(ranking: list[dict], data: dict, skipped: list, cfg: ExcitonsConfig) -> str:
    """The Markdown report: ranking table, skipped combinations, per-size values."""
    f = lambda x: "–" if not (isinstance(x, float) and math.isfinite(x)) else f"{x:.1f}"  # noqa: E731
    out = ["# Excitons: screening models against the empirical CsPbBr3 binding energies", "",
           f"CI basis N = {cfg.ci_levels} Kramers doublets per carrier (docs/excitons.md: binding energies are "
           "not converged in N; they still rise beyond N = 8). Reference: " + _EMPIRICAL_LABEL
           + "; binding = −(A + B/L²), trion A = −10 meV, B = −780 meV·nm² (compared with both X⁻ and X⁺), "
           "biexciton A = −16.5 meV, B = −1370 meV·nm². RMS over the CsPbBr3 cubes (meV); the law is not "
           "defined for CsPbI3, which is shown but not scored.", "",
           "| rank | screening | CsPbBr3 cubes | RMS X⁻ | RMS X⁺ | RMS XX | RMS all |", "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(ranking, 1):
        out.append(f"| {i} | {r['screening']} | {r['n']} | {f(r['rms_Xm'])} | {f(r['rms_Xp'])} | {f(r['rms_XX'])} | "
                   f"{f(r['rms_all'])} |")
    if skipped:
        out += ["", "Not run (constants MISSING in parameters/excitons.toml, so not ranked for that material):", ""]
        out += [f"* {m}, {s}" for m, s, _ in skipped]
    out += ["", "## Values", "", "| screening | material | cells | L (nm) | Δ_BD (meV) | bright spread (meV) | "
            "τ_rad (ns) | g_X_bright | g_e + g_h | X⁻ | X⁺ | XX | law X* | law XX |", "|" + "---|" * 14]
    for scr, d in data.items():
        if not d:
            continue
        for i in range(len(d["material"])):
            mat = str(d["material"][i])
            n = tuple(int(x) for x in d["n_cells"][i])
            L = float(d["edges_nm"][i][0])
            cube = len(set(n)) == 1 and mat == "CsPbBr3"
            lx = f(float(empirical_binding_meV("trion", L))) if cube else "–"
            lxx = f(float(empirical_binding_meV("biexciton", L))) if cube else "–"
            out.append(f"| {scr} | {mat} | {'×'.join(map(str, n))} | {L:.2f} | {f(float(d['exciton_bright_dark'][i]))} | "
                       f"{float(d['exciton_bright_splitting'][i]):.3g} | {float(d['radiative_lifetime'][i]) / 1e3:.2f} | "
                       f"{float(d['g_X_bright'][i]):.3f} | {float(d['g_e'][i] + d['g_h'][i]):.3f} | "
                       f"{f(float(d['trion_negative_binding'][i]))} | {f(float(d['trion_positive_binding'][i]))} | "
                       f"{f(float(d['biexciton_binding'][i]))} | {lx} | {lxx} |")
    out += ["", f"Honest reading: the CI basis ({cfg.ci_levels} Kramers doublets per carrier) is not converged "
            "(X⁻ and XX still grow with the basis; docs/excitons.md gives the convergence and the 1/M "
            "extrapolation), so the ranking says which screening model is closer at this basis, not which is "
            "right. The empirical law's source paper is not confirmed (see above)."]
    return "\n".join(out) + "\n"


def plot_excitons(data: dict, png) -> Path:
    """The five-panel figure of the module docstring."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, ax = plt.subplots(2, 3, figsize=(10, 5.8))
    ax = ax.ravel()
    marks = {"CsPbBr3": "o", "CsPbI3": "s", "CsPbCl3": "^"}
    lines = {"epsilon-inf": "-", "epsilon-0": "--", "polaron": ":"}
    colors = {"X⁻": "C0", "X⁺": "C3", "XX": "C2"}
    for scr, d in data.items():
        if not d:
            continue
        mats = sorted(set(np.asarray(d["material"]).astype(str)))
        for j, mat in enumerate(mats):
            m, L = _cubes(d, mat)
            o = np.argsort(L[m])
            style = lines.get(scr, "-") + marks.get(mat, "o")
            lab = f"{mat}, {scr}"
            ax[0].plot(L[m][o], np.asarray(d["exciton_bright_dark"], float)[m][o], style, label=lab)
            ax[2].plot(L[m][o], np.asarray(d["radiative_lifetime"], float)[m][o] / 1e3, style, label=lab)
            n = np.asarray(d["n_cells"])
            cub = (np.asarray(d["material"]).astype(str) == mat) & ~m
            base = m & (n[:, 0] == n[:, 0][cub].min()) if cub.any() else np.zeros_like(m)
            sel = cub | base
            asp = n[sel, 2] / n[sel, 0]
            oa = np.argsort(asp)
            ax[1].plot(asp[oa], np.asarray(d["exciton_bright_splitting"], float)[sel][oa], style, label=lab)
            Ry, aB = exciton_units(mat)
            for col, tag, _ in _BINDINGS:
                v = np.asarray(d[col], float)[m][o]
                if np.isfinite(v).any():
                    ax[3].plot(L[m][o] / aB, v / Ry, lines.get(scr, "-") + marks.get(mat, "o"), color=colors[tag])
            E = np.asarray(d["optical_transition_energy"], float)[m][o]
            ax[4].plot(E, np.asarray(d["g_X_bright"], float)[m][o], style, color="C1")
            ax[4].plot(E, (np.asarray(d["g_e"]) + np.asarray(d["g_h"]))[m][o], style, color="C4", mfc="none")
    Ry, aB = exciton_units("CsPbBr3")
    Lg = np.linspace(3.0, 17.0, 100)
    laws = (("trion", "k", "X*"), ("biexciton", "0.5", "XX"))
    for kind, c, _ in laws:
        ax[3].plot(Lg / aB, empirical_binding_meV(kind, Lg) / Ry, color=c, lw=2.5, alpha=0.6)
    titles = [("cube edge L (nm)", "Δ_BD = bright − dark (meV)"), ("aspect ratio Nz/Nx", "bright-triplet spread (meV)"),
              ("cube edge L (nm)", "τ_rad = 3/ΣΓ (ns)"), ("L / a_B", "binding E_b / Ry* (positive = bound)"),
              ("optical transition energy (eV)", "g")]
    def key(**kw):
        return Line2D([], [], **kw)

    scrs = [x for x in data if data[x]]
    style_keys = ([key(color="0.3", ls=lines.get(x, "-"), label=x) for x in scrs]
                  + [key(color="0.3", ls="none", marker=marks.get(m, "o"), label=m) for m in marks
                     if any(m in np.asarray(d["material"]).astype(str) for d in data.values() if d)])
    for a, (x, y) in zip(ax, titles):
        a.set_xlabel(x)
        a.set_ylabel(y)
        a.grid(alpha=0.3)
    for i in (0, 1, 2):
        ax[i].legend(fontsize=5)
    ax[3].legend(handles=[key(color=c, label=t) for t, c in colors.items()]
                 + [key(color=c, lw=2.5, alpha=0.6, label=f"{tag} law") for _, c, tag in laws] + style_keys,
                 fontsize=5, ncol=2)
    ax[4].legend(handles=[key(color="C1", marker="o", label="g_X_bright"),
                          key(color="C4", marker="o", mfc="none", label="g_e + g_h")] + style_keys, fontsize=5)
    ax[5].axis("off")
    ax[5].text(0, 0.5, "marker: material; line: screening model\nRy*, a_B: ETB bulk masses and ε∞\n"
               + _EMPIRICAL_LABEL.replace(" (", "\n("), fontsize=8, va="center", wrap=True)
    fig.suptitle("Band-edge excitons, trions and biexcitons of CsPbX3 NCs (ETB + CI, docs/excitons.md)")
    return _save_figure(fig, png)


def run_excitons(cfg: ExcitonsConfig, *, progress: bool | None = None) -> dict:
    """Run (or resume) the job; write the HDF5 file(s), the figure and the Markdown.

    Returns
    -------
    dict
        ``ranking`` (:func:`score_screening`), ``computed`` (points computed by this call), ``outputs``
        (HDF5 paths), ``skipped``.

    Raises
    ------
    PerovskiteTBError
        Bad inputs (before anything is computed) or failed points.
    """
    check_plot_path(cfg.plot)
    runs, skipped = excitons_runs(cfg)
    computed, outputs = 0, []
    for scr, spec in runs:
        computed += run_sweep(spec, progress=progress, kind="sweep").n_computed
        if spec.output not in outputs:
            outputs.append(spec.output)
    data = {scr: load_excitons(output_of(cfg, scr)) for scr in dict.fromkeys(s for s, _ in runs)}
    ranking = score_screening(data)
    if cfg.plot:
        plot_excitons(data, cfg.plot)
    if cfg.report:
        Path(cfg.report).write_text(report_markdown(ranking, data, skipped, cfg), encoding="utf-8")
    return {"ranking": ranking, "computed": computed, "outputs": outputs, "skipped": skipped}


def _cells(s: str):
    try:
        v = [int(x) for x in s.split("x")] if "x" in s else [int(s)] * 3
    except ValueError:
        raise InputError(f"excitons: a size is N or NXxNYxNZ cells, got {s!r}") from None
    if len(v) != 3 or min(v) < 1:
        raise InputError(f"excitons: a size is N or NXxNYxNZ positive cells, got {s!r}")
    return tuple(v)


def add_subcommand(sub) -> None:
    """Register ``perovskite-tb excitons``."""
    s = sub.add_parser(
        "excitons",
        help="exciton fine structure, τ_rad, g_X_bright, X±/XX binding vs size, aspect and screening "
             "→ excitons.h5, excitons.png, excitons.md",
        description="Full default: CsPbBr3 and CsPbI3 cubes of about 4, 6, 8, 10, 12 and 16 nm for each of the 3 "
                    "screening models, plus 4 cuboids (14×14 base, aspect 1.07–1.5) for the first model: 44 "
                    "points; the 16 nm cubes (~1.6 M states) dominate. --n-cells / --material / --screening "
                    "select a subset. --quick: two tiny CsPbBr3 cubes and one cuboid, epsilon-inf, about a minute.")
    s.add_argument("--quick", action="store_true", help="tiny test run (CsPbBr3 3- and 4-cell cubes, a 3×3×4 cuboid)")
    s.add_argument("--material", nargs="+", default=None, help="materials (default CsPbBr3 CsPbI3)")
    s.add_argument("--n-cells", nargs="+", type=int, default=None,
                   help="cube sizes (cells per edge) for every material (default: 4–16 nm per material)")
    s.add_argument("--aspect", nargs="+", default=None, metavar="NXxNYxNZ",
                   help="cuboids of the aspect series (default 8x8x9 8x8x10 8x8x12 8x8x16)")
    s.add_argument("--screening", nargs="+", choices=SCREENING_MODELS, default=None,
                   help="screening models, one run each (default all three; the aspect series runs for the first)")
    s.add_argument("--ci-levels", type=int, default=DEFAULT_DOUBLETS, metavar="N",
                   help=f"CI basis, Kramers doublets per carrier (default {DEFAULT_DOUBLETS})")
    s.add_argument("--workers", type=int, default=None, help="points computed at once (default: cores)")
    s.add_argument("-o", "--output", default="excitons.h5",
                   help="HDF5 output of the first screening model (others: <stem>.<model>.h5; resumed if they exist)")
    s.add_argument("--plot", default="excitons.png", help="figure path, or 'none'")
    s.add_argument("--report", default="excitons.md", help="Markdown path, or 'none'")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_excitons)


def _cmd_excitons(args) -> int:
    base = QUICK if args.quick else {}
    mats = tuple(args.material or base.get("materials", ExcitonsConfig.materials))
    cubes = {m: tuple(args.n_cells) for m in mats} if args.n_cells else base.get("cubes")
    aspect = tuple(_cells(a) for a in args.aspect) if args.aspect else base.get("aspect", DEFAULT_ASPECT)
    for n in args.n_cells or ():
        if n < 1:
            raise InputError(f"excitons: cells per edge must be positive, got {n}")
    cfg = ExcitonsConfig(materials=mats, cubes=cubes, aspect=aspect,
                         screenings=tuple(args.screening or base.get("screenings", SCREENING_MODELS)),
                         ci_levels=args.ci_levels, output=args.output,
                         plot=None if args.plot.lower() == "none" else args.plot,
                         report=None if args.report.lower() == "none" else args.report, workers=args.workers)
    res = run_excitons(cfg, progress=False if args.no_progress else None)
    print(f"wrote {', '.join(res['outputs'])}" + (f", {cfg.plot}" if cfg.plot else "")
          + (f", {cfg.report}" if cfg.report else "") + f" ({res['computed']} points computed)")
    for m, scr, _ in res["skipped"]:
        print(f"skipped {m} / {scr}: constants MISSING")
    return 0

