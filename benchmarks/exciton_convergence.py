"""Convergence of the exciton CI in the basis size N (Kramers doublets per carrier), with the 1/M extrapolation.

``python -m benchmarks.exciton_convergence run --material CsPbBr3 --n-cells 10 --n-max 12 -o conv.jsonl``
solves one cube (``levels = n_max``), computes the two-body integrals once at ``n_max`` and the CI of X,
X⁻, X⁺, XX for every N = 1 … n_max (:func:`perovskite_tb.observables.excitons.exciton_convergence`), and
appends one JSON line per N (binding energies in meV, Δ_BD in meV, τ_rad in ps, the split of the wall time,
the peak memory and the load average). Lines already in the file for the same (material, cells,
screening) are not recomputed.

``python -m benchmarks.exciton_convergence report conv.jsonl [--plot fig.png]`` prints the Markdown tables
and the basis-limit estimate of :func:`perovskite_tb.observables.excitons.extrapolate_basis` (linear in 1/M,
M the mean number of electron and hole states), and draws the binding energies against 1/M.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

_KEYS = (("trion_negative_binding_meV", "X⁻"), ("trion_positive_binding_meV", "X⁺"),
         ("biexciton_binding_meV", "XX"))


def _read(path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def run(args) -> int:
    import perovskite_tb as ptb
    from perovskite_tb.observables.excitons import exciton_convergence

    done = {(d["material"], d["n_cells"], d["screening"]) for d in _read(args.output)}
    for n_cells in args.n_cells:
        for scr in args.screening:
            if (args.material, n_cells, scr) in done:
                print(f"{args.material} {n_cells} cells {scr}: already in {args.output}")
                continue
            t0 = time.perf_counter()
            solved = ptb.solve(args.material, n_cells=n_cells, levels=args.n_max)
            t_solve = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows = exciton_convergence(solved, list(range(1, args.n_max + 1)), screening=scr)
            t_conv = time.perf_counter() - t0
            with open(args.output, "a", encoding="utf-8") as f:
                for d in rows:
                    d.update(material=args.material, n_cells=n_cells, edge_nm=float(solved.structure.edge_nm[0]),
                             solve_s=t_solve, convergence_s=t_conv, load=os.getloadavg()[0],
                             peak_GB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
                    f.write(json.dumps(d, default=str) + "\n")
            print(f"{args.material} {n_cells} cells {scr}: solve {t_solve:.0f} s, integrals + CI {t_conv:.0f} s",
                  flush=True)
    return 0


def report(args) -> int:
    from perovskite_tb.observables.excitons import extrapolate_basis

    rows = _read(args.file)
    groups: dict = {}
    for d in rows:
        groups.setdefault((d["material"], d["n_cells"], d["screening"]), []).append(d)
    out = []
    for (mat, n_cells, scr), g in groups.items():
        g = sorted(g, key=lambda d: d["n_doublets"])
        L = g[0].get("edge_nm")
        out += [f"### {mat}, {n_cells} cells" + (f" ({L:.2f} nm)" if L else "") + f", {scr}", "",
                "| N | states (e, h) | X⁻ | X⁺ | XX | Δ_BD | τ_rad (ps) | CI s |", "|---|---|---|---|---|---|---|---|"]
        for d in g:
            tau = d.get("radiative_lifetime_ps")
            out.append(f"| {d['n_doublets']} | {d['n_states'][0]}, {d['n_states'][1]} | "
                       + " | ".join(f"{d[k]:.1f}" for k, _ in _KEYS)
                       + f" | {d.get('exciton_bright_dark_meV', float('nan')):.2f} | "
                       + (f"{tau:,.0f}" if tau is not None else "–") + f" | {d['seconds']['ci_s']:.1f} |")
        ext = extrapolate_basis(g)
        out.append("| 1/M → 0 | " + f"M = {ext[_KEYS[0][0]]['M'][0]:g}, {ext[_KEYS[0][0]]['M'][1]:g} | "
                   + " | ".join(f"{ext[k]['value']:.1f} ± {ext[k]['spread']:.1f}" for k, _ in _KEYS) + " | | | |")
        s = g[-1]["seconds"]
        out += ["", f"Integrals at N = {g[-1]['n_doublets']}: direct {s['direct_s']:.0f} s, exchange "
                f"{s['exchange_s']:.0f} s; solve {g[-1]['solve_s']:.0f} s; peak {g[-1]['peak_GB']:.2f} GB; "
                f"load {g[-1]['load']:.1f}.", ""]
    print("\n".join(out))
    if args.plot:
        _plot(groups, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _plot(groups, png) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from perovskite_tb.observables.excitons import extrapolate_basis

    fig, axes = plt.subplots(1, len(_KEYS), figsize=(11, 3.6), sharex=True)
    for j, ((mat, n_cells, scr), g) in enumerate(groups.items()):
        g = [d for d in sorted(g, key=lambda d: d["n_doublets"]) if d["n_doublets"] >= 4]
        inv_m = np.array([2.0 / (d["n_states"][0] + d["n_states"][1]) for d in g])
        ext = extrapolate_basis(g)
        L = g[0].get("edge_nm")
        lab = f"{mat} {L:.1f} nm" if L else f"{mat} {n_cells} cells"
        for ax, (k, tag) in zip(axes, _KEYS):
            line, = ax.plot(inv_m, [d[k] for d in g], "o-", label=f"{lab}, {scr}")
            m1, m2 = ext[k]["M"]
            e2 = [d[k] for d in g if 0.5 * (d["n_states"][0] + d["n_states"][1]) == m2][0]
            ax.plot([0, 1 / m2], [ext[k]["value"], e2], ":", color=line.get_color())
            ax.set_title(f"{tag} binding (meV)")
    for ax in axes:
        ax.set_xlabel("1/M (M = mean e, h basis states; N ≥ 4)")
        ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("CI basis convergence, dotted: linear 1/M extrapolation from the two largest bases")
    fig.tight_layout()
    fig.savefig(png, dpi=130)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.exciton_convergence", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--material", default="CsPbBr3")
    r.add_argument("--n-cells", type=int, nargs="+", required=True)
    r.add_argument("--n-max", type=int, default=12)
    r.add_argument("--screening", nargs="+", default=["epsilon-inf"])
    r.add_argument("-o", "--output", default="exciton_convergence.jsonl")
    r.set_defaults(func=run)
    q = sub.add_parser("report")
    q.add_argument("file")
    q.add_argument("--plot", default=None)
    q.set_defaults(func=report)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
