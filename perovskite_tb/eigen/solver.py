r"""Band-edge eigensolver: lowest electron and highest hole Kramers doublets of a nanocrystal at B = 0.

Three ingredients (measurements behind every choice: ``benchmarks/README.md`` and
``../shared/reference/solvers.md``):

1. **Inversion symmetry.** A cuboid centred on its middle is invariant under :math:`P:\mathbf r\to
   -\mathbf r`; with orbital parities s, d, s* even and p odd, P is a signed site permutation that
   commutes with :math:`H_0` (and with time reversal Θ). The isometries :math:`Q_\pm` of
   :func:`inversion_blocks` split :math:`H_0` into two half-size blocks :math:`Q_\pm^T H_0 Q_\pm`;
   each block still carries Kramers doublets. Every solve below runs on the blocks and the band
   edge is the extreme level over both. The coupling :math:`Q_+^T H_0 Q_-` is checked to vanish.
2. **Shift-invert** (``method="shift-invert"``, the reference and the default while it fits in
   memory): :math:`H_b-\sigma` is factorised once per block by SuperLU with a nested-dissection
   ordering (``pymetis``), ``permc_spec="NATURAL"``, ``diag_pivot_thresh=0``; ARPACK finds the
   largest (electron side) and smallest (hole side) eigenvalues of :math:`(H_b-\sigma)^{-1}`. With
   no row pivoting the LU is an :math:`LDL^\dagger` in disguise, so the signs of diag(U) give the
   **inertia**: the states below σ summed over both blocks must equal the number of filled
   spin-orbitals, which proves that the doublets found are HOMO and LUMO.
3. **Iterative interior solver** for sizes whose LU is too slow or does not fit: ``method="primme"``
   (optional extra ``perovskite-tb[fast]``; Jacobi–Davidson JDQMR with targets "closest greater /
   lower than σ", k = 2 per block and side). It has no inertia count: the residual, Kramers and
   isolation checks run, and the shift-invert path (with inertia) is its reference in the tests.
   Without PRIMME, ``"auto"`` uses shift-invert whenever its memory estimate fits and otherwise
   refuses with the size and the estimate. (ARPACK on the folded operator :math:`(H-\sigma)^2` was
   tried as a SciPy-only iterative fallback and rejected: 4–11 k matvecs per block at 22–73 k
   states, and with k nearest σ it can return only hole-side levels, i.e. miss the LUMO.)

Every doublet is completed with its time-reversed partner :math:`\Theta\psi = (1\otimes -i\sigma_y)\psi^*`
(exact at B = 0 in a real orbital basis; P and the block isometries are real and spin-blind, so Θ
acts inside each block), and residuals :math:`\|H_0 v - E v\|` are computed on the full matrix.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.errors import DegeneracyError, InputError, SolverError
from perovskite_tb.eigen.symmetry import (  # noqa: F401  (re-exported: part of the solver API)
    ParityBlock,
    _atom_operator,
    _orbital_parities,
    _site_map,
    blocks_from_actions,
    inversion_blocks,
    symmetry_blocks,
)

__all__ = [
    "Doublet",
    "BandEdges",
    "ParityBlock",
    "symmetry_blocks",
    "blocks_from_actions",
    "band_edges",
    "time_reverse",
    "nd_ordering",
    "inversion_blocks",
    "estimate_memory_gb",
    "factor_ldl",
    "available_methods",
    "METHODS",
]

#: Solver methods accepted by :func:`band_edges` (``"auto"`` picks one).
METHODS = ("auto", "shift-invert", "primme")


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
    parity : int
        +1 / −1 under inversion (0 if the solve did not use the parity blocks).
    """

    energy: float
    vectors: np.ndarray
    residual: float
    splitting: float
    parity: int = 0


@dataclass(frozen=True)
class BandEdges:
    """Result of :func:`band_edges`.

    Attributes
    ----------
    electron, hole : Doublet
        Lowest electron (LUMO) and highest hole (HOMO) doublets.
    electron_levels, hole_levels : ndarray of float64
        All levels found on each side (eV), electrons ascending, holes descending.
    sigma : float
        Shift (eV).
    n_below : int or None
        States below σ from the LDLᴴ inertia (None if not computed).
    stats : dict
        Method, timings (s), fill (nnz of L+U), operator applications (``solves`` for shift-invert,
        ``matvecs`` for iterative methods), per-block details under ``"blocks"``.
    """

    electron: Doublet
    hole: Doublet
    electron_levels: np.ndarray
    hole_levels: np.ndarray
    sigma: float
    n_below: int | None
    stats: dict = field(default_factory=dict)


def available_methods() -> tuple[str, ...]:
    """Methods usable in this environment (``primme`` only if the optional extra is installed)."""
    out = ["shift-invert"]
    try:
        import primme  # noqa: F401

        out.append("primme")
    except ImportError:
        pass
    return tuple(out)


def time_reverse(v: np.ndarray) -> np.ndarray:
    """Θv = (1_orb ⊗ −iσ_y) v* for vectors in orbital-major, spin-minor order; shape preserved."""
    v = np.asarray(v)
    out = np.empty_like(v)
    out[0::2] = -np.conj(v[1::2])
    out[1::2] = np.conj(v[0::2])
    return out


def _group_ordering(H: sp.csr_array, groups: np.ndarray) -> np.ndarray:
    """Nested-dissection permutation (METIS) of the group graph, expanded to matrix indices."""
    import pymetis

    ng = int(groups.max()) + 1
    coo = H.tocoo()
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
    return _group_ordering(H, np.arange(H.shape[0], dtype=np.int64) // n_orb)


#: Calibration of :func:`estimate_memory_gb` (benchmarks/README.md: CsPbI3 sp3d5s* cubes, 6–16 cells
#: shift-invert on C4z×P blocks, 12–26 cells PRIMME; the estimate is 5–30 % above the measured peak RSS).
#: nnz(L+U) ≈ _FILL_A · nnz_b · (m / 1e4)^_FILL_B per block of dimension m (measured within ±10 %).
_FILL_A = 9.0
_FILL_B = 0.5
#: Bytes of resident memory per nnz(L+U) (value 16 B + index 4 B + SuperLU workspace and copies).
_BYTES_PER_LU = 60.0
#: Resident bytes per non-zero of H0 for everything kept besides the LU (H0, 3 M, 3 J, the
#: symmetry isometries and blocks, the permuted copy being factorised).
_BYTES_PER_NNZ = 240.0
#: Interpreter + NumPy/SciPy/numba baseline (GB).
_BASE_GB = 0.22


def estimate_memory_gb(n_states: int, nnz: int, *, method: str = "shift-invert", n_blocks: float = 8,
                       n_vectors: int = 40) -> float:
    """Rough peak resident memory (GB) of one nanocrystal run, calibrated on this project's matrices.

    Parameters
    ----------
    n_states, nnz : int
        Dimension and non-zeros of the full H0.
    method : str, optional
        ``"shift-invert"`` (one block LU alive at a time) or an iterative method.
    n_blocks : float, optional
        n / (largest block dimension): 8 with C4z × P blocks, 2 with parity only, 1 without symmetry.
    n_vectors : int, optional
        Work vectors of an iterative solver (basis + block work space).

    Returns
    -------
    float
        Estimate in GB (10⁹ bytes).
    """
    base = _BASE_GB + (_BYTES_PER_NNZ * nnz + 6 * 16.0 * n_states) / 1e9
    m = n_states / n_blocks
    if method == "shift-invert":
        lu = _FILL_A * (nnz / n_blocks) * max(m / 1e4, 1.0) ** _FILL_B
        return base + _BYTES_PER_LU * lu / 1e9
    return base + n_vectors * 16.0 * m / 1e9


def _available_gb() -> float:
    try:
        import psutil

        return psutil.virtual_memory().available / 1e9
    except ImportError:  # pragma: no cover
        return float("inf")


# --------------------------------------------------------------------------------------------------
# Per-block solvers. Each returns (E_above (ka,), V_above (m, ka), E_below (kb,), V_below (m, kb), info)
# with energies in eV sorted by distance from sigma.
# --------------------------------------------------------------------------------------------------


def _start_vector(m: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(np.complex128)


def factor_ldl(A, perm: np.ndarray, what: str = "H - sigma"):
    """Sparse LU of the Hermitian matrix ``A`` in the order ``perm``, without pivoting.

    SuperLU with ``permc_spec="NATURAL"``, ``diag_pivot_thresh=0`` and ``SymmetricMode`` on
    ``A[perm][:, perm]`` is an LDLᴴ in disguise, so the number of negative pivots is the inertia
    (number of negative eigenvalues) of ``A`` (Sylvester). Used by the ETB and the k·p solvers.

    Parameters
    ----------
    A : sparse matrix, complex128, shape (m, m)
        Hermitian; dropped from this frame before the factorisation.
    perm : ndarray of int64, shape (m,)
        Fill-reducing order (e.g. :func:`nd_ordering`).
    what : str, optional
        Name of the matrix in the error message.

    Returns
    -------
    lu : scipy.sparse.linalg.SuperLU
    solve : callable
        ``solve(x)`` = A⁻¹x in the original order, x of shape (m,) or (m, r).
    n_negative : int or None
        Negative pivots; None if SuperLU pivoted after all (then no inertia).

    Raises
    ------
    SolverError
        If the factorisation fails (singular, out of memory).
    """
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


def _solve_shift_invert(Hb, groups, shifts, k, tol, seed, check_inertia):
    """ARPACK on (H_b − s)⁻¹: 'LA' at the electron shift, 'SA' at the hole shift (one LU if equal)."""
    m = Hb.shape[0]
    s_h, s_e = shifts
    info: dict = {"factor_s": 0.0, "eigs_s": 0.0, "lu_nnz": 0, "n_below": None}
    t0 = time.perf_counter()
    perm = _group_ordering(Hb, groups)
    info["ordering_s"] = time.perf_counter() - t0
    count = {"n": 0}
    v0 = _start_vector(m, seed)
    ncv = min(m - 1, max(2 * k + 1, 16))
    sides = [(s_e, ("LA", "SA"))] if s_e == s_h else [(s_e, ("LA",)), (s_h, ("SA",))]
    res = {}
    below = []
    for shift, whichs in sides:
        t1 = time.perf_counter()
        lu, solve_lu, neg = factor_ldl(Hb - shift * sp.eye_array(m, format="csr"), perm)
        t2 = time.perf_counter()
        info["factor_s"] += t2 - t1
        info["lu_nnz"] = max(info["lu_nnz"], int(lu.L.nnz + lu.U.nnz))
        if check_inertia and neg is not None:
            below.append(neg)

        def solve(x, solve_lu=solve_lu):
            count["n"] += 1
            return solve_lu(x)

        op = spla.LinearOperator((m, m), matvec=solve, dtype=np.complex128)
        for which in whichs:
            try:
                mu, vec = spla.eigsh(op, k=k, which=which, v0=v0, tol=tol, ncv=ncv, maxiter=5000)
            except spla.ArpackNoConvergence as exc:
                raise SolverError(f"ARPACK did not converge for a block of {m} states: {exc}") from None
            res[which] = (shift + 1.0 / mu, vec)
        del lu, solve_lu, solve, op
        info["eigs_s"] += time.perf_counter() - t2
    info["solves"] = count["n"]
    if len(below) == len(sides):
        # Every shift must see the same count below it: otherwise levels lie between the shifts.
        info["n_below"] = below[0] if len(set(below)) == 1 else -1
    (E_e, vec_e), (E_h, vec_h) = res["LA"], res["SA"]
    return E_e, vec_e, E_h, vec_h, info


_PREC_FLOOR = 0.3


def _solve_primme(Hb, shifts, k, tol_abs, seed, v0_e=None, v0_h=None):
    import primme

    m = Hb.shape[0]
    count = {"n": 0}

    def mv(x):
        count["n"] += x.shape[1] if x.ndim == 2 else 1
        return Hb @ x

    op = spla.LinearOperator((m, m), matvec=mv, matmat=mv, dtype=np.complex128)
    norm = float(np.max(np.asarray(abs(Hb).sum(axis=1)).ravel()))  # ‖H‖_inf ≥ ‖H‖_2
    diag = np.real(Hb.diagonal())
    tol = tol_abs / norm
    out = []
    info: dict = {"norm_estimate_eV": norm}
    for which, v0, sigma in (("CGT", v0_e, shifts[1]), ("CLT", v0_h, shifts[0])):
        # Jacobi preconditioner (diag(H_b) − σ)⁻¹, |·| floored at 0.3 eV: 2.5× fewer matvecs than
        # none at 5.6 k states, cheaper than the exact on-site-block inverse (same count, slower).
        d = diag - sigma
        d = np.where(np.abs(d) < _PREC_FLOOR, np.where(d < 0, -_PREC_FLOOR, _PREC_FLOOR), d)
        dinv = (1.0 / d).astype(np.complex128)

        def prec(x, dinv=dinv):
            return x * (dinv[:, None] if x.ndim == 2 else dinv)

        pre = spla.LinearOperator((m, m), matvec=prec, matmat=prec, dtype=np.complex128)
        c0 = count["n"]
        t = time.perf_counter()
        if v0 is None:
            v0 = _start_vector(m, seed)[:, None]
        w, V, st = primme.eigsh(op, k=k, sigma=sigma, which=which, v0=v0, tol=tol, maxiter=200000,
                                method="PRIMME_DEFAULT_MIN_TIME", return_stats=True, OPinv=pre)
        info[f"{which}_matvecs"] = count["n"] - c0
        info[f"{which}_s"] = time.perf_counter() - t
        out.append((np.asarray(w, dtype=float), V))
    info["matvecs"] = count["n"]
    (E_e, V_e), (E_h, V_h) = out
    return E_e, V_e, E_h, V_h, info


def _doublet_from(H0, block: ParityBlock, vec: np.ndarray) -> Doublet:
    """Lift ψ to the full space, complete it with Θψ, orthonormalise, and measure residuals on H0."""
    v = np.asarray(block.lift(vec[:, None]))[:, 0]
    Qf, _ = np.linalg.qr(np.column_stack([v, time_reverse(v)]))
    HQ = H0 @ Qf
    Hs = Qf.conj().T @ HQ
    ev, U = np.linalg.eigh(0.5 * (Hs + Hs.conj().T))
    V = np.ascontiguousarray(Qf @ U)
    HV = HQ @ U
    res = float(np.max(np.linalg.norm(HV - V * ev[None, :], axis=0)))
    return Doublet(energy=float(ev.mean()), vectors=V, residual=res, splitting=float(abs(ev[1] - ev[0])),
                   parity=block.parity)


def _choose_method(method, n, nnz, n_blocks, max_memory_gb):
    """Resolve ``"auto"`` and check the memory estimate; ``n_blocks`` = n / largest block size."""
    if method not in METHODS:
        raise InputError(f"unknown solver method {method!r} (choose from {', '.join(METHODS)})")
    est_si = estimate_memory_gb(n, nnz, method="shift-invert", n_blocks=n_blocks)
    if method == "auto":
        have_primme = "primme" in available_methods()
        if est_si <= max_memory_gb and (n / n_blocks <= _SI_MAX_BLOCK or not have_primme):
            return "shift-invert", est_si
        method = "primme" if have_primme else "shift-invert"
    if method == "primme" and "primme" not in available_methods():
        raise SolverError("method 'primme' needs the optional extra: pip install 'perovskite-tb[fast]'")
    est = est_si if method == "shift-invert" else estimate_memory_gb(n, nnz, method=method, n_blocks=n_blocks)
    if est > max_memory_gb:
        raise SolverError(
            f"{method} solve of {n} states ({nnz} non-zeros) needs an estimated {est:.1f} GB, more than "
            f"the {max_memory_gb:.1f} GB allowed (80 % of available RAM by default); "
            + ("install the optional iterative solver (pip install 'perovskite-tb[fast]', method='primme') "
               "or use a smaller NC" if method == "shift-invert" else "use a smaller NC")
        )
    return method, est


#: Largest block dimension that ``method="auto"`` still solves by shift-invert when PRIMME is
#: installed (16 cells: 43 k; at 20 cells, 83 k-state blocks, PRIMME took 244 s against 441 s;
#: benchmarks/README.md).
_SI_MAX_BLOCK = 50_000


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
    positions: np.ndarray | None = None,
    method: str = "auto",
    symmetry: str = "auto",
    edge_shifts: tuple[float, float] | None = None,
    warm_start: "BandEdges | None" = None,
) -> BandEdges:
    """Lowest electron and highest hole Kramers doublets near the shift σ.

    Parameters
    ----------
    H0 : scipy.sparse.csr_array, complex128, shape (n, n)
        Hermitian zero-field Hamiltonian (eV).
    sigma : float
        Shift inside the gap (eV); must not be an eigenvalue.
    n_orb : int
        Spin-orbitals per atom (for the ordering and the orbital parities).
    n_fill : int, optional
        Expected number of states below σ; checked against the inertia if given (shift-invert).
    k : int, optional
        Levels per side and block for shift-invert (default 4); the iterative methods use 2 per
        side and block (the doublet; the other block supplies the isolation check).
    tol : float, optional
        ARPACK relative tolerance (shift-invert).
    residual_tol, kramers_tol : float, optional
        Accepted ‖Hv − Ev‖ and doublet splitting (eV).
    check_inertia : bool, optional
        Count the states below σ from diag(U) (shift-invert only; default True).
    max_memory_gb : float, optional
        Refuse (SolverError) if :func:`estimate_memory_gb` of the chosen method exceeds this;
        default: 80 % of the available RAM.
    seed : int, optional
        Seed of the start vectors (reproducible matvec counts).
    positions : ndarray, shape (n_sites, 3), optional
        Atom positions (nm) about the centre; if given, the solve runs on symmetry blocks (see
        ``symmetry``), for whichever operations leave the structure invariant.
    symmetry : {"auto", "inversion", "none"}, optional
        ``"auto"``: C4z (double group) and inversion, 4 distinct blocks of n/8 for a cube (the other
        4 are their Kramers partners); ``"inversion"``: two parity blocks of n/2; ``"none"``.
    method : {"auto", "shift-invert", "primme"}, optional
        ``"auto"``: shift-invert while the largest symmetry block is ≤ 50 k states (or always,
        without PRIMME) and its memory estimate fits, else PRIMME if installed; otherwise
        SolverError naming the size and the estimate.
    edge_shifts : (float, float), optional
        Shifts (σ_h, σ_e) close to the expected HOMO (from above) and LUMO (from below), e.g. the
        bulk band edges ∓ a margin (confinement only pushes the NC levels outward). Shift-invert then
        factorises twice per block; the inertia at both shifts must equal ``n_fill`` — otherwise the
        solve is redone at σ. Convergence is several times faster than from mid-gap.
    warm_start : BandEdges, optional
        A previous result for the same structure (e.g. another temperature): its doublets seed the
        iterative solvers.

    Returns
    -------
    BandEdges

    Raises
    ------
    SolverError
        Factorisation failed, memory estimate too large, no convergence, or residuals too large.
    DegeneracyError
        A band-edge level is not a Kramers doublet, the inertia disagrees with ``n_fill`` (in-gap
        states), or the edge doublet is not isolated from the next level found.
    """
    n = H0.shape[0]
    if not math.isfinite(sigma):
        raise SolverError(f"shift sigma must be finite, got {sigma} eV")
    if edge_shifts is not None:
        s_h, s_e = (float(x) for x in edge_shifts)
        if not (math.isfinite(s_h) and math.isfinite(s_e) and s_h <= s_e):
            raise InputError(f"edge_shifts must be finite (sigma_h, sigma_e) with sigma_h <= sigma_e, got {edge_shifts}")
        shifts = (s_h, s_e)
    else:
        shifts = (float(sigma), float(sigma))
    args = dict(sigma=sigma, n_orb=n_orb, n_fill=n_fill, k=k, tol=tol, residual_tol=residual_tol,
                kramers_tol=kramers_tol, check_inertia=check_inertia, max_memory_gb=max_memory_gb, seed=seed,
                positions=positions, method=method, symmetry=symmetry, warm_start=warm_start)
    t0 = time.perf_counter()
    blocks: tuple[ParityBlock, ...]
    ops = {"auto": ("C4z", "P"), "inversion": ("P",), "none": ()}.get(symmetry)
    if ops is None:
        raise InputError(f"unknown symmetry {symmetry!r} (auto, inversion, none)")
    if positions is not None and ops:
        blocks = symmetry_blocks(positions, n_orb, ops=ops)
    else:
        blocks = (ParityBlock(0, None, np.arange(n, dtype=np.int64) // n_orb),)
    if max_memory_gb is None:
        max_memory_gb = 0.8 * _available_gb()
    n_eff = max(b.size for b in blocks)
    method, est = _choose_method(method, n, int(H0.nnz), n / n_eff, max_memory_gb)
    if method == "primme":
        # No inertia check to validate shifts near the edges, and JD with the Jacobi preconditioner
        # gains nothing from them (5057 vs 5240 matvecs at 8 cells): target from σ.
        shifts = (float(sigma), float(sigma))
    stats: dict = {"n_states": n, "nnz": int(H0.nnz), "method": method, "memory_estimate_GB": est,
                   "shifts": list(shifts),
                   "n_blocks": len(blocks), "symmetry": [b.label for b in blocks], "blocks": []}
    Hbs = [b.restrict(H0) for b in blocks]
    for blk, Hb in zip(blocks, Hbs):
        if blk.Q is None:
            continue
        # H0 must map the block subspace into itself: probe with one random vector per block.
        x = blk.Q @ _start_vector(blk.size, seed)
        y = H0 @ x
        leak = float(np.linalg.norm(y - blk.Q @ (blk.Q.conj().T @ y)) / np.linalg.norm(x))
        if leak > 1e-9:
            raise SolverError(f"H0 does not commute with the symmetry {blk.label} (leak {leak:.1e} eV)")
    t1 = time.perf_counter()
    stats["symmetry_s"] = t1 - t0
    cand_e, cand_h = [], []  # (energy, block index, block vector)
    n_below_total = 0 if (method == "shift-invert" and check_inertia) else None
    for bi, (blk, Hb) in enumerate(zip(blocks, Hbs)):
        tb = time.perf_counter()
        if method == "shift-invert":
            # Blocks without Kramers pairs (weight 2) hold each doublet once: k/2 levels suffice.
            kb = max(2, k // blk.weight)
            E_e, V_e, E_h, V_h, info = _solve_shift_invert(Hb, blk.groups, shifts, kb, tol, seed + bi, check_inertia)
            if n_below_total is not None:
                if info["n_below"] is None:
                    n_below_total = None
                elif info["n_below"] < 0 or n_below_total < 0:
                    n_below_total = -1  # the shifts see different counts: levels between them
                else:
                    n_below_total += blk.weight * info["n_below"]
        else:
            tol_abs = 0.05 * residual_tol
            v0e = v0h = None
            if warm_start is not None and warm_start.electron.vectors.shape[0] == n:
                v0e = _warm(blk, warm_start.electron)
                v0h = _warm(blk, warm_start.hole)
            E_e, V_e, E_h, V_h, info = _solve_primme(Hb, shifts, 2, tol_abs, seed + bi, v0e, v0h)
        info.update(parity=blk.parity, label=blk.label, size=blk.size, nnz=int(Hb.nnz),
                    seconds=time.perf_counter() - tb)
        stats["blocks"].append(info)
        cand_e += [(float(E), bi, V_e[:, j]) for j, E in enumerate(E_e)]
        cand_h += [(float(E), bi, V_h[:, j]) for j, E in enumerate(E_h)]
    t2 = time.perf_counter()
    if n_fill is not None and n_below_total is not None and n_below_total != n_fill:
        if edge_shifts is not None:  # a band edge lies beyond its shift: redo from mid-gap
            out = band_edges(H0, **args)
            out.stats["edge_shifts_rejected"] = [float(x) for x in edge_shifts]
            return out
        raise DegeneracyError(
            f"{n_below_total} states lie below sigma = {sigma:.4f} eV but {n_fill} are filled: "
            "the gap contains surface states or sigma is outside the gap"
        )
    if (not cand_e or not cand_h or min(c[0] for c in cand_e) < shifts[1]
            or max(c[0] for c in cand_h) > shifts[0]):
        raise DegeneracyError("could not find levels on both sides of sigma (is sigma in the gap?)")
    cand_e.sort(key=lambda c: c[0])
    cand_h.sort(key=lambda c: -c[0])
    e = _doublet_from(H0, blocks[cand_e[0][1]], cand_e[0][2])
    h = _doublet_from(H0, blocks[cand_h[0][1]], cand_h[0][2])
    lev_e = np.array([c[0] for c in cand_e])
    lev_h = np.array([c[0] for c in cand_h])
    for name, d, lev in (("electron", e, lev_e), ("hole", h, lev_h)):
        if d.residual > residual_tol:
            raise SolverError(f"{name} doublet residual {d.residual:.2e} eV exceeds {residual_tol:.1e} eV")
        if d.splitting > kramers_tol:
            raise DegeneracyError(f"{name} level is not a Kramers doublet: split by {d.splitting:.2e} eV at B = 0")
        nxt = [x for x in lev if abs(x - d.energy) > 1e-6]
        if nxt and abs(nxt[0] - d.energy) < 10 * kramers_tol:
            raise DegeneracyError(f"{name} doublet at {d.energy:.6f} eV is not isolated from the next level")
    t3 = time.perf_counter()
    blk_stats = stats["blocks"]
    stats.update(
        solve_s=t2 - t1, doublet_s=t3 - t2, total_s=t3 - t0,
        factor_s=sum(b.get("factor_s", 0.0) for b in blk_stats),
        eigs_s=sum(b.get("eigs_s", b.get("seconds", 0.0)) for b in blk_stats),
        solves=sum(b.get("solves", 0) for b in blk_stats),
        matvecs=sum(b.get("matvecs", 0) for b in blk_stats),
        lu_nnz=sum(b.get("lu_nnz", 0) for b in blk_stats),
    )
    return BandEdges(electron=e, hole=h, electron_levels=np.sort(lev_e), hole_levels=np.sort(lev_h)[::-1],
                     sigma=float(sigma), n_below=n_below_total, stats=stats)


def _warm(block: ParityBlock, d: Doublet) -> np.ndarray:
    """Project a previous doublet onto a block (columns with negligible weight are dropped)."""
    V = d.vectors if block.Q is None else block.Q.conj().T @ d.vectors
    keep = np.linalg.norm(V, axis=0) > 1e-3
    if not keep.any():
        return None
    return np.ascontiguousarray(V[:, keep][:, :1])
