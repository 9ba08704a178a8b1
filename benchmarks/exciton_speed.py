"""Wall time of all exciton observables of one cube, split into spectrum, integrals and CI.

``python -m benchmarks.exciton_speed CsPbBr3 17 8`` (material, cells per edge, N doublets) solves the cube
with ``levels = N`` through the public API, then :func:`~perovskite_tb.observables.excitons.exciton_json`
(integrals, X CI, fine structure, lifetimes, g_X_bright) and
:func:`~perovskite_tb.observables.excitons.trion_biexciton` (X⁻, X⁺, XX CI), and prints one JSON line with
the split, the peak memory and the load average at start and end (ε∞ screening).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def main(argv=None) -> int:
    t00 = time.perf_counter()
    import perovskite_tb as ptb
    from perovskite_tb.observables.excitons import exciton_json, trion_biexciton

    mat, n, N = (argv or sys.argv[1:])[:3]
    n, N = int(n), int(N)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    s = ptb.solve(mat, n_cells=n, levels=N)
    _ = s.spectrum
    t1 = time.perf_counter()
    js = exciton_json(s, n_doublets=N)
    t2 = time.perf_counter()
    tb = trion_biexciton(s, n_doublets=N)
    t3 = time.perf_counter()
    integrals = sum(v for k, v in tb["seconds"].items() if k != "ci_s")
    print(json.dumps({
        "material": mat, "n_cells": n, "N": N, "import_s": t0 - t00, "spectrum_s": t1 - t0,
        "integrals_s": integrals, "integrals_split": tb["seconds"],
        "ci_s": (t2 - t1 - integrals) + tb["seconds"]["ci_s"], "total_s": t3 - t00,
        "peak_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "load_start": load0, "load_end": os.getloadavg()[0],
        "exciton_bright_dark_meV": js["exciton_bright_dark_meV"], "radiative_lifetime_ps": js["radiative_lifetime_ps"],
        **{k: tb[k] for k in ("trion_negative_binding_meV", "trion_positive_binding_meV", "biexciton_binding_meV")},
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
