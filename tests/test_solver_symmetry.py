"""Band-edge solver: inversion blocks, method parity, inertia, memory refusal (issue 7)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from perovskite_tb import assemble, cuboid, load_parameters
from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.gfactor import g_tensor
from perovskite_tb.nc import midgap
from perovskite_tb.eigen.solver import (available_methods, band_edges, estimate_memory_gb, inversion_blocks,
                                  symmetry_blocks)

P = load_parameters()
SIGMA = midgap(P)


def _terms(cells):
    st = cuboid(P.a, cells)
    return st, assemble(st, P)


@pytest.mark.parametrize("cells", [2, 3, (2, 3, 4)])
def test_inversion_blocks_are_an_invariant_orthogonal_split(cells):
    st, T = _terms(cells)
    bp, bm = inversion_blocks(st.positions, P.n_orb)
    n = T.n_states
    assert bp.size + bm.size == n
    Q = sp.hstack([bp.Q, bm.Q]).tocsr()
    assert abs(Q.T @ Q - sp.eye_array(n)).max() < 1e-14
    C = bp.Q.T @ T.H0 @ bm.Q
    assert C.nnz == 0 or abs(C).max() < 1e-13


@pytest.mark.parametrize("cells, n_blocks", [(2, 4), (3, 4), ((2, 2, 3), 4), ((2, 3, 4), 2)])
def test_c4_parity_blocks_are_invariant_and_orthonormal(cells, n_blocks):
    """C4z (double group) × P blocks: only λ = e^{-iπ/4}, e^{-3iπ/4} kept, each standing for its Kramers partner."""
    st, T = _terms(cells)
    blocks = symmetry_blocks(st.positions, P.n_orb)
    assert len(blocks) == n_blocks
    assert sum(b.weight * b.size for b in blocks) == T.n_states
    Q = sp.hstack([b.Q for b in blocks]).tocsr()
    assert abs(Q.conj().T @ Q - sp.eye_array(Q.shape[1])).max() < 1e-13
    H = T.H0.toarray()
    for b in blocks:
        Qd = b.Q.toarray()
        HQ = H @ Qd
        assert np.abs(HQ - Qd @ (Qd.conj().T @ HQ)).max() < 1e-12  # invariant subspace
    if n_blocks == 4:  # Kramers: the kept blocks carry every level twice over
        E_full = np.linalg.eigvalsh(H)
        E_blk = np.sort(np.concatenate([np.linalg.eigvalsh(b.restrict(T.H0).toarray()) for b in blocks for _ in (0, 1)]))
        assert np.abs(E_full - E_blk).max() < 1e-10


def test_inversion_blocks_reject_asymmetric_positions():
    st, _ = _terms(2)
    with pytest.raises(InputError):
        inversion_blocks(st.positions + 0.1, P.n_orb)


@pytest.mark.parametrize("cells, symmetry, n_blocks", [(3, "inversion", 2), (4, "inversion", 2), (3, "auto", 4),
                                                        (4, "auto", 4), ((3, 3, 4), "auto", 4)])
def test_symmetry_blocks_match_full_shift_invert_and_dense(cells, symmetry, n_blocks):
    st, T = _terms(cells)
    full = band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="shift-invert")
    blk = band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="shift-invert",
                     positions=st.positions, symmetry=symmetry)
    assert blk.stats["n_blocks"] == n_blocks and full.stats["n_blocks"] == 1
    assert blk.n_below == full.n_below == T.n_fill
    assert abs(blk.electron.energy - full.electron.energy) < 1e-9
    assert abs(blk.hole.energy - full.hole.energy) < 1e-9
    assert blk.electron.parity in (1, -1) and blk.hole.parity in (1, -1)
    for a, b in ((full.electron, blk.electron), (full.hole, blk.hole)):
        ga, gb = g_tensor(a.vectors, T.M, T.J), g_tensor(b.vectors, T.M, T.J)
        assert abs(ga.g - gb.g) < 1e-6
        assert np.abs(ga.tensor - gb.tensor).max() < 1e-6
        assert b.residual < 1e-10 and b.splitting < 1e-10
    if T.n_states <= 3000:
        E = np.linalg.eigvalsh(T.H0.toarray())
        assert abs(E[T.n_fill] - blk.electron.energy) < 1e-9
        assert abs(E[T.n_fill - 1] - blk.hole.energy) < 1e-9


def test_unsymmetric_positions_fall_back_to_one_block():
    st, T = _terms(3)
    r = band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="shift-invert",
                   positions=st.positions + np.array([0.01, 0.02, 0.03]))  # no operation left
    assert r.stats["n_blocks"] == 1
    with pytest.raises(InputError, match="unknown symmetry"):
        band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, positions=st.positions, symmetry="Oh")


@pytest.mark.skipif("primme" not in available_methods(), reason="optional extra perovskite-tb[fast] not installed")
@pytest.mark.parametrize("cells", [3, 4, 5])
def test_primme_matches_shift_invert(cells):
    st, T = _terms(cells)
    ref = band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="shift-invert", positions=st.positions)
    it = band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="primme", positions=st.positions)
    assert it.stats["method"] == "primme" and it.n_below is None and it.stats["matvecs"] > 0
    assert abs(it.electron.energy - ref.electron.energy) < 1e-9
    assert abs(it.hole.energy - ref.hole.energy) < 1e-9
    for a, b in ((ref.electron, it.electron), (ref.hole, it.hole)):
        assert abs(g_tensor(a.vectors, T.M, T.J).g - g_tensor(b.vectors, T.M, T.J).g) < 1e-6
        assert b.residual < 1e-8


def test_memory_refusal_names_size_and_estimate():
    st, T = _terms(3)
    with pytest.raises(SolverError, match=r"2700 states .* estimated .* GB"):
        band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, method="shift-invert", max_memory_gb=1e-4)


def test_unknown_method_is_rejected():
    st, T = _terms(2)
    with pytest.raises(InputError, match="unknown solver method"):
        band_edges(T.H0, sigma=SIGMA, n_orb=P.n_orb, method="feast")


def test_memory_estimate_grows_and_iterative_is_cheaper():
    a = estimate_memory_gb(10**5, 7 * 10**5)
    b = estimate_memory_gb(10**6, 7 * 10**6)
    c = estimate_memory_gb(10**6, 7 * 10**6, method="primme")
    assert 0 < a < b and c < b


def test_edge_shifts_agree_and_bad_shifts_fall_back_to_midgap():
    from perovskite_tb.nc import edge_shifts

    st, T = _terms(4)
    kw = dict(sigma=SIGMA, n_orb=P.n_orb, n_fill=T.n_fill, method="shift-invert", positions=st.positions)
    mid = band_edges(T.H0, **kw)
    near = band_edges(T.H0, edge_shifts=edge_shifts(P), **kw)
    assert near.n_below == T.n_fill and "edge_shifts_rejected" not in near.stats
    assert abs(near.electron.energy - mid.electron.energy) < 1e-9
    assert abs(near.hole.energy - mid.hole.energy) < 1e-9
    # sigma_e above the LUMO: the inertia at the two shifts disagrees -> redone from mid-gap
    bad = band_edges(T.H0, edge_shifts=(edge_shifts(P)[0], mid.electron.energy + 0.05), **kw)
    assert bad.stats["edge_shifts_rejected"] and abs(bad.electron.energy - mid.electron.energy) < 1e-9
    with pytest.raises(InputError):
        band_edges(T.H0, edge_shifts=(1.0, 0.0), **kw)
