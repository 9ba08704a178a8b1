r"""Confined 8-band k·p model of a hard-wall cuboid nanocrystal (sine envelope basis).

Model
-----
The bulk Hamiltonian of :mod:`kp.bulk`, :math:`H(\mathbf k) = C + \sum_\alpha\Lambda_\alpha k_\alpha
+ \sum_{\alpha\beta}Q_{\alpha\beta}k_\alpha k_\beta`, becomes an envelope operator with
:math:`\hat k_\alpha = -i\partial_\alpha` in the box :math:`|x_\alpha| \le L_\alpha/2` (centre at the
origin) and infinite walls. The magnetic field enters by minimal coupling for the electron charge −e
(brief §6.1), :math:`\hat{\mathbf k}\to\hat{\mathbf K} = \hat{\mathbf k} + (e/\hbar)\mathbf A`, in the
symmetric gauge about the gauge origin :math:`\mathbf r_0` (default: the box centre),
:math:`\mathbf A = \tfrac12\mathbf B\times(\mathbf r-\mathbf r_0)`, with the symmetric
(Hermitian) operator ordering

.. math::
    H(\mathbf B) = C + \sum_\alpha \Lambda_\alpha \hat K_\alpha
      + \sum_{\alpha\beta} Q_{\alpha\beta}\,\tfrac12\{\hat K_\alpha,\hat K_\beta\}
      + \sum_\gamma B_\gamma Z_\gamma ,

where :math:`Z_\gamma = \mu_B[g_0S_\gamma + \Delta g_e P_{1/2}J_\gamma P_{1/2}]` (spin Zeeman plus the
remote correction on the J=½ CB, brief §3.5). :math:`H(\mathbf B)` is exact to second order in A
(the A² term included). :math:`M_\gamma = \partial H/\partial B_\gamma|_{B=0}` (eV/T) is formed
analytically; with :math:`\mathbf J = \mathbf L+\mathbf S` of the Bloch functions (envelope angular
momentum not included) the shared extractor :func:`perovskite_tb.gfactor.g_tensor` gives the signed
g tensors (J convention, brief §0).

Envelope basis
--------------
:math:`\phi_n(x) = \sqrt{2/L}\sin[n\pi(x+L/2)/L]`, n = 1…N per direction, tensor products,
optionally truncated to the ellipsoid :math:`\sum_\alpha ((n_\alpha-1)/N_\alpha)^2 \le 1`.
Matrix elements are exact Galerkin integrals: :math:`k^2` diagonal :math:`(n\pi/L)^2`;
:math:`\langle m|\partial|n\rangle = \frac{2mn}{L}\frac{1-(-1)^{m+n}}{m^2-n^2}` (analytic);
:math:`x`, :math:`x^2` and :math:`\tfrac12\{x,k\}` by Gauss–Legendre quadrature (exact to rounding).
Products of operators in *different* directions are Kronecker products; in the *same* direction the
dedicated 1D Galerkin matrix is used, never a product of truncated matrices. The spectrum is then
variational in the basis, and gauge-origin invariance holds to the basis-truncation error.

Inversion symmetry (parity = Bloch parity × envelope parity) block-diagonalises H0 and M; the
electron ground doublet (p-like Bloch × even envelope) sits in the odd block, the hole (s-like × even)
in the even block. Each block is diagonalised densely.

Spurious solutions (Foreman)
----------------------------
In a truncated sine basis the Kane coupling of the highest envelope functions is incomplete, so
VB-like combinations feel little Kane repulsion; with a positive free term (1+γ_v)ħ²k²/2m0 on the
s-like VB they rise into the gap (the colleague's weight filter did not cure this). With Foreman's
choice 1+γ_v < 0 (foreman1997; the ETB-derived sets of :mod:`kp.fit_etb` have 1+γ_v ≈ −1.2 from the
ETB hole mass) they go *down*, and the p-like CB terms 1+L′, 1+M′ > 0 push CB high-k modes up: no
level can lie in the bulk gap, and :func:`band_edge_doublets` raises if one does. No weight filter.
With 1+γ_v = 0 exactly (``valence_free_term="foreman"`` on the universal set) the near-kernel VB
modes sit just below 0, *above* the confined hole, and g_h is wrong (≈ −5): use the ETB-derived sets
for nanocrystals (:data:`kp.parameters.NC_DEFAULT_SET`). The basis is additionally capped at
:math:`n\pi/L \le 0.8\,k_{\rm spur}` when the bulk dispersion itself enters the gap.

References
----------
Physics brief §3.5, §6.1, §6.2; kirstein2022; dresselhaus1955.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from perovskite_tb.constants import E_OVER_HBAR
from perovskite_tb.errors import DegeneracyError, InputError, SolverError
from perovskite_tb.gfactor import g_tensor

from .bulk import _LEVI, BlochTerms, bloch_hamiltonian, bloch_terms
from .parameters import NC_DEFAULT_SET, KpParameters, load_kp_parameters

__all__ = [
    "SineBasis",
    "KpTerms",
    "make_basis",
    "assemble",
    "hamiltonian_at_field",
    "Doublet",
    "band_edge_doublets",
    "NcResult",
    "solve_nc",
    "nc_gfactors",
    "spurious_k",
    "nc_default_set",
    "DEFAULT_N_BASIS",
]

#: default number of sine functions per direction (see convergence study in kp/README.md)
DEFAULT_N_BASIS = 6
#: relative tolerance for Kramers pairing of doublet energies (× energy scale 1 eV)
_KRAMERS_TOL_EV = 1e-8


# --------------------------------------------------------------------------- 1D sine basis
def _sine_1d(L: float, N: int, x0: float):
    """1D Galerkin matrices (N×N) in the sine basis on [-L/2, L/2], positions relative to x0."""
    n = np.arange(1, N + 1)
    K2 = np.diag((n * np.pi / L) ** 2).astype(complex)
    m_, n_ = np.meshgrid(n, n, indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        D = np.where((m_ + n_) % 2 == 1, 4.0 * m_ * n_ / (L * (m_**2 - n_**2)), 0.0)
    K = -1j * D
    nq = 4 * N + 64
    xg, wg = np.polynomial.legendre.leggauss(nq)
    x = 0.5 * L * xg  # in [-L/2, L/2]
    w = 0.5 * L * wg
    u = x + 0.5 * L
    phi = np.sqrt(2.0 / L) * np.sin(np.outer(n, u) * np.pi / L)  # (N, nq)
    dphi = np.sqrt(2.0 / L) * (n[:, None] * np.pi / L) * np.cos(np.outer(n, u) * np.pi / L)
    xs = x - x0
    X = (phi * (w * xs)) @ phi.T
    X2 = (phi * (w * xs**2)) @ phi.T
    A = -1j * (phi * (w * xs)) @ dphi.T  # <m| x (-i d) |n>
    XK = 0.5 * (A + A.conj().T)
    return {"K": K, "K2": K2, "X": X.astype(complex), "X2": X2.astype(complex), "XK": XK}


@dataclass(frozen=True)
class SineBasis:
    """Tensor-product sine envelope basis of a hard-wall cuboid.

    Attributes
    ----------
    edge_nm : tuple of 3 floats
        Box edges (Lx, Ly, Lz) [nm].
    n_max : tuple of 3 ints
        Sine functions per direction.
    triples : ndarray of int64, shape (n_env, 3)
        Quantum numbers (nx, ny, nz) ≥ 1 of the envelope functions of the p-like CB components.
    triples_vb : ndarray of int64, shape (n_env_vb, 3)
        Envelope functions of the s-like VB components: the "interior" of ``triples`` (every
        (n + e_α) is in ``triples``), see "Spurious solutions" in the module docstring.
    gauge_origin_nm : tuple of 3 floats
        Symmetric-gauge origin relative to the box centre [nm].
    """

    edge_nm: tuple
    n_max: tuple
    triples: np.ndarray
    triples_vb: np.ndarray
    gauge_origin_nm: tuple

    @property
    def n_env(self) -> int:
        """Number of CB envelope functions."""
        return int(self.triples.shape[0])

    @property
    def n_env_vb(self) -> int:
        """Number of VB envelope functions."""
        return int(self.triples_vb.shape[0])

    @property
    def n_states(self) -> int:
        """Dimension of the k·p Hamiltonian, 2·n_env_vb + 6·n_env."""
        return 2 * self.n_env_vb + 6 * self.n_env

    @staticmethod
    def envelope_parity(triples: np.ndarray) -> np.ndarray:
        """Inversion parity (+1/−1, int64) of sine products about the box centre."""
        return ((-1) ** ((triples - 1).sum(axis=1))).astype(np.int64)


def _check_edge(edge_nm) -> tuple[float, float, float]:
    try:
        e = tuple(float(v) for v in edge_nm)
    except (TypeError, ValueError) as exc:
        raise InputError(f"edge must be three numbers in nm, got {edge_nm!r}") from exc
    if len(e) != 3:
        raise InputError(f"edge must have 3 components (Lx, Ly, Lz) in nm, got {len(e)}")
    for v in e:
        if not math.isfinite(v) or v <= 0:
            raise InputError(f"edge lengths must be finite and > 0 nm, got {e} nm")
    return e


@lru_cache(maxsize=32)
def _spurious_k_cached(Eg, P, Delta, L_, M_, N_, gv) -> float:
    from .parameters import KpParameters as _K

    p = _K(material="-", parameter_set="-", Eg=Eg, P=P, Delta_so=Delta, L_prime=L_, M_prime=M_,
           N_prime=N_, gamma_v=gv)
    ks = np.linspace(0.05, 60.0, 1200)
    dirs = np.array([[0, 0, 1], [1, 1, 0], [1, 1, 1]], float)
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    kmin = np.inf
    for d in dirs:
        E = np.linalg.eigvalsh(bloch_hamiltonian(p, ks[:, None] * d[None]))
        bad = np.any((E > 1e-6) & (E < Eg - 1e-6), axis=1)
        if bad.any():
            kmin = min(kmin, ks[np.argmax(bad)])
    return float(kmin)


def spurious_k(params: KpParameters) -> float:
    """Smallest |k| (nm⁻¹) at which a bulk band of the model enters the gap (0, Eg).

    Parameters
    ----------
    params : KpParameters

    Returns
    -------
    float
        k_spur [nm⁻¹] (scan of [001], [110], [111] up to 60 nm⁻¹); ``inf`` if none.
    """
    p = params
    return _spurious_k_cached(p.Eg, p.P, p.Delta_so, p.L_prime, p.M_prime, p.N_prime, p.gamma_v)


def make_basis(
    params: KpParameters,
    edge_nm,
    *,
    n_basis: int | tuple | None = None,
    ellipsoid: bool = False,
    gauge_origin_nm=(0.0, 0.0, 0.0),
    cap_spurious: bool = True,
    vb_shell: int = 0,
) -> SineBasis:
    """Choose the sine basis for a cuboid.

    Parameters
    ----------
    params : KpParameters
    edge_nm : sequence of 3 floats
        (Lx, Ly, Lz) [nm], finite and > 0.
    n_basis : int or tuple of 3 ints, optional
        Sine functions per direction (default :data:`DEFAULT_N_BASIS`, scaled with L_α/L_max
        for non-cubic boxes and rounded to an even number ≥ 4). Use **even** N: for odd N the
        truncated k matrix has an exact zero mode that overlaps the n = 1 function and spoils
        convergence (see kp/README.md).
    ellipsoid : bool, optional
        Keep only :math:`\\sum((n_α-1)/N_α)^2 \\le 1` (default False; the lines of the truncated
        basis then have odd lengths, see above).
    vb_shell : int, optional
        0 (default): same envelope basis for VB and CB. 1: VB basis = interior of the CB basis
        (removes truncation-edge VB states but converges much more slowly).
    gauge_origin_nm : sequence of 3 floats, optional
        Gauge origin relative to the box centre [nm].
    cap_spurious : bool, optional
        Cap N_α so that N_α π / L_α ≤ 0.8 k_spur (see module docstring).

    Returns
    -------
    SineBasis

    Raises
    ------
    InputError
        Non-positive / non-finite edge, bad ``n_basis`` or gauge origin.
    """
    e = _check_edge(edge_nm)
    r0 = tuple(float(v) for v in gauge_origin_nm)
    if len(r0) != 3 or not all(math.isfinite(v) for v in r0):
        raise InputError(f"gauge origin must be 3 finite numbers in nm, got {gauge_origin_nm}")
    if n_basis is None:
        Lm = max(e)
        N = tuple(max(4, 2 * int(round(0.5 * DEFAULT_N_BASIS * L / Lm))) for L in e)
    elif np.ndim(n_basis) == 0:
        N = (int(n_basis),) * 3
    else:
        N = tuple(int(v) for v in n_basis)
    if len(N) != 3 or min(N) < 1:
        raise InputError(f"n_basis must be >= 1 per direction, got {n_basis}")
    if cap_spurious:
        ks = spurious_k(params)
        if math.isfinite(ks):
            N = tuple(max(2, min(n, 2 * int(0.4 * ks * L / math.pi))) for n, L in zip(N, e))
    grids = np.meshgrid(*[np.arange(1, n + 1) for n in N], indexing="ij")
    tr = np.stack([g.ravel() for g in grids], axis=1)
    if ellipsoid:
        r2 = sum(((tr[:, a] - 1) / max(N[a], 1)) ** 2 for a in range(3))
        tr = tr[r2 <= 1.0 + 1e-12]
    keys = {tuple(v) for v in tr.tolist()}
    inner = np.array(
        [all((v[0] + vb_shell * (a == 0), v[1] + vb_shell * (a == 1),
              v[2] + vb_shell * (a == 2)) in keys for a in range(3))
         for v in tr.tolist()], dtype=bool)
    tv = tr[inner]
    if tv.shape[0] == 0:
        raise InputError(f"basis {N} too small: no VB envelope function left (need N >= 2)")
    return SineBasis(edge_nm=e, n_max=N, triples=tr, triples_vb=tv, gauge_origin_nm=r0)


# --------------------------------------------------------------------------- envelope operators
class _EnvOps:
    """Envelope operators of a SineBasis, combined with 8×8 Bloch matrices into sparse blocks.

    Envelope operators are described by a *spec* ``{direction: name}`` (1D matrix name per
    direction, identity where absent); :meth:`kron` forms Bloch ⊗ envelope with the VB rows/cols on
    ``triples_vb`` and the CB rows/cols on ``triples``.
    Full index: VB block ``b·n_env_vb + e`` (b = 0, 1), then CB block
    ``2·n_env_vb + (b−2)·n_env + e`` (b = 2…7).
    """

    def __init__(self, basis: SineBasis):
        self.b = basis
        self.one = [
            _sine_1d(L, N, x0) for L, N, x0 in zip(basis.edge_nm, basis.n_max, basis.gauge_origin_nm)
        ]
        self.sets = {"v": basis.triples_vb - 1, "c": basis.triples - 1}
        self._cache: dict = {}

    def env(self, spec: dict, rs: str, cs: str) -> sp.csr_array:
        """Envelope matrix prod_d A_d[n_d, n'_d] between triple sets ``rs`` and ``cs``."""
        key = (tuple(sorted(spec.items())), rs, cs)
        if key in self._cache:
            return self._cache[key]
        tr, tc = self.sets[rs], self.sets[cs]
        M = None
        for d in range(3):
            A = self.one[d][spec[d]] if d in spec else np.eye(self.b.n_max[d])
            blk = A[np.ix_(tr[:, d], tc[:, d])]
            M = blk if M is None else M * blk
        out = sp.csr_array(M.astype(complex))
        out.eliminate_zeros()
        self._cache[key] = out
        return out

    def kron(self, Bm: np.ndarray, spec: dict):
        """Sparse Bloch ⊗ envelope matrix (None if Bm is zero)."""
        if not np.any(Bm):
            return None
        blocks = [[None, None], [None, None]]
        sl = {"v": slice(0, 2), "c": slice(2, 8)}
        for i, rs in enumerate("vc"):
            for j, cs in enumerate("vc"):
                sub = Bm[sl[rs], sl[cs]]
                if np.any(sub):
                    blocks[i][j] = sp.kron(sp.csr_array(sub), self.env(spec, rs, cs), format="csr")
        nv, nc = self.b.n_env_vb, self.b.n_env
        # make sure every block row/column has a defined size
        if blocks[0][0] is None and blocks[0][1] is None:
            blocks[0][0] = sp.csr_array((2 * nv, 2 * nv), dtype=complex)
        if blocks[1][1] is None and blocks[1][0] is None:
            blocks[1][1] = sp.csr_array((6 * nc, 6 * nc), dtype=complex)
        if blocks[0][0] is None and blocks[1][0] is None:
            blocks[1][0] = sp.csr_array((6 * nc, 2 * nv), dtype=complex)
        if blocks[0][1] is None and blocks[1][1] is None:
            blocks[0][1] = sp.csr_array((2 * nv, 6 * nc), dtype=complex)
        return sp.csr_array(sp.block_array(blocks, format="csr"))

    # operator specs
    @staticmethod
    def eye():
        return {}

    @staticmethod
    def k(a):
        return {a: "K"}

    @staticmethod
    def r(d):
        return {d: "X"}

    @staticmethod
    def kk(a, g):
        return {a: "K2"} if a == g else {a: "K", g: "K"}

    @staticmethod
    def kr(a, d):
        """½{k_a, r_d}."""
        return {a: "XK"} if a == d else {a: "K", d: "X"}

    @staticmethod
    def rr(d, e):
        return {d: "X2"} if d == e else {d: "X", e: "X"}


def _sum(terms):
    terms = [t for t in terms if t is not None]
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return sp.csr_array(out)


@dataclass(frozen=True)
class KpTerms:
    r"""Confined k·p operators at B = 0 (full basis, index order documented in ``_EnvOps``).

    Attributes
    ----------
    H0 : scipy.sparse.csr_array of complex128, shape (n, n)
        Hamiltonian at B = 0 [eV], n = basis.n_states.
    M : tuple of 3 csr_array, shape (n, n)
        :math:`\partial H/\partial B_\gamma` at B = 0 [eV/T], γ = x, y, z.
    J : tuple of 3 csr_array, shape (n, n)
        Bloch total angular momentum L + S ⊗ 1_env [ħ].
    parity : ndarray of int64, shape (n,)
        Inversion parity of each basis function.
    is_vb : ndarray of bool, shape (n,)
        True for the s-like (VB) basis functions.
    basis : SineBasis
    params : KpParameters
    """

    H0: sp.csr_array
    M: tuple
    J: tuple
    parity: np.ndarray
    is_vb: np.ndarray
    basis: SineBasis
    params: KpParameters


def _c_matrix(B) -> np.ndarray:
    """c_{αδ} with (e/ħ)A_α = Σ_δ c_{αδ} r_δ, A = ½ B × r  [1/nm² per nm]."""
    B = np.asarray(B, dtype=float)
    return 0.5 * E_OVER_HBAR * np.einsum("abd,b->ad", _LEVI, B)


def _field_terms(t: BlochTerms, ops: _EnvOps, c: np.ndarray, quadratic: bool):
    """Σ_α Λ_α⊗a_α + Σ Q⊗(½{k,a}+½{a,k}) [+ Σ Q⊗a a] for the field-coefficient matrix c."""
    terms = []
    for a in range(3):
        for d in range(3):
            if c[a, d] != 0:
                terms.append(ops.kron(c[a, d] * t.Lam[a], ops.r(d)))
    for a in range(3):
        for g in range(3):
            Q = t.Q[a, g]
            if not np.any(Q):
                continue
            for d in range(3):
                if c[g, d] != 0:
                    terms.append(ops.kron(c[g, d] * Q, ops.kr(a, d)))
                if c[a, d] != 0:
                    terms.append(ops.kron(c[a, d] * Q, ops.kr(g, d)))
            if quadratic:
                for d in range(3):
                    for e in range(3):
                        if c[a, d] * c[g, e] != 0:
                            terms.append(ops.kron(c[a, d] * c[g, e] * Q, ops.rr(d, e)))
    return terms


def _h0_terms(t: BlochTerms, ops: _EnvOps):
    terms = [ops.kron(t.C, ops.eye())]
    terms += [ops.kron(t.Lam[a], ops.k(a)) for a in range(3)]
    terms += [ops.kron(t.Q[a, g], ops.kk(a, g)) for a in range(3) for g in range(3)]
    return terms


def assemble(params: KpParameters, basis: SineBasis) -> KpTerms:
    """Assemble H0, M_γ = ∂H/∂B_γ and J_k of the confined model (module docstring).

    Parameters
    ----------
    params : KpParameters
    basis : SineBasis

    Returns
    -------
    KpTerms

    References
    ----------
    Physics brief §3.5, §6.1.
    """
    t = bloch_terms(params)
    ops = _EnvOps(basis)
    H0 = _sum(_h0_terms(t, ops))
    M = []
    for g in range(3):
        e = np.zeros(3)
        e[g] = 1.0
        terms = _field_terms(t, ops, _c_matrix(e), quadratic=False)
        terms.append(ops.kron(t.Z[g], ops.eye()))
        M.append(_sum(terms))
    J = tuple(ops.kron(t.J[k], ops.eye()) for k in range(3))
    parity = np.concatenate([
        np.kron(t.parity[:2], SineBasis.envelope_parity(basis.triples_vb)),
        np.kron(t.parity[2:], SineBasis.envelope_parity(basis.triples)),
    ])
    is_vb = np.zeros(basis.n_states, dtype=bool)
    is_vb[: 2 * basis.n_env_vb] = True
    return KpTerms(H0=H0, M=tuple(M), J=J, parity=parity, is_vb=is_vb, basis=basis,
                   params=params)


def hamiltonian_at_field(params: KpParameters, basis: SineBasis, B_T) -> sp.csr_array:
    """Exact (to all orders in A, i.e. including A²) confined Hamiltonian H(B).

    Parameters
    ----------
    params : KpParameters
    basis : SineBasis
        Its ``gauge_origin_nm`` is the origin of the symmetric gauge.
    B_T : array_like of float64, shape (3,)
        Magnetic field [T].

    Returns
    -------
    scipy.sparse.csr_array of complex128, shape (n, n)
        H(B) [eV], Hermitian.

    Raises
    ------
    InputError
        If ``B_T`` is not 3 finite numbers.
    """
    B = np.asarray(B_T, dtype=float)
    if B.shape != (3,) or not np.all(np.isfinite(B)):
        raise InputError(f"B must be 3 finite numbers in T, got {B_T}")
    t = bloch_terms(params)
    ops = _EnvOps(basis)
    terms = _h0_terms(t, ops) + _field_terms(t, ops, _c_matrix(B), quadratic=True)
    terms.append(ops.kron(np.einsum("g,gij->ij", B, t.Z), ops.eye()))
    return _sum(terms)


# --------------------------------------------------------------------------- band edges
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
        Orthonormal states in the full basis.
    isolation : float
        Distance to the nearest other level [eV].
    residual : float
        max ‖H v − v (v†Hv)‖ of the pair [eV] (rounding level for the dense solver).
    """

    energy: float
    splitting: float
    vectors: np.ndarray
    isolation: float
    residual: float = 0.0


#: half-width beyond the bulk band edges of the energy window searched for band-edge states [eV]
_WINDOW_EV = 1.0


def band_edge_doublets(terms: KpTerms, H=None) -> tuple[Doublet, Doublet]:
    """Lowest electron and highest hole Kramers doublets.

    Parameters
    ----------
    terms : KpTerms
    H : sparse matrix, optional
        Hamiltonian to diagonalise instead of ``terms.H0`` (must commute with inversion, e.g.
        H(B) at finite B; then the "doublets" are the Zeeman-split pairs and no Kramers check is
        made).

    Returns
    -------
    (electron, hole) : tuple of Doublet

    Raises
    ------
    SolverError
        If no state is found on one side of the gap, or if a level lies inside the bulk gap
        (0, Eg) (a spurious solution: happens only for sets with 1+γ_v > 0, see module docstring).
    DegeneracyError
        If at B = 0 a doublet is not Kramers-degenerate or not isolated.

    Notes
    -----
    Each inversion-parity block is diagonalised densely for eigenvalues in [−1 eV, Eg + 1 eV].
    Confinement moves the electron up and the hole down, so every physical level lies outside the
    bulk gap; with Foreman's choice 1+γ_v ≤ 0 the truncated basis cannot put a state there either
    (the VB part of H is then ≤ 0 and the CB part ≥ Eg). No weight-based filtering is used.
    """
    H0 = terms.H0 if H is None else H
    p = terms.params
    mid = 0.5 * p.Eg
    # window: 1 eV, widened for small boxes (10 x the free-electron ground confinement energy)
    from perovskite_tb.constants import HBAR2_OVER_2M0

    win = max(_WINDOW_EV, 10.0 * HBAR2_OVER_2M0 * np.pi**2 * sum(
        1.0 / L**2 for L in terms.basis.edge_nm))
    levels = []  # (E, vector)
    for par in (+1, -1):
        idx = np.flatnonzero(terms.parity == par)
        Hb = H0[idx][:, idx].toarray()
        E, V = sla.eigh(Hb, subset_by_value=(-win, p.Eg + win), driver="evr")
        for j in range(len(E)):
            vec = np.zeros(H0.shape[0], dtype=complex)
            vec[idx] = V[:, j]
            levels.append((float(E[j]), vec))
    levels.sort(key=lambda x: x[0])
    Es = np.array([x[0] for x in levels])
    # Zeeman shifts at finite B are ~1e-3 eV; anything deeper inside the bulk gap is spurious
    n_gap = int(np.sum((Es > 1e-2) & (Es < p.Eg - 1e-2)))
    if n_gap:
        raise SolverError(
            f"{n_gap} level(s) inside the bulk gap (0, {p.Eg:.3f}) eV: spurious solutions; use a set "
            "with valence_free_term = 'foreman' (1+gamma_v <= 0)")
    ie = int(np.searchsorted(Es, mid))
    pairs = {"e": [ie, ie + 1], "h": [ie - 2, ie - 1]}
    out = []
    for name in ("e", "h"):
        i0, i1 = pairs[name]
        if i0 < 0 or i1 >= len(Es):
            raise SolverError(
                f"no {'electron' if name == 'e' else 'hole'} doublet within "
                f"{win:.2f} eV of the bulk band edge (edge {terms.basis.edge_nm} nm)"
            )
        others = np.delete(Es, [i0, i1])
        iso = float(np.min(np.abs(others - 0.5 * (Es[i0] + Es[i1])))) if others.size else np.inf
        split = float(abs(Es[i1] - Es[i0]))
        Vd = np.stack([levels[i0][1], levels[i1][1]], axis=1)
        R = H0 @ Vd - Vd @ (Vd.conj().T @ (H0 @ Vd))
        res = float(np.max(np.linalg.norm(R, axis=0)))
        out.append(Doublet(energy=float(0.5 * (Es[i0] + Es[i1])), splitting=split, vectors=Vd,
                           isolation=iso, residual=res))
    if H is None:
        for d, name in zip(out, ("electron", "hole")):
            if d.splitting > _KRAMERS_TOL_EV or d.isolation < 1e3 * max(d.splitting, 1e-12):
                raise DegeneracyError(
                    f"{name} band-edge level is not an isolated Kramers doublet "
                    f"(splitting {d.splitting:.2e} eV, isolation {d.isolation:.2e} eV)"
                )
    return out[0], out[1]


@dataclass(frozen=True)
class NcResult:
    """k·p band-edge properties of one cuboid.

    Attributes
    ----------
    electron, hole : Doublet
    g_e, g_h : perovskite_tb.gfactor.GFactor
    terms : KpTerms
    seconds : float
        Wall time of assembly + solve + g extraction [s].
    """

    electron: Doublet
    hole: Doublet
    g_e: object
    g_h: object
    terms: KpTerms
    seconds: float


def solve_nc(
    params: KpParameters,
    edge_nm,
    *,
    n_basis: int | tuple | None = None,
    ellipsoid: bool = False,
    gauge_origin_nm=(0.0, 0.0, 0.0),
) -> NcResult:
    """Band-edge doublets and signed g tensors of a hard-wall cuboid NC (k·p).

    Parameters
    ----------
    params : KpParameters
    edge_nm : sequence of 3 floats
        (Lx, Ly, Lz) [nm].
    n_basis, ellipsoid, gauge_origin_nm
        See :func:`make_basis`.

    Returns
    -------
    NcResult

    Raises
    ------
    InputError, SolverError, DegeneracyError
    """
    t0 = time.perf_counter()
    basis = make_basis(params, edge_nm, n_basis=n_basis, ellipsoid=ellipsoid,
                       gauge_origin_nm=gauge_origin_nm)
    terms = assemble(params, basis)
    e, h = band_edge_doublets(terms)
    ge = g_tensor(e.vectors, terms.M, terms.J)
    gh = g_tensor(h.vectors, terms.M, terms.J)
    return NcResult(electron=e, hole=h, g_e=ge, g_h=gh, terms=terms,
                    seconds=time.perf_counter() - t0)


def nc_default_set(material: str) -> str:
    """Default k·p set of the confined model for ``material`` (:data:`kp.parameters.NC_DEFAULT_SET`).

    Raises
    ------
    ParameterError
        Material without a default NC set.
    """
    from perovskite_tb.errors import ParameterError

    if material not in NC_DEFAULT_SET:
        raise ParameterError(f"no default k·p NC set for material {material!r}; known: "
                             f"{sorted(NC_DEFAULT_SET)}")
    return NC_DEFAULT_SET[material]


def nc_gfactors(
    material: str,
    edge_nm: tuple[float, float, float],
    *,
    parameter_set: str | None = None,
    n_basis: int | None = None,
    temperature_K: float | None = None,
) -> dict:
    """k·p electron/hole energies and g factors of a cuboid NC, as a JSON-ready dict.

    Parameters
    ----------
    material : str
        ``"CsPbI3"``, ``"CsPbBr3"``, ``"CsPbCl3"``.
    edge_nm : tuple of 3 floats
        (Lx, Ly, Lz) [nm], finite and > 0.
    parameter_set : str, optional
        k·p set name; default: the set derived from the material's default ETB set
        (:data:`kp.parameters.NC_DEFAULT_SET`, e.g. ``etb-nestoklon2023`` for CsPbI3).
    n_basis : int, optional
        Sine functions per direction (default :data:`DEFAULT_N_BASIS`).
    temperature_K : float, optional
        If given, Eg is shifted by the set's dEg_dT (:meth:`KpParameters.at_temperature`).

    Returns
    -------
    dict
        ``n_states`` (basis size), ``E_e_eV``, ``E_h_eV`` (doublet energies, VB top of bulk = 0),
        ``transition_energy_eV`` (E_e − E_h), ``g_e``, ``g_h`` (scalar, J convention),
        ``g_e_tensor``, ``g_h_tensor`` (3×3 nested lists), ``seconds``.

    Raises
    ------
    InputError
        Bad edge (≤ 0, NaN, wrong length) or temperature.
    ParameterError
        Unknown material or parameter set, or no temperature model.
    SolverError, DegeneracyError
        Eigen-solution problems.
    """
    t0 = time.perf_counter()
    edge = _check_edge(edge_nm)
    name = parameter_set if parameter_set is not None else nc_default_set(material)
    params = load_kp_parameters(material, name)
    if temperature_K is not None:
        params = params.at_temperature(temperature_K)
    r = solve_nc(params, edge, n_basis=n_basis)
    return {
        "n_states": int(r.terms.H0.shape[0]),
        "E_e_eV": r.electron.energy,
        "E_h_eV": r.hole.energy,
        "transition_energy_eV": r.electron.energy - r.hole.energy,
        "g_e": r.g_e.g,
        "g_h": r.g_h.g,
        "g_e_tensor": r.g_e.tensor.tolist(),
        "g_h_tensor": r.g_h.tensor.tolist(),
        "residual_e_eV": r.electron.residual,
        "residual_h_eV": r.hole.residual,
        "parameter_set": name,
        "seconds": time.perf_counter() - t0,
    }
