r"""Registry of band-edge eigensolver back-ends: one interface for ETB and k·p, selected by name.

Every back-end solves one symmetry block :math:`H_b c = E S_b c` (:math:`S_b` = None: standard problem)
for the ``k`` levels just above the electron shift σ_e and just below the hole shift σ_h, and says
whether it proved the count of states below the shifts (inertia). Measurements behind the choices:
``benchmarks/README.md``.

``"shift-invert"`` (reference; inertia)
    :math:`H_b-\sigma S_b` is factorised once per shift by :func:`perovskite_tb.eigen.ldl.factor_ldl`
    in a METIS nested-dissection order; ARPACK finds the largest (electron side) and smallest (hole
    side) eigenvalues of :math:`(H_b-\sigma)^{-1}` (standard problem) or runs its generalised
    shift-invert mode with the inner product of :math:`S_b`. The signs of the pivots give the inertia.
``"dense"`` (inertia)
    LAPACK on the whole block: every eigenvalue, hence the exact count below each shift. For small
    problems (k·p bases up to 1800 states).
``"primme"`` (optional extra ``perovskite-tb[fast]``; no inertia; standard problems only)
    Jacobi–Davidson JDQMR with targets "closest greater / lower than σ", k = 2 per block and side,
    for blocks whose LU is too slow or too large. The residual, Kramers and isolation checks run;
    shift-invert is its reference in the tests. (ARPACK on the folded operator :math:`(H-\sigma)^2`
    was rejected as a SciPy-only fallback: 4–11 k matvecs per block at 22–73 k states, and with k
    nearest σ it can return only hole-side levels.)

A new back-end is one :class:`Backend` subclass plus
:func:`perovskite_tb.eigen.registry.register_backend`; it is then accepted as ``solver=`` / ``method=``
everywhere.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from perovskite_tb.eigen.ldl import factor_ldl, factor_nnz, group_ordering, resolve_ldl_backend
from perovskite_tb.errors import SolverError

__all__ = ["BlockLevels", "SolveOptions", "Backend", "ShiftInvert", "Dense", "Primme", "estimate_memory_gb",
           "base_memory_gb", "start_vector"]


@dataclass(frozen=True)
class SolveOptions:
    """Numerical options of one band-edge solve (defaults: today's calibrated values).

    Attributes
    ----------
    k : int
        Levels per side per block for shift-invert and dense (halved on weight-2 blocks, ≥ 2).
    tol : float
        ARPACK relative tolerance.
    residual_tol, kramers_tol : float
        Accepted ‖Hv − ESv‖ and doublet splitting (eV).
    check_inertia : bool
        Count the states below the shifts (back-ends with inertia).
    max_memory_gb : float or None
        Memory budget (GB); None: 80 % of the available RAM.
    seed : int
        Seed of the start vectors (block i uses seed + i).
    ldl : str
        LDLᴴ back-end of :mod:`perovskite_tb.eigen.ldl`; ``"auto"`` (default): PARDISO for blocks of
        ≥ :data:`~perovskite_tb.eigen.ldl.PARDISO_MIN_ROWS` rows when the mkl wheel is installed, else SuperLU.
    dense_max_states : int
        ``"auto"`` diagonalises densely up to this dimension (0: never).
    workers : int or None
        Symmetry blocks solved at the same time in threads of this process (each factorisation and
        BLAS then on one thread); None: :func:`perovskite_tb._system.thread_budget`, reduced to what the
        memory budget holds. The result does not depend on it.
    prove_levels : bool
        Per block and side, count with one more LDLᵀ the levels between the gap shift and a shift
        placed between the last two distinct levels found, and require the count to equal the levels
        found there (:mod:`perovskite_tb.eigen.spectrum`); ``info["cut_e"]`` / ``info["cut_h"]`` give
        the shifts (eV) up to which the block's levels are complete. Set by ``band_edges(levels=K > 1)``.
    """

    k: int = 4
    tol: float = 1e-12
    residual_tol: float = 1e-8
    kramers_tol: float = 1e-8
    check_inertia: bool = True
    max_memory_gb: float | None = None
    seed: int = 12345
    ldl: str = "auto"
    dense_max_states: int = 0
    workers: int | None = None
    prove_levels: bool = False


#: A proof shift lies between two found levels at least this far apart (eV), so it is never a level
#: itself and never splits a multiplet (:data:`perovskite_tb.eigen.spectrum.MULTIPLET_TOL_EV`).
PROOF_GAP_EV = 2e-6
#: ARPACK reruns with twice the levels when the inertia finds a level it missed, at most this often.
PROOF_RETRIES = 2
#: Blocks up to this dimension fall back to LAPACK when the proof still fails after the reruns.
DENSE_PROOF_MAX = 8000


def proof_cut(E: np.ndarray, shift: float, above: bool) -> tuple[float | None, int]:
    """Shift between the last two distinct levels found on one side, and the levels it encloses.

    Parameters
    ----------
    E : ndarray of float64
        Levels found above (``above``) or below the gap shift ``shift`` (eV).
    shift : float
        Gap shift (eV).
    above : bool
        Electron side (levels above ``shift``).

    Returns
    -------
    (float or None, int)
        The cut (eV) and the number of levels between ``shift`` and it; (None, 0) if no two
        distinct levels were found.
    """
    d = np.sort(np.abs(np.asarray(E, dtype=float) - shift))
    for j in range(d.size - 1, 0, -1):
        if d[j] - d[j - 1] > PROOF_GAP_EV:
            mid = 0.5 * (d[j] + d[j - 1])
            return (shift + mid if above else shift - mid), j
    return None, 0


@dataclass
class BlockLevels:
    """Levels of one block next to the shifts (eV), sorted by distance from their shift.

    ``E_e`` (ka,), ``V_e`` (m, ka) above σ_e; ``E_h`` (kb,), ``V_h`` (m, kb) below σ_h; ``n_below`` the
    states below the shifts (−1 if the two shifts see different counts, None if not counted).
    """

    E_e: np.ndarray
    V_e: np.ndarray
    E_h: np.ndarray
    V_h: np.ndarray
    n_below: int | None
    info: dict = field(default_factory=dict)


def start_vector(m: int, seed: int) -> np.ndarray:
    """Reproducible complex start vector of length m (complex128)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(m) + 1j * rng.standard_normal(m)).astype(np.complex128)


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


def base_memory_gb(n_states: int, nnz: int) -> float:
    """The part of :func:`estimate_memory_gb` that does not depend on the solver (GB): interpreter,
    H0, M, J, symmetry isometries and work vectors."""
    return _BASE_GB + (_BYTES_PER_NNZ * nnz + 6 * 16.0 * n_states) / 1e9


def estimate_memory_gb(n_states: int, nnz: int, *, method: str = "shift-invert", n_blocks: float = 8,
                       n_vectors: int = 40) -> float:
    """Rough peak resident memory (GB) of one nanocrystal run, calibrated on this project's matrices.

    Parameters
    ----------
    n_states, nnz : int
        Dimension and non-zeros of the full H0.
    method : str, optional
        ``"shift-invert"`` (one block LU alive at a time), ``"dense"`` (one dense block, its
        eigenvectors and LAPACK work space) or an iterative method.
    n_blocks : float, optional
        n / (largest block dimension): 8 with C4z × P blocks, 2 with parity only, 1 without symmetry.
    n_vectors : int, optional
        Work vectors of an iterative solver (basis + block work space).

    Returns
    -------
    float
        Estimate in GB (10⁹ bytes).
    """
    base = base_memory_gb(n_states, nnz)
    m = n_states / n_blocks
    if method == "shift-invert":
        lu = _FILL_A * (nnz / n_blocks) * max(m / 1e4, 1.0) ** _FILL_B
        return base + _BYTES_PER_LU * lu / 1e9
    if method == "dense":
        return base + 4 * 16.0 * m * m / 1e9
    return base + n_vectors * 16.0 * m / 1e9


class Backend:
    """Interface of a band-edge back-end (subclass and :func:`perovskite_tb.eigen.registry.register_backend`).

    Attributes
    ----------
    name : str
    inertia : bool
        Counts the states below the shifts (proof that the levels found are the band edges).
    generalized : bool
        Accepts an overlap S.
    edge_shifts : bool
        Uses shifts next to the band edges (else every side is targeted from σ).
    warm_start : bool
        Uses start vectors from a previous solve.
    """

    name = ""
    inertia = False
    generalized = False
    edge_shifts = True
    warm_start = False

    def available(self) -> bool:
        """True if the back-end can run in this environment."""
        return True

    def memory_gb(self, n: int, nnz: int, n_blocks: float) -> float:
        """Peak memory estimate (GB) of a solve of dimension n with nnz non-zeros."""
        return estimate_memory_gb(n, nnz, method=self.name, n_blocks=n_blocks)

    def solve(self, Hb, Sb, block, shifts, opts: SolveOptions, seed: int, v0=(None, None)) -> BlockLevels:
        """Levels of one block next to ``shifts`` = (σ_h, σ_e) (eV)."""
        raise NotImplementedError


def _block_k(opts: SolveOptions, block) -> int:
    # Blocks without Kramers pairs (weight 2) hold each doublet once: k/2 levels suffice.
    return max(2, opts.k // block.weight)


class ShiftInvert(Backend):
    """ARPACK on :math:`(H_b-\\sigma S_b)^{-1}` with an LDLᴴ (inertia) per shift; one LU if σ_h = σ_e."""

    name = "shift-invert"
    inertia = True
    generalized = True

    def solve(self, Hb, Sb, block, shifts, opts, seed, v0=(None, None)):
        m = Hb.shape[0]
        s_h, s_e = shifts
        k = _block_k(opts, block)
        info: dict = {"factor_s": 0.0, "eigs_s": 0.0, "lu_nnz": 0, "n_below": None}
        t0 = time.perf_counter()
        real = not np.iscomplexobj(Hb.data)
        info["ldl"] = resolve_ldl_backend(opts.ldl, m, real and (Sb is None or not np.iscomplexobj(Sb.data)))
        # PARDISO orders by itself; the METIS order of the block graph is for SuperLU.
        perm = None if info["ldl"] == "pardiso" else group_ordering(Hb if Sb is None else abs(Hb) + abs(Sb),
                                                                      block.groups)
        info["ordering_s"] = time.perf_counter() - t0
        count = {"n": 0}
        x0 = start_vector(m, seed).real.copy() if real else start_vector(m, seed)
        info["real"] = real
        sides = [(s_e, ("LA", "SA"))] if s_e == s_h else [(s_e, ("LA",)), (s_h, ("SA",))]
        res, below, prev, at = {}, [], None, {"shift": None}

        def factor(shift):
            """LDLᵀ of H_b − shift S_b: (handle, solve, negative pivots); PARDISO reuses its analysis."""
            nonlocal prev
            t1 = time.perf_counter()
            A = Hb - shift * (sp.eye_array(m, format="csr") if Sb is None else Sb)
            if prev is not None:  # same pattern: PARDISO reuses its ordering and symbolic analysis
                out = (prev, prev.solve, prev.refactor(A))
            else:
                out = factor_ldl(A, perm, "H - sigma" if Sb is None else "H - sigma S", info["ldl"])
            prev = out[0] if hasattr(out[0], "refactor") else None
            at["shift"] = shift if prev is not None else None
            del A
            info["factor_s"] += time.perf_counter() - t1
            info["lu_nnz"] = max(info["lu_nnz"], factor_nnz(out[0]))
            return out

        for shift, whichs in sides:
            lu, solve_lu, neg = factor(shift)
            if opts.check_inertia and neg is not None:
                below.append(neg)
            for which in whichs:
                kk = k
                for attempt in range(PROOF_RETRIES + 1):
                    if at["shift"] is not None and at["shift"] != shift:  # a proof replaced the reused factor
                        lu, solve_lu, neg = factor(shift)
                    t2 = time.perf_counter()
                    res[which] = self._eigs(Hb, Sb, solve_lu, shift, which, kk, x0, opts.tol, count, real)
                    info["eigs_s"] += time.perf_counter() - t2
                    if not opts.prove_levels:
                        break
                    if self._prove(res[which][0], shift, which == "LA", neg, factor, info):
                        break
                    if attempt == PROOF_RETRIES or kk >= m - 2:
                        if m <= DENSE_PROOF_MAX:  # e.g. a flat, many-fold degenerate level deep in a tiny NC's
                            # band, whose copies Lanczos does not resolve: LAPACK on the block sees them all
                            del lu, solve_lu
                            out = Dense().solve(Hb, Sb, block, shifts, opts, seed, v0)
                            out.info.update(dense_fallback=True, factor_s=info["factor_s"],
                                            eigs_s=info["eigs_s"] + out.info["eigs_s"], ldl=info["ldl"])
                            return out
                        raise SolverError(f"the inertia finds levels of a {m}-state block that ARPACK missed "
                                          f"with {kk} levels per side: the spectrum cannot be proved complete")
                    kk = min(2 * kk, m - 2)
            del lu, solve_lu
        del prev
        info["solves"] = count["n"]
        if len(below) == len(sides):
            # Every shift must see the same count below it: otherwise levels lie between the shifts.
            info["n_below"] = below[0] if len(set(below)) == 1 else -1
        (E_e, V_e), (E_h, V_h) = res["LA"], res["SA"]
        return BlockLevels(E_e, V_e, E_h, V_h, info["n_below"], info)

    @staticmethod
    def _eigs(Hb, Sb, solve_lu, shift, which, k, x0, tol, count, real):
        m = Hb.shape[0]

        def solve(x):
            count["n"] += 1
            return solve_lu(x)

        op = spla.LinearOperator((m, m), matvec=solve, dtype=np.float64 if real else np.complex128)
        return _arpack(Hb, Sb, op, shift, which, k, x0, tol, min(m - 1, max(2 * k + 1, 16)))

    @staticmethod
    def _prove(E, shift, above, neg, factor, info) -> bool:
        """Inertia proof of the levels found on one side (:func:`proof_cut`); records the cut in ``info``."""
        key = "cut_e" if above else "cut_h"
        cut, j = proof_cut(E, shift, above)
        if cut is None or neg is None:
            info[key] = None
            return True  # nothing provable here: the spectrum reports itself unproved
        neg_cut = factor(cut)[2]
        if neg_cut is None:
            info[key] = None
            return True
        found = (neg_cut - neg) if above else (neg - neg_cut)
        info[f"{key}_count"] = (int(found), int(j))
        if found != j:
            return False
        info[key] = float(cut)
        return True


def _arpack(Hb, Sb, op, shift, which, k, v0, tol, ncv):
    """k eigenpairs next to ``shift``: 'LA' above, 'SA' below (energies in eV)."""
    m = Hb.shape[0]
    try:
        if Sb is None:  # standard problem: ARPACK on the operator (H_b − σ)⁻¹ itself
            mu, vec = spla.eigsh(op, k=k, which=which, v0=v0, tol=tol, ncv=ncv, maxiter=5000)
            return shift + 1.0 / mu, vec
        # generalised problem: ARPACK shift-invert mode with the S_b inner product
        E, vec = spla.eigsh(Hb, k=min(k, m - 2), M=Sb, sigma=shift, which=which, OPinv=op, tol=tol, v0=v0,
                            ncv=ncv, maxiter=5000)
        return E, vec
    except spla.ArpackNoConvergence as exc:
        raise SolverError(f"ARPACK did not converge for a block of {m} states: {exc}") from None


class Dense(Backend):
    """LAPACK ``eigh`` of the whole block (all levels: exact count below each shift)."""

    name = "dense"
    inertia = True
    generalized = True

    def solve(self, Hb, Sb, block, shifts, opts, seed, v0=(None, None)):
        s_h, s_e = shifts
        k = _block_k(opts, block)
        t0 = time.perf_counter()
        E, V = sla.eigh(Hb.toarray(), None if Sb is None else Sb.toarray())
        lo = int(np.searchsorted(E, s_h, side="left"))
        hi = int(np.searchsorted(E, s_e, side="left"))
        up = np.arange(hi, min(hi + k, E.size))
        dn = np.arange(lo - 1, max(lo - 1 - k, -1), -1)
        n_below = (lo if lo == hi else -1) if opts.check_inertia else None
        info = {"eigs_s": time.perf_counter() - t0, "n_below": n_below}
        if opts.prove_levels:  # every eigenvalue is known: the levels are complete up to the next one
            info["cut_e"] = 0.5 * (E[up[-1]] + E[up[-1] + 1]) if up.size and up[-1] + 1 < E.size else np.inf
            info["cut_h"] = 0.5 * (E[dn[-1]] + E[dn[-1] - 1]) if dn.size and dn[-1] > 0 else -np.inf
        return BlockLevels(E[up], V[:, up], E[dn], V[:, dn], n_below, info)


#: PRIMME preconditioner floor (eV): Jacobi (diag(H_b) − σ)⁻¹ with |·| ≥ 0.3 eV took 2.5× fewer
#: matvecs than none at 5.6 k states and was cheaper than the exact on-site-block inverse.
_PREC_FLOOR = 0.3


class Primme(Backend):
    """PRIMME Jacobi–Davidson, targets closest above / below σ (optional extra)."""

    name = "primme"
    edge_shifts = False  # no inertia to validate edge shifts, and JD gains nothing from them
    warm_start = True

    def available(self) -> bool:
        return importlib.util.find_spec("primme") is not None

    def solve(self, Hb, Sb, block, shifts, opts, seed, v0=(None, None)):
        import primme  # optional extra perovskite-tb[fast]: imported only when selected

        m = Hb.shape[0]
        count = {"n": 0}

        def mv(x):
            count["n"] += x.shape[1] if x.ndim == 2 else 1
            return Hb @ x

        op = spla.LinearOperator((m, m), matvec=mv, matmat=mv, dtype=np.complex128)
        norm = float(np.max(np.asarray(abs(Hb).sum(axis=1)).ravel()))  # ‖H‖_inf ≥ ‖H‖_2
        diag = np.real(Hb.diagonal())
        tol = 0.05 * opts.residual_tol / norm
        out = []
        info: dict = {"norm_estimate_eV": norm, "n_below": None}
        for which, x0, sigma in (("CGT", v0[0], shifts[1]), ("CLT", v0[1], shifts[0])):
            d = diag - sigma
            d = np.where(np.abs(d) < _PREC_FLOOR, np.where(d < 0, -_PREC_FLOOR, _PREC_FLOOR), d)
            dinv = (1.0 / d).astype(np.complex128)

            def prec(x, dinv=dinv):
                return x * (dinv[:, None] if x.ndim == 2 else dinv)

            pre = spla.LinearOperator((m, m), matvec=prec, matmat=prec, dtype=np.complex128)
            c0, t = count["n"], time.perf_counter()
            x0 = start_vector(m, seed)[:, None] if x0 is None else x0
            if not np.iscomplexobj(Hb.data):  # real block: a real start (the real part of a warm start, rotated)
                x0 = np.real(x0 * np.exp(-1j * np.angle(x0.flat[np.argmax(np.abs(x0))])))
            w, V, _ = primme.eigsh(op, k=2, sigma=sigma, which=which, v0=x0, tol=tol, maxiter=200000,
                                   method="PRIMME_DEFAULT_MIN_TIME", return_stats=True, OPinv=pre)
            info[f"{which}_matvecs"] = count["n"] - c0
            info[f"{which}_s"] = time.perf_counter() - t
            out.append((np.asarray(w, dtype=float), V))
        info["matvecs"] = count["n"]
        (E_e, V_e), (E_h, V_h) = out
        return BlockLevels(E_e, V_e, E_h, V_h, None, info)
