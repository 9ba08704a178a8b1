"""Basis-convergence study of the confined k·p model and its cross-check against the ETB (issue 3).

``python -m kp.study convergence --out benchmarks/results/kp_convergence.json``
    E_e, E_h, g_e, g_h of CsPbI3 cubes (set ``etb-nestoklon2023``) for edges 3–30 nm and a range
    of basis sizes N per direction, both envelope bases; each point in its own subprocess so that
    the peak RSS is per point.
``python -m kp.study crosscheck --out benchmarks/results/kp_vs_etb.json``
    ETB (``nestoklon2023``, reference temperature, no shift) and k·p (``etb-nestoklon2023``,
    default basis) for the same cubes of N_cells × a; the k·p g's are also interpolated to the ETB
    transition energies (comparison at equal E).
``python -m kp.study table FILE``
    Markdown table of a result file.

Results are written after every point (a killed run keeps what it finished); ``benchmarks/results/``
is not tracked, the tables in
kp/README.md come from these files.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

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


def _kp_point(edge: float, basis: str, n: int | None) -> dict:
    from .confinement import nc_gfactors

    d = nc_gfactors(MATERIAL, (edge,) * 3, parameter_set=KP_SET, basis=basis, n_basis=n)
    d["edge_nm"] = edge
    d["peak_rss_GB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return d


def _etb_point(n_cells: int) -> dict:
    from perovskite_tb.materials import load_parameters
    from perovskite_tb.nc import nc_gfactors

    p = load_parameters(MATERIAL, ETB_SET)
    r = nc_gfactors(p, n_cells)
    return {"n_cells": n_cells, "edge_nm": n_cells * p.a, "n_states": r.n_states,
            "E_e_eV": r.E_e, "E_h_eV": r.E_h, "transition_energy_eV": r.transition_energy,
            "g_e": r.g_e.g, "g_h": r.g_h.g, "seconds": r.seconds,
            "peak_rss_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}


def _in_child(spec: dict, timeout: float) -> dict:
    """Run one point in a fresh interpreter (own peak RSS); errors become an ``error`` entry."""
    cmd = [sys.executable, "-m", "kp.study", "child", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, json.JSONDecodeError, IndexError) as exc:
        return dict(spec, error=f"{type(exc).__name__}: {str(exc)[-300:]}")


def _save(path, recs, meta):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"meta": meta, "records": recs}, indent=1, default=float))


def convergence(out=None, timeout=3600.0) -> list:
    """Run the basis-convergence study (module docstring); returns the records."""
    recs, meta = [], {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "set": KP_SET}
    for edge, basis, ns in CONVERGENCE:
        for n in ns:
            recs.append(_in_child({"kind": "kp", "edge": edge, "basis": basis, "n": n}, timeout))
            _save(out, recs, meta)
            print(json.dumps({k: recs[-1].get(k) for k in ("edge_nm", "basis", "n_basis", "n_states",
                                                            "g_e", "g_h", "seconds", "error")}),
                  flush=True)
    return recs


def crosscheck(cells=range(3, 21), out=None, timeout=3600.0) -> list:
    """ETB and k·p side by side for cubes of ``cells`` (module docstring); returns the records."""
    recs, meta = [], {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "etb_set": ETB_SET,
                      "kp_set": KP_SET}
    for n in cells:
        etb = _in_child({"kind": "etb", "n_cells": n}, timeout)
        kp = _in_child({"kind": "kp", "edge": etb.get("edge_nm", n * 0.6289), "basis": "legendre",
                        "n": None}, timeout)
        recs.append({"n_cells": n, "etb": etb, "kp": kp})
        _save(out, recs, meta)
        print(json.dumps({"n_cells": n, "E": [etb.get("transition_energy_eV"),
                                              kp.get("transition_energy_eV")],
                          "g_e": [etb.get("g_e"), kp.get("g_e")], "g_h": [etb.get("g_h"), kp.get("g_h")]}),
              flush=True)
    return recs


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def table(path) -> str:
    """Markdown table of a result file of :func:`convergence` or :func:`crosscheck`."""
    doc = json.loads(Path(path).read_text())
    recs = doc["records"]
    if recs and "etb" in recs[0]:
        ok = [r for r in recs if "error" not in r["etb"] and "error" not in r["kp"]]
        E_kp = np.array([r["kp"]["transition_energy_eV"] for r in ok])
        order = np.argsort(E_kp)

        def at_E(key, E):  # k·p g interpolated to the ETB transition energy (None outside)
            if not (E_kp.min() <= E <= E_kp.max()):
                return None
            return float(np.interp(E, E_kp[order], np.array([r["kp"][key] for r in ok])[order]))

        lines = ["| N_cells | edge (nm) | N kp | E ETB | E k·p | ΔE | g_e ETB | g_e k·p | Δg_e | "
                 "g_e k·p @E_ETB | g_h ETB | g_h k·p | Δg_h | g_h k·p @E_ETB |",
                 "|" + "---|" * 14]
        for r in ok:
            e, k = r["etb"], r["kp"]
            E = e["transition_energy_eV"]
            ge_E, gh_E = at_E("g_e", E), at_E("g_h", E)
            lines.append(
                f"| {r['n_cells']} | {e['edge_nm']:.3f} | {k['n_basis'][0]} | {E:.3f} | "
                f"{k['transition_energy_eV']:.3f} | {k['transition_energy_eV'] - E:+.3f} | "
                f"{e['g_e']:+.3f} | {k['g_e']:+.3f} | {k['g_e'] - e['g_e']:+.3f} | {_f(ge_E, '+.3f')} | "
                f"{e['g_h']:+.3f} | {k['g_h']:+.3f} | {k['g_h'] - e['g_h']:+.3f} | {_f(gh_E, '+.3f')} |")
        return "\n".join(lines)
    lines = ["| L (nm) | basis | N | n_states | E_e (eV) | E_h (eV) | g_e | g_h | s | peak GB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if "error" in r:
            lines.append(f"| {r.get('edge')} | {r.get('basis')} | {r.get('n')} | error: {r['error'][:60]} |")
            continue
        lines.append(f"| {r['edge_nm']:g} | {r['basis']} | {r['n_basis'][0]} | {r['n_states']} | "
                     f"{r['E_e_eV']:.5f} | {r['E_h_eV']:.5f} | {r['g_e']:.4f} | {r['g_h']:.4f} | "
                     f"{r['seconds']:.1f} | {r['peak_rss_GB']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Command line of ``python -m kp.study`` (module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m kp.study", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["convergence", "crosscheck", "table", "child"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--cells", type=int, nargs="+", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=3600.0)
    a = ap.parse_args(argv)
    if a.what == "child":
        spec = json.loads(a.args[0])
        rec = _kp_point(spec["edge"], spec["basis"], spec["n"]) if spec["kind"] == "kp" \
            else _etb_point(spec["n_cells"])
        print(json.dumps(rec, default=float))
    elif a.what == "convergence":
        convergence(a.out, a.timeout)
    elif a.what == "crosscheck":
        crosscheck(a.cells or range(3, 21), a.out, a.timeout)
    else:
        print(table(a.args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
