r"""Band-edge eigensolver: lowest electron and highest hole Kramers doublets of a nanocrystal at B = 0.

Method (see ``../shared/reference/solvers.md`` for the measurements behind the choice): shift-invert
around a shift σ inside the gap. :math:`H_0-\sigma` is factorised once by SuperLU with a
**nested-dissection ordering** of the atom graph (``pymetis``), ``permc_spec="NATURAL"`` and
``diag_pivot_thresh=0`` — 20× faster and 5× less fill than SciPy's default COLAMD. ARPACK then finds
the few largest eigenvalues of :math:`(H_0-\sigma)^{-1}` (electron side) and the few smallest (hole
side) separately. Without row pivoting the LU is an :math:`LDL^\dagger` in disguise, so the signs of
diag(U) give the **inertia**: the number of states below σ must equal the number of filled
spin-orbitals, which proves that the doublets found are HOMO and LUMO (no in-gap states).

Every doublet is completed with its time-reversed partner :math:`\Theta\psi = (1\otimes -i\sigma_y)\psi^*`
(exact at B = 0 in a real orbital basis), and residuals :math:`\|H v - E v\|` are checked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .errors import DegeneracyError, SolverError

__all__ = ["Doublet", "BandEdges", "band_edges", "time_reverse", "nd_ordering", "estimate_memory_gb"]


@dataclass(frozen=True)
class Doublet:
    """A Kramers doublet.

    Attributes
    ----------
    energy : float
        Mean energy (eV).
    vectors : ndarray of complex128, shape (n, 2)
        Orthonormal basis (ψ, Θψ).
    residual : float
        max ‖H v − E v‖ over the two vectors (eV).
    splitting : float
        |E₁ − E₂| of the two Rayleigh quotients (eV), the Kramers check.
    """

    energy: float
    vectors: np.ndarray
    residual: float
    splitting: float


@dataclass(frozen=True)
class BandEdges:
    """Result of :func:`band_edges`.

    Attributes
    ----------
    electron, hole : Doublet
        Lowest electron (LUMO) and highest hole (HOMO) doublets.
    electron_levels, hole_levels : ndarray of float64
        All levels found on each side (eV), sorted by distance from σ (a few doublets each).
    sigma : float
        Shift (eV).
    n_below : int or None
        States below σ from the LDLᴴ inertia (None if not computed).
    stats : dict
        Timings (s), fill (nnz of L+U), ARPACK operator applications.
    """

    electron: Doublet
    hole: Doublet
    electron_levels: np.ndarray
    hole_levels: np.ndarray
    sigma: float
    n_below: int | None
    stats: dict = field(default_factory=dict)


def time_reverse(v: np.ndarray) -> np.ndarray:
    """Θv = (1_orb ⊗ −iσ_y) v* for vectors in orbital-major, spin-minor order; shape preserved."""
    v = np.asarray(v)
    out = np.empty_like(v)
    out[0::2] = -np.conj(v[1::2])
    out[1::2] = np.conj(v[0::2])
    return out


def nd_ordering(H: sp.csr_array, n_orb: int) -> np.ndarray:
    """Fill-reducing nested-dissection permutation from METIS on the atom graph.

    Parameters
    ----------
    H : scipy.sparse.csr_array, shape (n, n)
        Matrix whose atom-level sparsity (blocks of ``n_orb``) defines the graph.
    n_orb : int
        Spin-orbitals per atom.

    Returns
    -------
    ndarray of int64, shape (n,)
        Permutation of the matrix indices (all orbitals of an atom stay together).
    """
    import pymetis

    n_sites = H.shape[0] // n_orb
    coo = H.tocoo()
    a = sp.coo_array((np.ones(coo.nnz), (coo.row // n_orb, coo.col // n_orb)), shape=(n_sites, n_sites)).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    a = ((a + a.T) > 0).astype(np.int8).tocsr()
    perm, _ = pymetis.nested_dissection(xadj=a.indptr.astype(np.int64), adjncy=a.indices.astype(np.int64))
    perm = np.asarray(perm, dtype=np.int64)
    return (perm[:, None] * n_orb + np.arange(n_orb)[None, :]).ravel()


def estimate_memory_gb(n_states: int, nnz: int) -> float:
    """Rough peak memory (GB) of the ND-ordered SuperLU shift-invert solve.

    Empirical fit on this project's matrices (see ``benchmarks/``): fill(L+U) ≈ 3.2 · nnz · (n/1e4)^0.45,
    16 bytes per complex value + 4 bytes per index, ×2 for SuperLU workspace.
    """
    fill = 3.2 * nnz * max(n_states / 1e4, 1.0) ** 0.45
    return 2.0 * fill * 20 / 1e9 + 0.1


def _arpack(op, n, k, which, v0, tol):
    vals, vecs = spla.eigsh(op, k=k, which=which, v0=v0, tol=tol, maxiter=5000)
    return vals, vecs


def _doublet(H, vecs: np.ndarray, energies: np.ndarray, idx_sorted) -> Doublet:
    v = vecs[:, idx_sorted[0]]
    w = time_reverse(v)
    Q, _ = np.linalg.qr(np.column_stack([v, w]))
    HQ = H @ Q
    Es = np.real(np.einsum("ij,ij->j", Q.conj(), HQ))
    res = float(np.max(np.linalg.norm(HQ - Q * Es[None, :], axis=0)))
    Hs = Q.conj().T @ HQ
    ev, U = np.linalg.eigh(0.5 * (Hs + Hs.conj().T))
    return Doublet(energy=float(ev.mean()), vectors=Q @ U, residual=res, splitting=float(abs(ev[1] - ev[0])))


def band_edges(
    H0: sp.csr_array,
    *,
    sigma: float,
    n_orb: int,
    n_fill: int | None = None,
    k: int = 4,
    tol: float = 1e-12,
    residual_tol: float = 1e-8,
    kramers_tol: float = 1e-8,
    check_inertia: bool = True,
    max_memory_gb: float | None = None,
    seed: int = 12345,
) -> BandEdges:
    """Lowest electron and highest hole Kramers doublets near the shift σ.

    Parameters
    ----------
    H0 : scipy.sparse.csr_array, complex128, shape (n, n)
        Hermitian zero-field Hamiltonian (eV).
    sigma : float
        Shift inside the gap (eV); must not be an eigenvalue.
    n_orb : int
        Spin-orbitals per atom (for the ordering).
    n_fill : int, optional
        Expected number of states below σ; checked against the inertia if given.
    k : int, optional
        Levels per side (default 4 = two doublets, the second gives the isolation of the first).
    tol : float, optional
        ARPACK relative tolerance.
    residual_tol, kramers_tol : float, optional
        Accepted ‖Hv − Ev‖ and doublet splitting (eV).
    check_inertia : bool, optional
        Count the states below σ from diag(U) (default True).
    max_memory_gb : float, optional
        Refuse (SolverError) if :func:`estimate_memory_gb` exceeds this; default: 80 % of available RAM.
    seed : int, optional
        Seed of the ARPACK start vector (reproducibility).

    Returns
    -------
    BandEdges

    Raises
    ------
    SolverError
        Factorisation failed, memory estimate too large, ARPACK did not converge, or residuals too large.
    DegeneracyError
        A band-edge level is not a Kramers doublet, the inertia disagrees with ``n_fill`` (in-gap
        states), or the edge doublet is not isolated from the next level.
    """
    n = H0.shape[0]
    if not math.isfinite(sigma):
        raise SolverError(f"shift sigma must be finite, got {sigma} eV")
    est = estimate_memory_gb(n, H0.nnz)
    if max_memory_gb is None:
        try:
            import psutil

            max_memory_gb = 0.8 * psutil.virtual_memory().available / 1e9
        except ImportError:  # pragma: no cover
            max_memory_gb = float("inf")
    if est > max_memory_gb:
        raise SolverError(
            f"shift-invert solve of {n} states needs an estimated {est:.1f} GB, more than the "
            f"{max_memory_gb:.1f} GB allowed; use a smaller NC"
        )
    stats: dict = {"n_states": n, "nnz": int(H0.nnz), "memory_estimate_GB": est}
    t0 = time.perf_counter()
    perm = nd_ordering(H0, n_orb)
    A = (H0 - sigma * sp.eye_array(n, format="csr")).tocsc()
    Ap = A[perm][:, perm].tocsc()
    t1 = time.perf_counter()
    try:
        lu = spla.splu(Ap, permc_spec="NATURAL", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
    except (RuntimeError, MemoryError) as exc:
        raise SolverError(f"sparse LU of H - sigma ({n} states) failed: {exc}") from None
    t2 = time.perf_counter()
    stats.update(ordering_s=t1 - t0, factor_s=t2 - t1, lu_nnz=int(lu.L.nnz + lu.U.nnz) if n < 400_000 else -1)
    n_below = None
    if check_inertia:
        if np.array_equal(lu.perm_r, lu.perm_c):
            U = lu.U
            n_below = int(np.count_nonzero(np.real(U.diagonal()) < 0))
            del U
            if n_fill is not None and n_below != n_fill:
                raise DegeneracyError(
                    f"{n_below} states lie below sigma = {sigma:.4f} eV but {n_fill} are filled: "
                    "the gap contains surface states or sigma is outside the gap"
                )
    iperm = np.empty_like(perm)
    iperm[perm] = np.arange(n)
    count = {"n": 0}

    def solve(x):
        count["n"] += 1
        x = np.asarray(x).reshape(n, -1)
        y = lu.solve(np.ascontiguousarray(x[perm]))
        return y[iperm].reshape(-1) if y.shape[1] == 1 else y[iperm]

    op = spla.LinearOperator((n, n), matvec=solve, dtype=np.complex128)
    rng = np.random.default_rng(seed)
    v0 = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(np.complex128)
    try:
        mu_e, vec_e = _arpack(op, n, k, "LA", v0, tol)
        mu_h, vec_h = _arpack(op, n, k, "SA", v0, tol)
    except spla.ArpackNoConvergence as exc:
        raise SolverError(f"ARPACK did not converge for {n} states: {exc}") from None
    t3 = time.perf_counter()
    stats.update(eigs_s=t3 - t2, solves=count["n"])
    E_e = sigma + 1.0 / mu_e
    E_h = sigma + 1.0 / mu_h
    if np.any(E_e < sigma) or np.any(E_h > sigma):
        raise DegeneracyError("could not find levels on both sides of sigma (is sigma in the gap?)")
    oe = np.argsort(E_e)
    oh = np.argsort(-E_h)
    e = _doublet(H0, vec_e, E_e, oe)
    h = _doublet(H0, vec_h, E_h, oh)
    for name, d, lev, o in (("electron", e, E_e, oe), ("hole", h, E_h, oh)):
        if d.residual > residual_tol:
            raise SolverError(f"{name} doublet residual {d.residual:.2e} eV exceeds {residual_tol:.1e} eV")
        if d.splitting > kramers_tol:
            raise DegeneracyError(f"{name} level is not a Kramers doublet: split by {d.splitting:.2e} eV at B = 0")
        nxt = [x for x in lev[o] if abs(x - d.energy) > 1e-6]
        if nxt and abs(nxt[0] - d.energy) < 10 * kramers_tol:
            raise DegeneracyError(f"{name} doublet at {d.energy:.6f} eV is not isolated from the next level")
    stats["total_s"] = t3 - t0
    return BandEdges(electron=e, hole=h, electron_levels=np.sort(E_e), hole_levels=np.sort(E_h)[::-1],
                     sigma=float(sigma), n_below=n_below, stats=stats)
