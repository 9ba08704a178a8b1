r"""Sparse LDLᴴ factorisation with inertia, and the fill-reducing orderings it uses.

The number of negative pivots of an :math:`LDL^\dagger` factorisation of a Hermitian matrix A is the
number of negative eigenvalues of A (Sylvester's law of inertia). The band-edge solvers factorise
:math:`H-\sigma S` with σ in the gap and compare that count with the number of states below the gap
(:attr:`perovskite_tb.model.terms.Terms.n_fill`): equality proves that the levels found next to σ are
the band edges.

Factorisation back-ends are registered in :data:`LDL_BACKENDS` (name → ``factor(A, perm, what)``
returning ``(handle, solve, n_negative)``): ``"superlu"`` (SciPy, always) and ``"pardiso"`` (MKL
PARDISO through :mod:`perovskite_tb.eigen._pardiso`, registered here, imported on first use: an optional
dependency). A further back-end is one function plus :func:`register_ldl_backend`.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Callable

import numpy as np
import pymetis
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.errors import InputError, SolverError

__all__ = ["nd_ordering", "group_ordering", "factor_ldl", "factor_nnz", "LDL_BACKENDS", "resolve_ldl_backend",
           "register_ldl_backend", "available_ldl_backends"]


def group_ordering(H, groups: np.ndarray) -> np.ndarray:
    """Nested-dissection permutation (METIS) of the group graph of H, expanded to matrix indices.

    Parameters
    ----------
    H : sparse matrix, shape (m, m)
        Its sparsity pattern (between groups) defines the graph.
    groups : ndarray of int64, shape (m,)
        Vertex of every index; all indices of a vertex stay together (stable within the vertex).

    Returns
    -------
    ndarray of int64, shape (m,)
    """
    ng = int(groups.max()) + 1
    coo = sp.coo_array(H)
    a = sp.coo_array((np.ones(coo.nnz, dtype=np.int8), (groups[coo.row], groups[coo.col])), shape=(ng, ng)).tocsr()
    a.setdiag(0)
    a.eliminate_zeros()
    a = ((a + a.T) > 0).astype(np.int8).tocsr()
    xadj = a.indptr.astype(np.int64)
    adjncy = a.indices.astype(np.int64)
    try:
        perm_g, _ = pymetis.nested_dissection(pymetis.CSRAdjacency(xadj, adjncy))
    except (AttributeError, TypeError):  # older pymetis
        perm_g, _ = pymetis.nested_dissection(xadj=xadj, adjncy=adjncy)
    rank = np.empty(ng, dtype=np.int64)
    rank[np.asarray(perm_g, dtype=np.int64)] = np.arange(ng)
    return np.argsort(rank[groups], kind="stable").astype(np.int64)


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
    return group_ordering(H, np.arange(H.shape[0], dtype=np.int64) // n_orb)


def _factor_superlu(A, perm: np.ndarray, what: str):
    """SuperLU without pivoting in the order ``perm`` (an LDLᴴ in disguise)."""
    m = A.shape[0]
    Ap = sp.csc_matrix(A[perm][:, perm])
    del A
    try:
        lu = spla.splu(Ap, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    except (RuntimeError, MemoryError) as exc:
        raise SolverError(f"sparse LU of {what} (block of {m} states) failed: {exc}") from None
    del Ap
    iperm = np.empty_like(perm)
    iperm[perm] = np.arange(m)

    def solve(x):
        return lu.solve(np.ascontiguousarray(np.asarray(x)[perm]))[iperm]

    neg = int(np.count_nonzero(np.real(lu.U.diagonal()) < 0)) if np.array_equal(lu.perm_r, lu.perm_c) else None
    return lu, solve, neg


def _factor_pardiso(A, perm: np.ndarray, what: str):
    """MKL PARDISO (its own ordering; ``perm`` unused) via :mod:`perovskite_tb.eigen._pardiso` (needs the mkl wheel)."""
    # Imported here: an optional dependency that may be absent.
    mod = importlib.import_module("perovskite_tb.eigen._pardiso")
    return mod.factor_ldl_pardiso(A, what)


def _pardiso_available() -> bool:
    if importlib.util.find_spec("perovskite_tb.eigen._pardiso") is None:
        return False
    try:
        mod = importlib.import_module("perovskite_tb.eigen._pardiso")
    except ImportError:
        return False
    probe = getattr(mod, "is_available", None)
    return bool(probe()) if callable(probe) else True


#: name → factor(A, perm, what) -> (handle, solve, n_negative); see :func:`factor_ldl`.
LDL_BACKENDS: dict[str, Callable] = {"superlu": _factor_superlu, "pardiso": _factor_pardiso}
#: name → availability probe (back-ends without one are always available).
_LDL_AVAILABLE: dict[str, Callable[[], bool]] = {"pardiso": _pardiso_available}


def register_ldl_backend(name: str, factor: Callable, available: Callable[[], bool] | None = None) -> None:
    """Register an LDLᴴ back-end ``factor(A, perm, what) -> (handle, solve, n_negative)``.

    Raises
    ------
    ValueError
        If ``name`` is registered already.
    """
    if name in LDL_BACKENDS:
        raise ValueError(f"LDL back-end {name!r} is registered already")
    LDL_BACKENDS[name] = factor
    if available is not None:
        _LDL_AVAILABLE[name] = available


def available_ldl_backends() -> tuple[str, ...]:
    """Registered LDLᴴ back-ends usable in this environment."""
    return tuple(k for k in LDL_BACKENDS if _LDL_AVAILABLE.get(k, lambda: True)())


#: Blocks at least this large are factorised by PARDISO under ``backend="auto"`` when the mkl wheel is
#: there: it factorises a 83 k-row block of a 20-cell cube 3.9× faster than SuperLU and a 181 k-row block
#: (26 cells) 4.2× faster, and is no faster below ≈ 40 k rows, where its inertia-reading solves cost
#: more (benchmarks/PARDISO.md).
PARDISO_MIN_ROWS = 50_000
#: The same for real symmetric blocks (:mod:`perovskite_tb.eigen.real_blocks`): PARDISO's real LDLᵀ needs
#: no inertia-reading solves; on one thread it factorised (ordering included) 1.7× faster than SuperLU
#: + METIS at 10.7 k rows, 1.8× at 23 k and 2.4× at 43 k, with solves as fast or faster (0.9–1.2×),
#: and the same below 6 k rows (benchmarks/README.md).
PARDISO_MIN_ROWS_REAL = 10_000


def resolve_ldl_backend(backend: str, m: int, real: bool = False) -> str:
    """The LDLᴴ back-end ``"auto"`` stands for at block size ``m`` (``real``: a real symmetric block);
    other names are returned as given."""
    if backend != "auto":
        return backend
    floor = PARDISO_MIN_ROWS_REAL if real else PARDISO_MIN_ROWS
    return "pardiso" if m >= floor and _pardiso_available() else "superlu"


def factor_ldl(A, perm: np.ndarray, what: str = "H - sigma", backend: str = "superlu"):
    """LDLᴴ factorisation of the Hermitian matrix ``A`` with its inertia.

    ``"superlu"``: SuperLU with ``permc_spec="NATURAL"``, ``diag_pivot_thresh=0`` and ``SymmetricMode``
    on ``A[perm][:, perm]``, an LDLᴴ in disguise, so the number of negative pivots is the number of
    negative eigenvalues of ``A`` (Sylvester). Used by the ETB and the k·p solvers.

    Parameters
    ----------
    A : sparse matrix, complex128, shape (m, m)
        Hermitian; dropped from this frame before the factorisation.
    perm : ndarray of int64, shape (m,), or None
        Fill-reducing order (e.g. :func:`nd_ordering`); back-ends with their own ordering ignore it
        (None is allowed for them only).
    what : str, optional
        Name of the matrix in the error message.
    backend : str, optional
        Key of :data:`LDL_BACKENDS` (default ``"superlu"``) or ``"auto"`` (:func:`resolve_ldl_backend`).

    Returns
    -------
    handle : object
        The factorisation (``scipy.sparse.linalg.SuperLU`` for SuperLU).
    solve : callable
        ``solve(x)`` = A⁻¹x in the original order, x of shape (m,) or (m, r).
    n_negative : int or None
        Negative pivots; None if the back-end pivoted after all (then no inertia).

    Raises
    ------
    InputError
        Unknown or unavailable back-end.
    SolverError
        If the factorisation fails (singular, out of memory).
    """
    backend = resolve_ldl_backend(backend, A.shape[0], not np.iscomplexobj(A.data))
    if backend not in LDL_BACKENDS:
        raise InputError(f"unknown LDL back-end {backend!r} (choose from {', '.join(LDL_BACKENDS)})")
    if backend in _LDL_AVAILABLE and not _LDL_AVAILABLE[backend]():
        raise InputError(f"LDL back-end {backend!r} is not available in this environment")
    return LDL_BACKENDS[backend](A, perm, what)


def factor_nnz(handle) -> int:
    """Non-zeros of a factorisation (nnz(L) + nnz(U) for SuperLU; nnz(L) for PARDISO; ``handle.nnz``, else 0)."""
    if hasattr(handle, "L") and hasattr(handle, "U"):
        return int(handle.L.nnz + handle.U.nnz)
    return int(getattr(handle, "nnz_factor", None) or getattr(handle, "nnz", 0) or 0)
