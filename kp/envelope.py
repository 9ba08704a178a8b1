r"""Envelope bases of the confined k·p model: sine functions and integrated Legendre polynomials.

Both bases vanish at the hard walls :math:`|x_\alpha| = L_\alpha/2` and are tensor products of 1D
functions :math:`\phi_n`, n = 1…N per direction, of inversion parity :math:`(-1)^{n-1}`.
Every operator is a 1D Galerkin matrix per direction (identity → overlap S); products of operators
in *different* directions are Kronecker products, products in the *same* direction use the
dedicated 1D matrix (:math:`k^2`, :math:`x^2`, :math:`\tfrac12\{x,k\}`), never a product of
truncated matrices, so the spectrum is variational in the basis.

``kind="sine"``
    :math:`\phi_n(x) = \sqrt{2/L}\sin[n\pi(x+L/2)/L]`: orthonormal, :math:`k^2` diagonal
    :math:`(n\pi/L)^2`, :math:`\langle m|\partial|n\rangle = \frac{2mn}{L}\frac{1-(-1)^{m+n}}{m^2-n^2}`;
    :math:`x`, :math:`x^2`, :math:`\tfrac12\{x,k\}` by Gauss–Legendre quadrature (exact to
    rounding). All 1D matrices are dense. Converges only algebraically when a component has a
    boundary layer (kp/README.md).
``kind="legendre"`` (default)
    :math:`\phi_n(t) = c_n[P_{n-1}(t) - P_{n+1}(t)]`, t = 2x/L, :math:`c_n` normalising
    :math:`\langle\phi_n|\phi_n\rangle = 1` (Shen's Legendre–Galerkin basis, shen1994). The basis is
    not orthogonal: the overlap S is pentadiagonal (offsets 0, ±2), :math:`\partial` tridiagonal
    (±1), :math:`k^2` diagonal, :math:`x` offsets ±1, ±3, so the 3D operators are sparse and the
    model is solved as the generalised problem :math:`Hc = ESc` by sparse shift-invert
    (:mod:`kp.confinement`). Polynomials resolve a layer of width δ at the wall with
    N ∝ √(L/δ) functions (sines need N ∝ L/δ); all matrix elements by Gauss–Legendre quadrature
    with N + 8 nodes (exact for these polynomial integrands).

References
----------
shen1994: J. Shen, SIAM J. Sci. Comput. 15, 1489 (1994), "Efficient spectral-Galerkin method I",
Eq. (2.4)–(2.6) (the basis :math:`L_k - L_{k+2}` and its banded mass and stiffness matrices).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from perovskite_tb.errors import InputError

from kp.bulk import bloch_hamiltonian
from kp.parameters import KpParameters

__all__ = [
    "BASIS_KINDS",
    "EnvelopeBasis",
    "SineBasis",
    "make_basis",
    "default_n_basis",
    "spurious_k",
    "check_edge",
    "DEFAULT_N_BASIS",
    "DEFAULT_N_BASIS_SINE",
]

#: envelope basis kinds accepted by :func:`make_basis`
BASIS_KINDS = ("legendre", "sine")
#: default sine functions per direction (kind "sine"; kp/README.md convergence study)
DEFAULT_N_BASIS_SINE = 6
#: Legendre default: N = ceil(_N_A + _N_B·sqrt(L / nm)), between _N_MIN and _N_MAX (see
#: :func:`default_n_basis`; calibrated in kp/README.md on CsPbI3 etb-nestoklon2023 cubes)
_N_A = 2.0
_N_B = 2.6
_N_MIN = 6
_N_MAX = 14
#: kept for callers of the first version: the sine default
DEFAULT_N_BASIS = DEFAULT_N_BASIS_SINE


def default_n_basis(L_nm: float, kind: str = "legendre") -> int:
    """Default number of 1D envelope functions for an edge of ``L_nm`` nm.

    Parameters
    ----------
    L_nm : float
        Edge length [nm], > 0.
    kind : {"legendre", "sine"}

    Returns
    -------
    int
        ``"sine"``: :data:`DEFAULT_N_BASIS_SINE`. ``"legendre"``: :math:`\\lceil 2 + 2.6\\sqrt{L/\\mathrm{nm}}\\rceil`
        clipped to [6, 14]: the boundary layer of the p-like components (width ≈ 0.5 nm for the
        ETB-derived CsPbI3 set) needs more functions as L grows, while its weight falls as 1/L, so
        the g_h error at fixed N levels off above ≈ 15 nm. With this rule g_h is converged to
        ≲ 3e-3 up to 20 nm (≈ 5e-3 at 30 nm), g_e to ≲ 1e-3 and the energies to ≲ 3e-4 eV (table in
        kp/README.md).
    """
    if kind == "sine":
        return DEFAULT_N_BASIS_SINE
    n = math.ceil(_N_A + _N_B * math.sqrt(max(L_nm, 0.0)))
    return int(min(_N_MAX, max(_N_MIN, n)))


# --------------------------------------------------------------------------- 1D Galerkin matrices
def _quadrature(L: float, nq: int):
    tg, wg = np.polynomial.legendre.leggauss(nq)
    return tg, 0.5 * L * tg, 0.5 * L * wg  # t in [-1, 1], x in [-L/2, L/2], weights in nm


def _galerkin(phi, dphi, x, w, x0) -> dict:
    """S, K, K2, X, X2, XK from basis values ``phi`` and derivatives ``dphi`` (N, nq) at nodes x."""
    xs = x - x0
    A = -1j * (phi * (w * xs)) @ dphi.T  # <m| x (-i d) |n>
    out = {
        "S": (phi * w) @ phi.T,
        "K": -1j * (phi * w) @ dphi.T,
        "K2": (dphi * w) @ dphi.T,
        "X": (phi * (w * xs)) @ phi.T,
        "X2": (phi * (w * xs**2)) @ phi.T,
        "XK": 0.5 * (A + A.conj().T),
    }
    return {k: np.asarray(v, dtype=complex) for k, v in out.items()}


def _sine_1d(L: float, N: int, x0: float) -> dict:
    """1D Galerkin matrices (N×N, complex) of the sine basis on [-L/2, L/2], positions about x0.

    K2 and K are replaced by their closed forms (module docstring), S by the identity.
    """
    n = np.arange(1, N + 1)
    _, x, w = _quadrature(L, 4 * N + 64)
    u = x + 0.5 * L
    phi = np.sqrt(2.0 / L) * np.sin(np.outer(n, u) * np.pi / L)  # (N, nq)
    dphi = np.sqrt(2.0 / L) * (n[:, None] * np.pi / L) * np.cos(np.outer(n, u) * np.pi / L)
    out = _galerkin(phi, dphi, x, w, x0)
    m_, n_ = np.meshgrid(n, n, indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        D = np.where((m_ + n_) % 2 == 1, 4.0 * m_ * n_ / (L * (m_**2 - n_**2)), 0.0)
    out["K"] = (-1j * D).astype(complex)
    out["K2"] = np.diag((n * np.pi / L) ** 2).astype(complex)
    out["S"] = np.eye(N, dtype=complex)
    return out


def _legendre_1d(L: float, N: int, x0: float) -> dict:
    """1D Galerkin matrices (N×N, complex) of the normalised Shen basis (module docstring).

    Entries that vanish analytically (outside the bands listed in the module docstring) are set to
    exact zeros (|a| < 1e-12 max|A|), so the Kronecker products stay sparse.
    """
    from numpy.polynomial import legendre as leg

    t, x, w = _quadrature(L, N + 8)
    phi = np.empty((N, t.size))
    dphi = np.empty((N, t.size))
    for i in range(N):  # n = i + 1: P_i - P_{i+2}
        c = np.zeros(i + 3)
        c[i], c[i + 2] = 1.0, -1.0
        phi[i] = leg.legval(t, c)
        dphi[i] = leg.legval(t, leg.legder(c)) * (2.0 / L)
    norm = 1.0 / np.sqrt((phi**2) @ w)
    out = _galerkin(phi * norm[:, None], dphi * norm[:, None], x, w, x0)
    for k, A in out.items():
        scale = np.abs(A).max()
        out[k] = np.where(np.abs(A) > 1e-12 * scale, A, 0.0) if scale > 0 else A
    return out


_ONE_D = {"sine": _sine_1d, "legendre": _legendre_1d}


@dataclass(frozen=True)
class EnvelopeBasis:
    """Tensor-product envelope basis of a hard-wall cuboid.

    Attributes
    ----------
    edge_nm : tuple of 3 floats
        Box edges (Lx, Ly, Lz) [nm].
    n_max : tuple of 3 ints
        1D functions per direction.
    triples : ndarray of int64, shape (n_env, 3)
        Indices (nx, ny, nz) ≥ 1 of the envelope functions of the p-like CB components.
    triples_vb : ndarray of int64, shape (n_env_vb, 3)
        Envelope functions of the s-like VB components (``vb_shell=1`` of :func:`make_basis`: the
        interior of ``triples``; default the same set).
    gauge_origin_nm : tuple of 3 floats
        Symmetric-gauge origin relative to the box centre [nm].
    kind : str
        ``"legendre"`` or ``"sine"`` (module docstring).
    """

    edge_nm: tuple
    n_max: tuple
    triples: np.ndarray
    triples_vb: np.ndarray
    gauge_origin_nm: tuple
    kind: str = "sine"

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

    @property
    def full_grid(self) -> bool:
        """True if VB and CB use the full N_x × N_y × N_z grid (Kronecker assembly applies)."""
        n = int(np.prod(self.n_max))
        return self.n_env == n and self.n_env_vb == n

    @property
    def orthonormal(self) -> bool:
        """True if the overlap matrix is the identity (sine basis)."""
        return self.kind == "sine"

    @staticmethod
    def envelope_parity(triples: np.ndarray) -> np.ndarray:
        """Inversion parity (+1/−1, int64) of the product functions about the box centre."""
        return ((-1) ** ((triples - 1).sum(axis=1))).astype(np.int64)


#: name of the first version (sine only)
SineBasis = EnvelopeBasis


def check_edge(edge_nm) -> tuple[float, float, float]:
    """Validate a cuboid edge triple.

    Parameters
    ----------
    edge_nm : sequence of 3 numbers
        (Lx, Ly, Lz) [nm].

    Returns
    -------
    tuple of 3 floats

    Raises
    ------
    InputError
        Not three numbers, or any length not finite and > 0 nm.
    """
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
    p = KpParameters(material="-", parameter_set="-", Eg=Eg, P=P, Delta_so=Delta, L_prime=L_,
                     M_prime=M_, N_prime=N_, gamma_v=gv)
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
    kind: str = "legendre",
    n_basis: int | tuple | None = None,
    ellipsoid: bool = False,
    gauge_origin_nm=(0.0, 0.0, 0.0),
    cap_spurious: bool = True,
    vb_shell: int = 0,
) -> EnvelopeBasis:
    """Choose the envelope basis for a cuboid.

    Parameters
    ----------
    params : KpParameters
    edge_nm : sequence of 3 floats
        (Lx, Ly, Lz) [nm], finite and > 0.
    kind : {"legendre", "sine"}, optional
        Envelope functions (module docstring). Default ``"legendre"``.
    n_basis : int or tuple of 3 ints, optional
        Functions per direction. Default: :func:`default_n_basis` of each edge (Legendre); for
        sines :data:`DEFAULT_N_BASIS_SINE` scaled with L_α/L_max and rounded to an even number ≥ 4
        (for odd N the truncated sine k matrix has an exact zero mode that overlaps n = 1).
    ellipsoid : bool, optional
        Keep only :math:`\\sum((n_α-1)/N_α)^2 \\le 1` (default False).
    gauge_origin_nm : sequence of 3 floats, optional
        Gauge origin relative to the box centre [nm].
    cap_spurious : bool, optional
        Sine basis only: cap N_α so that N_α π / L_α ≤ 0.8 k_spur when the bulk dispersion of the
        set enters the gap (:func:`spurious_k`).
    vb_shell : int, optional
        0 (default): same envelope basis for VB and CB. 1: VB basis = interior of the CB basis.

    Returns
    -------
    EnvelopeBasis

    Raises
    ------
    InputError
        Non-positive / non-finite edge, unknown ``kind``, bad ``n_basis`` or gauge origin.
    """
    e = check_edge(edge_nm)
    if kind not in BASIS_KINDS:
        raise InputError(f"unknown envelope basis {kind!r}; known: {', '.join(BASIS_KINDS)}")
    r0 = tuple(float(v) for v in gauge_origin_nm)
    if len(r0) != 3 or not all(math.isfinite(v) for v in r0):
        raise InputError(f"gauge origin must be 3 finite numbers in nm, got {gauge_origin_nm}")
    if n_basis is None:
        if kind == "legendre":
            N = tuple(default_n_basis(L) for L in e)
        else:
            Lm = max(e)
            N = tuple(max(4, 2 * int(round(0.5 * DEFAULT_N_BASIS_SINE * L / Lm))) for L in e)
    elif np.ndim(n_basis) == 0:
        N = (int(n_basis),) * 3
    else:
        N = tuple(int(v) for v in n_basis)
    if len(N) != 3 or min(N) < 1:
        raise InputError(f"n_basis must be >= 1 per direction, got {n_basis}")
    if cap_spurious and kind == "sine":
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
    return EnvelopeBasis(edge_nm=e, n_max=N, triples=tr, triples_vb=tv, gauge_origin_nm=r0,
                         kind=kind)


# --------------------------------------------------------------------------- envelope operators
class EnvelopeOperators:
    """Envelope operators of an :class:`EnvelopeBasis`, combined with 8×8 Bloch matrices.

    An envelope operator is a *spec* ``{direction: name}`` naming the 1D matrix per direction
    (``"K"``, ``"K2"``, ``"X"``, ``"X2"``, ``"XK"``; the overlap ``"S"`` where absent);
    :meth:`kron` forms Bloch ⊗ envelope with the VB rows/cols on ``triples_vb`` and the CB rows/cols
    on ``triples``. Full index: VB block ``b·n_env_vb + e`` (b = 0, 1), then CB block
    ``2·n_env_vb + (b−2)·n_env + e`` (b = 2…7). On a full grid the envelope matrices are sparse
    Kronecker products of the 1D matrices (x slowest); otherwise they are gathered densely.
    """

    def __init__(self, basis: EnvelopeBasis):
        self.b = basis
        one_d = _ONE_D[basis.kind]
        self.one = [one_d(L, N, x0) for L, N, x0 in
                    zip(basis.edge_nm, basis.n_max, basis.gauge_origin_nm)]
        self.sets = {"v": basis.triples_vb - 1, "c": basis.triples - 1}
        self._cache: dict = {}

    def env(self, spec: dict, rs: str = "c", cs: str = "c") -> sp.csr_array:
        """Envelope matrix prod_d A_d[n_d, n'_d] between triple sets ``rs`` and ``cs``."""
        full = self.b.full_grid
        key = (tuple(sorted(spec.items())), "cc" if full else rs + cs)
        if key in self._cache:
            return self._cache[key]
        mats = [self.one[d][spec.get(d, "S")] for d in range(3)]
        if full:
            out = sp.csr_array(sp.kron(sp.kron(sp.csr_array(mats[0]), sp.csr_array(mats[1])),
                                       sp.csr_array(mats[2]), format="csr"))
        else:
            tr, tc = self.sets[rs], self.sets[cs]
            M = None
            for d in range(3):
                blk = mats[d][np.ix_(tr[:, d], tc[:, d])]
                M = blk if M is None else M * blk
            out = sp.csr_array(M)
        out.eliminate_zeros()
        self._cache[key] = out
        return out

    def kron(self, Bm: np.ndarray, spec: dict):
        """Sparse Bloch (8×8) ⊗ envelope matrix (None if Bm is zero)."""
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
        """Identity operator (overlap S in a non-orthogonal basis)."""
        return {}

    @staticmethod
    def k(a):
        """k_a = −i∂_a."""
        return {a: "K"}

    @staticmethod
    def r(d):
        """Position r_d relative to the gauge origin."""
        return {d: "X"}

    @staticmethod
    def kk(a, g):
        """k_a k_g (symmetrised; the 1D k² Galerkin matrix for a = g)."""
        return {a: "K2"} if a == g else {a: "K", g: "K"}

    @staticmethod
    def kr(a, d):
        """½{k_a, r_d}."""
        return {a: "XK"} if a == d else {a: "K", d: "X"}

    @staticmethod
    def rr(d, e):
        """r_d r_e."""
        return {d: "X2"} if d == e else {d: "X", e: "X"}
