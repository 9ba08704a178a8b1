"""SuperLU + METIS (``solver.factor_ldl``) against MKL PARDISO (``_pardiso.factor_ldl_pardiso``) on the
C4z×P symmetry blocks of an N-cell cube, and the whole band-edge solve with either factorisation.

Usage::

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.pardiso_blocks --n-cells 10 16 20
    python -m benchmarks.pardiso_blocks --n-cells 26 --threads 2 --band-edges
    python -m benchmarks.pardiso_blocks --n-cells 16 --band-edges --skip-blocks --out res.json

Per N (CsPbI3 nestoklon2023 by default, cube, ``symmetry_blocks(..., ops=("C4z", "P"))`` restricted
with ``ParityBlock.restrict`` exactly as ``solver.band_edges`` does; A = H_b − σ_e with σ_e the
electron edge shift of ``nc.edge_shifts``):

* seconds per SpMV of the block and of the full H0 (median of repeats, one vector);
* for each factorisation, in its own forked process (clean peak RSS): ordering / analysis and
  numerical factor seconds, fill (SuperLU nnz(L)+nnz(U); PARDISO nnz(L), ``iparm(18)``), PARDISO's
  own memory report (``iparm(15..17)``), process RSS growth and peak, seconds per solve (single
  right-hand sides and a block of 8), the inertia (negative pivots) of both;
* ``--band-edges``: ``nc.nc_gfactors(method="shift-invert")`` as shipped, and the same call with
  the shift-invert back-end with ``ldl="pardiso"`` (the registered LDLᴴ back-end), compared on E_e, E_h (eV) and g_e, g_h.

Every record carries the 1-minute load average at start and end, thread settings and the MKL
version and CPU code path.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time


def _rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def _peak_gb() -> float:
    """Peak RSS since the last :func:`_reset_peak` (VmHWM), else since process start."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``) so that the peak of the
    factorisation is not the one of building the matrix."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _child_main(q, fn, args):
    try:
        q.put(fn(*args))
    except BaseException as exc:  # noqa: BLE001
        q.put({"error": f"{type(exc).__name__}: {exc}"})


def _in_child(fn, *args):
    """Run fn(*args) in a fresh (spawned) interpreter; return its dict (or {"error": ...}).

    Spawn, not fork: a forked child of a process that had run numba's threaded assembly hung.
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_main, args=(q, fn, args))
    p.start()
    out = q.get()
    p.join()
    return out


def _block_matrix(n_cells, bi, params_name=None):
    """(A = H_b − σ_e, groups, n_orb) of block ``bi`` of an N-cell cube, built as solver.band_edges does."""
    import scipy.sparse as sp

    from perovskite_tb import load_parameters
    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble
    from perovskite_tb.nc import edge_shifts
    from perovskite_tb.eigen.symmetry import symmetry_blocks

    p = load_parameters() if params_name is None else load_parameters(params_name)
    st = cuboid(p.a, n_cells)
    T = assemble(st, p)
    blk = symmetry_blocks(st.positions, p.n_orb, ops=("C4z", "P"))[bi]
    Hb = blk.restrict(T.H0)
    del T
    m = Hb.shape[0]
    A = sp.csr_array(Hb - edge_shifts(p)[1] * sp.eye_array(m, format="csr"))
    return A, blk.groups, p.n_orb


def _time_solves(solve, m, n_single=10):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((m, 8)) + 1j * rng.standard_normal((m, 8))
    solve(X[:, 0])  # warm-up
    t = time.perf_counter()
    for j in range(n_single):
        solve(X[:, j % 8])
    single = (time.perf_counter() - t) / n_single
    t = time.perf_counter()
    solve(X)
    block8 = (time.perf_counter() - t) / 8
    return single, block8


def _superlu(n_cells, bi, params_name=None):
    import gc

    from perovskite_tb.eigen.ldl import factor_ldl, group_ordering as _group_ordering

    A, groups, _ = _block_matrix(n_cells, bi, params_name)
    gc.collect()
    _reset_peak()
    m = A.shape[0]
    rss0, l0 = _rss_gb(), _load()
    t0 = time.perf_counter()
    perm = _group_ordering(A, groups)
    t1, c1 = time.perf_counter(), _cpu_s()
    lu, solve, neg = factor_ldl(A, perm)
    t2, c2 = time.perf_counter(), _cpu_s()
    single, block8 = _time_solves(solve, m)
    c3 = _cpu_s()
    return {"solver": "superlu+metis", "threads": 1, "ordering_s": t1 - t0, "factor_s": t2 - t1,
            "factor_cpu_s": c2 - c1, "solve_cpu_s": (c3 - c2) / 19,
            "fill_nnz": int(lu.L.nnz + lu.U.nnz), "fill_note": "nnz(L)+nnz(U)",
            "n_negative": neg, "solve_s": single, "solve_s_block8_per_rhs": block8,
            "rss_start_GB": rss0, "peak_rss_GB": _peak_gb(), "rss_growth_GB": _peak_gb() - rss0,
            "load_start": l0, "load_end": _load()}


def _pardiso_run(n_cells, bi, threads, pivoting="diagonal", params_name=None):
    import gc

    from perovskite_tb.eigen import _pardiso

    A, _, _ = _block_matrix(n_cells, bi, params_name)
    gc.collect()
    m = A.shape[0]
    info = _pardiso.mkl_info()
    _reset_peak()
    rss0, l0 = _rss_gb(), _load()
    out = {"solver": f"pardiso ({pivoting})", "threads": threads, "rss_start_GB": rss0, "load_start": l0, "mkl": info}
    for inertia in ((True, False) if pivoting == "diagonal" else (False,)):
        c0, t0 = _cpu_s(), time.perf_counter()
        h = _pardiso.PardisoFactor(A, n_threads=threads, pivoting=pivoting, inertia=inertia)
        t1, c1 = time.perf_counter(), _cpu_s()
        single, block8 = _time_solves(h.solve, m)
        c2 = _cpu_s()
        key = "inertia" if inertia else "solve"
        out[key] = {"iparm56": int(inertia), "ordering_s": h.analysis_s, "factor_s": h.factor_s,
                    "factor_call_s": t1 - t0, "factor_call_cpu_s": c1 - c0, "fill_nnz": h.nnz_factor,
                    "n_negative": h.n_negative, "n_perturbed": h.n_perturbed, "residual_check": h.residual,
                    "mflops": h.mflops, "pardiso_memory_kB": h.memory_kb, "solve_s": single,
                    "solve_s_block8_per_rhs": block8, "solve_cpu_s": (c2 - c1) / 19}
        h.free()
        del h
        gc.collect()
    first = out.get("inertia", out.get("solve"))
    out.update(ordering_s=first["ordering_s"], factor_s=first["factor_s"], fill_nnz=first["fill_nnz"],
               fill_note="nnz(L) incl. diagonal", n_negative=first["n_negative"],
               solve_s=out["solve"]["solve_s"], solve_s_block8_per_rhs=out["solve"]["solve_s_block8_per_rhs"],
               peak_rss_GB=_peak_gb(), rss_growth_GB=_peak_gb() - rss0, load_end=_load())
    return out


def _spmv_s(M, reps=20):
    import numpy as np

    x = np.random.default_rng(1).standard_normal(M.shape[0]) + 0j
    M @ x
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        M @ x
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def bench_blocks(n_cells, block_ids, threads_list, skip_superlu=False, params_name=None, pivoting="diagonal"):

    from perovskite_tb import load_parameters
    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble
    from perovskite_tb.nc import edge_shifts
    from perovskite_tb.eigen.symmetry import symmetry_blocks

    p = load_parameters() if params_name is None else load_parameters(params_name)
    st = cuboid(p.a, n_cells)
    T = assemble(st, p)
    H0 = T.H0
    blocks = symmetry_blocks(st.positions, p.n_orb, ops=("C4z", "P"))
    s_h, s_e = edge_shifts(p)
    out = []
    spmv_full = _spmv_s(H0)
    for bi in block_ids:
        blk = blocks[bi]
        Hb = blk.restrict(H0)
        m = Hb.shape[0]
        rec = {"kind": "block", "n_cells": n_cells, "n_states": T.n_states, "nnz_H0": int(H0.nnz), "block": bi,
               "label": blk.label, "m": m, "nnz_block": int(Hb.nnz), "shift_eV": s_e,
               "spmv_block_s": _spmv_s(Hb), "spmv_H0_s": spmv_full, "runs": []}
        if not skip_superlu:
            rec["runs"].append(_in_child(_superlu, n_cells, bi, params_name))
            print(json.dumps(rec["runs"][-1]), flush=True)
        for th in threads_list:
            rec["runs"].append(_in_child(_pardiso_run, n_cells, bi, th, pivoting, params_name))
            print(json.dumps(rec["runs"][-1]), flush=True)
        negs = {r.get("n_negative") for r in rec["runs"] if "error" not in r}
        rec["inertia_agree"] = len(negs) == 1 and None not in negs
        out.append(rec)
    return out


def _nc_point(n_cells, backend, threads, params_name=None):
    from perovskite_tb import load_parameters
    from perovskite_tb.model.geometry import cuboid
    from perovskite_tb.model.hamiltonian import assemble
    from perovskite_tb.model.terms import terms_from_hamiltonian
    from perovskite_tb.nc import solve as nc_solve

    p = load_parameters() if params_name is None else load_parameters(params_name)
    assemble(cuboid(p.a, 2), p)  # numba cache load
    extra = {}
    if backend == "pardiso":
        from perovskite_tb.eigen import _pardiso

        extra["mkl"] = _pardiso.mkl_info()
        if threads:
            _pardiso.set_num_threads(threads)
    l0, c0, t0 = _load(), _cpu_s(), time.perf_counter()
    r = nc_solve(terms_from_hamiltonian(assemble(cuboid(p.a, n_cells), p)), solver="shift-invert", ldl=backend)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    st = r.stats
    return dict(kind="band_edges", backend=backend, threads=threads if backend == "pardiso" else 1, n_cells=n_cells,
                n_states=r.n_states, total_s=wall, cpu_s=cpu, assembly_s=st.get("assembly_s"),
                symmetry_s=st.get("symmetry_s"), factor_s=st.get("factor_s"), eigs_s=st.get("eigs_s"),
                solves=st.get("solves"), lu_nnz=st.get("lu_nnz"), n_below=st.get("n_below") if "n_below" in st else None,
                edge_shifts_rejected=st.get("edge_shifts_rejected"), peak_rss_GB=_peak_gb(),
                E_e=r.E_e, E_h=r.E_h, g_e=r.g_e.g, g_h=r.g_h.g, residual_e=r.residual_e, residual_h=r.residual_h,
                load_start=l0, load_end=_load(), **extra)


def bench_band_edges(n_cells, threads, skip_superlu=False, params_name=None):
    res = {}
    if not skip_superlu:
        res["superlu"] = _in_child(_nc_point, n_cells, "superlu", threads, params_name)
        print(json.dumps(res["superlu"]), flush=True)
    res["pardiso"] = _in_child(_nc_point, n_cells, "pardiso", threads, params_name)
    print(json.dumps(res["pardiso"]), flush=True)
    if "superlu" in res and "error" not in res["superlu"] and "error" not in res["pardiso"]:
        a, b = res["superlu"], res["pardiso"]
        res["diff"] = {k: abs(a[k] - b[k]) for k in ("E_e", "E_h", "g_e", "g_h")}
        res["agree"] = (res["diff"]["E_e"] < 1e-9 and res["diff"]["E_h"] < 1e-9 and res["diff"]["g_e"] < 1e-6
                        and res["diff"]["g_h"] < 1e-6)
        res["speedup_total"] = a["total_s"] / b["total_s"]
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.pardiso_blocks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-cells", type=int, nargs="+", required=True)
    ap.add_argument("--blocks", type=int, nargs="+", default=[0], help="symmetry block indices (default 0)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="MKL threads for PARDISO runs (default 2)")
    ap.add_argument("--pivoting", default="diagonal", choices=["diagonal", "bunch-kaufman"])
    ap.add_argument("--band-edges", action="store_true", help="also the whole band-edge solve with both back-ends")
    ap.add_argument("--skip-blocks", action="store_true")
    ap.add_argument("--skip-superlu", action="store_true")
    ap.add_argument("--params", default=None)
    ap.add_argument("--out", default=None, help="append JSON records to this file")
    args = ap.parse_args(argv)
    header = {"kind": "header", "uptime_load": os.getloadavg(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                     "NUMBA_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS")}}
    print(json.dumps(header), flush=True)
    records = [header]
    for n in args.n_cells:
        if not args.skip_blocks:
            records += bench_blocks(n, args.blocks, args.threads, args.skip_superlu, args.params, args.pivoting)
        if args.band_edges:
            records.append({"kind": "band_edges_pair", "n_cells": n,
                            **bench_band_edges(n, args.threads[-1], args.skip_superlu, args.params)})
            print(json.dumps({k: v for k, v in records[-1].items() if k not in ("superlu", "pardiso")}), flush=True)
    if args.out:
        with open(args.out, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
    return records


if __name__ == "__main__":
    main()
