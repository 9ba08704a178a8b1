"""Benchmark points and the ``python -m benchmarks`` command line.

Kinds of point (each runs in its own subprocess; peak RSS is that process's ``ru_maxrss``):

``nc``        the production pipeline :func:`perovskite_tb.nc.nc_gfactors` (assembly, band edges, g).
``assembly``  :func:`perovskite_tb.model.geometry.cuboid` + :func:`perovskite_tb.model.hamiltonian.assemble` only.
``scipy-si``  peer (a): what a SciPy user writes, ``eigsh(H0, k=8, sigma=σ)`` with SuperLU's default
              COLAMD ordering, on the full matrix (its LU is counted through ``OPinv``).
``generic``   peer (b): an untuned iterative eigensolver on the full matrix, k = 8 nearest σ —
              PRIMME's default method if installed, else ARPACK Lanczos on (H0 − σ)².
``kwant``     peer: Kwant building the same H0 (skipped when Kwant is not importable).

Usage::

    python -m benchmarks nc --cells 6 8 10 --out benchmarks/results/nc.json
    python -m benchmarks peers --cells 6 --out benchmarks/results/peers.json
    python -m benchmarks assembly --cells 24 26
    python -m benchmarks ci            # the small deterministic subset used by tests/test_bench_counts.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

from perovskite_tb._system import peak_rss_gb

#: Hard address-space limit of every benchmark subprocess (bytes): the machine has 24 GB.
RLIMIT_BYTES = int(float(os.environ.get("PTB_BENCH_RLIMIT_GB", "18")) * 1e9)


def versions() -> dict:
    """Versions of the numerical stack (and PRIMME/Kwant when present)."""
    import numba
    import numpy
    import scipy

    import perovskite_tb

    out = {"perovskite_tb": perovskite_tb.__version__, "python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "numba": numba.__version__}
    for mod in ("primme", "pymetis", "kwant"):
        try:
            out[mod] = getattr(__import__(mod), "__version__", "present")
        except Exception:  # noqa: BLE001 - optional peers
            out[mod] = None
    return out


def _machine() -> dict:
    return {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "host": platform.node(),
            "threads_env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                            "NUMBA_NUM_THREADS")}}


_peak_rss_gb = peak_rss_gb  # one conversion of ru_maxrss for the whole package (perovskite_tb._system)


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ------------------------------------------------------------------------------------------------
# Points (run inside the child process)
# ------------------------------------------------------------------------------------------------


def _setup(params_name):
    from perovskite_tb import load_parameters
    from perovskite_tb.nc import midgap

    p = load_parameters() if params_name is None else load_parameters(params_name)
    return p, midgap(p)


def spmv_seconds(H, repeats: int = 7) -> tuple[float, float]:
    """Median wall and CPU seconds of one ``H @ x`` (complex128 x) in this process: the unit of the
    "SpMV-equivalents" figure (solve seconds / seconds per SpMV of the same H0)."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal(H.shape[0]) + 0j
    H @ x  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = _cpu_s(), time.perf_counter()
        H @ x
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu_s() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def point_nc(n_cells: int, method: str = "auto", params_name=None, ldl: str = "auto", workers=None,
             levels: int = 1) -> dict:
    """Full pipeline for one cube (assembly + level spectrum of ``levels`` Kramers doublets per side + g
    tensors + the Zeeman values of every multiplet), and the SpMV of its H0 timed in the same process
    (ratio of the pipeline's wall and CPU seconds to one SpMV)."""
    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble
    from perovskite_tb.nc import nc_gfactors

    p, _ = _setup(params_name)
    assemble(cuboid(p.a, 2), p)  # numba cache load, not part of the timing
    c0, t0 = _cpu_s(), time.perf_counter()
    r, ht, _ = nc_gfactors(p, n_cells, method=method, return_terms=True, levels=levels, dielectric=None,
                           solver_options={"ldl": ldl, "workers": workers})
    lv = r.levels_json()  # the Zeeman values of every multiplet are part of what --levels prints
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    spmv_wall, spmv_cpu = spmv_seconds(ht.H0)
    st = r.stats
    return {
        "kind": "nc", "n_cells": n_cells, "edge_nm": r.edge_nm[0], "n_states": r.n_states, "nnz": st["nnz"],
        "method": st["method"], "assembly_s": st["assembly_s"], "symmetry_s": st.get("symmetry_s"),
        "factor_s": st.get("factor_s"), "eigs_s": st.get("eigs_s"), "solve_s": st.get("total_s"),
        "total_s": wall, "cpu_s": cpu, "peak_rss_GB": _peak_rss_gb(), "memory_estimate_GB": st["memory_estimate_GB"],
        "solves": st.get("solves"), "matvecs": st.get("matvecs"), "lu_nnz": st.get("lu_nnz"),
        "blocks": st.get("blocks"), "E_e": r.E_e, "E_h": r.E_h, "g_e": r.g_e.g, "g_h": r.g_h.g,
        "residual_e": r.residual_e, "residual_h": r.residual_h,
        "ldl": sorted({b.get("ldl") for b in st.get("blocks", []) if b.get("ldl")}), "workers": st.get("workers"),
        "real_blocks": st.get("real_blocks"), "coulomb_s": st.get("coulomb_s"),
        "spmv_s": spmv_wall, "spmv_cpu_s": spmv_cpu, "spmv_equivalents": wall / spmv_wall,
        "spmv_equivalents_cpu": cpu / max(spmv_cpu, 1e-9), "levels": levels,
        "spectrum": {c: [(m["E_eV"], m["degeneracy"], m["zeeman_z_muB"]) for m in lv[c][:4]] for c in ("e", "h")},
        "load_avg": os.getloadavg()[0],
    }


def point_assembly(n_cells: int, params_name=None) -> dict:
    """Structure + H0 + M + J assembly; the H0+M part is timed separately (issue 7 target)."""
    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble

    p, _ = _setup(params_name)
    assemble(cuboid(p.a, 2), p)
    best = None
    for _ in range(3):
        c0, t0 = _cpu_s(), time.perf_counter()
        T = assemble(cuboid(p.a, n_cells), p)
        wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
        n, nnz, nnz_m = T.n_states, int(T.H0.nnz), int(T.M[0].nnz)
        del T
    return {"kind": "assembly", "n_cells": n_cells, "edge_nm": n_cells * p.a, "n_states": n, "nnz": nnz,
            "nnz_M": nnz_m, "assembly_s": best[0], "cpu_s": best[1], "peak_rss_GB": _peak_rss_gb(),
            "note": "best of 3; H0, 3 M and 3 J"}


def _edges_from(E, sigma):
    above = sorted(e for e in E if e > sigma)
    below = sorted((e for e in E if e < sigma), reverse=True)
    return (above[0] if above else None), (below[0] if below else None)


def point_scipy_si(n_cells: int, params_name=None) -> dict:
    """Peer (a): SciPy shift-invert as a user would call it (SuperLU default COLAMD), k = 8."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble

    p, sigma = _setup(params_name)
    T = assemble(cuboid(p.a, n_cells), p)
    H = T.H0
    n = H.shape[0]
    c0, t0 = _cpu_s(), time.perf_counter()
    lu = spla.splu((H - sigma * sp.eye_array(n, format="csr")).tocsc())
    t1 = time.perf_counter()
    cnt = {"n": 0}

    def inv(x):
        cnt["n"] += 1
        return lu.solve(np.asarray(x).reshape(-1))

    op = spla.LinearOperator((n, n), matvec=inv, dtype=np.complex128)
    v0 = np.random.default_rng(12345).standard_normal(n) + 0j
    E = spla.eigsh(H, k=8, sigma=sigma, OPinv=op, v0=v0, tol=1e-12, return_eigenvectors=False)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    e, h = _edges_from(E, sigma)
    return {"kind": "scipy-si", "n_cells": n_cells, "n_states": n, "nnz": int(H.nnz), "method": "eigsh(sigma) SuperLU COLAMD k=8",
            "factor_s": t1 - t0, "eigs_s": wall - (t1 - t0), "solve_s": wall, "cpu_s": cpu, "peak_rss_GB": _peak_rss_gb(),
            "lu_nnz": int(lu.L.nnz + lu.U.nnz), "solves": cnt["n"], "E_e": e, "E_h": h}


def point_generic(n_cells: int, params_name=None) -> dict:
    """Peer (b): an untuned iterative eigensolver on the full matrix, k = 8 nearest σ."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble

    p, sigma = _setup(params_name)
    T = assemble(cuboid(p.a, n_cells), p)
    H = T.H0
    n = H.shape[0]
    cnt = {"n": 0}
    c0, t0 = _cpu_s(), time.perf_counter()
    try:
        import primme

        def mv(x):
            cnt["n"] += x.shape[1] if x.ndim == 2 else 1
            return H @ x

        op = spla.LinearOperator((n, n), matvec=mv, matmat=mv, dtype=np.complex128)
        E = primme.eigsh(op, k=8, sigma=sigma, which="SM", tol=1e-10, return_eigenvectors=False,
                         v0=(np.random.default_rng(12345).standard_normal(n) + 0j)[:, None])
        name = "PRIMME default (no preconditioner, no symmetry) k=8 nearest sigma"
    except ImportError:
        A = (H - sigma * sp.eye_array(n, format="csr")).tocsr()

        def mv2(x):
            cnt["n"] += 2
            return A @ (A @ np.asarray(x).reshape(-1))

        op = spla.LinearOperator((n, n), matvec=mv2, dtype=np.complex128)
        w, V = spla.eigsh(op, k=8, which="SA", tol=1e-12, v0=np.random.default_rng(12345).standard_normal(n) + 0j)
        E = sigma + np.real(np.einsum("ij,ij->j", V.conj(), A @ V))
        name = "ARPACK Lanczos on (H0-sigma)^2 (no symmetry) k=8"
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    e, h = _edges_from(np.asarray(E), sigma)
    return {"kind": "generic", "n_cells": n_cells, "n_states": n, "nnz": int(H.nnz), "method": name,
            "solve_s": wall, "cpu_s": cpu, "peak_rss_GB": _peak_rss_gb(), "matvecs": cnt["n"], "E_e": e, "E_h": h}


def point_kwant(n_cells: int, params_name=None) -> dict:
    """Peer: Kwant builds the same H0 (same sites, same blocks); skipped when Kwant is absent."""
    try:
        import kwant
    except ImportError:
        return {"kind": "kwant", "n_cells": n_cells, "skipped": "kwant not importable (Kwant 1.5 needs numpy < 2)"}
    import numpy as np

    from perovskite_tb.model.hamiltonian import block_tables

    p, _ = _setup(params_name)
    onsite, hop = block_tables(p)
    N = n_cells
    c0, t0 = _cpu_s(), time.perf_counter()
    # Untested on the project machine (Kwant 1.5 does not build against numpy 2): same sites as
    # perovskite_tb.model.geometry.cuboid (X of bond mu at Pb + a/2 e_mu, sublattice 1 + mu), same blocks.
    lat = kwant.lattice.general(np.eye(3) * p.a, [(0, 0, 0), (p.a / 2, 0, 0), (0, p.a / 2, 0), (0, 0, p.a / 2)],
                                norbs=p.n_orb)
    pb, xs = lat.sublattices[0], lat.sublattices[1:]
    syst = kwant.Builder()
    for i in range(N):
        for j in range(N):
            for k in range(N):
                syst[pb(i, j, k)] = onsite[0]
                for mu in range(3):
                    tag = np.array([i, j, k])
                    for d, shift in ((2 * mu, 0), (2 * mu + 1, -1)):
                        t = tag.copy()
                        t[mu] += shift
                        syst[xs[mu](*t)] = onsite[1]
                        syst[pb(i, j, k), xs[mu](*t)] = hop[d]
    H = syst.finalized().hamiltonian_submatrix(sparse=True)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return {"kind": "kwant", "n_cells": n_cells, "n_states": int(H.shape[0]), "nnz": int(H.nnz), "assembly_s": wall,
            "cpu_s": cpu, "peak_rss_GB": _peak_rss_gb()}


POINTS = {"nc": point_nc, "assembly": point_assembly, "scipy-si": point_scipy_si, "generic": point_generic,
          "kwant": point_kwant}


# ------------------------------------------------------------------------------------------------
# Parent side
# ------------------------------------------------------------------------------------------------


def run_point(kind: str, n_cells: int, *, timeout: float = 3600, **kw) -> dict:
    """Run one point in a fresh subprocess (address space capped at :data:`RLIMIT_BYTES`)."""
    spec = json.dumps({"kind": kind, "n_cells": n_cells, "kw": kw})
    env = dict(os.environ)
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    try:
        cp = subprocess.run([sys.executable, "-m", "benchmarks.suite", "--child", spec], capture_output=True,
                            text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"kind": kind, "n_cells": n_cells, "error": f"timeout after {timeout} s"}
    rec = None
    for line in cp.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            rec = json.loads(line)
            break
    if rec is None:
        rec = {"kind": kind, "n_cells": n_cells, "error": (cp.stderr or "")[-2000:], "returncode": cp.returncode}
    rec["wall_incl_startup_s"] = time.perf_counter() - t0
    rec["load_avg_1m_start"] = load0
    rec["load_avg_1m_end"] = os.getloadavg()[0]
    return rec


def _child(spec: str) -> None:
    try:
        resource.setrlimit(resource.RLIMIT_AS, (RLIMIT_BYTES, RLIMIT_BYTES))
    except (ValueError, OSError):
        pass
    d = json.loads(spec)
    rec = POINTS[d["kind"]](d["n_cells"], **d.get("kw", {}))
    print(json.dumps(rec, default=float))


def _write(records: list, out: str | None, meta: dict) -> None:
    doc = {"meta": meta, "records": records}
    text = json.dumps(doc, indent=1, default=float)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    print(text if not out else f"wrote {out}")


#: The CI subset: small, deterministic counts only (see tests/test_bench_counts.py).
CI_CELLS = (3, 4)


def main(argv=None) -> int:
    """Command line entry point of ``python -m benchmarks``."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["nc", "assembly", "peers", "ci", "all", "table"])
    ap.add_argument("files", nargs="*", help="for 'table': JSON files to render as a Markdown table")
    ap.add_argument("--cells", type=int, nargs="+", default=None, help="cells per cube edge")
    ap.add_argument("--method", default="auto", help="solver method for 'nc' (auto, shift-invert, primme, dense)")
    ap.add_argument("--ldl", default="auto", help="LDL back-end of shift-invert for 'nc' (auto, superlu, pardiso)")
    ap.add_argument("--workers", type=int, default=None, help="symmetry blocks solved at once (default: cores)")
    ap.add_argument("--levels", type=int, default=1, help="'nc': Kramers doublets per side in the spectrum")
    ap.add_argument("--peer-max-states", type=int, default=20_000,
                    help="largest matrix given to the SciPy COLAMD peer (its fill exhausts memory beyond ~1e5)")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", default=None, help="JSON output file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child)
        return 0
    if a.what == "table":
        print(table(a.files))
        return 0
    meta = {"versions": versions(), "machine": _machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "argv": sys.argv[1:]}
    recs = []
    if a.what == "ci":
        for n in a.cells or CI_CELLS:
            recs.append(run_point("nc", n, method="shift-invert"))
    if a.what in ("nc", "all"):
        for n in a.cells or range(6, 27):
            recs.append(run_point("nc", n, method=a.method, timeout=a.timeout, ldl=a.ldl, workers=a.workers,
                                  levels=a.levels))
            if a.out:  # keep partial results of long sweeps
                Path(a.out).parent.mkdir(parents=True, exist_ok=True)
                Path(a.out).write_text(json.dumps({"meta": meta, "records": recs}, indent=1, default=float))
            print(json.dumps({k: recs[-1].get(k) for k in ("n_cells", "n_states", "method", "ldl", "workers",
                                                            "total_s", "cpu_s", "spmv_s", "spmv_equivalents",
                                                            "spmv_equivalents_cpu", "peak_rss_GB", "g_e", "g_h",
                                                            "load_avg_1m_start", "error")}), flush=True)
    if a.what in ("assembly", "all"):
        for n in a.cells or (24, 26):
            recs.append(run_point("assembly", n))
            recs.append(run_point("kwant", n))
    if a.what in ("peers", "all"):
        for n in a.cells or (6,):
            for kind in ("nc", "scipy-si", "generic"):
                from perovskite_tb.model.geometry import cuboid  # noqa: F401

                n_states = 20 * (4 * n**3 + 3 * n**2)
                if kind == "scipy-si" and n_states > a.peer_max_states:
                    recs.append({"kind": kind, "n_cells": n, "n_states": n_states,
                                 "skipped": f"COLAMD fill of {n_states} states would exceed memory/time budget"})
                    continue
                recs.append(run_point(kind, n, timeout=a.timeout, **({"method": a.method} if kind == "nc" else {})))
                print(json.dumps({k: recs[-1].get(k) for k in ("kind", "n_cells", "solve_s", "peak_rss_GB",
                                                                "matvecs", "solves", "error")}), flush=True)
        meta["ratios"] = ratios(recs)
    _write(recs, a.out, meta)
    return 0


def table(files) -> str:
    """Markdown table of the ``nc`` records in JSON result files (one row per cell count, last wins)."""
    rows = {}
    for f in files:
        doc = json.loads(Path(f).read_text())
        for r in doc["records"]:
            if r.get("kind") == "nc" and "error" not in r:
                ldl = "/" + "+".join(r["ldl"]) if r.get("ldl") else ""
                rows[(r["n_cells"], f"{r['method']}{ldl}, {r.get('workers') or 1} w")] = r
    head = ("| cells | edge nm | n_states | nnz | method | assembly s | solve s | total s | CPU s | SpMV ms | "
            "SpMV-eq. (wall / CPU) | peak GB | est. GB | LU solves | matvecs | g_e | g_h | max residual eV | load |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for (n, m), r in sorted(rows.items()):
        res = max(r["residual_e"], r["residual_h"])
        load = 0.5 * (r.get("load_avg_1m_start", 0) + r.get("load_avg_1m_end", 0))
        out.append(f"| {n} | {r['edge_nm']:.2f} | {r['n_states']:,} | {r['nnz']:,} | {m} | {r['assembly_s']:.2f} | "
                   f"{r['solve_s']:.1f} | {r['total_s']:.1f} | {r['cpu_s']:.1f} | {_ms(r.get('spmv_s'))} | "
                   f"{_eq(r)} | {r['peak_rss_GB']:.2f} | "
                   f"{r['memory_estimate_GB']:.2f} | {r.get('solves') or '–'} | {r.get('matvecs') or '–'} | "
                   f"{r['g_e']:+.3f} | {r['g_h']:+.3f} | {res:.0e} | {load:.0f} |")
    return "\n".join(out)


def _ms(x) -> str:
    return "–" if x is None else f"{1e3 * x:.1f}"


def _eq(r: dict) -> str:
    if r.get("spmv_equivalents") is None:
        return "–"
    return f"{r['spmv_equivalents']:,.0f} / {r['spmv_equivalents_cpu']:,.0f}"


def ratios(recs: list) -> list:
    """Peer time / ours and peer memory / ours for every cell count with both records."""
    out = []
    by = {}
    for r in recs:
        by.setdefault(r.get("n_cells"), {})[r.get("kind")] = r
    for n, d in sorted(by.items(), key=lambda x: x[0] or 0):
        ours = d.get("nc")
        if not ours or "error" in ours:
            continue
        for kind in ("scipy-si", "generic"):
            r = d.get(kind)
            if not r or "solve_s" not in r:
                continue
            out.append({"n_cells": n, "peer": kind, "time_ratio": r["solve_s"] / ours["solve_s"],
                        "cpu_ratio": r["cpu_s"] / max(ours["cpu_s"] - (ours.get("assembly_s") or 0), 1e-9),
                        "memory_ratio": r["peak_rss_GB"] / ours["peak_rss_GB"]})
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        raise SystemExit(main())
