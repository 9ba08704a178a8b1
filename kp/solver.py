r"""Band edges of the confined k·p model through the shared eigen layer, and the k·p facts it needs.

The eigenproblem :math:`H_0c = ESc` is solved by :func:`perovskite_tb.eigen.band_edges.solve_terms` like
the ETB one: this module supplies what is specific to the k·p basis, i.e. the monomial actions of
inversion P and (square cross-section, L_x = L_y) the rotation C4z (:func:`symmetry_actions`; both
act as signed permutations of the tensor basis, so the joint eigenspaces split a cube into four
blocks of ≈ n/8), time reversal :math:`\Theta\psi = (1_{orb}\otimes -i\sigma_y)\psi^*` of the
Bloch ⊗ envelope layout (:func:`time_reversal_map`; real orbitals S, X, Y, Z and real envelope
functions), and the theorem below, which makes the inertia count a proof: the weighted number of
levels below the shifts 20 meV inside the bulk gap from each edge must equal the number of VB basis
states. The back-end (dense LAPACK up to 1800 states, else shift-invert with an LDLᴴ per shift) is
chosen by the eigen layer's registry (:mod:`perovskite_tb.eigen.registry`).

No level in the bulk gap (Foreman)
----------------------------------
Write H0 in VB (s-like) and CB (p-like) blocks, :math:`\begin{pmatrix}A & B\\ B^\dagger & D\end{pmatrix}`.
If the VB free term is :math:`(1+\gamma_v)\hbar^2k^2/2m_0` with :math:`1+\gamma_v \le 0` (Foreman's choice,
Foreman, Phys. Rev. B 56, R12748 (1997)) then :math:`A \le 0`; if the remote k² form on the CB is
positive semi-definite for every real k then :math:`D \ge E_g` (the Galerkin projection keeps both
signs). For any σ in (0, Eg) the Schur complement :math:`D-\sigma - B^\dagger(A-\sigma)^{-1}B` is
then positive definite, so :math:`H-\sigma S` has exactly dim(VB) negative eigenvalues (Haynsworth
inertia additivity): **no level of the confined model can lie in the bulk gap, in any basis.**
:func:`gap_free_conditions` checks both conditions for a set; the solvers refuse a set that fails
them (the universal set with 1+γ_v = 0 passes, but its near-kernel VB modes sit just below 0 and give
g_h ≈ −5: use the ETB-derived sets of :mod:`kp.fit_etb` for nanocrystals,
:data:`kp.parameters.NC_DEFAULT_SET`).

References
----------
Foreman, Phys. Rev. B 56, R12748 (1997); Haynsworth, Linear Algebra Appl. 1, 73 (1968) (inertia
additivity of the Schur complement); the ETB solver :mod:`perovskite_tb.eigen.band_edges` (same
inertia argument, same block builder).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from perovskite_tb.eigen.registry import METHODS
from perovskite_tb.eigen.band_edges import band_edges, solve_terms
from perovskite_tb.eigen.doublets import Doublet
from perovskite_tb.eigen.doublets import time_reverse as _theta_apply
from perovskite_tb.errors import InputError, SolverError
from perovskite_tb.model.terms import Symmetry

from kp.bulk import bloch_terms
from kp.envelope import EnvelopeBasis
from kp.parameters import KpParameters

if TYPE_CHECKING:  # pragma: no cover
    from kp.confinement import KpTerms

__all__ = [
    "Doublet",
    "band_edge_doublets",
    "check_gap_free",
    "gap_free_conditions",
    "kp_symmetry",
    "symmetry_actions",
    "time_reversal_map",
    "time_reverse",
    "SOLVER_METHODS",
]

#: solver back-ends accepted by :func:`band_edge_doublets` (the eigen layer's registry)
SOLVER_METHODS = METHODS
#: "auto" diagonalises densely up to this many states (kp/README.md)
DENSE_MAX_STATES = 1800
#: solver shifts: this far inside the bulk gap from each band edge [eV] (any σ in (0, Eg) is safe,
#: module docstring; close to the edge the band-edge level converges in few solves)
EDGE_SHIFT_EV = 0.02


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


def check_gap_free(params: KpParameters) -> None:
    """Raise SolverError naming the failed condition if ``params`` admits levels in the bulk gap."""
    ok, why = gap_free_conditions(params)
    if not ok:
        raise SolverError(f"k·p set {params.parameter_set!r} ({params.material}) admits levels in the bulk gap: "
                          f"{why}; use an ETB-derived set (valence_free_term = 'foreman')")


def time_reversal_map(basis: EnvelopeBasis) -> tuple[np.ndarray, np.ndarray]:
    r"""Θ of the k·p layout as (target, phase): :math:`(\Theta v)_{t_i} = p_i v_i^*`.

    Full index (:class:`kp.envelope.EnvelopeOperators`): VB ``b·n_env_vb + e`` for b = S↑, S↓, then CB
    ``2·n_env_vb + (2·o + s)·n_env + e`` for o = X, Y, Z and s = ↑, ↓. Θ maps ↑ → ↓ with +1 and
    ↓ → ↑ with −1 at the same orbital and envelope function.

    Parameters
    ----------
    basis : EnvelopeBasis

    Returns
    -------
    (ndarray of int64 (n,), ndarray of complex128 (n,))
    """
    nv, nc = basis.n_env_vb, basis.n_env
    n = basis.n_states
    target = np.empty(n, dtype=np.int64)
    phase = np.empty(n, dtype=np.complex128)
    for offset, n_orb, ne in ((0, 1, nv), (2 * nv, 3, nc)):
        idx = offset + np.arange(2 * n_orb * ne, dtype=np.int64).reshape(n_orb, 2, ne)
        up, dn = idx[:, 0].ravel(), idx[:, 1].ravel()
        target[up], phase[up] = dn, 1.0
        target[dn], phase[dn] = up, -1.0
    return target, phase


def time_reverse(v: np.ndarray, basis: EnvelopeBasis) -> np.ndarray:
    r"""Kramers partner :math:`\Theta v = (1_{orb}\otimes -i\sigma_y)v^*` of a k·p state.

    Parameters
    ----------
    v : ndarray of complex128, shape (n,) or (n, r)
        State(s) in the full index order of :class:`kp.envelope.EnvelopeOperators`.
    basis : EnvelopeBasis

    Returns
    -------
    ndarray of complex128, same shape

    Notes
    -----
    Valid because the Bloch orbitals S, X, Y, Z and every envelope function are real; Θ commutes
    with inversion, so it maps each parity block onto itself.
    """
    return _theta_apply(v, time_reversal_map(basis))


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


def _groups(basis: EnvelopeBasis) -> np.ndarray:
    """Envelope function (index into ``basis.triples``) of every state: the ordering-graph vertices."""
    pos = {tuple(t): i for i, t in enumerate(basis.triples.tolist())}
    vb = np.array([pos[tuple(t)] for t in basis.triples_vb.tolist()], dtype=np.int64)
    return np.concatenate([np.tile(vb, 2), np.tile(np.arange(basis.n_env, dtype=np.int64), 6)])


def kp_symmetry(basis: EnvelopeBasis, parity: np.ndarray) -> Symmetry:
    """Ordering groups, point operations and Θ of a k·p basis for the eigen layer.

    Parameters
    ----------
    basis : EnvelopeBasis
    parity : ndarray of int64, shape (n,)
        Inversion parity of every basis state (used when the basis is not a full grid: P only).

    Returns
    -------
    perovskite_tb.model.terms.Symmetry
    """
    if basis.full_grid:
        acts = tuple(symmetry_actions(basis))
    else:
        n = parity.shape[0]
        acts = (("P", np.arange(n, dtype=np.int64), parity.astype(np.complex128), 2),)
    return Symmetry(groups=_groups(basis), actions=acts, theta=time_reversal_map(basis))


def _commutes_with_inversion(H, parity: np.ndarray) -> bool:
    idx = [np.flatnonzero(parity == par) for par in (+1, -1)]
    off = H[idx[0]][:, idx[1]]
    return not (off.nnz and abs(off).max() > 1e-12)


def band_edge_doublets(terms: KpTerms, H=None, *, method: str = "auto") -> tuple[Doublet, Doublet]:
    """Lowest electron and highest hole Kramers doublets (shared eigen layer).

    Parameters
    ----------
    terms : KpTerms
    H : sparse matrix, optional
        Hamiltonian to diagonalise instead of ``terms.H0`` (e.g. H(B) at finite B; then the
        "doublets" are the two Zeeman-split levels and no Kramers check is made). Inversion blocks
        are used only if H commutes with inversion (gauge origin at the centre).
    method : str, optional
        ``"auto"`` (dense up to 1800 states, else shift-invert) or a back-end name
        (:data:`SOLVER_METHODS`).

    Returns
    -------
    (electron, hole) : tuple of Doublet

    Raises
    ------
    InputError
        Unknown ``method``.
    SolverError
        If the set fails :func:`gap_free_conditions`, the inertia shows a level inside the bulk gap,
        or the sparse LU / ARPACK fails.
    DegeneracyError
        If at B = 0 a doublet is not Kramers-degenerate or not isolated.
    """
    check_gap_free(terms.params)
    if H is None:
        edges = solve_terms(terms, method=method)
    else:
        mode = "inversion" if _commutes_with_inversion(H, terms.parity) else "none"
        edges = band_edges(H, sigma=terms.midgap, n_fill=terms.n_fill, method=method, symmetry=mode,
                           edge_shifts=terms.edge_shifts, S=terms.S, basis=terms.symmetry, kramers=False,
                           dense_max_states=terms.dense_max_states)
    return edges.electron, edges.hole
