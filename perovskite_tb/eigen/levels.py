"""Eigenpairs of a Hermitian matrix nearest an energy (finite-field checks, where Kramers pairing is broken)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.eigen.ldl import factor_ldl, nd_ordering

__all__ = ["levels_near", "DENSE_LEVELS_MAX"]

#: ``levels_near`` diagonalises densely up to this dimension.
DENSE_LEVELS_MAX = 800


def levels_near(H: sp.csr_array, energy: float, k: int, n_orb: int, *, seed: int = 7):
    """The ``k`` eigenpairs of H nearest ``energy`` (eV): dense for n ≤ 800, else ND shift-invert.

    Parameters
    ----------
    H : scipy.sparse.csr_array, complex128, shape (n, n)
        Hermitian (eV).
    energy : float
        Target (eV); must not be an eigenvalue.
    k : int
        Number of eigenpairs.
    n_orb : int
        States per ordering vertex (ETB spin-orbitals per atom).
    seed : int, optional
        Seed of the ARPACK start vector.

    Returns
    -------
    (ndarray of float64 (k,), ndarray of complex128 (n, k)), sorted by energy.

    Raises
    ------
    SolverError
        If the LDLᴴ of H − energy fails.
    """
    n = H.shape[0]
    if n <= DENSE_LEVELS_MAX:
        E, V = np.linalg.eigh(H.toarray())
        idx = np.argsort(np.abs(E - energy))[:k]
    else:
        A = (H - energy * sp.eye_array(n, format="csr")).tocsc()
        _, solve, _ = factor_ldl(A, nd_ordering(H, n_orb), "H(B) - E")
        op = spla.LinearOperator((n, n), matvec=lambda x: solve(np.asarray(x).reshape(-1)), dtype=np.complex128)
        rng = np.random.default_rng(seed)
        mu, V = spla.eigsh(op, k=k, which="LM", v0=rng.standard_normal(n) + 0j, tol=1e-13)
        E = energy + 1.0 / mu
        idx = np.arange(k)
    o = idx[np.argsort(E[idx])]
    return E[o], V[:, o]
