"""Lattice temperature hypotheses (issue 21, item 3): band-edge partition rules, Debye MSD, Debye–Waller
hoppings, frozen displacements; and the scoring of the tstudy job.

Checks that can fail: the partition rules keep E_g(T) and move the edges by the stated shares (Foley et
al., APL 106, 243904 (2015): VBM −110, CBM −77 meV); zero displacement reproduces the undisplaced
Hamiltonian exactly; the sampled displacements have the requested MSD; a ± pair restores the symmetric
positions; the bond-block average over displaced bonds converges to the Debye–Waller block.
"""

import math

import numpy as np
import pytest
import scipy.constants as sc

from perovskite_tb.errors import InputError
from perovskite_tb.model.disorder import (antithetic_configurations, averaged_integrals, debye_msd_nm2,
                                          delta_msd_nm2, displaced)
from perovskite_tb.model.hamiltonian import assemble, bond_blocks
from perovskite_tb.model.materials import TWO_CENTRE_NAMES, load_parameters
from perovskite_tb.model.slater_koster import nearest_neighbour_shell, pair_block
from perovskite_tb.model.structure import cuboid
from perovskite_tb.model.temperature import (bulk_edges, bulk_gap, edge_shares, gap_shift_eV, kane_energy_scale,
                                             parameters_at)

P = load_parameters("CsPbI3", "nestoklon2023")


@pytest.mark.parametrize("rule, shares", [("vb", (0.0, -1.0)), ("foley", (-77 / 33, -110 / 33))])
def test_partition_rules_keep_gap_and_move_edges_as_stated(rule, shares):
    assert edge_shares(rule) == pytest.approx(shares, rel=1e-12)
    q = parameters_at(P, 90.0, rule=rule)
    dEg = gap_shift_eV(P, 90.0)
    assert bulk_gap(q) - bulk_gap(P) == pytest.approx(dEg, abs=1e-9)
    (c0, v0), (c1, v1) = bulk_edges(P), bulk_edges(q)
    assert c1 - c0 == pytest.approx(shares[0] * dEg, abs=1e-9)
    assert v1 - v0 == pytest.approx(shares[1] * dEg, abs=1e-9)
    assert q.E_s_Pb < P.E_s_Pb  # the VBM falls through its antibonding partner Pb s
    for n in TWO_CENTRE_NAMES:
        assert getattr(q, n) == getattr(P, n)


def test_rule_a_keeps_the_vbm():
    """Rule a puts the whole gap change in the CBM (no Pb p in the R-point VBM)."""
    (c0, v0), (c1, v1) = bulk_edges(P), bulk_edges(parameters_at(P, 90.0, rule="a"))
    assert v1 - v0 == pytest.approx(0.0, abs=1e-12)
    assert c1 - c0 == pytest.approx(gap_shift_eV(P, 90.0), abs=1e-9)


def test_edge_shares_and_kane_scaling_refuse_rules_without_meaning():
    with pytest.raises(InputError):
        edge_shares("a")
    with pytest.raises(InputError):
        kane_energy_scale(P, 90.0, rule="dw")
    assert kane_energy_scale(P, 90.0, rule="vb") == kane_energy_scale(P, 90.0, rule="a")


def test_debye_msd_limits():
    m, th = 126.90447, 133.5
    pref = 3 * sc.hbar**2 / (m * sc.atomic_mass * sc.k * th) * 1e18
    assert debye_msd_nm2(m, th, 0.0) == pytest.approx(pref / 4, rel=1e-12)
    T = 50 * th  # classical limit: (3ħ²/(m kB Θ))·(T/Θ) + O(Θ/T)
    assert debye_msd_nm2(m, th, T) == pytest.approx(pref * T / th, rel=2e-3)
    assert debye_msd_nm2(m, th, 90.0) > debye_msd_nm2(m, th, 6.0)
    d = delta_msd_nm2(P, 90.0)
    assert 0 < d["Pb"] < d["X"]  # lighter halide moves more in the Debye model
    with pytest.raises(InputError):
        debye_msd_nm2(-1.0, th, 10.0)


def test_debye_waller_integrals():
    assert averaged_integrals(P, 0.0) == {n: getattr(P, n) for n in averaged_integrals(P, 0.0)}
    s2 = 1e-4  # nm², σ/d0 ≈ 3 %
    avg = averaged_integrals(P, s2)
    # η = 2: ⟨(d0/d)² cosθ⟩ = 1 for an isotropic Gaussian (d/|d|³ is harmonic): s–p σ integrals unchanged
    for n in ("V_sc_pa_sigma", "V_sa_pc_sigma", "V_sstara_pc_sigma", "V_sstarc_pa_sigma"):
        assert avg[n] == pytest.approx(getattr(P, n), rel=1e-9)
    # (d0/d)² alone grows on average: s–s σ up; angular smearing lowers ppσ
    assert abs(avg["V_ss_sigma"]) > abs(P.V_ss_sigma)
    assert abs(avg["V_pp_sigma"]) < abs(P.V_pp_sigma)
    q = P.replace(**avg)
    blk = pair_block(P.basis, nearest_neighbour_shell(q).integrals, np.array([0, 0, 1.0]), spin=False).real
    # the reconstructed block is of Slater–Koster form: only the bond-frame elements are non-zero
    assert np.count_nonzero(np.abs(blk) > 1e-12) <= np.count_nonzero(
        np.abs(pair_block(P.basis, nearest_neighbour_shell(P.replace(V_pp_pi=1.0, V_pa_dc_pi=1.0)).integrals,
                          np.array([0, 0, 1.0]), spin=False).real) > 1e-12)
    with pytest.raises(InputError):
        averaged_integrals(P, -1e-6)


def test_zero_displacement_reproduces_the_hamiltonian_exactly():
    st = cuboid(P.a, 3)
    h0 = assemble(st, P)
    h1 = assemble(displaced(st, np.zeros_like(st.positions)), P)
    assert (h0.H0 != h1.H0).nnz == 0
    for a, b in zip(h0.M, h1.M):
        assert (a != b).nnz == 0


def test_displacements_have_the_requested_msd_and_pairs_restore_symmetry():
    st = cuboid(P.a, 6)
    msd = {"Pb": 2.0e-5, "X": 5.0e-5}
    confs = antithetic_configurations(st, msd, 3, seed=7)
    assert len(confs) == 6
    u = np.array([c.positions - st.positions for c in confs[::2]])
    for name, sp in (("Pb", 0), ("X", 1)):
        v = u[:, st.species == sp].ravel()
        n = v.size
        assert np.mean(v**2) == pytest.approx(msd[name], rel=5 * math.sqrt(2 / n))
    for plus, minus in zip(confs[::2], confs[1::2]):
        np.testing.assert_allclose(0.5 * (plus.positions + minus.positions), st.positions, atol=1e-15)
        np.testing.assert_allclose(plus.bonds.length0, np.linalg.norm(st.bonds.vector, axis=1), rtol=1e-15)
        np.testing.assert_allclose(plus.bonds.vector, plus.positions[st.bonds.j] - plus.positions[st.bonds.i])


def test_bond_average_of_displaced_blocks_tends_to_the_debye_waller_block():
    """Displaced bonds (assembler path: direction + (d0/d)^η) of a ± pair, averaged over the bonds ≈ the
    Debye–Waller block (the pair cancels the first order exactly; the second-order noise is ~1e-5 eV)."""
    st = cuboid(P.a, 8)
    msd = {"Pb": 3.0e-5, "X": 7.0e-5}
    sel = np.all(np.round(st.bonds.vector / st.a, 6) == [0, 0, 0.5], axis=1)  # Pb → X along +z
    blocks = []
    for conf in antithetic_configurations(st, msd, 1, seed=3):
        bb = bond_blocks(conf, P)
        blocks.append(bb.hop[bb.kind[sel]])
    mean_blk = np.concatenate(blocks).mean(axis=0)
    dw = P.replace(**averaged_integrals(P, msd["Pb"] + msd["X"]))
    ref = pair_block(P.basis, nearest_neighbour_shell(dw).integrals, np.array([0, 0, 1.0]))
    bare = pair_block(P.basis, nearest_neighbour_shell(P).integrals, np.array([0, 0, 1.0]))
    err, effect = np.max(np.abs(mean_blk - ref)), np.max(np.abs(bare - ref))
    assert effect > 5e-3  # the DW change is resolved ...
    assert err < 0.1 * effect  # ... and the displaced bonds reproduce it
