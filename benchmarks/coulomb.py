"""Checks, convergence and cost of the e–h Coulomb step (:mod:`perovskite_tb.observables.coulomb`).

Usage::

    python -m benchmarks.coulomb                       # all fast sections (≈ 1 min)
    python -m benchmarks.coulomb sphere convergence    # chosen sections
    python -m benchmarks.coulomb etb --cells 6 10      # real ETB vs k·p (eigen-solves: minutes)

Sections: ``sphere`` (Brus 1.786 and the image constant, envelope and per-atom densities),
``scaling`` (1/R), ``convergence`` (grid spacing, charge cloud, padding at 10 cells), ``cost`` (time
per point at 10, 16, 26 cells with per-atom weights from an analytic envelope), ``operator`` (set-up
of the reusable :class:`~perovskite_tb.observables.coulomb_integrals.CoulombOperator` vs one more
potential at 10, 16, 26 cells), ``etb`` (real ETB
band edges vs the k·p model and a cos² box envelope of the same size). Prints Markdown tables.
"""

# ruff: noqa: E501  (Markdown table rows)
from __future__ import annotations

import argparse
import math
import os
import time

import perovskite_tb as ptb

from perovskite_tb.model.geometry import cuboid
from perovskite_tb.observables._coulomb_checks import (
    A_CSPBI3,
    box_cos2,
    brus_constant,
    cube_weights,
    sphere_atoms,
    sphere_density,
)
from perovskite_tb.observables.coulomb import (
    COULOMB_EV_NM,
    box_region,
    coulomb_atoms,
    coulomb_envelope,
    coulomb_etb,
    pb_cell_region,
    sphere_region,
)

EPS_IN, EPS_OUT = (
    6.1,
    2.2,
)  # parameters/dielectric.toml defaults (CsPbI3, fluorophosphate-glass proxy)


def section_sphere():
    """Brus sphere: envelope grid series and per-atom densities; image constant."""
    c = brus_constant()
    print(f"\n### Sphere, infinite barrier, ground state (exact constant {c:.6f}; Brus 1.786)\n")
    print(
        "| density | R (nm) | grid | E_C/E_Brus − 1 (ε_out = ε_in) | image term / analytic − 1 (ε_out = 2, ε_in = 5) "
        "| 2Σ/image − 1 | optical corr / (−E_hom) − 1 | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for R, nodes in ((2.0, 12), (2.0, 16), (2.0, 24), (2.0, 32), (2.0, 48)):
        t = time.perf_counter()
        f = sphere_density(R)
        r0 = coulomb_envelope(
            f, f, sphere_region(R), eps_in=5.0, eps_out=5.0, spacing_nm=2 * R / nodes
        )
        r1 = coulomb_envelope(
            f, f, sphere_region(R), eps_in=5.0, eps_out=2.0, spacing_nm=2 * R / nodes
        )
        ref = c * COULOMB_EV_NM / (5.0 * R)
        img = COULOMB_EV_NM * (1 / 2.0 - 1 / 5.0) / R
        print(
            f"| envelope | {R} | {nodes} across | {r0.E_C / ref - 1:+.4f} | {(r1.E_C - r1.E_C_homogeneous) / img - 1:+.4f} "
            f"| {2 * r1.Sigma_e / img - 1:+.4f} | {r1.optical_correction_eV / -r1.E_C_homogeneous - 1:+.1e} "
            f"| {time.perf_counter() - t:.2f} |"
        )
    for R in (2.0, 3.0, 5.0, 8.0):
        t = time.perf_counter()
        pb, pos, w = sphere_atoms(R)
        r0 = coulomb_atoms(pos, w, w, pb_cell_region(pb, A_CSPBI3), eps_in=5.0, eps_out=5.0)
        ref = c * COULOMB_EV_NM / (5.0 * R)
        print(
            f"| per-atom ({len(pos)} atoms) | {R} | h = a/2 | {r0.E_C / ref - 1:+.4f} | – | – | – "
            f"| {time.perf_counter() - t:.2f} |"
        )


def section_scaling():
    """E_C(R)/E_C(2R) for envelope and per-atom densities."""
    print("\n### 1/R scaling (ε_in = ε_out = 6.1): E_C(R)/E_C(2R) − 2\n")
    print("| density | R, 2R (nm) | E_C(R) (eV) | E_C(2R) (eV) | ratio − 2 |")
    print("|---|---|---|---|---|")
    for R in (2.0, 4.0):
        f1, f2 = sphere_density(R), sphere_density(2 * R)
        e1 = coulomb_envelope(f1, f1, sphere_region(R), eps_in=EPS_IN, eps_out=EPS_IN).E_C
        e2 = coulomb_envelope(f2, f2, sphere_region(2 * R), eps_in=EPS_IN, eps_out=EPS_IN).E_C
        print(
            f"| envelope, 24 nodes across | {R}, {2 * R} | {e1:.5f} | {e2:.5f} | {e1 / e2 - 2:+.1e} |"
        )
        p1, x1, w1 = sphere_atoms(R)
        p2, x2, w2 = sphere_atoms(2 * R)
        e1 = coulomb_atoms(
            x1, w1, w1, pb_cell_region(p1, A_CSPBI3), eps_in=EPS_IN, eps_out=EPS_IN
        ).E_C
        e2 = coulomb_atoms(
            x2, w2, w2, pb_cell_region(p2, A_CSPBI3), eps_in=EPS_IN, eps_out=EPS_IN
        ).E_C
        print(f"| per-atom, h = a/2 | {R}, {2 * R} | {e1:.5f} | {e2:.5f} | {e1 / e2 - 2:+.4f} |")


def _row(label, r, ref=None):
    d = "" if ref is None else f" {r.E_C / ref - 1:+.4f} |"
    print(
        f"| {label} | {r.shape[0]} | {r.E_C:.6f} |{d} {r.Sigma_e:.6f} | {r.Sigma_h:.6f} "
        f"| {r.optical_correction_eV:.6f} | {r.seconds:.2f} |"
    )


def section_convergence(n_cells: int = 10):
    """Grid spacing, charge cloud, subsamples and padding at ``n_cells`` cells."""
    s, we, wh = cube_weights(n_cells)
    a = A_CSPBI3
    ref = coulomb_etb(
        s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=a / 6, padding_nm=1.0 * n_cells * a
    )
    print(
        f"\n### Convergence, {n_cells}-cell cube (L = {n_cells * a:.2f} nm), analytic per-atom weights, "
        f"ε_in = {EPS_IN}, ε_out = {EPS_OUT}; reference h = a/6, padding 1.0 L: E_C = {ref.E_C:.6f} eV\n"
    )
    print(
        "| variant | box nodes | E_C (eV) | E_C/ref − 1 | Σ_e (eV) | Σ_h (eV) | −E_C+Σ_e+Σ_h (eV) | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k in (2, 4, 6):
        _row(
            f"h = a/{k}, cloud a/2 (default pad)",
            coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=a / k),
            ref.E_C,
        )
    _row(
        "h = a, cloud a",
        coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=a, cloud_nm=a),
        ref.E_C,
    )
    for c in (0.25, 0.63, 1.0):
        _row(
            f"h = a/4, cloud {c}a",
            coulomb_etb(
                s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=a / 4, cloud_nm=c * a
            ),
            ref.E_C,
        )
    for sub in (4,):
        _row(
            f"h = a/2, subsamples {sub}",
            coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, subsamples=sub),
            ref.E_C,
        )
    for pf in (0.05, 0.25, 0.5, 1.0):
        r = coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT, padding_nm=pf * n_cells * a)
        _row(f"h = a/2, padding {pf} L", r, ref.E_C)
        print(
            f"| ↳ same, monopole box boundary only | | {r.info['E_C_box_boundary_eV']:.6f} | "
            f"{r.info['E_C_box_boundary_eV'] / ref.E_C - 1:+.4f} | | | | |"
        )
    section_envelope_convergence(n_cells * a)


def section_envelope_convergence(L: float):
    """Grid convergence of the envelope path (cos² hard-wall cube of edge L nm)."""
    print(
        "\n| envelope (cos² box, L = N a) nodes across | box nodes | E_C (eV) | E_C/ref(48) − 1 | Σ_e | Σ_h | corr | s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    f = box_cos2(L)
    eref = coulomb_envelope(
        f, f, box_region(L), eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=L / 48
    ).E_C
    for nodes in (8, 12, 16, 24, 32):
        _row(
            str(nodes),
            coulomb_envelope(
                f, f, box_region(L), eps_in=EPS_IN, eps_out=EPS_OUT, spacing_nm=L / nodes
            ),
            eref,
        )


def section_cost(cells=(10, 16, 26), repeats: int = 2):
    """Time per point of the Coulomb step (analytic per-atom weights)."""
    print(
        f"\n### Cost per point (ETB per-atom weights from an analytic envelope; defaults h = a/2, padding "
        f"0.25 L; ε_in = {EPS_IN}, ε_out = {EPS_OUT}); load average at start {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores\n"
    )
    print(
        "| cells | edge (nm) | atoms | box nodes | wall s (best of runs) | CPU s | CG iterations | E_C (eV) | corr (eV) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    coulomb_etb(*cube_weights(3), eps_in=EPS_IN, eps_out=EPS_OUT)  # JIT / cache warm-up
    for n in cells:
        s, we, wh = cube_weights(n)
        best = (math.inf, math.inf)
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            r = coulomb_etb(s, we, wh, eps_in=EPS_IN, eps_out=EPS_OUT)
            best = min(best, (time.perf_counter() - t, time.process_time() - c))
        print(
            f"| {n} | {n * A_CSPBI3:.2f} | {s.n_sites} | {r.shape[0]}³ | {best[0]:.2f} | {best[1]:.2f} "
            f"| {r.info['cg_iterations']} | {r.E_C:.5f} | {r.optical_correction_eV:.5f} |"
        )


def section_operator(cells=(10, 16, 26), repeats: int = 2):
    """Reusable operator (observables.coulomb_integrals): set-up vs one more density's potential."""
    import numpy as np

    from perovskite_tb.observables.coulomb_integrals import CoulombOperator

    print(
        f"\n### CoulombOperator: build once vs potential of one more density (defaults; ε_in = {EPS_IN}, "
        f"ε_out = {EPS_OUT}); wall s, best of {repeats}; load average {open('/proc/loadavg').read().split()[0]} "
        f"on {os.cpu_count()} cores\n"
    )
    print("| cells | box nodes | charge nodes | build s | potential s (real) | potential s (complex) | CG iterations |")
    print("|---|---|---|---|---|---|---|")
    CoulombOperator.for_structure(cube_weights(3)[0], EPS_IN, EPS_OUT)  # JIT / cache warm-up
    for n in cells:
        s, we, wh = cube_weights(n)
        tb = tr = tc = math.inf
        for _ in range(repeats):
            t = time.perf_counter()
            op = CoulombOperator.for_structure(s, EPS_IN, EPS_OUT)
            tb = min(tb, time.perf_counter() - t)
            q = op.charges_from_atoms(we)
            qc = op.charges_from_atoms(we + 1j * np.roll(wh, 7))
            t = time.perf_counter()
            op.potential(q)
            tr = min(tr, time.perf_counter() - t)
            t = time.perf_counter()
            op.potential(qc)
            tc = min(tc, time.perf_counter() - t)
        print(
            f"| {n} | {op.grid.shape[0]}³ | {op.shape[0]}³ | {tb:.3f} | {tr:.3f} | {tc:.3f} "
            f"| {op.stats['cg_iterations']} |"
        )


def section_etb(cells=(6,)):
    """Real ETB band edges vs the k·p model and a cos² box of the same edge."""
    from perovskite_tb.model.materials import load_parameters
    from perovskite_tb.nc import nc_gfactors
    from perovskite_tb.observables.coulomb import coulomb_etb_doublets
    from perovskite_tb.observables.coulomb_kp import kp_density

    p = load_parameters("CsPbI3")
    print(
        "\n### Real ETB (CsPbI3 nestoklon2023, PbX6 cube) vs k·p (8-band, same edge N·a) and a cos² box\n"
    )
    print(
        "| cells | edge (nm) | ε_out | E_C ETB | E_C k·p | E_C cos² box | ETB/k·p | ETB/cos² | corr ETB | corr k·p "
        "| s ETB solve | s ETB Coulomb | s k·p solve | s k·p Coulomb |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in cells:
        t = time.perf_counter()
        _, _, edges = nc_gfactors(p, n, return_terms=True)
        t_etb = time.perf_counter() - t
        s = cuboid(p.a, n)
        L = n * p.a
        t = time.perf_counter()
        kr = ptb.solve("CsPbI3", edge_nm=(L, L, L), model="kp", dielectric=None)
        t_kp = time.perf_counter() - t
        de, dh = (
            kp_density(kr.terms.basis, kr.electron.vectors),
            kp_density(kr.terms.basis, kr.hole.vectors),
        )
        for eo in (EPS_IN, EPS_OUT):
            re = coulomb_etb_doublets(
                s, edges.electron.vectors, edges.hole.vectors, p.n_orb, eps_in=EPS_IN, eps_out=eo
            )
            rk = coulomb_envelope(de, dh, box_region(L), eps_in=EPS_IN, eps_out=eo)
            rc = coulomb_envelope(
                box_cos2(L), box_cos2(L), box_region(L), eps_in=EPS_IN, eps_out=eo
            )
            print(
                f"| {n} | {L:.2f} | {eo} | {re.E_C:.5f} | {rk.E_C:.5f} | {rc.E_C:.5f} | {re.E_C / rk.E_C:.3f} "
                f"| {re.E_C / rc.E_C:.3f} | {re.optical_correction_eV:.5f} | {rk.optical_correction_eV:.5f} "
                f"| {t_etb:.1f} | {re.seconds:.2f} | {t_kp:.1f} | {rk.seconds:.2f} |"
            )


SECTIONS = {
    "sphere": section_sphere,
    "scaling": section_scaling,
    "convergence": section_convergence,
    "cost": section_cost,
    "operator": section_operator,
}


def main(argv=None) -> int:
    """Run the chosen sections (command line in the module docstring)."""
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.coulomb", description=__doc__.splitlines()[0]
    )
    ap.add_argument("sections", nargs="*", default=list(SECTIONS), choices=[*SECTIONS, "etb"])
    ap.add_argument(
        "--cells", nargs="+", type=int, default=[6], help="cube sizes of the etb section"
    )
    args = ap.parse_args(argv)
    for name in args.sections:
        section_etb(tuple(args.cells)) if name == "etb" else SECTIONS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
