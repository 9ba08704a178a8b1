"""Basis-convergence study of the confined k·p model and its cross-check against the ETB (issue 3).

``python -m perovskite_tb.app.jobs.kp_study convergence --out benchmarks/results/kp_convergence.h5``
    E_e, E_h, g_e, g_h of CsPbI3 cubes (set ``etb-nestoklon2023``) for edges 3–30 nm and a range
    of basis sizes N per direction, both envelope bases; each point in its own process so that
    the peak RSS is per point.
``python -m perovskite_tb.app.jobs.kp_study crosscheck --out benchmarks/results/kp_vs_etb.h5``
    ETB (``nestoklon2023``, reference temperature, no shift) and k·p (``etb-nestoklon2023``,
    default basis) for the same cubes of N_cells × a; the k·p g's are also interpolated to the ETB
    transition energies (comparison at equal E).
``python -m perovskite_tb.app.jobs.kp_study mixing``
    Why the two part at small sizes: bulk non-parabolicity at the confinement wave vector and the
    J = 3/2 / VB admixtures of the k·p band-edge states (Markdown to stdout).
``python -m perovskite_tb.app.jobs.kp_study figure FILE [PNG]``
    g_e, g_h vs transition energy of both models with the measured points
    (default ``docs/figures/kp_vs_etb.png``).
``python -m perovskite_tb.app.jobs.kp_study table FILE``
    Markdown table of a result file.

``convergence`` and ``crosscheck`` are jobs of the sweep engine (:mod:`perovskite_tb.app.engine.sweep`): their
run files are built by :func:`convergence_runs` and :func:`crosscheck_run` (``[execution] isolate =
true``: one fresh process per point, stopped after ``--timeout`` seconds), the rows go to a result
file of ``kind = "kp-study"`` (attribute ``study``) as soon as each point finishes (a killed run keeps
what it finished and resumes). An ``--out`` path ending in ``.json`` writes the HDF5 file next to it
(``.h5``) and the records in the JSON layout of earlier versions (``{"meta", "records"}``) at the
path; ``figure`` and ``table`` read both. ``benchmarks/results/`` is not tracked; the tables in
kp/README.md come from these files.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from perovskite_tb.app.store.export import load_results
from perovskite_tb.measured import load_measured
from perovskite_tb.app.engine.points import expand_points
from perovskite_tb.app.store.results import STUDY_JSON, row_from_columns, to_json
from perovskite_tb.app.engine.models import solve_kp
from perovskite_tb.app.engine.runfile import RunSpec, parse_run
from perovskite_tb.app.engine.sweep import run_sweep
from perovskite_tb.errors import InputError
from perovskite_tb.model.bulk import N_FILLED, high_symmetry_point
from perovskite_tb.model.bulk import bloch_hamiltonian as etb_h
from perovskite_tb.model.materials import load_parameters
from kp.bulk import bloch_hamiltonian as kp_h
from kp.bulk import bloch_terms

from kp.envelope import EnvelopeOperators
from kp.parameters import load_kp_parameters

__all__ = ["convergence_runs", "crosscheck_run", "convergence", "crosscheck", "mixing", "figure",
           "table", "load_records", "main"]

MATERIAL = "CsPbI3"
ETB_SET = "nestoklon2023"
KP_SET = "etb-nestoklon2023"
#: (edge nm, basis, N list) of the convergence study
CONVERGENCE = [
    (3.0, "sine", (4, 6, 8)),
    (3.0, "legendre", (4, 6, 8, 10)),
    (5.0, "sine", (4, 6, 8)),
    (5.0, "legendre", (4, 6, 8, 10, 12)),
    (10.0, "sine", (4, 6, 8)),
    (10.0, "legendre", (6, 8, 10, 12, 14, 16)),
    (20.0, "legendre", (10, 12, 14, 16, 18)),
    (30.0, "legendre", (12, 14, 16, 18, 20)),
]


def _doc(axes: dict, timeout: float) -> dict:
    """Run-file document of the study: CsPbI3, the two sets, reference temperature, isolated points."""
    return {"axes": {"material": MATERIAL, "parameter_set": ETB_SET, "temperature_K": 0.0, **axes},
            "options": {"kp_parameter_set": KP_SET},
            "execution": {"workers": 1, "isolate": True, "point_timeout_s": float(timeout)}}


def convergence_runs(output: str, timeout: float = 3600.0) -> list[RunSpec]:
    """Run files of the convergence study: one per line of :data:`CONVERGENCE`."""
    return [replace(parse_run(_doc({"model": "kp", "edge_nm": edge, "kp_basis": basis,
                                    "kp_resolution": list(ns)}, timeout), source="kp_study"),
                    output=str(output))
            for edge, basis, ns in CONVERGENCE]


def crosscheck_run(cells, output: str, timeout: float = 3600.0, kp_only: bool = False) -> RunSpec:
    """Run file of the cross-check: ETB and k·p (default basis) cubes of ``cells`` × a."""
    models = ["kp"] if kp_only else ["etb", "kp"]
    return replace(parse_run(_doc({"model": models, "n_cells": [int(n) for n in cells]}, timeout),
                             source="kp_study"), output=str(output))


def _paths(out) -> tuple[Path, Path | None]:
    """(HDF5 path, JSON path or None) of ``--out`` (a temporary HDF5 file if None)."""
    if out is None:
        return Path(tempfile.mkdtemp(prefix="perovskite_tb_kp_study_")) / "study.h5", None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    return (out.with_suffix(".h5"), out) if out.suffix == ".json" else (out, None)


def _run(study: str, specs, h5: Path, js: Path | None, on_row, prefilled=None) -> list:
    meta = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "study": study, "etb_set": ETB_SET,
            "kp_set": KP_SET}
    failed = []
    for spec in specs:
        rep = run_sweep(spec, progress=False, kind="kp-study", raise_failures=False, on_row=on_row,
                        attrs={"study": study, "config_json": json.dumps({"study": study})},
                        prefilled=prefilled)
        for row in rep.failed_rows:
            failed.append(to_json(row, STUDY_JSON + ("error",)))
            on_row(row)
    _, recs = load_records(h5) if h5.exists() and _has_rows(h5) else (study, [])
    recs = recs + failed if study == "convergence" else recs
    if js is not None:
        js.write_text(json.dumps({"meta": meta, "records": recs}, indent=1, default=float))
    return recs


def _has_rows(h5: Path) -> bool:
    try:
        load_results(h5)
    except InputError:
        return False
    return True


def _print_row(row: dict) -> None:
    keys = ("model", "n_cells", "edge_nm", "kp_basis", "kp_n_basis", "n_states", "transition_energy",
            "g_e", "g_h", "seconds")
    d = to_json(row, keys)
    if row.get("error"):
        d["error"] = row["error"]
    print(json.dumps(d, default=float), flush=True)


def convergence(out=None, timeout=3600.0) -> list:
    """Run the basis-convergence study (module docstring); returns the records."""
    h5, js = _paths(out)
    return _run("convergence", convergence_runs(h5, timeout), h5, js, _print_row)


def _etb_from_benchmark(path, cells) -> dict:
    """ETB rows of ``cells`` from a ``python -m benchmarks nc`` result file (point key → row)."""
    if not path:
        return {}
    p = load_parameters(MATERIAL, ETB_SET)
    rows = {}
    for r in json.loads(Path(path).read_text())["records"]:
        n = r.get("n_cells")
        if r.get("kind") == "nc" and n in cells and "g_h" in r:
            rows[n] = row_from_columns(
                model="etb", n_cells=(n, n, n), edge_nm=r["edge_nm"], edges_nm=(r["edge_nm"],) * 3,
                n_states=r["n_states"], n_atoms=r["n_states"] // p.n_orb, E_e=r["E_e"], E_h=r["E_h"],
                transition_energy=r["E_e"] - r["E_h"], g_e=r["g_e"], g_h=r["g_h"],
                seconds=r["total_s"], peak_rss_GB=r.get("peak_rss_GB", float("nan")),
                solver=str(r.get("method", "")))
    return rows


def crosscheck(cells=range(3, 21), out=None, timeout=3600.0, etb_json=None, append=False,
               kp_only=False) -> list:
    """ETB and k·p side by side for cubes of ``cells`` (module docstring); returns the records.

    ``etb_json``: take the ETB point from this benchmark result file when it has the size (same set
    and reference temperature; e.g. the 21–26-cell PRIMME runs); ``append``: add to ``out`` (else an
    existing ``out`` is replaced); ``kp_only``: no ETB point (k·p points that only extend the
    interpolation range).
    """
    cells = [int(n) for n in cells]
    h5, js = _paths(out)
    if not append:
        h5.unlink(missing_ok=True)
    spec = crosscheck_run(cells, h5, timeout, kp_only)
    bench = _etb_from_benchmark(etb_json, cells)
    prefilled = {}
    if bench:
        prefilled = {p.key: bench[p.n_cells[0]] for p in expand_points(spec).points
                     if p.model == "etb" and p.n_cells[0] in bench}
    return _run("crosscheck", [spec], h5, js, _print_row, prefilled)


def load_records(path) -> tuple[str, list]:
    """(study, records) of a study file: HDF5 (this version) or JSON (earlier versions).

    Records are dicts with the keys of :data:`perovskite_tb.app.store.results.STUDY_JSON` (``E_e_eV`` …);
    cross-check records are ``{"n_cells", "etb", "kp"}`` pairs.
    """
    p = Path(path)
    if p.suffix == ".json":
        recs = json.loads(p.read_text())["records"]
        return ("crosscheck" if recs and "etb" in recs[0] else "convergence"), recs
    t = load_results(p)
    study = str(t.attrs.get("study", "convergence"))
    rows = [to_json({k: v[i] for k, v in t.columns.items()}, STUDY_JSON) for i in range(len(t))]
    if study != "crosscheck":
        return study, rows
    pairs = {}
    for r in rows:
        n = r["n_cells"][0]
        r["n_cells"] = n
        pairs.setdefault(n, {"n_cells": n, "etb": {"error": "not computed"},
                             "kp": {"error": "not computed"}})[r.pop("model")] = r
    return study, [pairs[n] for n in sorted(pairs)]


def mixing(cells=range(3, 11)) -> str:
    """Why ETB and k·p part at small sizes: Markdown table per cube of N_cells × a.

    Columns: |k| = √3 π/L (the hard-wall ground-state wave vector along [111]); bulk band offsets
    E_c(R+k) − E_c(R) and E_v(R) − E_v(R+k) of the ETB set and of the k·p set at that k
    (non-parabolicity: the 8-band k·p bands keep rising where the ETB bands flatten); the weights of
    the k·p electron on the J = 3/2 CB and on the VB, and of the hole on the CB (J = ½ and J = 3/2).
    """
    pe = load_parameters(MATERIAL, ETB_SET)
    pk = load_kp_parameters(MATERIAL, KP_SET)
    kR = high_symmetry_point("R", pe.a)
    E0 = np.linalg.eigvalsh(etb_h(pe, kR))
    v, c = N_FILLED - 1, N_FILLED
    t = bloch_terms(pk)
    # projectors on the VB, the J = 1/2 CB and the J = 3/2 CB (eigenspaces of C at 0, Eg, Eg+Δ)
    w, U = np.linalg.eigh(t.C)
    proj = {}
    for name, target in (("vb", 0.0), ("j12", pk.Eg), ("j32", pk.Eg + pk.Delta_so)):
        sel = np.abs(w - target) < 1e-6
        proj[name] = U[:, sel] @ U[:, sel].conj().T
    lines = ["| N_cells | L (nm) | |k| (nm⁻¹) | ΔE_c ETB | ΔE_c k·p | ΔE_v ETB | ΔE_v k·p | "
             "e: J=3/2 | e: VB | h: J=½ | h: J=3/2 |", "|" + "---|" * 11]
    d = np.ones(3) / np.sqrt(3.0)
    for n in cells:
        L = n * pe.a
        k = np.sqrt(3.0) * np.pi / L
        Ek = np.linalg.eigvalsh(etb_h(pe, kR + k * d))
        Ekp = np.linalg.eigvalsh(kp_h(pk, k * d))
        r = solve_kp(pk, (L, L, L), MATERIAL, dielectric=None)
        ops = EnvelopeOperators(r.terms.basis)
        W = {name: ops.kron(P, ops.eye()) for name, P in proj.items()}

        def weight(dbl, name):
            V = dbl.vectors
            return float(np.real(np.trace(V.conj().T @ (W[name] @ V)))) / 2

        lines.append(
            f"| {n} | {L:.3f} | {k:.2f} | {Ek[c] - E0[c]:.3f} | {Ekp[2] - pk.Eg:.3f} | "
            f"{E0[v] - Ek[v]:.3f} | {-Ekp[1]:.3f} | {weight(r.electron, 'j32'):.4f} | "
            f"{weight(r.electron, 'vb'):.4f} | {weight(r.hole, 'j12'):.4f} | {weight(r.hole, 'j32'):.4f} |")
    return "\n".join(lines)


def figure(path, png) -> str:
    """g_e, g_h vs transition energy: ETB and k·p of :func:`crosscheck` (HDF5 or JSON file) with the
    measured points.

    The models are at the sets' reference temperature (Eg 1.9 meV below its 6 K value); measured
    points of 6–15 K with a transition energy (:func:`perovskite_tb.measured.load_measured`, |g|-only points
    skipped). Returns the PNG path.
    """
    import matplotlib  # imported here: the Agg backend must not be chosen at import time

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, recs = load_records(path)
    etb = sorted((r["etb"] for r in recs if "error" not in r["etb"]), key=lambda d: d["transition_energy_eV"])
    kp = sorted((r["kp"] for r in recs if "error" not in r["kp"]), key=lambda d: d["transition_energy_eV"])
    meas = [m for m in load_measured() if m["temperature_K"] <= 15 and np.isfinite(m["energy_eV"])
            and not m["abs_only"]]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for i, (key, name) in enumerate((("g_e", "electron"), ("g_h", "hole"))):
        a = ax[i]
        a.plot([d["transition_energy_eV"] for d in etb], [d[key] for d in etb], "o-", label="ETB nestoklon2023")
        a.plot([d["transition_energy_eV"] for d in kp], [d[key] for d in kp], "s--",
               label="k·p etb-nestoklon2023")
        m = [x for x in meas if x["carrier"] in (name, key[-1])]
        if m:
            a.plot([x["energy_eV"] for x in m], [x["g"] for x in m], "k^", label="measured ≤ 15 K")
        a.axhline(0, color="0.7", lw=0.8)
        a.set_xlabel("transition energy (eV)")
        a.set_ylabel(f"${key[0]}_{key[-1]}$")
        a.set_title(f"CsPbI3 cubes: {name}")
        a.legend(fontsize=8)
    fig.tight_layout()
    Path(png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return str(png)


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def table(path) -> str:
    """Markdown table of a result file (HDF5 or JSON) of :func:`convergence` or :func:`crosscheck`."""
    study, recs = load_records(path)
    if study == "crosscheck":
        kp_ok = [r["kp"] for r in recs if "error" not in r["kp"]]
        ok = [r for r in recs if "error" not in r["etb"] and "error" not in r["kp"]]
        E_kp = np.array([k["transition_energy_eV"] for k in kp_ok])
        order = np.argsort(E_kp)

        def at_E(key, E):  # k·p g interpolated to the ETB transition energy (None outside)
            if not (E_kp.min() <= E <= E_kp.max()):
                return None
            return float(np.interp(E, E_kp[order], np.array([k[key] for k in kp_ok])[order]))

        L_kp = np.array([k["edge_nm"] for k in kp_ok])

        def l_eff(E):  # k·p edge with the ETB transition energy, minus the ETB edge N·a
            if not (E_kp.min() <= E <= E_kp.max()):
                return None
            return float(np.interp(E, E_kp[order], L_kp[order]))

        lines = ["| N_cells | edge (nm) | N kp | E ETB | E k·p | ΔE | L_eff − L (nm) | g_e ETB | g_e k·p | "
                 "Δg_e | g_e k·p @E_ETB | g_h ETB | g_h k·p | Δg_h | g_h k·p @E_ETB |",
                 "|" + "---|" * 15]
        for r in ok:
            e, k = r["etb"], r["kp"]
            E = e["transition_energy_eV"]
            ge_E, gh_E = at_E("g_e", E), at_E("g_h", E)
            le = l_eff(E)
            lines.append(
                f"| {r['n_cells']} | {e['edge_nm']:.3f} | {k['n_basis'][0]} | {E:.3f} | "
                f"{k['transition_energy_eV']:.3f} | {k['transition_energy_eV'] - E:+.3f} | "
                f"{_f(None if le is None else le - e['edge_nm'], '+.3f')} | "
                f"{e['g_e']:+.3f} | {k['g_e']:+.3f} | {k['g_e'] - e['g_e']:+.3f} | {_f(ge_E, '+.3f')} | "
                f"{e['g_h']:+.3f} | {k['g_h']:+.3f} | {k['g_h'] - e['g_h']:+.3f} | {_f(gh_E, '+.3f')} |")
        return "\n".join(lines)
    lines = ["| L (nm) | basis | N | n_states | E_e (eV) | E_h (eV) | g_e | g_h | s | peak GB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if "error" in r:
            lines.append(f"| {r.get('edge_nm', r.get('edge'))} | {r.get('basis')} | "
                         f"{r.get('kp_resolution', r.get('n'))} | error: {r['error'][:60]} |")
            continue
        lines.append(f"| {r['edge_nm']:g} | {r['basis']} | {r['n_basis'][0]} | {r['n_states']} | "
                     f"{r['E_e_eV']:.5f} | {r['E_h_eV']:.5f} | {r['g_e']:.4f} | {r['g_h']:.4f} | "
                     f"{r['seconds']:.1f} | {r['peak_rss_GB']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line of ``python -m perovskite_tb.app.jobs.kp_study`` (module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m perovskite_tb.app.jobs.kp_study", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["convergence", "crosscheck", "mixing", "table", "figure"],
                    help="study to run, or a reader of its result file")
    ap.add_argument("args", nargs="*", help="figure: FILE [PNG]; table: FILE (HDF5 or JSON)")
    ap.add_argument("--cells", type=int, nargs="+", default=None,
                    help="cube sizes (Pb sites per edge; edge N·a nm); default 3..20 (crosscheck), "
                         "3..10 (mixing)")
    ap.add_argument("--out", default=None,
                    help="result file (.h5; .json also writes the JSON records of earlier versions)")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="seconds (s) after which a point is stopped and reported as failed")
    ap.add_argument("--etb-json", default=None, help="crosscheck: ETB points from a benchmark file")
    ap.add_argument("--append", action="store_true", help="crosscheck: add to --out")
    ap.add_argument("--kp-only", action="store_true", help="crosscheck: k·p points only")
    a = ap.parse_args(argv)
    if a.what == "convergence":
        convergence(a.out, a.timeout)
    elif a.what == "mixing":
        print(mixing(a.cells or range(3, 11)))
    elif a.what == "crosscheck":
        crosscheck(a.cells or range(3, 21), a.out, a.timeout, a.etb_json, a.append, a.kp_only)
    elif a.what == "figure":
        print(figure(a.args[0], a.args[1] if len(a.args) > 1 else "docs/figures/kp_vs_etb.png"))
    else:
        print(table(a.args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
