r"""Band-edge solver of the confined k·p model: lowest electron and highest hole Kramers doublets.

Symmetry blocks and solvers
---------------------------
Inversion P and, for a square cross-section (L_x = L_y), the rotation C4z about z commute with H0
and S (:func:`symmetry_actions`; both act as signed permutations of the tensor basis). The joint
eigenspaces (:func:`perovskite_tb.eigen.symmetry.blocks_from_actions`) split a cube into four blocks of
≈ n/8 states, each holding one member of every Kramers doublet (time reversal maps the C4z
character λ to λ*; the partner blocks are not solved); without C4z the two parity blocks are used.
``method="dense"`` diagonalises each parity block (LAPACK, all levels in a window);
``method="shift-invert"`` factorises :math:`H_b-\sigma S_b` per block at two shifts 20 meV inside
the bulk gap from each edge (SuperLU, METIS nested dissection, no pivoting) and runs ARPACK for the
levels just above the electron shift and just below the hole shift. The signs of the pivots give
the **inertia**: the weighted count of levels below each shift must equal the number of VB basis
states, which proves that the levels found are the band edges (and is guaranteed by the theorem
below). The lowest electron and highest hole state are completed by their time-reversed partners
:math:`\Theta\psi = (1_{orb}\otimes -i\sigma_y)\psi^*` (real orbitals S, X, Y, Z and real
envelope functions); residuals :math:`\|Hv - ESv\|` are reported.

No level in the bulk gap (Foreman)
----------------------------------
Write H0 in VB (s-like) and CB (p-like) blocks, :math:`\begin{pmatrix}A & B\\ B^\dagger & D\end{pmatrix}`.
If the VB free term is :math:`(1+\gamma_v)\hbar^2k^2/2m_0` with :math:`1+\gamma_v \le 0` (Foreman's choice,
foreman1997) then :math:`A \le 0`; if the remote k² form on the CB is positive semi-definite for every
real k then :math:`D \ge E_g` (the Galerkin projection keeps both signs). For any σ in (0, Eg) the Schur
complement :math:`D-\sigma - B^\dagger(A-\sigma)^{-1}B` is then positive definite, so
:math:`H-\sigma S` has exactly dim(VB) negative eigenvalues (Haynsworth inertia additivity): **no
level of the confined model can lie in the bulk gap, in any basis.** :func:`gap_free_conditions`
checks both conditions for a set; the solvers refuse a set that fails them (the universal set with
1+γ_v = 0 passes, but its near-kernel VB modes sit just below 0 and give g_h ≈ −5: use the
ETB-derived sets of :mod:`kp.fit_etb` for nanocrystals, :data:`kp.parameters.NC_DEFAULT_SET`).
The dense path also counts levels in (0, Eg) directly.

References
----------
foreman1997; Haynsworth, Linear Algebra Appl. 1, 73 (1968) (inertia additivity of the Schur
complement); the ETB solver :mod:`perovskite_tb.eigen.solver` (same inertia argument, same block builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.constants import HBAR2_OVER_2M0
from perovskite_tb.errors import DegeneracyError, InputError, SolverError

from kp.bulk import bloch_terms
from kp.envelope import EnvelopeBasis
from kp.parameters import KpParameters

if TYPE_CHECKING:  # pragma: no cover
    from kp.confinement import KpTerms

__all__ = [
    "Doublet",
    "band_edge_doublets",
    "gap_free_conditions",
    "symmetry_actions",
    "time_reverse",
    "SOLVER_METHODS",
]

#: relative tolerance for Kramers pairing of doublet energies (× energy scale 1 eV)
_KRAMERS_TOL_EV = 1e-8
#: methods of :func:`band_edge_doublets`
SOLVER_METHODS = ("auto", "dense", "shift-invert")
#: "auto" uses the dense solver up to this many states
_DENSE_MAX_STATES = 1800


@dataclass(frozen=True)
class Doublet:
    """A Kramers doublet of the confined model.

    Attributes
    ----------
    energy : float
        Mean energy of the pair [eV] (VB top of bulk = 0).
    splitting : float
        |E1 − E0| at B = 0 [eV] (Kramers: ~1e-12).
    vectors : ndarray of complex128, shape (n, 2)
        States in the full basis, orthonormal in the overlap: V†SV = 1.
    isolation : float
        Distance to the nearest other level found [eV].
    residual : float
        max ‖H v − S v (v†Hv)‖ of the pair [eV].
    """

    energy: float
    splitting: float
    vectors: np.ndarray
    isolation: float
    residual: float = 0.0


#: half-width beyond the bulk band edges of the energy window of the dense solver [eV]
_WINDOW_EV = 1.0
#: levels per parity block and side of the gap found by shift-invert (two doublets: isolation)
_K_SHIFT_INVERT = 4
#: shift-invert shifts: this far inside the bulk gap from each band edge [eV] (any σ in (0, Eg)
#: is safe, module docstring; close to the edge the band-edge level converges in few solves)
_EDGE_SHIFT_EV = 0.02


@lru_cache(maxsize=32)
def gap_free_conditions(params: KpParameters) -> tuple[bool, str]:
    """Check the two conditions under which no confined level can lie in the bulk gap (0, Eg).

    Parameters
    ----------
    params : KpParameters

    Returns
    -------
    (ok, reason) : tuple of (bool, str)
        ``ok`` if 1+γ_v ≤ 0, the k-independent CB block is ≥ Eg, no k² term couples VB and CB, and
        the remote CB form :math:`\\sum_{ab}k_ak_bQ_{ab}` is positive semi-definite on 2000 directions
        (Fibonacci sphere) plus the cube axes, diagonals and face diagonals; ``reason`` names the
        first violated condition (module docstring, "No level in the bulk gap"). Cached per set
        (:class:`~kp.parameters.KpParameters` is frozen): every solve checks it.
    """
    t = bloch_terms(params)
    v, c = slice(0, 2), slice(2, 8)
    if 1.0 + params.gamma_v > 1e-12:
        return False, (f"1 + gamma_v = {1 + params.gamma_v:.3f} > 0 (Foreman's condition "
                       "1 + gamma_v <= 0 fails)")
    if np.linalg.eigvalsh(t.C[c, c]).min() < params.Eg - 1e-9:
        return False, "k-independent CB block below Eg (negative Delta_so?)"
    if np.abs(t.Q[:, :, v, c]).max() > 0:
        return False, "k^2 terms couple VB and CB"
    n = 2000
    i = np.arange(n) + 0.5
    th = np.arccos(1 - 2 * i / n)
    ph = np.pi * (1 + 5**0.5) * i
    dirs = np.stack([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)], axis=1)
    extra = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1],
                      [1, -1, 0], [1, 1, -1]], float)
    dirs = np.vstack([dirs, extra / np.linalg.norm(extra, axis=1)[:, None]])
    D = np.einsum("ka,kb,abij->kij", dirs, dirs, t.Q[:, :, c, c])
    lam = np.linalg.eigvalsh(D).min()
    if lam < -1e-9:
        return False, f"remote k^2 form on the CB is not positive semi-definite (min {lam:.3g} eV nm^2)"
    return True, ""


def time_reverse(v: np.ndarray, basis: EnvelopeBasis) -> np.ndarray:
    r"""Kramers partner :math:`\Theta v = (1_{orb}\otimes -i\sigma_y)v^*` of a k·p state.

    Parameters
    ----------
    v : ndarray of complex128, shape (n,)
        State in the full index order of :class:`kp.envelope.EnvelopeOperators`.
    basis : EnvelopeBasis

    Returns
    -------
    ndarray of complex128, shape (n,)

    Notes
    -----
    Valid because the Bloch orbitals S, X, Y, Z and every envelope function are real; Θ commutes
    with inversion, so it maps each parity block onto itself.
    """
    nv = basis.n_env_vb
    out = np.empty_like(v)
    for part, nb in ((slice(0, 2 * nv), 1), (slice(2 * nv, v.shape[0]), 3)):
        w = v[part].reshape(nb, 2, -1)
        o = np.empty_like(w)
        o[:, 0] = -np.conj(w[:, 1])
        o[:, 1] = np.conj(w[:, 0])
        out[part] = o.reshape(-1)
    return out


def symmetry_actions(basis: EnvelopeBasis) -> list:
    r"""Monomial actions of inversion P and (square cross-section) the rotation C4z on the basis.

    Parameters
    ----------
    basis : EnvelopeBasis
        Must be a full grid (:attr:`EnvelopeBasis.full_grid`); C4z is included only if
        L_x = L_y and N_x = N_y.

    Returns
    -------
    list of (name, target, phase, order)
        For :func:`perovskite_tb.eigen.symmetry.blocks_from_actions`. P: Bloch parity (S +1, X/Y/Z −1) ×
        envelope parity :math:`(-1)^{n_x+n_y+n_z-3}`. C4z (rotation by +90° about z,
        :math:`(U\psi)(\mathbf r) = D\,\psi(R^{-1}\mathbf r)`): X → Y, Y → −X, spin
        :math:`e^{\mp i\pi/4}` for ↑/↓, envelope :math:`\phi_a(x)\phi_b(y) \to (-1)^{b-1}\phi_b(x)\phi_a(y)`.
    """
    if not basis.full_grid:
        raise InputError("symmetry blocks need a full tensor-product envelope basis")
    tr = basis.triples
    n_env = basis.n_env
    n = 8 * n_env
    blo = np.repeat(np.arange(8), n_env)
    env = np.tile(np.arange(n_env), 8)
    bloch_par = np.array([1, 1, -1, -1, -1, -1, -1, -1])
    env_par = EnvelopeBasis.envelope_parity(tr)
    acts = [("P", np.arange(n, dtype=np.int64), (bloch_par[blo] * env_par[env]).astype(complex), 2)]
    Nx, Ny, Nz = basis.n_max
    if Nx == Ny and abs(basis.edge_nm[0] - basis.edge_nm[1]) < 1e-12 * basis.edge_nm[0]:
        te = ((tr[:, 1] - 1) * Ny + (tr[:, 0] - 1)) * Nz + (tr[:, 2] - 1)
        pe = (-1.0) ** (tr[:, 1] - 1)
        tb = np.array([0, 1, 4, 5, 2, 3, 6, 7])
        spin = np.exp(-1j * np.pi / 4 * np.array([1, -1]))
        orb = np.array([1, 1, -1, 1])  # S -> S, X -> Y, Y -> -X, Z -> Z
        pb = orb[np.arange(8) // 2] * spin[np.arange(8) % 2]
        acts.append(("C4z", (tb[blo] * n_env + te[env]).astype(np.int64), pb[blo] * pe[env], 4))
    return acts


def _blocks(terms: KpTerms, H) -> list[np.ndarray]:
    """Index sets of the inversion blocks of H (one block if H does not commute with inversion)."""
    idx = [np.flatnonzero(terms.parity == par) for par in (+1, -1)]
    if H is not None and H.shape[0] > 0:
        off = H[idx[0]][:, idx[1]]
        if off.nnz and abs(off).max() > 1e-12:
            return [np.arange(H.shape[0])]
    return idx


def _levels_dense(H0, S, blocks, lo, hi):
    levels = []
    for idx in blocks:
        Hb = H0[idx][:, idx].toarray()
        Sb = None if S is None else S[idx][:, idx].toarray()
        E, V = sla.eigh(Hb, Sb, subset_by_value=(lo, hi), driver="evr" if Sb is None else "gvx")
        for j in range(len(E)):
            vec = np.zeros(H0.shape[0], dtype=complex)
            vec[idx] = V[:, j]
            levels.append((float(E[j]), vec))
    return levels


def _isometries(terms: KpTerms, H) -> list:
    """Symmetry blocks used by shift-invert, as (Q, groups, weight) triples.

    B = 0 on a full grid: C4z × P blocks (:func:`symmetry_actions`; four blocks of ≈ n/8 when
    L_x = L_y, weight 2 as their time-reversed partner blocks are not solved), ``groups`` the
    envelope index of each block state (for the nested-dissection ordering). Otherwise the
    inversion blocks of :func:`_blocks` (or one block) as selection matrices, ``groups`` None.
    """
    if H is None and terms.basis.full_grid:
        from perovskite_tb.eigen.symmetry import blocks_from_actions

        groups = np.tile(np.arange(terms.basis.n_env, dtype=np.int64), 8)
        return [(b.Q, b.groups, b.weight)
                for b in blocks_from_actions(symmetry_actions(terms.basis), groups)]
    n = terms.H0.shape[0]
    return [(sp.csr_array((np.ones(idx.size), (idx, np.arange(idx.size))), shape=(n, idx.size)),
             None, 1) for idx in _blocks(terms, H)]


def _levels_shift_invert(H0, S, blocks, shifts, k, tol=1e-12):
    """Levels just above the electron shift ('LA') and just below the hole shift ('SA') per block.

    Blocks with ``groups`` are factorised by :func:`perovskite_tb.eigen.solver.factor_ldl` in one METIS
    nested-dissection order per block (both shifts share the pattern), which gives the inertia;
    blocks without (selection blocks) by SuperLU with its default ordering and pivoting. Returns
    (levels, n_below) with n_below the weighted inertia count at each shift (None if a block had no
    inertia).
    """
    from perovskite_tb.eigen.solver import _group_ordering, factor_ldl

    levels = []
    s_h, s_e = shifts
    n_below = {s_h: 0, s_e: 0}
    for Q, groups, weight in blocks:
        m = Q.shape[1]
        Qh = sp.csr_array(Q.conj().T)
        Hb = sp.csc_matrix(Qh @ H0 @ Q)
        Sb = sp.csc_matrix(Qh @ S @ Q)
        v0 = np.random.default_rng(7).standard_normal(m).astype(complex)
        perm = None
        for sigma, which in ((s_e, "LA"), (s_h, "SA")):
            A = Hb - sigma * Sb
            if groups is None:
                try:
                    lu = spla.splu(sp.csc_matrix(A))
                except (RuntimeError, MemoryError) as exc:
                    raise SolverError(f"sparse LU of H - sigma S (block of {m} states) failed: "
                                      f"{exc}") from None
                solve, neg = lu.solve, None
            else:
                if perm is None:
                    perm = _group_ordering(sp.csr_array(A), groups)
                lu, solve, neg = factor_ldl(A, perm, "H - sigma S")
            del A
            n_below[sigma] = None if neg is None or n_below[sigma] is None else n_below[sigma] + weight * neg
            op = spla.LinearOperator((m, m), matvec=solve, dtype=complex)
            try:
                E, V = spla.eigsh(Hb, k=min(k, m - 2), M=Sb, sigma=sigma, which=which, OPinv=op,
                                  tol=tol, v0=v0, maxiter=5000)
            except spla.ArpackNoConvergence as exc:
                raise SolverError(f"ARPACK did not converge for a block of {m} states: {exc}") from None
            del lu, solve, op
            for j in range(len(E)):
                levels.append((float(E[j]), Q @ V[:, j]))
    return levels, n_below


def _s_orthonormalise(V, S):
    G = V.conj().T @ (V if S is None else S @ V)
    w, U = np.linalg.eigh(G)
    if w.min() < 1e-10 * w.max():
        raise DegeneracyError("doublet partner is linearly dependent on the state (Kramers "
                              "completion failed)")
    return V @ (U / np.sqrt(w))


def band_edge_doublets(terms: KpTerms, H=None, *, method: str = "auto") -> tuple[Doublet, Doublet]:
    """Lowest electron and highest hole Kramers doublets.

    Parameters
    ----------
    terms : KpTerms
    H : sparse matrix, optional
        Hamiltonian to diagonalise instead of ``terms.H0`` (e.g. H(B) at finite B; then the
        "doublets" are the two Zeeman-split levels and no Kramers check is made). Inversion blocks
        are used only if H commutes with inversion (gauge origin at the centre).
    method : {"auto", "dense", "shift-invert"}, optional
        ``"auto"``: dense up to 1800 states, else shift-invert (module docstring).

    Returns
    -------
    (electron, hole) : tuple of Doublet

    Raises
    ------
    InputError
        Unknown ``method``.
    SolverError
        If the set fails :func:`gap_free_conditions`, no state is found on one side of the gap, a
        level lies inside the bulk gap (0, Eg), or the sparse LU / ARPACK fails.
    DegeneracyError
        If at B = 0 a doublet is not Kramers-degenerate or not isolated.
    """
    if method not in SOLVER_METHODS:
        raise InputError(f"unknown k·p solver method {method!r}; known: {', '.join(SOLVER_METHODS)}")
    p = terms.params
    ok, why = gap_free_conditions(p)
    if not ok:
        raise SolverError(f"k·p set {p.parameter_set!r} ({p.material}) admits levels in the bulk gap: "
                          f"{why}; use an ETB-derived set (valence_free_term = 'foreman')")
    H0 = terms.H0 if H is None else H
    S = None if terms.basis.orthonormal else terms.S
    n = H0.shape[0]
    if method == "auto":
        method = "dense" if n <= _DENSE_MAX_STATES else "shift-invert"
    if method == "dense":
        blocks = _blocks(terms, H)
        # window: 1 eV, widened for small boxes (10 x the free-electron ground confinement energy)
        win = max(_WINDOW_EV, 10.0 * HBAR2_OVER_2M0 * np.pi**2 * sum(
            1.0 / L**2 for L in terms.basis.edge_nm))
        levels = _levels_dense(H0, S, blocks, -win, p.Eg + win)
    else:
        blocks = _isometries(terms, H)
        # two levels per side and block suffice when C4z x P blocks hold one member per doublet
        k = _K_SHIFT_INVERT if len(blocks) <= 2 else 2
        levels, n_below = _levels_shift_invert(H0, terms.S, blocks,
                                               (_EDGE_SHIFT_EV, p.Eg - _EDGE_SHIFT_EV), k)
        n_vb = 2 * terms.basis.n_env_vb
        bad = {s_: c for s_, c in n_below.items() if c is not None and c != n_vb}
        if bad:
            raise SolverError(f"inertia check failed: {bad} levels below the shifts (eV) instead of "
                              f"the {n_vb} valence-band states: a level lies inside the bulk gap")
    levels.sort(key=lambda x: x[0])
    Es = np.array([x[0] for x in levels])
    # Zeeman shifts at finite B are ~1e-3 eV; anything deeper inside the bulk gap is spurious
    n_gap = int(np.sum((Es > 1e-2) & (Es < p.Eg - 1e-2)))
    if n_gap:
        raise SolverError(f"{n_gap} level(s) inside the bulk gap (0, {p.Eg:.3f}) eV: spurious solutions")
    ie = int(np.searchsorted(Es, 0.5 * p.Eg))
    out = []
    for name, i0, step in (("electron", ie, +1), ("hole", ie - 1, -1)):
        i1 = i0 + step
        if min(i0, i1) < 0 or max(i0, i1) >= len(Es):
            raise SolverError(f"no {name} doublet found (edge {terms.basis.edge_nm} nm)")
        if H is None:  # Kramers completion of the extreme level
            V = _s_orthonormalise(np.stack([levels[i0][1], time_reverse(levels[i0][1], terms.basis)],
                                           axis=1), S)
        else:
            V = _s_orthonormalise(np.stack([levels[i0][1], levels[i1][1]], axis=1), S)
        h = V.conj().T @ (H0 @ V)
        e2 = np.linalg.eigvalsh(0.5 * (h + h.conj().T))
        E = float(e2.mean())
        # other levels: everything found except the doublet's own (within its splitting)
        dist = np.abs(Es - E)
        far = dist[dist > max(1e-7, 2.0 * float(e2[1] - e2[0]))]
        iso = float(far.min()) if far.size else np.inf
        R = H0 @ V - (V if S is None else S @ V) @ h
        res = float(np.max(np.linalg.norm(R, axis=0)))
        out.append(Doublet(energy=E, splitting=float(e2[1] - e2[0]), vectors=V, isolation=iso,
                           residual=res))
    if H is None:
        for d, name in zip(out, ("electron", "hole")):
            if d.splitting > _KRAMERS_TOL_EV or d.isolation < 1e3 * max(d.splitting, 1e-12):
                raise DegeneracyError(
                    f"{name} band-edge level is not an isolated Kramers doublet "
                    f"(splitting {d.splitting:.2e} eV, isolation {d.isolation:.2e} eV)"
                )
    return out[0], out[1]


