"""A band edge of more than two states (a Γ8-like quartet) is refused: the g tensor of a Kramers doublet
is not defined there.

Construction: the on-site block of an isolated Pb atom with spin-orbit coupling has the levels
s (2), p_{1/2} (2), p_{3/2} (4), d (10), s* (2) (Landé; Jancu et al., PRB 57, 6493 (1998) basis). With
the shift between p_{1/2} and p_{3/2} the electron edge is the p_{3/2} quartet; with the shift above it
the hole edge is. On the atom at the origin the solver's C4z × P blocks split the quartet over two
weight-2 blocks (m_j = 1/2 and 3/2 with their Kramers partners); without symmetry one block holds all
four states. A cluster of decoupled, offset atoms mixed by a real orbital rotation (which commutes
with time reversal) puts the quartet into a 600-state shift-invert solve.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.sparse as sp

from perovskite_tb.eigen.band_edges import band_edges
from perovskite_tb.errors import DegeneracyError
from perovskite_tb.model.basis import onsite_block
from perovskite_tb.model.materials import load_parameters

N_ORB = 20


def _atom():
    H = onsite_block(load_parameters(), "Pb")
    return H, np.linalg.eigvalsh(H)


def _solve(H, sigma, n_fill, **kw):
    return band_edges(sp.csr_array(np.asarray(H, dtype=np.complex128)), sigma=sigma, n_orb=N_ORB,
                      n_fill=n_fill, **kw)


@pytest.mark.parametrize("symmetry", ["auto", "inversion", "none"])
def test_quartet_electron_edge_of_an_atom_is_refused(symmetry):
    H, E = _atom()
    assert np.ptp(E[4:8]) < 1e-12 and E[8] - E[7] > 1.0  # the p_{3/2} quartet
    with pytest.raises(DegeneracyError, match=r"electron band edge at 4\.92\d+ eV is at least 4-fold") as exc:
        _solve(H, 0.5 * (E[3] + E[4]), 4, positions=np.zeros((1, 3)), symmetry=symmetry, method="dense")
    assert "\n" not in str(exc.value)


def test_quartet_hole_edge_of_an_atom_is_refused():
    H, _ = _atom()
    H = H.copy()
    # d orbitals (4…8, no spin-orbit term on them) moved apart by 0.1 eV each: the electron edge above
    # the quartet is then one Kramers doublet (an inversion-only solve, as the d split breaks C4z)
    for j, orb in enumerate(range(4, 9)):
        H[2 * orb, 2 * orb] += 0.1 * j
        H[2 * orb + 1, 2 * orb + 1] += 0.1 * j
    E = np.linalg.eigvalsh(H)
    assert np.ptp(E[4:8]) < 1e-12 and E[9] - E[8] < 1e-12 and E[10] - E[9] > 0.05
    with pytest.raises(DegeneracyError, match=r"hole band edge at 4\.92\d+ eV is at least 4-fold"):
        _solve(H, 0.5 * (E[7] + E[8]), 8, positions=np.zeros((1, 3)), symmetry="inversion", method="dense")


def test_isolated_doublets_of_the_atom_still_pass():
    """Shift between s and p_{1/2}: both edges are Kramers doublets (control: the check can pass)."""
    H, E = _atom()
    r = _solve(H, 0.5 * (E[1] + E[2]), 2, positions=np.zeros((1, 3)), method="dense")
    assert r.electron.energy == pytest.approx(E[2], abs=1e-12)
    assert r.hole.energy == pytest.approx(E[0], abs=1e-12)


def test_split_quartet_is_a_doublet_again():
    """A crystal-field term splitting p_{3/2} by ≈ 1 meV (on p_z only) gives an isolated doublet edge."""
    H, E = _atom()
    H = H.copy()
    H[6, 6] += 1e-3  # p_z spin up and down: spin-orbitals 2·3 and 2·3 + 1 (orbital order s, px, py, pz, …)
    H[7, 7] += 1e-3
    E2 = np.linalg.eigvalsh(H)
    r = _solve(H, 0.5 * (E2[3] + E2[4]), 4, method="dense", symmetry="none")
    assert r.electron.energy == pytest.approx(E2[4], abs=1e-12)
    assert r.electron.isolation > 1e-4


def test_quartet_in_a_shift_invert_cluster_is_refused():
    H1, _ = _atom()
    rng = np.random.default_rng(1)
    offsets = rng.uniform(0.5, 3.0, 30)
    offsets[7] = 0.0  # this atom's p_{3/2} quartet at 4.922 eV is the lowest level above σ
    H = sl.block_diag(*[H1 + o * np.eye(N_ORB) for o in offsets])
    U = np.kron(np.linalg.qr(rng.normal(size=(H.shape[0] // 2,) * 2))[0], np.eye(2))
    H = U.T @ H @ U
    E = np.linalg.eigvalsh(H)
    sigma = 4.92
    n_fill = int((E < sigma).sum())
    assert np.ptp(E[n_fill:n_fill + 4]) < 1e-10 and E[n_fill + 4] - E[n_fill] > 1e-3
    with pytest.raises(DegeneracyError, match="electron band edge .* 4-fold"):
        _solve(H, sigma, n_fill, method="shift-invert", symmetry="none")
