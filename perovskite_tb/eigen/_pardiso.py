r"""LDLᴴ factorisation of complex Hermitian indefinite sparse matrices with Intel oneMKL PARDISO.

Optional back-end for the shift-invert band-edge solver (``perovskite_tb.solver``): the PyPI ``mkl``
wheel (``pip install mkl``) ships ``libmkl_rt.so.*``, which is called here through :mod:`ctypes` —
nothing is compiled. Without the wheel :func:`is_available` returns False and nothing else here
may be called.

What is used and why (measured on the mkl 2026.2 wheel)
------------------------------------------------------
* ``pardiso`` (LP64 entry point, int32 indices and ``iparm``; PARDISO itself reports error −8 on
  32-bit overflow) with matrix type ``mtype = -4`` (complex Hermitian indefinite). Only the upper
  triangle of A is passed, as CSR with zero-based indices (``iparm(35) = 1``) and every diagonal
  entry stored. (``pardiso_64`` works for factor/solve, but ``pardiso_getdiag`` crashes on its
  handles, so the LP64 interface is used.)
* Ordering ``iparm(2) = 2``: PARDISO's own METIS nested dissection (the caller passes no
  permutation, unlike :func:`perovskite_tb.eigen.ldl.factor_ldl`).
* **Inertia.** oneMKL PARDISO fills ``iparm(22)``/``iparm(23)`` (numbers of positive/negative
  eigenvalues) only for *real* symmetric indefinite matrices (``mtype = -2``); for ``mtype = -4``
  both stay 0 in every setting tried (classic or two-level factorisation, with or without
  matching). The inertia is therefore taken from D itself: **1×1 diagonal pivoting**
  (``iparm(21) = 0``, no 2×2 Bunch–Kaufman blocks, so D is diagonal and real), ``iparm(56) = 1`` and
  ``pardiso_getdiag`` after the factorisation; n_negative = #{Re dᵢ < 0}. By Sylvester's law this
  is the inertia of A because PARDISO factorised P A Pᵀ = L D Lᴴ, a congruence — unless a pivot
  was **perturbed** (|dᵢ| < ε‖A‖ replaced by ±ε‖A‖, ε = 10⁻⁸, ``iparm(10) = 8``): the factor is
  then the one of A + δ and a sign can flip. So ``iparm(14) > 0`` (perturbed pivots) or a zero
  pivot gives ``n_negative = None``. This is the same "no pivoting within a fill-reducing order"
  LDLᴴ that :func:`perovskite_tb.eigen.ldl.factor_ldl` gets from SuperLU; it is safe for H − σ with σ
  in a gap (|eigenvalues| ≥ tens of meV against ‖A‖ ≈ 15 eV; no perturbed pivot occurred in any
  test or benchmark here). With Bunch–Kaufman (``pivoting="bunch-kaufman"``, more robust for
  matrices with small diagonals) the diagonal of D no longer gives the inertia and
  ``n_negative`` is always None (complex matrices).
* **Real symmetric blocks** (``mtype = -2``; :func:`perovskite_tb.eigen.symmetry.real_blocks` makes
  the nanocrystal blocks real): Bunch–Kaufman pivoting and PARDISO's own inertia ``iparm(22)``
  (positive) and ``iparm(23)`` (negative eigenvalues); trusted only with no perturbed pivot and
  ``iparm(22) + iparm(23) = m``. No ``iparm(56)``, so the solves keep their full speed.
* **Cost of the inertia.** ``iparm(56) = 1`` (needed for ``pardiso_getdiag``) makes every solve of
  that factor ≈ 3.5× slower (5.8 vs 1.6 ms CPU per right-hand side at a 10.7 k-state block; the
  factorisation itself is unaffected), and ``iparm(56)`` cannot be switched off between the
  analysis and the factorisation (segfault). The slowdown is an O(m) cost per solve (×3.5 at
  10.7 k states, ×1.6 at 181 k), cheaper for the band-edge loop than a second, inertia-only
  factorisation per shift (measured; benchmarks/PARDISO.md).
* The analysis can be reused for a new matrix with the same pattern (:meth:`PardisoFactor.refactor`,
  phase 22 only): H_b − σ_h after H_b − σ_e.
* When pivots were perturbed PARDISO applies two steps of iterative refinement (``iparm(8) = 0``).
  After every factorisation the relative residual of one random right-hand side is checked (one
  solve + one SpMV) and a factor whose solve is off by more than 10⁻⁸ is refused (SolverError):
  without 2×2 pivots, random weak-diagonal matrices gave residuals up to 10¹ with no perturbed
  pivot, and Bunch–Kaufman on a zero-diagonal matrix gave 10²³.
* Two-level (parallel) factorisation ``iparm(24) = 1``, parallel solve ``iparm(25) = 0``. Threads
  are MKL's OpenMP threads: per factor with ``n_threads`` (``MKL_Set_Num_Threads_Local`` around each
  call) or globally with :func:`set_num_threads` / ``MKL_NUM_THREADS``; default all cores.

References
----------
O. Schenk and K. Gärtner, "Solving unsymmetric sparse systems of linear equations with PARDISO",
Future Gener. Comput. Syst. 20, 475–487 (2004).
Intel oneAPI Math Kernel Library Developer Reference for C, "pardiso" and "pardiso iparm Parameter"
(2026.0), https://www.intel.com/content/www/us/en/docs/onemkl/developer-reference-c/2026-0/pardiso-iparm-parameter.html
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import time
import weakref
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from perovskite_tb.errors import SolverError

__all__ = [
    "is_available",
    "mkl_info",
    "set_num_threads",
    "PardisoFactor",
    "factor_ldl_pardiso",
    "PARDISO_ERRORS",
]

#: Meaning of PARDISO's ``error`` output (oneMKL Developer Reference, "pardiso").
PARDISO_ERRORS = {
    -1: "input inconsistent",
    -2: "not enough memory",
    -3: "reordering problem",
    -4: "zero pivot, numerical factorization or iterative refinement problem",
    -5: "unclassified (internal) error",
    -6: "reordering failed (nonsymmetric matrix types only)",
    -7: "diagonal matrix is singular",
    -8: "32-bit integer overflow problem",
    -9: "not enough memory for out-of-core",
    -10: "error opening out-of-core files",
    -11: "read/write error with out-of-core files",
    -12: "pardiso_64 called from a 32-bit library",
    -13: "interrupted by the mkl_progress function",
    -15: "internal error (two-level factorization with weighted matching)",
}

_MTYPE_HERMITIAN_INDEFINITE = -4
_MTYPE_REAL_SYMMETRIC_INDEFINITE = -2


# --------------------------------------------------------------------------------------------------
# Locating and loading libmkl_rt
# --------------------------------------------------------------------------------------------------


def _candidate_paths() -> list[str]:
    """``libmkl_rt.so*`` files of the installed ``mkl`` distribution, then ``sys.prefix/lib``."""
    out: list[str] = []
    env = os.environ.get("PTB_MKL_RT")
    if env:
        out.append(env)
    try:
        import importlib.metadata as md

        files = md.distribution("mkl").files or []
        for f in files:
            name = os.path.basename(str(f))
            if name.startswith("libmkl_rt.so"):
                out.append(str(f.locate()))
    except Exception:  # noqa: BLE001 - package absent or metadata unreadable: fall through
        pass
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        out += sorted(glob.glob(os.path.join(prefix, "lib", "libmkl_rt.so*")), reverse=True)
    return [os.path.realpath(p) for p in out if os.path.isfile(p)]


@lru_cache(maxsize=1)
def _lib():
    """The loaded ``libmkl_rt`` with argument types declared, or None if it cannot be loaded."""
    for path in dict.fromkeys(_candidate_paths()):
        try:
            lib = ctypes.CDLL(path)
            fn = lib.pardiso
            gd = lib.pardiso_getdiag
        except (OSError, AttributeError):
            continue
        p32 = ctypes.POINTER(ctypes.c_int32)
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p,  # pt
                       p32, p32, p32, p32, p32,  # maxfct, mnum, mtype, phase, n
                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,  # a, ia, ja
                       ctypes.c_void_p, p32, ctypes.c_void_p, p32,  # perm, nrhs, iparm, msglvl
                       ctypes.c_void_p, ctypes.c_void_p, p32]  # b, x, error
        gd.restype = None
        gd.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, p32, p32]  # pt, df, da, mnum, error
        lib.MKL_Set_Num_Threads_Local.argtypes = [ctypes.c_int]
        lib.MKL_Set_Num_Threads_Local.restype = ctypes.c_int
        lib.MKL_Set_Num_Threads.argtypes = [ctypes.c_int]
        lib.MKL_Set_Num_Threads.restype = None
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        lib.MKL_Get_Version_String.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib._ptb_path = path
        return lib
    return None


def is_available() -> bool:
    """True if ``libmkl_rt`` (from the PyPI ``mkl`` wheel) can be loaded and exports ``pardiso`` and ``pardiso_getdiag``.

    Never raises. The library is searched in the files of the installed ``mkl`` distribution
    (``importlib.metadata``), then in ``sys.prefix/lib``; ``PTB_MKL_RT`` (a path) is tried first.
    """
    try:
        return _lib() is not None
    except Exception:  # noqa: BLE001
        return False


def _require():
    lib = _lib()
    if lib is None:
        raise SolverError("PARDISO back-end unavailable: libmkl_rt.so not found (pip install mkl)")
    return lib


class _MKLVersion(ctypes.Structure):
    _fields_ = [("MajorVersion", ctypes.c_int), ("MinorVersion", ctypes.c_int), ("UpdateVersion", ctypes.c_int),
                ("PatchVersion", ctypes.c_int), ("ProductStatus", ctypes.c_char_p), ("Build", ctypes.c_char_p),
                ("Processor", ctypes.c_char_p), ("Platform", ctypes.c_char_p)]


def mkl_info() -> dict:
    """Version, library path, CPU code path and thread count of the loaded MKL.

    Returns
    -------
    dict
        ``version`` (str), ``path`` (str), ``processor`` (str, the instruction set MKL dispatches to,
        from ``mkl_get_version``), ``max_threads`` (int), ``enable_instructions`` (the
        ``MKL_ENABLE_INSTRUCTIONS`` environment variable or None).

    Raises
    ------
    SolverError
        If MKL is not available.
    """
    lib = _require()
    buf = ctypes.create_string_buffer(512)
    lib.MKL_Get_Version_String(buf, 512)
    ver = _MKLVersion()
    lib.MKL_Get_Version(ctypes.byref(ver))
    return {
        "version": buf.value.decode(errors="replace").strip(),
        "path": lib._ptb_path,
        "processor": (ver.Processor or b"").decode(errors="replace").strip(),
        "max_threads": int(lib.MKL_Get_Max_Threads()),
        "enable_instructions": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),
    }


def set_num_threads(n: int) -> None:
    """Set MKL's global thread count (``MKL_Set_Num_Threads``) for all later PARDISO calls.

    Parameters
    ----------
    n : int
        Number of OpenMP threads (≥ 1).
    """
    _require().MKL_Set_Num_Threads(int(n))


# --------------------------------------------------------------------------------------------------
# The factor handle
# --------------------------------------------------------------------------------------------------


def _call(lib, pt, mtype, phase, n, a, ia, ja, nrhs, iparm, b, x, msglvl=0) -> int:
    i32 = ctypes.c_int32
    err = i32(0)
    lib.pardiso(pt.ctypes.data, ctypes.byref(i32(1)), ctypes.byref(i32(1)), ctypes.byref(i32(mtype)),
                   ctypes.byref(i32(phase)), ctypes.byref(i32(n)),
                   None if a is None else a.ctypes.data, None if ia is None else ia.ctypes.data,
                   None if ja is None else ja.ctypes.data, None, ctypes.byref(i32(nrhs)), iparm.ctypes.data,
                   ctypes.byref(i32(msglvl)), None if b is None else b.ctypes.data,
                   None if x is None else x.ctypes.data, ctypes.byref(err))
    return int(err.value)


def _release(lib, pt, mtype, n, iparm) -> None:
    """Phase −1: free all of PARDISO's memory behind ``pt`` (idempotent: pt is zeroed by PARDISO)."""
    if lib is None or not pt.any():
        return
    _call(lib, pt, mtype, -1, n, None, None, None, 0, iparm, None, None)
    pt[:] = 0


def _error(code: int, what: str, phase: str, m: int) -> SolverError:
    meaning = PARDISO_ERRORS.get(code, "unknown error")
    return SolverError(f"PARDISO {phase} of {what} (block of {m} states) failed: error {code} ({meaning})")


def _upper_csr(A, dtype=np.complex128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper triangle of A as zero-based CSR (int32 indptr/indices, ``dtype`` data), sorted, with
    every diagonal entry stored (PARDISO requires the diagonal of symmetric types explicitly)."""
    U = sp.triu(sp.csr_array(A), format="csr")
    U.sort_indices()
    U.sum_duplicates()
    m = U.shape[0]
    if U.nnz >= 2**31 - 1:
        raise SolverError(f"upper triangle has {U.nnz} non-zeros: too many for PARDISO's 32-bit interface")
    indptr = U.indptr.astype(np.int32)
    indices = U.indices.astype(np.int32)
    data = U.data.astype(dtype, copy=False)
    first = np.full(m, -1, dtype=np.int64)
    nonempty = np.diff(indptr) > 0
    first[nonempty] = indices[indptr[:-1][nonempty]]
    missing = np.nonzero(first != np.arange(m))[0]
    if missing.size:  # insert explicit zeros on the diagonal (sorted: the diagonal is the row's first entry)
        counts = np.diff(indptr)
        counts[missing] += 1
        new_ptr = np.zeros(m + 1, dtype=np.int32)
        np.cumsum(counts, out=new_ptr[1:])
        new_idx = np.empty(new_ptr[-1], dtype=np.int32)
        new_dat = np.zeros(new_ptr[-1], dtype=dtype)
        shift = np.zeros(m, dtype=np.int64)
        shift[missing] = 1
        rows = np.repeat(np.arange(m), np.diff(indptr))
        pos = new_ptr[rows].astype(np.int64) + shift[rows] + (np.arange(indices.size) - indptr[rows])
        new_idx[pos] = indices
        new_dat[pos] = data
        new_idx[new_ptr[missing]] = missing
        indptr, indices, data = new_ptr, new_idx, new_dat
    return indptr, indices, np.ascontiguousarray(data)


class PardisoFactor:
    """A PARDISO LDLᴴ factorisation of a complex Hermitian or real symmetric (indefinite) sparse matrix.

    A complex matrix is factorised as ``mtype = -4`` with 1×1 pivots and its inertia read from D
    (``pardiso_getdiag``); a real one as ``mtype = -2`` with Bunch–Kaufman 1×1 and 2×2 pivots and the
    inertia PARDISO reports itself (``iparm(22)``, ``iparm(23)``), whose solves are not slowed.

    Construct with :func:`factor_ldl_pardiso`. PARDISO's memory is released (phase −1) by
    :meth:`free` or when the object is garbage-collected (``weakref.finalize``). Not thread-safe:
    one solve at a time per factor.

    Attributes
    ----------
    m : int
        Dimension of A.
    pivoting : str
        ``"diagonal"`` (1×1 pivots, inertia from D) or ``"bunch-kaufman"`` (complex: no inertia; real:
        inertia from ``iparm(22)``/``iparm(23)``).
    real : bool
        True for a real symmetric matrix (``mtype = -2``).
    n_negative : int or None
        Number of negative eigenvalues of A (Sylvester, from the signs of Re D); None when not
        reliable (perturbed or zero pivots, or Bunch–Kaufman pivoting).
    n_positive : int or None
        Number of positive eigenvalues, under the same conditions.
    n_perturbed : int
        ``iparm(14)``: perturbed pivots (0 ⇒ the factor is exact up to rounding).
    d : ndarray of complex128, shape (m,) or None
        Diagonal of the factor (eV for A = H − σ) in PARDISO's pivot order; None for Bunch–Kaufman.
    nnz_factor : int
        ``iparm(18)``: non-zeros of the factor L (lower triangle including the diagonal).
    mflops : int
        ``iparm(19)``: MFLOP of the numerical factorisation.
    memory_kb : dict
        ``iparm(15)`` (peak of the analysis), ``iparm(16)`` (permanent after analysis), ``iparm(17)``
        (factor + solve) in kB (1 kB = 1024 B); ``peak`` = max(iparm(15), iparm(16) + iparm(17)).
    analysis_s, factor_s : float
        Wall seconds of phase 11 (ordering, symbolic factorisation) and phase 22 (numerical).
    solves : int
        Right-hand sides solved so far.
    """

    def __init__(self, A, *, what: str = "H - sigma", pivoting: str | None = None, inertia: bool = True,
                 n_threads: int | None = None, pivot_eps_exp: int = 8, two_level: bool = True, msglvl: int = 0):
        lib = _require()
        A = sp.csr_array(A)
        self.real = not np.iscomplexobj(A.data)
        if pivoting is None:
            pivoting = "bunch-kaufman" if self.real else "diagonal"
        if pivoting not in ("diagonal", "bunch-kaufman"):
            raise SolverError(f"unknown PARDISO pivoting {pivoting!r} (diagonal, bunch-kaufman)")
        # Complex: inertia only with 1×1 pivots (from D, iparm(56) = 1); real: PARDISO counts it itself.
        read_d = bool(inertia) and pivoting == "diagonal" and not self.real
        self.inertia = bool(inertia) and (self.real or pivoting == "diagonal")
        self._read_d = read_d
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise SolverError(f"PARDISO needs a square matrix, got shape {A.shape} for {what}")
        self.m = m = int(A.shape[0])
        self.what = what
        self.pivoting = pivoting
        self._lib = lib
        self._n_threads = n_threads
        self._dtype = np.float64 if self.real else np.complex128
        self._mtype = _MTYPE_REAL_SYMMETRIC_INDEFINITE if self.real else _MTYPE_HERMITIAN_INDEFINITE
        self._ia, self._ja, self._a = _upper_csr(A, self._dtype)
        del A
        self._pt = np.zeros(64, dtype=np.int64)
        self._iparm = np.zeros(64, dtype=np.int32)
        self._finalizer = weakref.finalize(self, _release, lib, self._pt, self._mtype, m, self._iparm)
        self.solves = 0
        self._set_iparm(pivoting == "diagonal", read_d, pivot_eps_exp, two_level)
        self._msglvl = msglvl
        self.analysis_s = self.factor_s = 0.0
        self._phase(11, "analysis")
        self._numeric()

    def _phase(self, phase: int, name: str) -> None:
        dummy = np.zeros(1, dtype=self._dtype)
        t = time.perf_counter()
        err = self._with_threads(lambda: _call(self._lib, self._pt, self._mtype, phase, self.m,
                                               self._a, self._ia, self._ja, 1, self._iparm, dummy, dummy,
                                               self._msglvl))
        dt = time.perf_counter() - t
        if phase == 11:
            self.analysis_s += dt
        else:
            self.factor_s += dt
        if err != 0:
            self.free()
            raise _error(err, self.what, name, self.m)

    def refactor(self, A) -> int | None:
        """Numerical factorisation (phase 22) of a new matrix with the same pattern, reusing the analysis.

        Parameters
        ----------
        A : scipy sparse, complex128, shape (m, m)
            Hermitian, with the same upper-triangle pattern as the matrix of the analysis (e.g.
            H_b − σ'·1 after H_b − σ·1; the diagonal is always stored).

        Returns
        -------
        int or None
            The new ``n_negative``.

        Raises
        ------
        SolverError
            Different pattern, freed factor, or a PARDISO error.
        """
        if not self._pt.any():
            raise SolverError(f"PARDISO factor of {self.what} was freed")
        ia, ja, a = _upper_csr(A, self._dtype)
        if ia.shape != self._ia.shape or ja.shape != self._ja.shape or not (np.array_equal(ia, self._ia)
                                                                           and np.array_equal(ja, self._ja)):
            raise SolverError(f"refactor of {self.what}: the sparsity pattern differs from the analysed one")
        self._a[:] = a
        self._numeric()
        return self.n_negative

    def _numeric(self) -> None:
        lib, m, what = self._lib, self.m, self.what
        self._phase(22, "factorisation")
        ip = self._iparm
        self.n_perturbed = int(ip[13])
        self.nnz_factor = int(ip[17])
        self.mflops = int(ip[18])
        self.memory_kb = {"analysis_peak": int(ip[14]), "permanent": int(ip[15]), "factor_solve": int(ip[16]),
                          "peak": int(max(ip[14], ip[15] + ip[16]))}
        self.d = None
        self.n_negative = self.n_positive = None
        if self.inertia and self.real:  # iparm(22), iparm(23): PARDISO's own count (real types only)
            pos, neg = int(ip[21]), int(ip[22])
            if self.n_perturbed == 0 and pos + neg == m:
                self.n_negative, self.n_positive = neg, pos
        elif self._read_d:
            df = np.zeros(m, dtype=np.complex128)
            da = np.zeros(m, dtype=np.complex128)
            gerr = ctypes.c_int32(0)
            lib.pardiso_getdiag(self._pt.ctypes.data, df.ctypes.data, da.ctypes.data, ctypes.byref(ctypes.c_int32(1)),
                                ctypes.byref(gerr))
            if gerr.value != 0:
                self.free()
                raise _error(int(gerr.value), what, "pardiso_getdiag", m)
            self.d = df
            dr = df.real
            if self.n_perturbed == 0 and np.all(dr != 0.0) and np.all(np.isfinite(dr)):
                self.n_negative = int(np.count_nonzero(dr < 0))
                self.n_positive = m - self.n_negative
        self._check_residual()

    def _set_iparm(self, diagonal: bool, inertia: bool, pivot_eps_exp: int, two_level: bool) -> None:
        ip = self._iparm
        ip[:] = 0
        ip[0] = 1  # iparm(1): no solver defaults, all values below
        ip[1] = 2  # iparm(2): METIS nested dissection
        ip[3] = 0  # iparm(4): no CGS/CG iteration
        ip[4] = 0  # iparm(5): no user permutation
        ip[5] = 0  # iparm(6): solution in x, b unchanged
        ip[7] = 0  # iparm(8): iterative refinement only if pivots were perturbed (2 steps)
        ip[9] = pivot_eps_exp  # iparm(10): pivot perturbation eps = 10^-iparm(10)
        ip[10] = 0  # iparm(11): no scaling (it comes with matching, i.e. 2x2 pivots)
        ip[12] = 0  # iparm(13): no weighted matching
        ip[17] = -1  # iparm(18): report nnz of the factor
        ip[18] = -1  # iparm(19): report MFLOP of the factorisation
        ip[20] = 0 if diagonal else 1  # iparm(21): 1x1 diagonal pivots / Bunch–Kaufman 1x1 and 2x2
        ip[23] = 1 if two_level else 0  # iparm(24): two-level (parallel) factorisation
        ip[24] = 0  # iparm(25): parallel forward/backward solve
        ip[26] = 0  # iparm(27): no matrix checker
        ip[27] = 0  # iparm(28): double precision
        ip[34] = 1  # iparm(35): zero-based indices
        ip[55] = 1 if inertia else 0  # iparm(56): enable pardiso_getdiag (slows every solve ~3x)

    def _with_threads(self, fn):
        if self._n_threads is None:
            return fn()
        old = self._lib.MKL_Set_Num_Threads_Local(int(self._n_threads))
        try:
            return fn()
        finally:
            self._lib.MKL_Set_Num_Threads_Local(old)

    def _check_residual(self, tol: float = 1e-8) -> None:
        """Refuse a factor whose solve of one random right-hand side has ‖Ax − b‖/‖b‖ > ``tol``.

        Costs one solve and one product with A (≈ 1/100 of the factorisation here). Without 2×2
        pivots, element growth can spoil the factor of a matrix with small diagonal entries even
        when no pivot is perturbed (random test matrices: residuals up to 10¹).
        """
        U = sp.csr_array((self._a, self._ja, self._ia), shape=(self.m, self.m))
        dg = sp.diags_array(U.diagonal())
        A = U + U.conj().T - dg
        rng = np.random.default_rng(0)
        b = rng.standard_normal(self.m) + (0.0 if self.real else 1j * rng.standard_normal(self.m))
        x = self.solve(b)
        self.solves -= 1
        rel = float(np.linalg.norm(A @ x - b) / np.linalg.norm(b))
        self.residual = rel
        if not rel < tol:
            self.free()
            hint = "; try pivoting='bunch-kaufman'" if self.pivoting == "diagonal" else ""
            raise SolverError(f"PARDISO factor of {self.what} (block of {self.m} states) is inaccurate: relative "
                              f"residual {rel:.1e} with {self.n_perturbed} perturbed pivots{hint}")

    # -- public -----------------------------------------------------------------------------------

    def solve(self, b: np.ndarray) -> np.ndarray:
        """A⁻¹ b.

        Parameters
        ----------
        b : array_like, shape (m,) or (m, r)
            Right-hand side(s); cast to the factor's dtype (a complex ``b`` with a real factor is
            solved as its real and imaginary parts).

        Returns
        -------
        ndarray, same shape as ``b``: float64 for a real factor and real ``b``, else complex128

        Raises
        ------
        SolverError
            After :meth:`free`, on a shape mismatch, or if PARDISO reports an error.
        """
        if not self._pt.any():
            raise SolverError(f"PARDISO factor of {self.what} was freed")
        b = np.asarray(b)
        if b.ndim not in (1, 2) or b.shape[0] != self.m:
            raise SolverError(f"right-hand side of shape {b.shape} does not match a block of {self.m} states")
        if self.real and np.iscomplexobj(b):
            return self.solve(b.real) + 1j * self.solve(b.imag)
        nrhs = 1 if b.ndim == 1 else b.shape[1]
        if nrhs == 0:
            return np.zeros(b.shape, dtype=self._dtype)
        bb = np.array(b, dtype=self._dtype, order="F", copy=True)  # PARDISO may write into b
        x = np.empty_like(bb, order="F")
        err = self._with_threads(lambda: _call(self._lib, self._pt, self._mtype, 33, self.m, self._a,
                                               self._ia, self._ja, nrhs, self._iparm, bb, x))
        if err != 0:
            raise _error(err, self.what, "solve", self.m)
        self.solves += nrhs
        return x

    __call__ = solve

    def free(self) -> None:
        """Release PARDISO's memory now (phase −1); later :meth:`solve` calls raise SolverError."""
        self._finalizer()

    @property
    def iparm(self) -> np.ndarray:
        """Copy of the 64 ``iparm`` values (0-based array: ``iparm[k]`` is the manual's iparm(k+1))."""
        return self._iparm.copy()

    def __repr__(self) -> str:
        return (f"PardisoFactor(m={self.m}, nnz_factor={self.nnz_factor}, n_negative={self.n_negative}, "
                f"perturbed={self.n_perturbed}, peak={self.memory_kb['peak'] / 1e6:.2f} GB)")


def factor_ldl_pardiso(A, what: str = "H - sigma", *, pivoting: str | None = None, inertia: bool = True,
                       n_threads: int | None = None):
    """LDLᴴ of a complex Hermitian or real symmetric (indefinite) sparse matrix with PARDISO, with its inertia.

    Same contract as :func:`perovskite_tb.eigen.ldl.factor_ldl` without ``perm`` (PARDISO orders with
    its own METIS nested dissection).

    Parameters
    ----------
    A : scipy sparse matrix or array, complex128 or float64, shape (m, m)
        Hermitian (only the upper triangle is read; the caller guarantees Hermiticity), e.g.
        H_b − σ·1 in eV. A float64 matrix is factorised as real symmetric (``mtype = -2``).
    what : str, optional
        Name of the matrix in error messages.
    pivoting : {"diagonal", "bunch-kaufman"}, optional
        Default: ``"diagonal"`` for complex, ``"bunch-kaufman"`` for real A.
        ``"diagonal"``: 1×1 pivots, inertia from the signs of D (``pardiso_getdiag``).
        ``"bunch-kaufman"``: 1×1 and 2×2 pivots, more robust on matrices with tiny diagonals; inertia
        only for real A (``iparm(22)/(23)``; oneMKL reports them only for real matrices).
    inertia : bool, optional
        Read D with ``pardiso_getdiag`` (``iparm(56) = 1``; default True). This setting makes every
        later solve ≈ 3.5× slower; pass False for a factor used only for solves.
    n_threads : int, optional
        MKL threads for this factor's calls (``MKL_Set_Num_Threads_Local``); default: MKL's setting
        (``MKL_NUM_THREADS``, :func:`set_num_threads`, else all cores).

    Returns
    -------
    handle : PardisoFactor
        Keeps the factor alive; statistics in its attributes (``nnz_factor``, ``memory_kb``,
        ``n_perturbed``, ``factor_s``, ...).
    solve : callable
        ``solve(x)`` = A⁻¹x for x of shape (m,) or (m, r), result of the same shape (float64 only
        for real A and real x).
    n_negative : int or None
        Number of negative eigenvalues of A; None if a pivot was perturbed (``iparm(14) > 0``) or
        zero, or with Bunch–Kaufman pivoting — the count is then not guaranteed.

    Raises
    ------
    SolverError
        MKL not available, or a PARDISO error (the message names the code and its meaning, e.g.
        ``error -2 (not enough memory)``), or perturbed pivots left a relative residual > 1e-8.

    References
    ----------
    O. Schenk and K. Gärtner, Future Gener. Comput. Syst. 20, 475 (2004); Intel oneMKL Developer
    Reference, "pardiso", "pardiso_getdiag" and "pardiso iparm Parameter".
    """
    h = PardisoFactor(A, what=what, pivoting=pivoting, inertia=inertia, n_threads=n_threads)
    return h, h.solve, h.n_negative
