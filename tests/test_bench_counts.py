"""CI-sized benchmark subset: fails only on large regressions of deterministic counts (not seconds).

Baselines were measured with ``python -m benchmarks ci`` (nestoklon2023 CsPbI3, seed 12345). nnz and
n_states are exact; LU fill may move a little with a METIS version (±25 %); ARPACK operator
applications may move with a SciPy/ARPACK version, so only a 1.5× regression fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perovskite_tb import assemble, cuboid, load_parameters
from perovskite_tb.nc import midgap
from perovskite_tb.eigen.solver import band_edges

ROOT = Path(__file__).resolve().parents[1]
P = load_parameters()

#: cells -> (n_states, nnz(H0), nnz(M_x), nnz(L+U) summed over the 4 C4z×P blocks, LU solves summed)
BASELINE = {
    3: (2700, 17280, 18360, 16622, 623),
    4: (6080, 40448, 42880, 54536, 651),
}


@pytest.mark.parametrize("cells", sorted(BASELINE))
def test_deterministic_counts(cells):
    n, nnz, nnz_m, lu, solves = BASELINE[cells]
    st = cuboid(P.a, cells)
    T = assemble(st, P)
    assert T.n_states == n == 20 * (4 * cells**3 + 3 * cells**2)
    assert T.H0.nnz == nnz and T.M[0].nnz == nnz_m
    r = band_edges(T.H0, sigma=midgap(P), n_orb=P.n_orb, n_fill=T.n_fill, positions=st.positions,
                   method="shift-invert")
    assert 0.75 * lu <= r.stats["lu_nnz"] <= 1.25 * lu
    assert r.stats["solves"] <= 1.5 * solves


def test_benchmark_runner_writes_json(tmp_path):
    out = tmp_path / "ci.json"
    cp = subprocess.run([sys.executable, "-m", "benchmarks", "ci", "--cells", "2", "--out", str(out)], cwd=ROOT,
                        capture_output=True, text=True, timeout=600)
    assert cp.returncode == 0, cp.stderr[-2000:]
    doc = json.loads(out.read_text())
    (rec,) = doc["records"]
    for key in ("n_states", "nnz", "assembly_s", "solve_s", "peak_rss_GB", "solves", "method", "g_e", "g_h"):
        assert key in rec, key
    assert rec["n_states"] == 20 * (4 * 8 + 3 * 4) and "numpy" in doc["meta"]["versions"]
