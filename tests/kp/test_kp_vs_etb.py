"""Cross-check of the confined k·p model against the ETB for CsPbI3 cubes (issue 3).

Same material and parameter origin: ETB set ``nestoklon2023`` and the k·p set derived from its bulk
bands (``etb-nestoklon2023``), both at the set's reference temperature. Numbers quoted are from the
table in kp/README.md (``python -m perovskite_tb.app.jobs.kp_study crosscheck``).
"""

import numpy as np
import pytest
from kp_pipeline import kp_solve


from kp.parameters import load_kp_parameters
from perovskite_tb.model.materials import load_parameters
from perovskite_tb.nc import nc_gfactors as etb_nc

pytestmark = pytest.mark.physics


def _compare(etb_cells, kp_cells):
    """ETB points and k·p curves E(L), g(E); k·p interpolated to each ETB transition energy."""
    pe = load_parameters("CsPbI3", "nestoklon2023")
    pk = load_kp_parameters("CsPbI3", "etb-nestoklon2023")
    kp = [kp_solve(pk, (n * pe.a,) * 3) for n in kp_cells]
    E_kp = np.array([r.electron.energy - r.hole.energy for r in kp])
    order = np.argsort(E_kp)
    L_kp = np.array([n * pe.a for n in kp_cells])
    rows = []
    for n in etb_cells:
        e = etb_nc(pe, n)
        E = e.transition_energy
        assert E_kp.min() < E < E_kp.max()
        r_same = kp[list(kp_cells).index(n)]
        rows.append({
            "dE": r_same.electron.energy - r_same.hole.energy - E,
            "L_eff": float(np.interp(E, E_kp[order], L_kp[order])) - n * pe.a,
            "dge": float(np.interp(E, E_kp[order], np.array([r.g_e.g for r in kp])[order])) - e.g_e.g,
            "dgh": float(np.interp(E, E_kp[order], np.array([r.g_h.g for r in kp])[order])) - e.g_h.g,
        })
    return rows


def test_kp_vs_etb_small_cubes():
    """4, 6, 8 cells. Hard-wall k·p at the same edge over-confines (ΔE = +0.47, +0.19, +0.10 eV),
    shrinking with size; the k·p edge with the ETB energy is larger by a nearly constant
    0.79–0.87 nm (≈ 1.3 a: the ETB states reach the halide shell). At equal transition energy
    g_e agrees within 0.06 (+0.03…+0.05); g_h of the k·p is lower by 0.32–0.37 (see README)."""
    rows = _compare((4, 6, 8), (4, 5, 6, 7, 8, 9, 10))
    dE = [r["dE"] for r in rows]
    assert dE[0] > dE[1] > dE[2] > 0
    for r in rows:
        assert 0.7 < r["L_eff"] < 1.0
        assert abs(r["dge"]) < 0.06
        assert -0.4 < r["dgh"] < -0.25


@pytest.mark.slow
def test_kp_vs_etb_converge_with_size():
    """8, 12, 16 cells (5–10 nm): ΔE at equal edge and |Δg_h| at equal E shrink (README: Δg_h
    −0.37 → −0.34 → −0.28, falling as 1/L), g_e at equal E stays within 0.06."""
    rows = _compare((8, 12, 16), tuple(range(8, 21)))
    dE = [r["dE"] for r in rows]
    dgh = [abs(r["dgh"]) for r in rows]
    assert dE[0] > dE[1] > dE[2] > 0
    assert dgh[0] > dgh[1] > dgh[2]
    assert all(abs(r["dge"]) < 0.06 for r in rows)
