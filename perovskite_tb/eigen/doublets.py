r"""Kramers doublets: time reversal, completion, Rayleigh–Ritz in the doublet plane, and their checks.

At B = 0 every level of a time-reversal-invariant Hamiltonian with spin ½ is (at least) doubly
degenerate: ψ and :math:`\Theta\psi` (Kramers). Θ acts as a monomial antiunitary map on the bases
of this package (real orbitals, real envelope functions): :math:`(\Theta v)_{t_i} = p_i v_i^*`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perovskite_tb.errors import DegeneracyError, SolverError

__all__ = ["Doublet", "time_reverse", "ritz", "rayleigh_ritz", "make_doublet", "check_doublet", "warm_vector"]


@dataclass(frozen=True)
class Doublet:
    """A Kramers doublet (or, at finite field, the Zeeman pair of one).

    Attributes
    ----------
    energy : float
        Mean energy (eV).
    vectors : ndarray of complex128, shape (n, 2)
        Basis of the doublet, orthonormal in the overlap (V†SV = 1), eigenvectors of V†H V.
    residual : float
        max ‖H v − E S v‖ over the two vectors (eV).
    splitting : float
        |E₁ − E₂| of the two Ritz values (eV): the Kramers check at B = 0.
    parity : int
        +1 / −1 under inversion (0 if the solve did not use the parity blocks).
    isolation : float
        Distance to the nearest other level found on the same side (eV; inf if none).
    """

    energy: float
    vectors: np.ndarray
    residual: float
    splitting: float
    parity: int = 0
    isolation: float = float("inf")


def time_reverse(v: np.ndarray, theta=None) -> np.ndarray:
    r"""Θv for vectors of shape (n,) or (n, r).

    Parameters
    ----------
    v : ndarray of complex128
    theta : (ndarray of int64 (n,), ndarray of complex128 (n,)), optional
        (target, phase) with :math:`(\Theta v)_{t_i} = p_i v_i^*`; None: the spin-minor layout
        (1_orb ⊗ −iσ_y)v* (state 2j spin ↑, 2j+1 spin ↓).

    Returns
    -------
    ndarray, same shape as ``v``
    """
    v = np.asarray(v)
    out = np.empty_like(v)
    if theta is None:
        out[0::2] = -np.conj(v[1::2])
        out[1::2] = np.conj(v[0::2])
        return out
    target, phase = theta
    out[target] = (phase if v.ndim == 1 else phase[:, None]) * np.conj(v)
    return out


def _s_orthonormalise(W: np.ndarray, S) -> np.ndarray:
    """Columns of W made orthonormal (QR for S = None, else in the S inner product)."""
    if S is None:
        return np.linalg.qr(W)[0]
    G = W.conj().T @ (S @ W)
    w, U = np.linalg.eigh(0.5 * (G + G.conj().T))
    if w.min() < 1e-10 * w.max():
        raise DegeneracyError("doublet partner is linearly dependent on the state (Kramers completion failed)")
    return W @ (U / np.sqrt(w))


def rayleigh_ritz(H0, S, W: np.ndarray):
    """Rayleigh–Ritz of H0 (and S) in the span of the columns of ``W`` (n, d).

    Returns
    -------
    (ndarray of float64 (d,), ndarray of complex128 (n, d), float)
        Ritz values (eV, ascending), S-orthonormal Ritz vectors, max ‖H0v − ESv‖ (eV).

    Raises
    ------
    DegeneracyError
        Linearly dependent columns.
    """
    Qf = _s_orthonormalise(W, S)
    HQ = H0 @ Qf
    Hs = Qf.conj().T @ HQ
    ev, U = np.linalg.eigh(0.5 * (Hs + Hs.conj().T))
    V = np.ascontiguousarray(Qf @ U)
    SV = V if S is None else S @ V
    return ev, V, float(np.max(np.linalg.norm(HQ @ U - SV * ev[None, :], axis=0)))


def ritz(H0, S, W: np.ndarray, parity: int, levels: np.ndarray) -> Doublet:
    """Rayleigh–Ritz of H0 (and S) in the span of the two columns of ``W`` (n, 2).

    ``levels``: energies found on this side (eV), for the isolation distance; levels within
    max(1e-7 eV, 2 × splitting) of the doublet count as the doublet itself.
    """
    ev, V, res = rayleigh_ritz(H0, S, W)
    E, split = float(ev.mean()), float(abs(ev[1] - ev[0]))
    dist = np.abs(np.asarray(levels, dtype=float) - E)
    far = dist[dist > max(1e-7, 2.0 * split)]
    return Doublet(energy=E, vectors=V, residual=res, splitting=split, parity=parity,
                   isolation=float(far.min()) if far.size else float("inf"))


def make_doublet(H0, S, block, vec: np.ndarray, theta, levels: np.ndarray) -> Doublet:
    """Lift a block vector ψ to the full space, complete it with Θψ, and diagonalise in that plane."""
    v = np.asarray(block.lift(vec[:, None]))[:, 0]
    return ritz(H0, S, np.column_stack([v, time_reverse(v, theta)]), block.parity, levels)


def check_doublet(d: Doublet, name: str, *, residual_tol: float, kramers_tol: float, kramers: bool) -> None:
    """Raise if the residual is too large or (B = 0) the pair is not an isolated Kramers doublet.

    Raises
    ------
    SolverError
        Residual above ``residual_tol`` (eV).
    DegeneracyError
        Splitting above ``kramers_tol`` or the next level closer than max(10·kramers_tol,
        1e3·splitting).
    """
    if d.residual > residual_tol:
        raise SolverError(f"{name} doublet residual {d.residual:.2e} eV exceeds {residual_tol:.1e} eV")
    if not kramers:
        return
    if d.splitting > kramers_tol:
        raise DegeneracyError(f"{name} level is not a Kramers doublet: split by {d.splitting:.2e} eV at B = 0")
    if d.isolation < max(10 * kramers_tol, 1e3 * max(d.splitting, 1e-12)):
        raise DegeneracyError(f"{name} doublet at {d.energy:.6f} eV is not isolated from the next level "
                              f"({d.isolation:.2e} eV away)")


def warm_vector(block, d: Doublet):
    """Project a previous doublet onto a block: one start column (m, 1), or None if it has no weight there."""
    V = d.vectors if block.Q is None else block.Q.conj().T @ d.vectors
    keep = np.linalg.norm(V, axis=0) > 1e-3
    if not keep.any():
        return None
    return np.ascontiguousarray(V[:, keep][:, :1])
