r"""Carrier densities of the confined k·p model for the e–h Coulomb energy.

Input of :func:`perovskite_tb.observables.coulomb.coulomb_envelope`.

A k·p state is :math:`\Psi = \sum_b F_b(\mathbf r)\,u_b` over the eight Bloch components b (2 s-like
VB, 6 p-like CB; :mod:`kp.confinement`), with envelopes :math:`F_b = \sum_e c_{b,e}\,
\phi_{n_x}(x)\phi_{n_y}(y)\phi_{n_z}(z)` in the tensor basis of :mod:`kp.envelope` (sines or Shen's
integrated Legendre polynomials, Shen, SIAM J. Sci. Comput. 15, 1489 (1994)). The charge density
is :math:`n(\mathbf r) = \sum_b |F_b(\mathbf r)|^2` (orthonormal Bloch functions, cell-averaged),
averaged over the two states of a Kramers doublet; it integrates to :math:`c^\dagger S c = 1`.

This module reads the basis object duck-typed (``edge_nm``, ``n_max``, ``triples``, ``triples_vb``,
``kind``) and does not import :mod:`kp`.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import legendre as leg

from perovskite_tb.errors import InputError

__all__ = ["basis_functions_1d", "kp_density", "kp_envelopes"]


def basis_functions_1d(kind: str, L: float, N: int, x) -> np.ndarray:
    """Values φ_n(x), n = 1…N, of the 1D envelope basis on [−L/2, L/2] (zero outside).

    Parameters
    ----------
    kind : {"sine", "legendre"}
    L : float
        Box edge (nm).
    N : int
        Number of functions.
    x : array_like of float, shape (m,)
        Positions (nm) relative to the box centre.

    Returns
    -------
    ndarray of float64, shape (N, m), in nm^(−1/2): ∫φ_n² dx = 1.

    Raises
    ------
    InputError
        Unknown ``kind``.
    """
    x = np.asarray(x, dtype=float).reshape(-1)
    inside = np.abs(x) <= 0.5 * L
    n = np.arange(1, N + 1)
    if kind == "sine":
        out = np.sqrt(2.0 / L) * np.sin(np.outer(n, x + 0.5 * L) * np.pi / L)
    elif kind == "legendre":
        t = 2.0 * x / L
        out = np.empty((N, x.size))
        for i in range(N):  # φ_{i+1} ∝ P_i − P_{i+2}; ∫(P_i − P_{i+2})² dt = 2/(2i+1) + 2/(2i+5)
            c = np.zeros(i + 3)
            c[i], c[i + 2] = 1.0, -1.0
            norm = np.sqrt(0.5 * L * (2.0 / (2 * i + 1) + 2.0 / (2 * i + 5)))
            out[i] = leg.legval(t, c) / norm
    else:
        raise InputError(f"unknown envelope basis kind {kind!r}; known: sine, legendre")
    return np.where(inside[None, :], out, 0.0)


def _coefficients(basis, vectors):
    """Dense (N_x, N_y, N_z) coefficient tensors per (column, Bloch component) and the 1D sizes."""
    V = np.asarray(vectors)
    V = V.reshape(V.shape[0], -1)
    nv, nc = basis.triples_vb.shape[0], basis.triples.shape[0]
    if V.shape[0] != 2 * nv + 6 * nc:
        raise InputError(
            f"k·p vector length {V.shape[0]} does not match the basis "
            f"(2·{nv} + 6·{nc} = {2 * nv + 6 * nc})"
        )
    N = tuple(int(n) for n in basis.n_max)
    blocks = [(basis.triples_vb, b * nv) for b in range(2)]
    blocks += [(basis.triples, 2 * nv + b * nc) for b in range(6)]
    coef = []  # per (column, component): dense (Nx, Ny, Nz) coefficient tensor
    for col in range(V.shape[1]):
        for tr, off in blocks:
            C = np.zeros(N, dtype=complex)
            C[tuple((tr - 1).T)] = V[off : off + tr.shape[0], col]
            coef.append(C)
    return coef, N, V.shape[1]


def _envelope_values(basis, coef, N, x, y, z):
    """Yield F = Σ c φ_x φ_y φ_z (nm^(−3/2), complex) on the tensor grid, one per tensor."""
    ax = [np.asarray(v, dtype=float).reshape(-1) for v in (x, y, z)]
    phi = [basis_functions_1d(basis.kind, float(L), n, a) for L, n, a in zip(basis.edge_nm, N, ax)]
    for C in coef:
        F = np.einsum("abc,ai->ibc", C, phi[0], optimize=True)
        F = np.einsum("ibc,bj->ijc", F, phi[1], optimize=True)
        yield np.einsum("ijc,ck->ijk", F, phi[2], optimize=True)


def kp_envelopes(basis, vectors):
    """Envelope components F_b of k·p states, for pair densities ψ_a*ψ_b.

    Parameters
    ----------
    basis : kp.envelope.EnvelopeBasis
        The basis of the solved NC (box centred at the origin).
    vectors : ndarray of complex128, shape (n_states, k)
        k states in that basis.

    Returns
    -------
    callable
        ``envelopes(x, y, z)`` on coordinate arrays (nm; any shapes, flattened per axis) →
        ndarray of complex128, shape (k, 8, n_x, n_y, n_z), in nm^(−3/2): component b of state a at
        the tensor-grid points. The pair density of states a, b is
        ``(F[a].conj() * F[b]).sum(axis=0)`` (1/nm³; orthonormal, cell-averaged Bloch functions).

    Raises
    ------
    InputError
        If the vector length does not match the basis (2·n_env_vb + 6·n_env).
    """
    coef, N, k = _coefficients(basis, vectors)

    def envelopes(x, y, z):
        F = list(_envelope_values(basis, coef, N, x, y, z))
        return np.stack(F).reshape((k, 8) + F[0].shape)

    return envelopes


def kp_density(basis, vectors):
    """Density callable of a k·p doublet for :func:`~.coulomb.coulomb_envelope`.

    Parameters
    ----------
    basis : kp.envelope.EnvelopeBasis
        The basis of the solved NC (``NcResult.terms.basis``); box centred at the origin.
    vectors : ndarray of complex128, shape (n_states, k)
        State(s) in that basis (``NcResult.electron.vectors``), normalised as c†Sc = 1.

    Returns
    -------
    callable
        ``density(x, y, z)`` on broadcast coordinate arrays of shapes (n_x,1,1), (1,n_y,1),
        (1,1,n_z) (nm) → ndarray (n_x, n_y, n_z) in 1/nm³.

    Raises
    ------
    InputError
        If the vector length does not match the basis (2·n_env_vb + 6·n_env).
    """
    coef, N, k = _coefficients(basis, vectors)

    def density(x, y, z):
        out = 0.0
        for F in _envelope_values(basis, coef, N, x, y, z):
            out = out + np.abs(F) ** 2
        return out / k

    return density
